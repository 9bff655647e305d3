"""The TUI driven by Textual's pilot: each screen's main path at 80x24.

Progress goes to a temporary $KATA_HOME. Waiting is on conditions (the pilot
pauses until the app has processed its messages), never on fixed sleeps.
Grading runs for real (the pipe kata takes about a second).
"""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta

import psutil
import pytest
from rich.syntax import Syntax
from textual.widgets import DataTable, OptionList, Static
from textual.widgets._data_table import ColumnKey
from textual.widgets._footer import FooterKey

from grader.catalog import load_kata
from grader.report import Hotspot, PerfFigure, Result, TestResult
from grader.runner import GradeFinished
from kata.perf_history import sparkline
from kata.progress import ProgressStore
from kata.quiz.bank import load_bank
from kata.quiz.session import QuizSession
from kata.tui.app import KataApp
from kata.tui.code import CodeScreen
from kata.tui.confirm import ConfirmScreen
from kata.tui.grade import GradeScreen
from kata.tui.help import HelpScreen
from kata.tui.kata import KataScreen
from kata.tui.quiz import QuizScreen
from kata.tui.stats import StatsScreen

PIPE = load_kata("pipe")
NEEDS = f"needs {PIPE.perf[0].threshold:.2f}x"  # how the perf chart and history name the threshold
SIZE = (80, 24)

pytestmark = pytest.mark.anyio  # anyio's pytest plugin (anyio comes with watchfiles) runs the async tests


@pytest.fixture
def anyio_backend():
    return "asyncio"


# A pipe implementation whose first test hangs, with a child of its own: grading it
# only ends by timeout or cancel, which is what the cancel tests need.
HANGING = (
    PIPE.starter_path.read_text()
    + """
import os as _os, time as _time

def child_to_parent(payload):
    if _os.fork() == 0:
        _time.sleep(120)
        _os._exit(0)
    _time.sleep(120)
"""
)


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("KATA_HOME", str(tmp_path))
    monkeypatch.setenv("EDITOR", "true")
    monkeypatch.delenv("VISUAL", raising=False)
    with ProgressStore.open() as opened:
        yield opened


@pytest.fixture
def workspace(tmp_path):
    return tmp_path / "workspace" / "pipe.py"


@pytest.fixture
def hanging_impl(tmp_path):
    """HANGING in a file of its own, to grade."""
    impl = tmp_path / "hanging.py"
    impl.write_text(HANGING)
    return impl


