"""Taking an answer back (Anki's undo) and counting a typed answer right ("I typed a
synonym"): the record holds what the learner decided, said as such, and the
schedule is what it would have been."""

from __future__ import annotations

import pytest
from test_quiz import Clock, bank, bank_dir, home, store

from kata.errors import UserError
from kata.quiz.scheduler import Scheduler
from kata.quiz.session import start_session

SHARED_FIXTURES = (bank, bank_dir, home, store)  # shared with the module they come from


@pytest.fixture
def clock():
    return Clock()


def test_undo_takes_the_last_answer_back_and_asks_it_again(bank, store, clock):
    session = start_session(store, clock=clock, bank=bank, topic="pipes")
    first = session.next()
    session.answer_text("1")  # right
    card_after_first = store.card(first.question.id)
    second = session.next()
    session.answer_text("3")  # wrong, e.g. Enter pressed twice
    assert store.review_count() == 2 and store.card(second.question.id) is not None
    again = session.undo()
    assert again.question.id == second.question.id and again.choices == second.choices
    assert again.number == second.number
    assert store.review_count() == 1 and store.card(second.question.id) is None, "as if never answered"
    assert store.card(first.question.id) == card_after_first
    clock.advance(seconds=5)
    session.answer(0 if again.choices[0] == "right b" else again.choices.index("right b"))
    [latest, _first] = store.reviews()
    assert latest.question == second.question.id and latest.correct
    assert session.summary().answered == 2 and session.summary().correct == 2
    [undo] = store.export()["corrections"]
    assert undo["kind"] == "undo" and undo["review"]["answer"] and not undo["review"]["correct"]


def test_undo_while_the_next_question_is_on_screen_puts_it_back(bank, store, clock):
    session = start_session(store, clock=clock, bank=bank, topic="pipes")
    session.next()
    session.answer_text("2")
    on_screen = session.next()
    taken_back = session.undo()
    assert taken_back.number == 1
    session.answer_text("1")
    assert session.next().question.id == on_screen.question.id


def test_undo_with_nothing_answered_is_a_one_line_error(bank, store, clock):
    session = start_session(store, clock=clock, bank=bank, topic="pipes")
    session.next()
    assert not session.can_undo
    with pytest.raises(UserError, match="nothing to undo"):
        session.undo()


def test_override_counts_a_typed_answer_right_as_the_learner_said(bank, store, clock, home):
    short = bank.question("pipes-short")
    session = start_session(store, clock=clock, bank=bank, topic="pipes")
    while session.next().question.id != short.id:
        session.dont_know()
    clock.advance(seconds=8)
    feedback = session.answer_text("sixty-four kibibytes")
    assert not feedback.verdict.correct and session.can_override
    overridden = session.override()
    assert overridden.verdict.correct and overridden.overridden
    [review, *_] = store.reviews()
    assert review.correct and review.overridden and review.answer == "sixty-four kibibytes"
    # the schedule is the one a right answer in the same time would have given
    twin = Scheduler(store.__class__.open(home / "twin.db"), clock=clock)
    _r, expected = twin.record(short, correct=True, seconds=8, at=review.at)
    assert store.card(short.id).due == expected.due
    assert session.summary().correct == 1
    assert [c["kind"] for c in store.export()["corrections"]] == ["override"]
    assert not session.can_override, "once is enough"


def test_only_a_typed_wrong_answer_can_be_overridden(bank, store, clock):
    session = start_session(store, clock=clock, bank=bank, topic="pipes")
    session.next()
    session.answer_text("2")  # a wrong choice: undo is for that, not override
    assert not session.can_override
    with pytest.raises(UserError, match="typed answer"):
        session.override()
    session.next()
    session.dont_know()
    assert not session.can_override


def test_plain_quiz_undo_and_right(bank_dir, monkeypatch, capsys):
    from test_quiz import T0, run_quiz

    from kata.progress import ProgressStore

    # pipes-a: 2 (wrong), :undo, 1 (right); pipes-b: ?; pipes-tf: 1 (wrong); short: "64k", :right
    code, out = run_quiz(monkeypatch, capsys, "2\n:undo\n1\n?\n1\n64k\n:right\n", "--topic", "pipes", now=T0)
    assert code == 0
    assert "Taken back; again:" in out and "Counted right, as you said." in out
    assert "Summary: 2/4 right" in out
    with ProgressStore.open() as store:
        reviews = store.reviews()
        assert [(r.question, r.correct, r.overridden) for r in reviews] == [
            ("pipes-short", True, True),
            ("pipes-tf", False, False),
            ("pipes-b", False, False),
            ("pipes-a", True, False),
        ]
