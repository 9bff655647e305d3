"""Fair checking on the shipped bank: every accepted variant of a short question
is judged right and every listed near miss wrong; every order question accepts
each sequence its constraints allow, and each constraint, broken alone, makes
the answer wrong."""

from __future__ import annotations

import itertools

import pytest

from kata.quiz.bank import Question, load_bank
from kata.quiz.checking import Shown, check
from kata.quiz.ordering import right_orders, satisfied

BANK = load_bank()
SHORT = [q for q in BANK.questions if q.kind == "short"]
ORDER = [q for q in BANK.questions if q.kind == "order"]


def typed(q: Question, text: str) -> bool:
    return check(Shown.present(q), text).correct


@pytest.mark.parametrize(
    "q, text", [(q, v) for q in SHORT for v in (*q.accepted, *q.variants)], ids=lambda x: getattr(x, "id", x)
)
def test_every_accepted_variant_is_right(q, text):
    assert typed(q, text), f"{q.location}: {text!r}"


@pytest.mark.parametrize("q, text", [(q, v) for q in SHORT for v in q.near_misses], ids=lambda x: getattr(x, "id", x))
def test_every_near_miss_is_wrong(q, text):
    assert not typed(q, text), f"{q.location}: {text!r}"


def test_every_short_question_lists_variants():
    assert all(q.variants for q in SHORT)
    assert all(q.near_misses for q in SHORT if q.number is not None)


@pytest.mark.parametrize("q", ORDER, ids=lambda q: q.id)
def test_every_allowed_sequence_is_right(q):
    allowed = list(right_orders(q.correct, q.constraints))
    assert q.correct in allowed
    shown = Shown.present(q)
    for sequence in allowed:
        assert check(shown, [shown.order.index(i) for i in sequence]).correct, sequence


@pytest.mark.parametrize(
    "q, constraint", [(q, c) for q in ORDER for c in q.constraints], ids=lambda x: getattr(x, "id", str(x))
)
def test_each_constraint_broken_alone_is_wrong(q, constraint):
    """A sequence that keeps every other constraint but this one exists, and is judged wrong."""
    others = [c for c in q.constraints if c != constraint]
    breaking = next(
        s
        for s in itertools.permutations(q.correct)
        if satisfied(s, others) == len(others) and not satisfied(s, [constraint])
    )
    shown = Shown.present(q)
    verdict = check(shown, [shown.order.index(i) for i in breaking])
    assert not verdict.correct
    assert verdict.partial == pytest.approx(len(others) / len(q.constraints))