async def wait_for(pilot, condition, timeout: float = 60.0) -> None:
    """Let the app run until `condition()` holds (bounded)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {condition.__doc__ or condition}")
        await pilot.pause(0.05)


async def open_kata(app, pilot, kata_id: str) -> KataScreen:
    """The screen of a kata, opened and drawn."""
    app.open_kata(kata_id)
    await pilot.pause()
    return app.screen


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def footer_keys(app) -> list[str]:
    return [key.key for key in app.screen.query(FooterKey)]


def live_children() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE]


async def test_home_lists_katas_and_q_quits(store):
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(DataTable)
        assert table.row_count >= 10
        assert "not started" in str(table.get_row("pipe"))
        await wait_for(pilot, lambda: "due today" in text_of(app.screen, "#due"))  # the bank loads in a worker
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running)


async def test_katas_filter_by_typing_and_open(store):
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("k")
        await pilot.press(*"sock")
        table = app.screen.query_one(DataTable)
        assert sorted(str(k.value) for k in table.rows) == [
            "fd-passing",
            "socket",
            "socketpair",
        ]  # "Unix sockets" in its summary
        await pilot.press("escape", "escape")  # clear, then leave the filter for the list
        assert table.row_count >= 10 and table.has_focus
        await pilot.press("slash", *"fifo", "enter")
        assert isinstance(app.screen, KataScreen) and app.screen.kata.id == "fifo"


async def test_kata_start_hint_edit_and_locked_solution(store, workspace):
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_kata(app, pilot, "pipe")
        await pilot.press("g")  # not started: a notice, no grade screen
        assert isinstance(app.screen, KataScreen)
        await pilot.press("s")
        assert workspace.read_text() == PIPE.starter_path.read_text()
        assert "started" in text_of(screen, "#kata-status")
        workspace.write_text("my work\n")
        await pilot.press("s")  # never over existing work without a yes
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        assert workspace.read_text() == "my work\n"
        await pilot.press("n")
        assert store.hints_revealed("pipe") == 1
        assert text_of(screen, "#hints").startswith(f"Hint 1/{len(PIPE.hints())}")
        await pilot.press("n")
        assert store.hints_revealed("pipe") == 2 and "Hint 2/" in text_of(screen, "#hints")
        await pilot.press("e")  # headless: the app cannot suspend; it says so and carries on
        assert any("edit" in n.message for n in app._notifications)
        await pilot.press("o")
        assert isinstance(app.screen, KataScreen)  # the solution stays closed before a pass


async def test_grade_reference_streams_results_then_perf_chart(store, workspace, monkeypatch):
    workspace.parent.mkdir(parents=True)
    shutil.copy(PIPE.solution_path, workspace)
    seen = []
    monkeypatch.setattr(
        GradeScreen,
        "show_test",
        lambda self, test, _orig=GradeScreen.show_test: (seen.append("test"), _orig(self, test)),
    )
    monkeypatch.setattr(
        GradeScreen,
        "finish",
        lambda self, result, _orig=GradeScreen.finish: (seen.append("finish"), _orig(self, result)),
    )
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await open_kata(app, pilot, "pipe")
        await pilot.press("g")
        grade = app.screen
        assert isinstance(grade, GradeScreen)
        await wait_for(pilot, lambda: grade.result is not None)
        assert grade.result.status == "pass"
        assert seen.index("finish") == len(seen) - 1 and seen.count("test") == len(grade.result.tests)
        table = grade.query_one(DataTable)
        assert table.row_count == len(grade.result.tests)
        assert all(str(table.get_cell(k, "status")) == "PASS" for k in table.rows)
        assert text_of(grade, "#grade-status").startswith("PASS 4/4 tasks")
        chart = text_of(grade, "#summary")
        assert "child_to_parent throughput" in chart and "█" in chart and "|" in chart and NEEDS in chart
        assert store.has_passed("pipe")
        await pilot.press("escape")  # back on the kata screen: the grade's figure joins the perf history
        history = text_of(app.screen, "#perf-history")
        assert "child_to_parent_mbps" in history and NEEDS in history
        await pilot.press("o")  # passed: the solution opens
        assert isinstance(app.screen, CodeScreen)


async def test_a_slow_figure_shows_where_the_time_went(store, workspace):
    spot = Hotspot(str(workspace), 131, "_read_all", 0.89, 0.08, 128, cause="bytes concatenation", why="quadratic")
    slow = PerfFigure("child_to_parent_mbps", "throughput", 130.0, "MB/s", 360.0, 0.36, 0.5, False)
    slow.hotspots, slow.profiled = [spot], "one round of 0.09 s, profiled in the test process"
    test = TestResult("test_child_to_parent_throughput", 4, "fail", "too slow", nodeid="t::slow")
    result = Result("pipe", str(workspace), "fail", tests=[test], perf=[slow])

    def events(kata_id, path, cancel, tests=None):
        yield GradeFinished(result)

    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(GradeScreen("pipe", workspace, record=False, events=events))
        await wait_for(pilot, lambda: app.screen.result is not None)
        summary = text_of(app.screen, "#summary")
        assert "Where the time went" in summary
        # wrapped for 80 columns, the continuation under the place's text
        assert "  · 89% of the time in bytes concatenation at pipe.py:131 in _read_all\n    (quadratic)\n" in summary
        assert "one round of 0.09 s, profiled in the test process" in summary


async def test_grade_failing_file_shows_its_message_in_full(store, workspace):
    workspace.parent.mkdir(parents=True)
    shutil.copy(PIPE.starter_path, workspace)
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(GradeScreen("pipe", workspace))
        await pilot.pause()
        grade = app.screen
        await wait_for(pilot, lambda: grade.result is not None)
        assert grade.result.status == "fail"
        first = grade.result.tests[0]
        assert first.message and first.message.strip() in text_of(grade, "#test-detail")
        await pilot.press("down")
        chosen = grade.result.tests[1].name
        assert chosen in text_of(grade, "#test-detail")
        assert text_of(grade, "#grade-status").startswith("FAIL 0/4 tasks")
        assert store.attempts("pipe")[0].status == "fail"
        everything = len(grade.result.tests)
        await pilot.press("r")  # re-runs the highlighted test alone (issue 17, item 15)
        await wait_for(pilot, lambda: grade.result is not None and len(grade.result.tests) == 1)
        assert grade.result.tests[0].name == chosen
        assert grade.query_one(DataTable).row_count == everything, "the other tests stay in the list"
        assert chosen in text_of(grade, "#grade-status")
        [rerun, full] = store.attempts("pipe")
        assert full.complete and not rerun.complete, "a re-run of one test is a partial attempt"


async def test_cancelled_grade_leaves_no_process(store, hanging_impl):
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(GradeScreen("pipe", hanging_impl, record=False))
        await pilot.pause()
        grade = app.screen
        await wait_for(pilot, lambda: grade.query_one(DataTable).row_count == 1)
        await wait_for(pilot, lambda: len(live_children()) >= 3)  # sandbox, test process, its child
        await wait_for(pilot, lambda: "c" in footer_keys(app))  # the footer is redrawn on idle
        await pilot.press("c")
        await wait_for(pilot, lambda: grade.result is not None)
        assert grade.result.message == "grading was cancelled"
        assert text_of(grade, "#grade-status").startswith("Cancelled")
        await wait_for(pilot, lambda: "c" not in footer_keys(app), timeout=10)  # nothing to cancel after the run
        table = grade.query_one(DataTable)
        assert "cancelled" in str(table.get_cell_at((0, 0)))
        assert table.columns[ColumnKey("status")].width >= len("cancelled"), "the cell shows the whole word"
        await wait_for(pilot, lambda: app.jobs.running == 0)
        assert live_children() == []
        assert store.attempts() == []


async def test_quit_while_grading_stops_the_run(store, hanging_impl):
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(GradeScreen("pipe", hanging_impl, record=False))
        await pilot.pause()
        await wait_for(pilot, lambda: len(live_children()) >= 3)
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running)
    assert app.jobs.running == 0
    assert live_children() == []


def one_of_each_kind():
    bank = load_bank()
    return [
        next(q for q in bank.questions if q.kind == kind)
        for kind in ("choice", "multi", "truefalse", "short", "order", "code")
    ]


def keys_for_right_answer(q) -> list[str]:
    """The keystrokes that answer `q` correctly (choices unshuffled): pick, then Enter."""
    if q.kind in ("choice", "code"):
        return [str(q.correct[0] + 1), "enter"]
    if q.kind == "multi":
        return [str(i + 1) for i in q.correct] + ["enter"]
    if q.kind == "truefalse":
        return ["t" if q.truth else "f", "enter"]
    if q.kind == "short":
        return [*q.accepted[0], "enter"]
    keys, current = [], list(range(len(q.choices)))  # order: bring each item up with `[`
    for place, item in enumerate(q.correct):
        row = current.index(item)
        keys += [str(row + 1)] + ["left_square_bracket"] * (row - place)
        current.insert(place, current.pop(row))
    return [*keys, "enter"]


async def test_quiz_answers_every_kind_by_keyboard(store):
    plan = one_of_each_kind()
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(QuizScreen("drill", session=QuizSession(store, plan, mode="drill")))
        await pilot.pause()
        quiz = app.screen
        for n, q in enumerate(plan, 1):
            assert quiz.asked.question.id == q.id
            assert text_of(quiz, "#quiz-progress").startswith(f"[{n}/{len(plan)}]")
            if q.code:  # shown syntax-highlighted
                shown = quiz.query_one("#code", Static).content
                assert isinstance(shown, Syntax) and shown.code.strip() == q.code.strip()
            await pilot.press(*keys_for_right_answer(q))
            feedback = text_of(quiz, "#feedback")
            assert feedback.startswith("Right."), f"{q.kind} {q.id}: {feedback}"
            assert q.explain.split()[0] in feedback
            view = quiz.query_one("#question")
            await wait_for(pilot, lambda view=view: view.scroll_y == view.max_scroll_y)  # the explanation's end in view
            assert store.review_count() == n
            await pilot.press("enter")
        assert "6/6 right" in text_of(quiz, "#prompt")
        await pilot.press("enter")
        assert not isinstance(app.screen, QuizScreen)


async def test_quiz_wrong_answer_and_dont_know_teach(store):
    bank = load_bank()
    choice = next(q for q in bank.questions if q.kind == "choice")
    multi = next(q for q in bank.questions if q.kind == "multi" and len(q.correct) > 1)
    truefalse = next(q for q in bank.questions if q.kind == "truefalse")
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(QuizScreen("drill", session=QuizSession(store, [choice, multi, truefalse], mode="drill")))
        await pilot.pause()
        quiz = app.screen
        wrong = next(i for i in range(len(choice.choices)) if i not in choice.correct)
        await pilot.press(str(wrong + 1), "enter")
        assert text_of(quiz, "#feedback").startswith("Wrong.")
        assert f"The answer:\n  {choice.answer_text()}\n" in text_of(quiz, "#feedback")
        await pilot.press("enter")
        wrong = next(i for i in range(len(multi.choices)) if i not in multi.correct)
        await pilot.press(str(wrong + 1), "enter")
        rights = "".join(f"  {multi.choices[i]}\n" for i in multi.correct)  # each on its own line, under the label
        assert f"The answer:\n{rights}" in text_of(quiz, "#feedback")
        await pilot.press("enter", "ctrl+d")
        assert text_of(quiz, "#feedback").startswith("Wrong.")
        assert [r.correct for r in store.reviews()] == [False, False, False]


async def test_mock_interview_countdown_and_scorecard(store):
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("u")
        await pilot.press("down", "down", "enter")  # the mock interview
        quiz = app.screen
        assert isinstance(quiz, QuizScreen) and quiz.mock is not None
        assert "left" in text_of(quiz, "#quiz-progress")
        await pilot.press("ctrl+d", "enter", "escape")  # one question given up, then stop answering
        assert f"`{quiz.mock.kata}`" in text_of(quiz, "#quiz-progress")
        await pilot.press("escape")  # skip the kata
        card = text_of(quiz, "#prompt")
        assert "Mock interview scorecard" in card and "Score: 0%" in card
        assert len(store.mocks()) == 1


def record_perf(store, kata, name, ratios, threshold):
    """Attempts of `kata`, one per ratio of the metric `name`, a minute apart."""
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    for minute, ratio in enumerate(ratios):
        figure = PerfFigure(name, "", ratio * 100, "MB/s", 100.0, ratio, threshold, ratio >= threshold)
        result = Result(kata, "/w/file.py", "fail", perf=[figure])
        store.record_attempt(result, at=start + timedelta(minutes=minute))


async def test_kata_and_stats_screens_chart_the_perf_history(store):
    record_perf(store, "pipe", "child_to_parent_mbps", [0.1, 0.3, 0.9, 0.7], 0.5)
    spark = sparkline([0.1, 0.3, 0.9, 0.7], 0.9)
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        history = (await open_kata(app, pilot, "pipe")).query_one("#perf-history", Static)
        assert history.display
        line = next(row for row in text_of(app.screen, "#perf-history").splitlines() if spark in row)
        assert line.startswith("child_to_parent_mbps") and line.endswith("best 0.90x (needs 0.50x)")
        assert history.region.bottom <= SIZE[1] and history.region.width <= SIZE[0]
        await pilot.press("escape")
        fifo = await open_kata(app, pilot, "fifo")  # never graded: no history, no empty panel
        assert not fifo.query_one("#perf-history", Static).display
        await pilot.press("escape", "t")
        assert isinstance(app.screen, StatsScreen)
        body = text_of(app.screen, "#stats-body")
        assert body.index("child_to_parent_mbps") > body.index("pipe ") and spark in body


async def test_stats_and_help(store):
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("t")
        assert isinstance(app.screen, StatsScreen)
        body = text_of(app.screen, "#stats-body")
        assert "Mastery per topic" in body and "Answers per day" in body and "pipe" in body
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, StatsScreen)


async def test_palette_opens_any_kata(store):
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p", *"kata semaphore")

        def first_hit() -> str:
            """the palette's first hit"""
            hits = app.screen.query(OptionList)
            return str(hits.first().get_option_at_index(0).prompt) if hits and hits.first().option_count else ""

        await wait_for(pilot, lambda: "semaphore" in first_hit())
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, KataScreen))
        assert app.screen.kata.id == "semaphore"


