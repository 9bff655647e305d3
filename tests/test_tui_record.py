"""The app records what the learner did, and keys mean one thing (issue 17), driven by
Textual's pilot at 80x24. Each test presses the keys a learner pressed when the app
recorded something they never did, and checks the store afterwards."""

from __future__ import annotations

import shutil

import pytest
from rich.console import Console
from test_tui import (
    HANGING,
    PIPE,
    SIZE,
    footer_keys,
    live_children,
    open_kata,
    store,
    text_of,
    wait_for,
    workspace,
)
from textual.widgets import DataTable, Footer, Input, Markdown

from grader import report, runner  # modules, not names: pytest would take Test* classes for tests
from kata.quiz.bank import load_bank
from kata.quiz.mock import MockInterview
from kata.quiz.session import QuizSession
from kata.tui.app import KataApp
from kata.tui.grade import GradeScreen
from kata.tui.home import HomeScreen, due_line
from kata.tui.kata import KataScreen
from kata.tui.katas import KatasScreen
from kata.tui.quiz import QuizScreen
from kata.tui.stats import StatsScreen

pytestmark = pytest.mark.anyio

SHARED_FIXTURES = (store, workspace)  # shared with the module they come from


@pytest.fixture
def anyio_backend():
    return "asyncio"


BANK = load_bank()


def first(kind: str, *, skip: int = 0):
    return [q for q in BANK.questions if q.kind == kind][skip]


def wrong_choice(q) -> int:
    return next(i for i in range(len(q.choices)) if i not in q.correct)


async def open_quiz(app, pilot, plan) -> QuizScreen:
    app.push_screen(QuizScreen("drill", session=QuizSession(app.store, plan, mode="drill")))
    await pilot.pause()
    return app.screen


# --- 1. k opens the Katas list ----------------------------------------------------------


async def test_k_opens_the_katas_list_not_the_last_kata(store):
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("k", "enter")  # the first kata of the list
        assert isinstance(app.screen, KataScreen) and app.screen.kata.id == "pipe"
        await pilot.press("h", "k")
        assert isinstance(app.screen, KatasScreen)
        assert app.screen.query_one(Input).has_focus
        await pilot.press("e", "n")  # typed into the filter, not the kata screen's keys
        assert app.screen.query_one(Input).value == "en"
        assert store.hints_revealed("pipe") == 0


async def test_h_goes_home_from_a_kata_opened_on_home(store):
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")
        assert isinstance(app.screen, KataScreen)
        await pilot.press("h")
        assert isinstance(app.screen, HomeScreen)


# --- 2, 3, 4. answering --------------------------------------------------------------------


async def test_enter_pressed_twice_never_answers_the_next_question(store):
    a, b = first("choice"), first("choice", skip=1)
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        quiz = await open_quiz(app, pilot, [a, b])
        await pilot.press(str(a.correct[0] + 1), "enter")  # pick, answer
        assert store.review_count() == 1
        await pilot.press("enter", "enter")  # next, and the double press
        assert quiz.asked.question.id == b.id and quiz.stage == "question"
        assert store.review_count() == 1, "nothing was picked: nothing is answered"
        assert any("Pick" in n.message for n in app._notifications)


async def test_digits_pick_and_enter_answers_for_every_kind(store):
    kinds = ("choice", "code", "truefalse", "multi", "order")
    plan = [first(kind) for kind in kinds]
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        quiz = await open_quiz(app, pilot, plan)
        for n, q in enumerate(plan):
            await pilot.press("t" if q.kind == "truefalse" else "1")
            assert store.review_count() == n, f"{q.kind}: a pick must not answer"
            await pilot.press("enter")
            assert store.review_count() == n + 1, q.kind
            await pilot.press("enter")
        assert quiz.stage == "done"


async def test_app_keys_do_not_fire_inside_a_question(store):
    choice, short = first("choice"), first("short")
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        quiz = await open_quiz(app, pilot, [choice, short])
        await pilot.press("t", "h", "k", "u", "q")
        assert app.screen is quiz and app.is_running, "t, h, k, u and q are not app keys in a question"
        await pilot.press(str(wrong_choice(choice) + 1), "enter")
        await pilot.press("t", "k")  # nor on the explanation
        assert app.screen is quiz
        await pilot.press("enter")
        await pilot.press("d")
        assert quiz.query_one(Input).value == "d" and store.review_count() == 1, "d is a letter in a text box"
        await pilot.press("ctrl+d")
        [given_up, _] = store.reviews()
        assert given_up.question == short.id and not given_up.correct and given_up.answer == ""


