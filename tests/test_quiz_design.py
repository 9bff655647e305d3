"""The `design` kind end to end: ticks set the FSRS rating, the plain quiz and the
TUI (write, reveal, tick), and the mock interview's one open question.

A small bank written by a fixture (two design questions among choice questions),
a temporary $KATA_HOME, an injected clock.
"""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime

import fsrs
import pytest
from rich.console import Console
from textual.widgets import Static, TextArea

from kata.progress import ProgressStore
from kata.quiz.bank import load_bank
from kata.quiz.design import DesignAnswer
from kata.quiz.mock import MockInterview
from kata.quiz.scheduler import design_rating, rate
from kata.quiz.session import QuizSession

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

TOPICS = """\
- id: pipes
  title: Pipes
- id: design
  title: Design questions
"""

DESIGN = """\
- id: design-{n}
  topic: design
  kind: design
  difficulty: 3
  prompt: Prompt of design-{n}. Which IPC, and why?
  answer: |
    Model answer of design-{n}, first paragraph.

    Second paragraph.
  rubric:
    - point: Point one of {n}
      why: Why one.
    - point: Point two of {n}
      why: Why two.
    - point: Point three of {n}
      why: Why three.
    - point: Point four of {n}
      why: Why four.
  wrong_turns:
    - Wrong turn A of {n}.
    - Wrong turn B of {n}.
  explain: It probes design-{n}. And more.
  source: unix(7)
"""

CHOICE = """\
- id: pipes-{n}
  topic: pipes
  kind: choice
  difficulty: 1
  prompt: Prompt of pipes-{n}?
  choices: {choices}
  answer: right {n}
  explain: Explanation of pipes-{n}. Really.
  source: pipe(7)
"""


CLAIMS = """\
material: Fixture material
claims:
  - id: pipes-one
    quote: Pipes are one way.
    verdict: accurate
    questions: [pipes-1]
"""


def choices(n: int) -> str:
    """The right choice at a different position per question (the cue check wants no clustering)."""
    options = ["wrong one", "wrong two"]
    options.insert(n % 3, f"right {n}")
    return "[" + ", ".join(options) + "]"


@pytest.fixture
def bank(tmp_path, monkeypatch):
    directory = tmp_path / "bank"
    directory.mkdir()
    (directory / "topics.yaml").write_text(TOPICS)
    (directory / "design.yaml").write_text("".join(DESIGN.format(n=n) for n in (1, 2)))
    (directory / "pipes.yaml").write_text("".join(CHOICE.format(n=n, choices=choices(n)) for n in range(1, 7)))
    (directory / "claims.yaml").write_text(CLAIMS)
    monkeypatch.setattr("kata.quiz.bank.default_directory", lambda: directory)
    return load_bank(directory)


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("KATA_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KATA_NOW", raising=False)
    with ProgressStore.open() as opened:
        yield opened


def session_of(store, *questions, mode="drill"):
    return QuizSession(store, list(questions), mode=mode, clock=lambda: T0)


# --- rating -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "points, ratings",
    [
        (4, ["Again", "Again", "Hard", "Good", "Easy"]),
        (5, ["Again", "Again", "Again", "Hard", "Good", "Easy"]),
        (6, ["Again", "Again", "Again", "Hard", "Hard", "Good", "Easy"]),
    ],
)
def test_ticks_set_the_rating(points, ratings):
    """The mapping documented in kata.quiz.design and DESIGN_RATINGS, for every rubric size."""
    assert [design_rating(ticked / points).name for ticked in range(points + 1)] == ratings


def test_a_design_rating_ignores_time(bank):
    q = bank.question("design-1")
    assert rate(q, True, 5, partial=0.75) == rate(q, True, 5000, partial=0.75) == fsrs.Rating.Good


def test_a_session_records_the_rating_the_ticks_earned(bank, store):
    session = session_of(store, bank.question("design-1"), bank.question("design-2"))
    session.next()
    half = session.answer(DesignAnswer(frozenset({0, 3}), "use a socket"))
    session.next()
    none = session.answer(DesignAnswer(frozenset()))
    assert (half.rating, half.verdict.correct) == (fsrs.Rating.Hard, True)
    assert (none.rating, none.verdict.correct) == (fsrs.Rating.Again, False)
    assert [r.answer for r in store.reviews()] == ["covered: none", "covered: 0 3\nnotes: use a socket"]


# --- kata quiz ----------------------------------------------------------------------------


def plain(store, questions, typed: str) -> str:
    from kata.commands.quiz import PlainFace

    out = io.StringIO()
    PlainFace(io.StringIO(typed), out).run(session_of(store, *questions))
    return out.getvalue()