def test_damaged_store_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    from kata.cli import main

    monkeypatch.setenv("KATA_HOME", str(tmp_path))
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    (tmp_path / "progress.db").write_bytes(b"not a database at all" * 10)
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kata: ") and len(err.strip().splitlines()) == 1


async def test_autograde_regrades_on_save(store, workspace):
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        kata = await open_kata(app, pilot, "pipe")
        await pilot.press("s", "a")
        await wait_for(pilot, lambda: kata.watch_live)
        assert "auto-grade on" in text_of(kata, "#kata-status")
        workspace.write_text(PIPE.starter_path.read_text() + "\n# saved\n")
        await wait_for(pilot, lambda: isinstance(app.screen, GradeScreen))
        await wait_for(pilot, lambda: app.screen.result is not None)
        assert app.screen.result.status == "fail"
        await pilot.press("escape", "a")
        assert "auto-grade off" in text_of(kata, "#kata-status")
        await wait_for(pilot, lambda: app.jobs.running == 0)


def test_a_timed_out_test_shows_what_each_process_waited_for_and_the_evidence():
    from grader.report import BlockedProcess, TimeoutDiagnosis
    from grader.report import TestResult as GradedTest  # not collected by pytest
    from kata.tui.grade import test_detail

    parent = BlockedProcess(
        pid=810,
        role="test process",
        command="python",
        state="blocked in wait4()",
        stack=["pipe.py:26 in child_to_parent   <- your code"],
        waits_for="wait4(): waits for child 812 to exit",
    )
    diagnosis = TimeoutDiagnosis(
        pattern="cycle",
        sentence="A deadlock: ...",
        confidence="certain",
        deadlock=True,
        evidence=["pid 810 waits for child 812", "pid 812 waits to write pipe 4411"],
        unreadable=["pid 9: syscall"],
    )
    test = GradedTest(
        name="test_x", task=1, status="timeout", message="timed out", blocked=[parent], diagnosis=diagnosis
    )
    shown = test_detail(test).plain
    assert "waits: wait4(): waits for child 812 to exit" in shown
    assert "evidence (certain):" in shown and "pid 812 waits to write pipe 4411" in shown
    assert "could not read: pid 9: syscall" in shown