# --- 12. undo and count it right ---------------------------------------------------------


async def test_undo_takes_an_answer_back_and_r_counts_a_typed_one_right(store):
    choice, short = first("choice"), first("short")
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        quiz = await open_quiz(app, pilot, [choice, short])
        await pilot.press(str(wrong_choice(choice) + 1), "enter")
        assert store.review_count() == 1
        await pilot.press("ctrl+z")
        assert store.review_count() == 0 and quiz.asked.question.id == choice.id and quiz.stage == "question"
        await pilot.press(str(choice.correct[0] + 1), "enter", "enter")
        await pilot.press(*"my synonym", "enter")
        assert text_of(quiz, "#feedback").startswith("Wrong.")
        await pilot.press("r")
        assert text_of(quiz, "#feedback").startswith("Counted right")
        [latest, _] = store.reviews()
        assert latest.correct and latest.overridden and latest.answer == "my synonym"


# --- 6. the mock interview's kata --------------------------------------------------------


def pipe_mock(store) -> MockInterview:
    return MockInterview.start(store, count=1, katas=["pipe"], bank=BANK)


async def test_mock_kata_shows_the_spec_grades_with_progress_and_ends_with_the_report(store, workspace):
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(QuizScreen("mock", mock=pipe_mock(store)))
        await pilot.pause()
        quiz = app.screen
        await pilot.press("escape")  # done with the questions
        assert quiz.stage == "kata"
        spec = quiz.query_one("#spec", Markdown)
        assert spec.display and "Anonymous pipes" in spec.source
        await pilot.press("s")  # start it from the mock
        assert workspace.read_text() == PIPE.starter_path.read_text()
        await pilot.press("g")
        grade = app.screen
        assert isinstance(grade, GradeScreen)
        await wait_for(pilot, lambda: grade.query_one(DataTable).row_count > 0)  # progress, test by test
        await wait_for(pilot, lambda: grade.result is not None)
        await pilot.press("escape")
        assert app.screen is quiz and quiz.stage == "done"
        card = text_of(quiz, "#prompt")
        assert "Mock interview scorecard" in card and "What went wrong" in card and "0/4 tasks" in card
        width = quiz.query_one("#prompt").content_size.width  # the report is wrapped to it, indents kept
        assert max(len(line) for line in card.splitlines() if str(workspace) not in line) <= width, card
        assert store.attempts("pipe")[0].status == "fail" and len(store.attempts()) == 1


async def test_mock_kata_grading_can_be_cancelled_and_tried_again(store, workspace):
    workspace.parent.mkdir(parents=True)
    workspace.write_text(HANGING)
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(QuizScreen("mock", mock=pipe_mock(store)))
        await pilot.pause()
        quiz = app.screen
        await pilot.press("escape", "g")
        grade = app.screen
        await wait_for(pilot, lambda: len(live_children()) >= 3)
        await pilot.press("c")
        await wait_for(pilot, lambda: grade.result is not None)
        await pilot.press("escape")
        assert app.screen is quiz and quiz.stage == "kata", "a cancelled grade is not the kata's result"
        await wait_for(pilot, lambda: app.jobs.running == 0)
        assert live_children() == [] and store.attempts() == []


# --- 10. messages that work where they appear ----------------------------------------------


async def test_starting_over_in_the_app_asks_and_keeps_a_backup(store, workspace):
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await open_kata(app, pilot, "pipe")
        await pilot.press("s")
        workspace.write_text("my work\n")
        await pilot.press("s")
        assert not any("--force" in n.message for n in app._notifications)
        await pilot.press("n")  # no: nothing changes
        assert workspace.read_text() == "my work\n" and isinstance(app.screen, KataScreen)
        await pilot.press("s", "y")
        [backup] = workspace.parent.glob("pipe.py.*.bak")
        assert backup.read_text() == "my work\n" and workspace.read_text() == PIPE.starter_path.read_text()
        assert not any(str(workspace) in n.message for n in app._notifications), "pop-ups name the file, not its path"


# --- 11. cosmetics ----------------------------------------------------------------------------


