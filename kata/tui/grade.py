"""Grade screen: the hidden suite runs in a worker thread and each test shows
up as it finishes; the failing message of the highlighted test is shown in
full below, then the perf chart against the thresholds and hygiene findings.

The worker only reports (post_message); the screen owns all the state. `c`
sets the run's cancel event, and the grader then kills its processes; a newer
run supersedes an older one, whose late messages are ignored; leaving the screen
cancels its run. `g` grades everything again; `r` re-runs the highlighted test
alone (recorded as a partial attempt, never a pass), the other rows staying as
they were. Back, the screen hands its last full result to whoever opened it
(the mock interview), or None when there is none.
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
from textual.widgets import DataTable, Footer, Header, Static

from grader.report import Result, TestResult, totals
from grader.runner import GradeEvent, GradeFinished, TestFinished, TestStarted
from kata.tui.bars import perf_chart
from kata.tui.base import AppScreen
from kata.tui.jobs import Job

STATUS_STYLE = {
    "pass": ("PASS", "green"),
    "fail": ("FAIL", "red"),
    "error": ("ERROR", "red"),
    "timeout": ("TIMEOUT", "red"),
    "running": ("running", "yellow"),
    "cancelled": ("cancelled", "yellow"),
}


# The test column's width: what the screen leaves after status, task and time (at 80 columns the
# longest names of the suites would push the time off the screen), at most what the longest need.
MIN_NAME_WIDTH, MAX_NAME_WIDTH = 16, 60


class Graded(Message):
    """One event of grading run number `run`, posted from the worker thread."""

    def __init__(self, run: int, event: GradeEvent):
        super().__init__()
        self.run = run
        self.event = event


def status_text(status: str) -> Text:
    label, style = STATUS_STYLE.get(status, (status.upper(), ""))
    return Text(label, style=f"bold {style}")


def name_cell(name: str) -> Text:
    """A test's name in the table, ending in "…" where the column ends (the detail below gives it whole)."""
    return Text(name, no_wrap=True, overflow="ellipsis")


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
        if proc.waits_for:
            out.append(f"    waits: {proc.waits_for}\n")
        out.append("".join(f"    {frame}\n" for frame in proc.stack[1:]))
    if test.diagnosis is not None and test.diagnosis.evidence:
        out.append(f"\nevidence ({test.diagnosis.confidence}):\n", style="bold")
        out.append("".join(f"  {line}\n" for line in test.diagnosis.evidence))
        out.append("".join(f"  could not read: {gap}\n" for gap in test.diagnosis.unreadable))
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


class GradeScreen(AppScreen[Result | None]):
    BINDINGS = [
        Binding("c", "cancel", "Cancel"),
        Binding("g", "regrade", "Grade again"),
        Binding("r", "rerun", "Re-run this test"),
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
        self.result: Result | None = None  # of the latest run, once it ends
        self.full_result: Result | None = None  # of the latest run of every test that ended (not cancelled)
        self.only: list[str] | None = None  # the test names of the run, None: all of them
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
        widths = {"status": max(len(label) for label, _style in STATUS_STYLE.values()), "task": 4, "time": 6}
        padding = 2 * table.cell_padding * 4  # four columns
        room = self.app.size.width - sum(widths.values()) - padding - table.styles.scrollbar_size_vertical
        table.add_column("status", key="status", width=widths["status"])
        table.add_column("test", key="test", width=max(MIN_NAME_WIDTH, min(MAX_NAME_WIDTH, room)))
        table.add_column("task", key="task", width=widths["task"])
        table.add_column("time", key="time", width=widths["time"])
        self.start()

    def on_unmount(self) -> None:
        self.action_cancel()  # a run nobody can see any more

    @property
    def running(self) -> bool:
        return self.job is not None and self.result is None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return self.running
        if action == "rerun":
            return not self.running and self.highlighted() is not None
        return True

    def start(self, only: list[str] | None = None) -> None:
        """Begin a run of every test, or of the tests named in `only` (their rows are kept
        for the others), cancelling the one in progress (if any)."""
        if self.job is not None:
            self.job.stop.set()
        self.run_number += 1
        self.result = None
        self.only = only
        table = self.query_one(DataTable)
        if only is None:
            self.tests.clear()
            table.clear()
            self.query_one("#summary", Static).update("")
            self.set_status(f"Grading {self.kata_id}: {self.path} ...")
        else:
            self.set_status(f"Re-running {', '.join(only)} ...")
        self.query_one("#test-detail", Static).update("")
        self.job = self.app.jobs.start()
        self.refresh_bindings()
        self.grade(self.run_number, self.job, only)

    @work(thread=True, exclusive=True, group="grade")
    def grade(self, run: int, job: Job, only: list[str] | None) -> None:
        from grader import grade_iter

        with job as cancel:
            for event in (self.events or grade_iter)(self.kata_id, self.path, cancel=cancel, tests=only):
                self.post_message(Graded(run, event))

    def set_status(self, text: str | Text) -> None:
        self.query_one("#grade-status", Static).update(text)

    def on_graded(self, message: Graded) -> None:
        if message.run != self.run_number:
            return
        event = message.event
        table = self.query_one(DataTable)
        if isinstance(event, TestStarted):
            if event.nodeid in table.rows:  # a re-run: the row is there already
                table.update_cell(event.nodeid, "status", status_text("running"))
            else:
                row = (status_text("running"), name_cell(event.name), str(event.task or ""), "")
                table.add_row(*row, key=event.nodeid)
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
        cells = (status_text(test.status), name_cell(test.name), str(test.task or ""), f"{test.duration:.2f}s")
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
        table = self.query_one(DataTable)
        cancelled = result.status == "error" and self.job is not None and self.job.stop.is_set()
        if cancelled:
            self.set_status("Cancelled; its processes are gone.  (g grades again)")
            for key in table.rows:
                if key.value not in self.tests:
                    table.update_cell(key, "status", status_text("cancelled"))
        elif result.status == "error":
            self.set_status(Text.assemble(status_text("error"), f" {result.message}"))
        elif self.only is not None:
            self.set_status(
                Text.assemble(f"{', '.join(self.only)} re-run: ", status_text(result.status), "  (g grades everything)")
            )
        else:
            self.set_status(Text.assemble(status_text(result.status), f" {totals(result)}  (g grades again)"))
        if not cancelled and result.status != "error":
            if self.only is None:
                self.full_result = result
                self.query_one("#summary", Static).update(result_summary(result))
            if self.record:
                self.app.store.record_attempt(result, complete=False if self.only else None)
        if self.only is None:
            failing = [i for i, t in enumerate(result.tests) if t.status != "pass"]
            if failing and table.row_count:
                table.move_cursor(row=failing[0])
        self.show_highlighted()
        self.refresh_bindings()
        table.focus()

    def highlighted(self) -> TestResult | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return self.tests.get(str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value))

    def show_highlighted(self) -> None:
        test = self.highlighted()
        self.query_one("#test-detail", Static).update(test_detail(test) if test else "")

    def on_data_table_row_highlighted(self) -> None:
        self.show_highlighted()
        self.refresh_bindings()

    def action_cancel(self) -> None:
        if self.running and self.job is not None:
            self.job.stop.set()
            self.set_status(f"Cancelling {self.kata_id} ...")

    def action_regrade(self) -> None:
        self.start()

    def action_rerun(self) -> None:
        test = self.highlighted()
        if test is not None and not self.running:
            self.start(only=[test.name])

    def action_back(self) -> None:
        self.action_cancel()
        self.dismiss(self.full_result)