def test_plain_write_reveal_tick(bank, store):
    out = plain(store, [bank.question("design-1")], "a datagram socket\nper producer\n\n9\n1 2 3\n")
    written, revealed = out.split("Model answer:")
    assert "Prompt of design-1" in written and "an empty line reveals the model answer" in written
    assert "Model answer of design-1, first paragraph." in revealed and "Wrong turn B of 1." in revealed
    assert "  4. Point four of 1" in revealed
    assert "(choose numbers from 1 to 4)" in revealed  # the 9 is asked again
    assert "Covered 3 of 4 key points.\nMissed:\n- Point four of 1 (why: Why four.)" in revealed
    assert "Rating: Good" in revealed and "Why: It probes design-1." in revealed
    [review] = store.reviews()
    assert review.answer == "covered: 0 1 2\nnotes: a datagram socket\nper producer"


def test_plain_dont_know_shows_the_model_answer(bank, store):
    out = plain(store, [bank.question("design-1")], "?\n")
    assert "Model answer of design-1" in out and "Rating: Again" in out
    assert [r.correct for r in store.reviews()] == [False]


def test_plain_quit_while_writing_records_nothing(bank, store):
    out = plain(store, [bank.question("design-1"), bank.question("pipes-1")], "some thoughts\n")
    assert "Summary: 0/0 right" in out and store.reviews() == []


# --- the mock interview -------------------------------------------------------------------


def test_a_mixed_mock_ends_with_exactly_one_design_question(bank, store):
    for seed in range(20):
        mock = MockInterview.start(
            store, count=4, bank=bank, clock=lambda: T0, rng=random.Random(seed), katas=["pipe"], grade=None
        )
        kinds = [q.kind for q in mock.quiz.plan]
        assert kinds == ["choice", "choice", "choice", "design"], seed


def test_a_mock_on_one_topic_asks_only_that_topic(bank, store):
    mock = MockInterview.start(
        store, count=3, bank=bank, clock=lambda: T0, rng=random.Random(1), katas=["pipe"], topic="pipes"
    )
    assert {q.topic for q in mock.quiz.plan} == {"pipes"} and len(mock.quiz.plan) == 3


# --- the TUI ------------------------------------------------------------------------------


@pytest.fixture
def anyio_backend():
    return "asyncio"


def shown(panel, selector: str) -> str:
    """What a Static of the panel shows, as plain text (it may hold any Rich renderable)."""
    console = Console(width=76, record=True, file=io.StringIO())
    console.print(panel.query_one(selector, Static).content)
    return console.export_text()


@pytest.mark.anyio
async def test_tui_write_reveal_tick(bank, store):
    from kata.tui.app import KataApp
    from kata.tui.quiz import QuizScreen

    plan = [bank.question("design-1"), bank.question("pipes-1")]
    app = KataApp(store, clock=lambda: T0)
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(QuizScreen("drill", session=session_of(store, *plan)))
        await pilot.pause()
        quiz = app.screen
        panel = quiz.query_one("#design")
        notes = panel.query_one(TextArea)
        assert app.focused is notes
        await pilot.press(*"1 socket", "enter", *"d")  # digits, d and Enter are typed while writing
        assert notes.text == "1 socket\nd" and store.reviews() == []
        assert "Model answer" not in shown(panel, "#design-model")
        await pilot.press("ctrl+r")
        assert "Model answer of design-1" in shown(panel, "#design-model")
        assert "[ ] 4. Point four of 1" in shown(panel, "#design-rubric")
        await pilot.press("1", "down", "down", "space", "2", "2", "enter")  # ticks 1 and 3
        await pilot.pause()
        feedback = str(quiz.query_one("#feedback", Static).render())
        assert feedback.startswith("Right.") and "Covered 2 of 4 key points." in feedback
        assert "Model answer" not in feedback  # it is on screen already, in the panel
        rubric = shown(panel, "#design-rubric")
        assert "✓ 1. Point one of 1" in rubric and "✗ 2. Point two of 1" in rubric and "why: Why two." in rubric
        assert "Why two." not in feedback and "marked ✗ above" in feedback  # told once, in the panel
        [review] = store.reviews()
        assert (review.rating, review.answer) == (fsrs.Rating.Hard, "covered: 0 2\nnotes: 1 socket\nd")
        await pilot.press("enter")
        assert quiz.asked.question.id == "pipes-1" and not quiz.query("#design")
        await pilot.press("1", "enter")  # any choice, then Enter: the next question is answered as usual
        assert [r.question for r in store.reviews()] == ["pipes-1", "design-1"]  # newest first


def test_fixture_bank_is_clean(bank):
    """The fixture is a valid bank, so the tests above exercise real questions."""
    from kata.quiz.lint import check_bank

    assert check_bank(bank.directory, kata_ids=[]) == []