async def test_every_footer_fits_80_columns(store, workspace):
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await open_kata(app, pilot, "pipe")
        for _ in range(2):
            footer = app.screen.query_one(Footer)
            assert footer.virtual_size.width <= SIZE[0], footer_keys(app)
            await pilot.press("s")  # started, then asked whether to start over
        await pilot.press("escape")
        from test_progress import fake_result

        store.record_attempt(fake_result())  # passed: the solution key joins the footer
        app.screen.refresh_status()
        await wait_for(pilot, lambda: "o" in footer_keys(app))
        assert app.screen.query_one(Footer).virtual_size.width <= SIZE[0], footer_keys(app)
        app.push_screen(QuizScreen("drill", session=QuizSession(store, [first("short")], mode="drill")))
        await pilot.pause()
        footer = app.screen.query_one(Footer)
        assert footer.virtual_size.width <= SIZE[0], footer_keys(app)


def test_wrapped_choices_keep_their_indent():
    from kata.quiz.checking import Shown
    from kata.tui.quiz import ChoiceAnswer

    q = max((q for q in BANK.questions if q.kind == "choice"), key=lambda q: max(map(len, q.choices)))
    pad = ChoiceAnswer(Shown.present(q))
    console = Console(width=50, record=True, color_system=None)
    for row in range(len(q.choices)):
        console.print(pad.render_row(row, active=True))
    lines = console.export_text().splitlines()
    starts = [n for n, line in enumerate(lines) if line.lstrip().startswith(("1.", "2.", "3.", "4.", "5."))]
    continued = [line for n, line in enumerate(lines) if n not in starts and line.strip()]
    assert continued, "a long choice must wrap at 50 columns"
    assert all(line.startswith("     ") for line in continued), lines


def test_home_says_why_there_are_no_new_questions(store):
    from datetime import UTC, datetime

    from kata.quiz.scheduler import NEW_PER_DAY, Scheduler

    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    scheduler = Scheduler(store, clock=lambda: now)
    for q in BANK.questions[:NEW_PER_DAY]:
        scheduler.record(q, correct=True, seconds=5)
    line = due_line(store, BANK, now)
    assert "0 new" in line and f"{NEW_PER_DAY} a day" in line


async def test_stats_counts_in_words(store, workspace):
    workspace.parent.mkdir(parents=True)
    shutil.copy(PIPE.starter_path, workspace)
    from grader import grade

    store.record_attempt(grade("pipe", workspace, tasks=[1]))
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("t")
        assert isinstance(app.screen, StatsScreen)
        body = text_of(app.screen, "#stats-body")
        assert "1 attempt" in body and "1 attempts" not in body


# --- 13. browse the bank ------------------------------------------------------------------------


async def test_browse_the_bank_by_topic_tag_and_state_and_open_one(store):
    from kata.tui.browse import BrowseScreen, QuestionScreen

    answered = next(q for q in BANK.in_topic("pipes") if q.kind == "choice")
    session = QuizSession(store, [answered], mode="drill")
    session.next()
    session.answer(answered.correct[0])
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("u")
        await pilot.press("b")
        browse = app.screen
        assert isinstance(browse, BrowseScreen)
        table = browse.query_one(DataTable)
        assert table.row_count == len(BANK.questions)
        await pilot.press(*"topic:pipes")
        assert {BANK.question(str(k.value)).topic for k in table.rows} == {"pipes"}
        await pilot.press(*" state:new")
        assert table.row_count == len(BANK.in_topic("pipes")) - 1
        assert answered.id not in {str(k.value) for k in table.rows}
        await pilot.press("enter")
        shown = app.screen
        assert isinstance(shown, QuestionScreen)
        assert shown.question.prompt.strip()[:30] in text_of(shown, "#question-body")
        assert text_of(shown, "#question-answer") == ""
        await pilot.press("a")  # the answer, on request, under its label
        assert shown.question.explain.strip()[:30] in text_of(shown, "#question-answer")
        assert f"The answer:\n  {shown.question.answer_text()}\n" in text_of(shown, "#question-answer")
        assert store.review_count() == 1, "browsing records nothing"


# --- 14. next, on Home ---------------------------------------------------------------------------


async def test_home_shows_the_next_kata_and_quiz(store):
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "quiz:" in text_of(app.screen, "#next"))  # once the bank is read
        assert "kata pipe" in text_of(app.screen, "#next") and "quiz" in text_of(app.screen, "#next")


