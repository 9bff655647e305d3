"""Snapshots (pytest-textual-snapshot) of home, quiz, kata, grade result and stats at 80x24.

Everything drawn is fixed: the app's clock, the progress data (written at fixed
times), a relative $KATA_HOME (so no machine path shows), a hand-made grading run
of the pipe reference (a real one has timings and pids), no cursor blink and no
animation. Update after a deliberate change with `pytest --snapshot-update`
and look at the SVGs before committing them.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_tui import SIZE, wait_for
from textual.widgets import Input

from grader import report, runner  # modules, not names: pytest would take Test* classes for tests
from grader.catalog import load_kata
from kata.progress import ProgressStore
from kata.quiz.bank import load_bank
from kata.quiz.session import QuizSession
from kata.tui.app import KataApp
from kata.tui.grade import GradeScreen
from kata.tui.quiz import QuizScreen

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
PIPE = load_kata("pipe")
QUESTION = "fifos-nonblock-write-enxio"  # a code question: the syntax highlighting is in the picture
PIPE_TESTS = [
    (1, "test_child_to_parent_small"),
    (1, "test_child_to_parent_empty"),
    (1, "test_child_to_parent_binary"),
    (1, "test_child_to_parent_larger_than_pipe_buffer"),
    (1, "test_child_to_parent_many_calls"),
    (2, "test_round_trip_small"),
    (2, "test_round_trip_empty"),
    (2, "test_round_trip_larger_than_pipe_buffer"),
    (2, "test_round_trip_binary"),
    (3, "test_gather_no_tasks"),
    (3, "test_gather_fewer_tasks_than_workers"),
    (3, "test_gather_more_tasks_than_workers"),
    (3, "test_gather_outputs_larger_than_pipe_buffer"),
    (4, "test_child_to_parent_throughput"),
]


def pipe_reference_result() -> report.Result:
    """What grading solutions/pipe.py reports, with fixed timings and perf figures."""
    tests = [
        report.TestResult(name, task, "pass", duration=0.01 * (n + 1), nodeid=f"test_pipe.py::{name}")
        for n, (task, name) in enumerate(PIPE_TESTS)
    ]
    per_task = Counter(task for task, _ in PIPE_TESTS)
    tasks = [
        report.TaskResult(t.id, t.name, t.title, "pass", passed=per_task[t.id], total=per_task[t.id], perf=t.id == 4)
        for t in PIPE.tasks
    ]
    perf = [
        report.PerfFigure(
            "child_to_parent_mbps",
            "child_to_parent throughput (8 MiB payload)",
            1500.0,
            "MB/s",
            1600.0,
            0.94,
            0.5,
            True,
            "test_child_to_parent_throughput",
        )
    ]
    return report.Result("pipe", "solutions/pipe.py", "pass", duration=3.4, tasks=tasks, tests=tests, perf=perf)


def fixed_run(kata_id, path, cancel, tests=None):
    """The events of grading the pipe reference, in the grader's order."""
    result = pipe_reference_result()
    for test in result.tests:
        yield runner.TestStarted(test.name, test.nodeid, test.task)
        yield runner.TestFinished(test)
    yield runner.GradeFinished(result)


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A progress store under a relative $KATA_HOME, with a week of fixed history."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KATA_HOME", "home")
    bank = load_bank()
    with ProgressStore.open() as opened:
        for days_ago, count in ((6, 3), (3, 5), (1, 2), (0, 4)):
            at = NOW - timedelta(days=days_ago, hours=1)
            plan = [q for q in bank.questions if q.kind == "choice"][days_ago : days_ago + count]
            session = QuizSession(opened, plan, mode="drill", clock=lambda at=at: at)
            for n, q in enumerate(plan):
                session.next()
                if n % 3 == 2:
                    session.dont_know()
                else:
                    session.answer(q.correct[0])
        failing = pipe_reference_result()
        failing.status = "fail"
        failing.tasks[0].status = "fail"
        opened.record_attempt(failing, at=NOW - timedelta(days=1, hours=2))
        opened.record_attempt(pipe_reference_result(), at=NOW - timedelta(hours=3))
        opened.reveal_hint("pipe", 0, at=NOW - timedelta(days=1))
        yield opened


def still_app(store) -> KataApp:
    """The app at the fixed time, without animations."""
    app = KataApp(store, clock=lambda: NOW)
    app.animation_level = "none"
    return app


def no_blink(app: KataApp) -> None:
    """A blinking text cursor would make two screenshots of one screen differ."""
    for field in app.screen.query(Input):
        field.cursor_blink = False


def snap(snap_compare, app: KataApp, *, press=(), run_before=None) -> None:
    async def prepare(pilot) -> None:
        home = pilot.app.screen
        await wait_for(pilot, lambda: home.bank is not None)  # read in a worker, then the due line is in
        if run_before is not None:
            await run_before(pilot)
        no_blink(pilot.app)

    assert snap_compare(app, press=press, terminal_size=SIZE, run_before=prepare)


def quiz_screen(store) -> QuizScreen:
    question = load_bank().question(QUESTION)
    return QuizScreen("drill", session=QuizSession(store, [question], mode="drill", clock=lambda: NOW))


def test_home(snap_compare, store):
    snap(snap_compare, still_app(store))


async def push_quiz(pilot) -> None:
    await pilot.app.push_screen(quiz_screen(pilot.app.store))


def test_quiz_question(snap_compare, store):
    snap(snap_compare, still_app(store), run_before=push_quiz)


def test_quiz_after_an_answer(snap_compare, store):
    question = load_bank().question(QUESTION)
    snap(snap_compare, still_app(store), run_before=push_quiz, press=[str(question.correct[0] + 1), "enter"])


def test_kata_pipe(snap_compare, store):
    async def open_pipe(pilot) -> None:
        pilot.app.open_kata("pipe")
        await pilot.pause()

    snap(snap_compare, still_app(store), run_before=open_pipe)


def test_grade_result_of_the_pipe_reference(snap_compare, store):
    async def graded(pilot) -> None:
        screen = GradeScreen("pipe", Path("solutions/pipe.py"), record=False, events=fixed_run)
        await pilot.app.push_screen(screen)
        await wait_for(pilot, lambda: screen.result is not None)

    snap(snap_compare, still_app(store), run_before=graded)


def test_stats(snap_compare, store):
    snap(snap_compare, still_app(store), press=["t"])
