"""Grade screen: the hidden suite runs in a worker thread and each test shows
up as it finishes; the failing message of the highlighted test is shown in
full below, then the perf chart against the thresholds and hygiene findings.

The worker only reports (post_message); the screen owns all the state. `c`
sets the run's cancel event, and the grader then kills its processes; a newer
run supersedes an older one, whose late messages are ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from grader.report import Result, TestResult
from grader.runner import GradeEvent, GradeFinished, TestFinished, TestStarted
from kata.tui.bars import perf_chart
from kata.tui.jobs import Job

STATUS_STYLE = {
    "pass": ("PASS", "green"),
    "fail": ("FAIL", "red"),
    "error": ("ERROR", "red"),
    "timeout": ("TIMEOUT", "red"),
    "running": ("running", "yellow"),
    "cancelled": ("cancelled", "yellow"),
}


class Graded(Message):
    """One event of grading run number `run`, posted from the worker thread."""

    def __init__(self, run: int, event: GradeEvent):
        super().__init__()
        self.run = run
        self.event = event


def status_text(status: str) -> Text:
    label, style = STATUS_STYLE.get(status, (status.upper(), ""))
    return Text(label, style=f"bold {style}")


def test_detail(test: TestResult) -> Text:
    """Everything known about one test, unabridged: the learner reads it here."""
    out = Text()
    out.append(f"{test.name}", style="bold")
    out.append(f"  (task {test.task}, {test.duration:.2f}s)  ")
    out.append_text(status_text(test.status))
    out.append("\n")
    if test.message:
        out.append(test.message.rstrip() + "\n")
    for proc in test.blocked:
        out.append(f"\n{proc.describe()}\n")
        out.append("".join(f"    {frame}\n" for frame in proc.stack[1:]))
    if test.details:
        out.append("\ndetails:\n", style="bold")
        out.append(test.details.rstrip() + "\n")
    if test.output:
        out.append("\noutput:\n", style="bold")
        out.append(test.output.rstrip() + "\n")
    return out


def result_summary(result: Result) -> Text:
    """The perf chart, hygiene findings and notices of a finished run."""
    out = Text()
    if result.perf:
        out.append("Performance vs the same-run baseline (| marks the threshold)\n", style="bold underline")
        out.append_text(perf_chart(result.perf))
    if result.hygiene:
        out.append("\nHygiene: left behind, and removed by the grader\n", style="bold underline")
        for h in result.hygiene:
            where = f" [{h.test}]" if h.test else ""
            out.append(f"  {h.kind} {h.name}{where}: {h.message}\n")
    for notice in result.notices:
        out.append(f"\nnote: {notice}\n")
    return out


class GradeScreen(Screen):
    BINDINGS = [
        Binding("c", "cancel", "Cancel"),
        Binding("r", "regrade", "Re-grade"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(
        self,
        kata_id: str,
        path: Path,
        *,
        record: bool = True,
        events: Callable[..., Iterable[GradeEvent]] | None = None,
    ):
        """`events(kata_id, path, cancel=)`: the run's events, `grader.grade_iter` unless
        given (snapshot tests feed a fixed run: real ones have timings and pids)."""
        super().__init__()
        self.kata_id = kata_id
        self.path = Path(path)
        self.record = record  # the learner's own file counts as an attempt; the reference does not
        self.events = events
        self.run_number = 0
        self.job: Job | None = None
        self.result: Result | None = None
        self.tests: dict[str, TestResult] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="grade-status")
        yield DataTable(id="tests", cursor_type="row")
        with VerticalScroll(id="report"):
            yield Static(id="test-detail")
            yield Static(id="summary")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("status", key="status", width=8)
        table.add_column("test", key="test")
        table.add_column("task", key="task", width=4)
        table.add_column("time", key="time", width=6)
        self.start()

    @property
    def running(self) -> bool:
        return self.job is not None and self.result is None

    def start(self) -> None:
        """Begin a fresh run, cancelling the one in progress (if any)."""
        if self.job is not None:
            self.job.stop.set()
        self.run_number += 1
        self.result = None
        self.tests.clear()
        self.query_one(DataTable).clear()
        self.query_one("#test-detail", Static).update("")
        self.query_one("#summary", Static).update("")
        self.set_status(f"Grading {self.kata_id}: {self.path} ...")
        self.job = self.app.jobs.start()
        self.grade(self.run_number, self.job)

    @work(thread=True, exclusive=True, group="grade")
    def grade(self, run: int, job: Job) -> None:
        from grader import grade_iter

        with job as cancel:
            for event in (self.events or grade_iter)(self.kata_id, self.path, cancel=cancel):
                self.post_message(Graded(run, event))

    def set_status(self, text: str | Text) -> None:
        self.query_one("#grade-status", Static).update(text)

    def on_graded(self, message: Graded) -> None:
        if message.run != self.run_number:
            return
        event = message.event
        table = self.query_one(DataTable)
        if isinstance(event, TestStarted):
            table.add_row(status_text("running"), event.name, str(event.task or ""), "", key=event.nodeid)
            table.scroll_end(animate=False)  # the newest row in view; the cursor stays for reading
            self.set_status(f"Grading {self.kata_id}: running {event.name} ...  (c cancels)")
        elif isinstance(event, TestFinished):
            self.show_test(event.result)
            self.show_highlighted()
        elif isinstance(event, GradeFinished):
            self.finish(event.result)

    def show_test(self, test: TestResult) -> None:
        table = self.query_one(DataTable)
        self.tests[test.nodeid] = test
        cells = (status_text(test.status), test.name, str(test.task or ""), f"{test.duration:.2f}s")
        if test.nodeid in table.rows:
            for column, value in zip(("status", "test", "task", "time"), cells, strict=False):
                table.update_cell(test.nodeid, column, value)
        else:  # finished without a start event: a test that never ran
            table.add_row(*cells, key=test.nodeid)

    def finish(self, result: Result) -> None:
        self.result = result
        for test in result.tests:
            if test.nodeid not in self.tests:
                self.show_test(test)
        if result.status == "error" and self.job.stop.is_set():
            self.set_status("Cancelled; its processes are gone.  (r grades again)")
            table = self.query_one(DataTable)
            for key in table.rows:
                if key.value not in self.tests:
                    table.update_cell(key, "status", status_text("cancelled"))
        elif result.status == "error":
            self.set_status(Text.assemble(status_text("error"), f" {result.message}"))
        else:
            passed = sum(t.status == "pass" for t in result.tests)
            self.set_status(
                Text.assemble(
                    status_text(result.status),
                    f" {result.tasks_passed}/{len(result.tasks)} tasks, {passed}/{len(result.tests)} tests "
                    f"in {result.duration:.1f}s  (r re-grades)",
                )
            )
            if self.record:
                self.app.store.record_attempt(result)
        self.query_one("#summary", Static).update(result_summary(result))
        failing = [i for i, t in enumerate(result.tests) if t.status != "pass"]
        table = self.query_one(DataTable)
        if failing and table.row_count:
            table.move_cursor(row=failing[0])
        self.show_highlighted()
        table.focus()

    def show_highlighted(self) -> None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        test = self.tests.get(key)
        self.query_one("#test-detail", Static).update(test_detail(test) if test else "")

    def on_data_table_row_highlighted(self) -> None:
        self.show_highlighted()

    def action_cancel(self) -> None:
        if self.running:
            self.job.stop.set()
            self.set_status(f"Cancelling {self.kata_id} ...")

    def action_regrade(self) -> None:
        self.start()

    def action_back(self) -> None:
        self.action_cancel()
        self.dismiss()