# --- 16. the diff after a pass (15, `r` re-runs one test: test_tui.py, the failing file's grade) ---------


async def test_diff_with_the_reference_after_a_pass(store, workspace):
    from kata.tui.code import DiffScreen

    workspace.parent.mkdir(parents=True)
    workspace.write_text("# mine\n" + PIPE.solution_path.read_text())
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await open_kata(app, pilot, "pipe")
        await pilot.press("d")
        assert isinstance(app.screen, KataScreen), "closed before a pass"
        from grader import grade

        store.record_attempt(grade("pipe", workspace, perf=False))
        await pilot.press("d")
        assert isinstance(app.screen, DiffScreen)
        assert "# mine" in app.screen.plain_text()


async def test_arrows_pick_and_bring_a_choice_below_long_code_into_view(store):
    q = max((q for q in BANK.questions if q.kind == "code"), key=lambda q: len(q.code.splitlines()))
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        quiz = await open_quiz(app, pilot, [q])
        view = quiz.query_one("#question")
        last = len(q.choices)
        await pilot.press(*["down"] * last)
        assert quiz.pad.cursor == last - 1, "down picks, it does not only scroll"
        row = quiz.choice_rows[last - 1]
        await wait_for(pilot, lambda: view.region.contains_region(row.region) if row.region.height else False)
        await pilot.press("enter")
        assert store.review_count() == 1


async def test_nothing_to_ask_suggests_what_the_app_offers_not_cli_flags(store):
    from kata.quiz.scheduler import Scheduler

    scheduler = Scheduler(store)
    for q in BANK.questions:  # everything answered right just now: nothing due, nothing new
        scheduler.record(q, correct=True, seconds=5)
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(QuizScreen("practice"))
        await pilot.pause()
        said = text_of(app.screen, "#prompt")
        assert said.startswith("Nothing to ask") and "--" not in said and "Drill" in said, said


async def test_ctrl_q_quits_even_inside_a_question(store):
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await open_quiz(app, pilot, [first("short")])
        await pilot.press("q")
        assert app.is_running, "q is typed in the answer box"
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: not app.is_running, timeout=20)


def rubric_length(q) -> int:
    """How much a design question's key points say: every one of them is missed when nothing is ticked."""
    return sum(len(p.point) + len(p.why) for p in q.rubric)


async def test_a_design_verdict_shows_and_leaves_the_missed_points_to_the_panel(store):
    """Nothing ticked: the verdict (Wrong. Covered 0 of N key points) is on screen, and it does not
    list the missed points again: the panel above marks each one ✗ with why it matters."""
    q = max((q for q in BANK.questions if q.kind == "design"), key=rubric_length)
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        quiz = await open_quiz(app, pilot, [q])
        await pilot.press("ctrl+r", "enter")
        feedback_text = text_of(quiz, "#feedback")
        assert quiz.stage == "feedback" and feedback_text.startswith(f"Wrong. Covered 0 of {len(q.rubric)}")
        assert "marked ✗ above" in feedback_text
        assert not any(p.why.split(".")[0] in feedback_text for p in q.rubric), "a missed point told twice"
        await wait_for(pilot, lambda: verdict_in_view(quiz), timeout=5)


def verdict_in_view(quiz: QuizScreen) -> bool:
    """The feedback laid out (before, its empty line is in view wherever the view stops) and its
    first line, the verdict, in the question area's view."""
    view, feedback = quiz.query_one("#question"), quiz.query_one("#feedback")
    shown = feedback.virtual_region
    return shown.height > 1 and view.scroll_y <= shown.y < view.scroll_y + view.scrollable_content_region.height


async def test_a_design_verdict_shows_when_the_layout_comes_after_the_answer(store):
    """On a busy machine the screen ran its after-refresh callbacks before the layout of the answer
    (the key points' why lines, the feedback): the verdict was scrolled to by the old geometry, the
    view stopped in the model answer and "Wrong. Covered 1 of 5" stayed below it (the walk-through's
    design verdict screen, now and then). Here the layout is held back while the answer is given."""
    q = max((q for q in BANK.questions if q.kind == "design"), key=rubric_length)
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        quiz = await open_quiz(app, pilot, [q])
        await pilot.press(*"A ring in shared memory.", "ctrl+r")
        await pilot.pause()
        with app.batch_update():  # no layout until the end of the batch; callbacks still run
            await pilot.press("1", "enter")
            assert quiz.stage == "feedback"
        await wait_for(pilot, lambda: verdict_in_view(quiz), timeout=5)
        assert text_of(quiz, "#feedback").startswith(f"Wrong. Covered 1 of {len(q.rubric)}")


async def test_a_long_test_name_leaves_the_time_column_on_screen(store):
    """At 80 columns a suite's longest test names pushed the time column off the screen
    ("ti", "0."): the name ends in "…" instead, and the detail below gives it whole."""
    long_name = "test_receive_returns_fewer_lines_when_the_timeout_expires_too"
    tests = [
        report.TestResult(name, 1, "pass", duration=0.25, nodeid=f"t.py::{name}") for name in (long_name, "test_short")
    ]
    result = report.Result("pipe", "pipe.py", "pass", duration=1.0, tests=tests)

    def events(kata_id, path, cancel, tests=None):
        for test in result.tests:
            yield runner.TestStarted(test.name, test.nodeid, test.task)
            yield runner.TestFinished(test)
        yield runner.GradeFinished(result)

    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = GradeScreen("pipe", PIPE.starter_path, record=False, events=events)
        await app.push_screen(screen)
        await wait_for(pilot, lambda: screen.result is not None)
        await pilot.pause()
        table = screen.query_one(DataTable)
        header, first, second = (table.render_line(y).text.rstrip() for y in range(3))
        assert header.split()[-2:] == ["task", "time"], header
        assert first.endswith("0.25s") and "…" in first and "timeout" in first, first
        assert second.endswith("0.25s") and "test_short" in second, second
        assert long_name in text_of(screen, "#test-detail")


async def test_the_palette_says_what_each_kata_is_in_whole_words(store):
    """The palette's line under each kata is its summary, cut where it fits at 80 columns
    ("open-file-descripti", "map MA" were cut mid-word): at a word, marked with "…"."""
    from grader.catalog import all_katas
    from kata.tui.app import Everywhere

    app = KataApp(store)
    async with app.run_test(size=SIZE):
        shown = {hit.text: hit.help async for hit in Everywhere(app.screen).discover()}
    for kata in all_katas():
        said = shown[f"Kata {kata.id}: {kata.title}"]
        assert len(said) <= 70, said
        if said != kata.summary:
            kept = said.removesuffix(" …")
            assert said.endswith(" …") and kata.summary.startswith(kept) and kata.summary[len(kept)] == " ", said


async def test_the_keys_under_an_explanation_are_never_split_from_what_they_do(store):
    """After a typed answer graded wrong the keys line held three keys and the review date: at
    80 columns "r:" ended one line and "count it right" began the next."""
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        quiz = await open_quiz(app, pilot, [first("short")])
        await pilot.press(*"a synonym", "enter")
        await pilot.pause()
        feedback = quiz.query_one("#feedback")
        lines = [strip.text.strip() for strip in feedback.render_lines(feedback.region.reset_offset)]
        keys = next((line for line in lines if line.startswith("Enter:")), "")
        assert keys == "Enter: next question · ctrl+z: take it back · r: count it right", lines
        assert any(line.startswith("(back for review ") for line in lines), lines


async def test_a_mock_s_progress_line_fits_one_line_for_every_kind(store):
    """The line above a question says where you are, the kind and the clock: with a long topic
    (or the design kind's long label) it wrapped, the clock alone on a second line."""
    longest = {q.kind: q for q in sorted(BANK.questions, key=lambda q: len(q.topic))}  # the longest topic of a kind
    plan = list(longest.values())
    plan += [q for q in BANK.questions if q not in plan][: 10 - len(plan)]  # [n/10], as in a mock
    app = KataApp(store)
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(QuizScreen("mock", session=QuizSession(store, plan, mode="mock", time_limit=20 * 60)))
        await pilot.pause()
        quiz = app.screen
        for q in plan:
            assert quiz.asked.question.id == q.id
            line = quiz.query_one("#quiz-progress")
            assert line.region.height == 1, f"{q.kind}, {q.topic}: {text_of(quiz, '#quiz-progress')!r}"
            await pilot.press("ctrl+d", "enter")
            await pilot.pause()
