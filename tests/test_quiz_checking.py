"""Answer checking per kind, structured and typed, with shuffled choices."""

from __future__ import annotations

import random

import pytest

from kata.quiz.bank import Question
from kata.quiz.checking import AnswerFormatError, Shown, check, describe_answer, normalise, parse_answer


def question(kind, **fields) -> Question:
    return Question(
        id=f"q-{kind}",
        topic="pipes",
        kind=kind,
        prompt="?",
        explain="Because.",
        source="pipe(7)",
        difficulty=1,
        **fields,
    )


CHOICE = question("choice", choices=("one pipe", "two pipes", "a FIFO"), correct=(1,))
MULTI = question("multi", choices=("a", "b", "c", "d"), correct=(0, 2))
TRUEFALSE = question("truefalse", truth=False)
SHORT = question("short", accepted=("65536", "64 KiB"))
ORDER = question("order", choices=("read", "pipe", "fork"), correct=(1, 2, 0))
CODE = question("code", choices=("EPIPE", "EBADF"), correct=(1,), code="print(1)")


def typed(q: Question, text: str, order=None):
    shown = Shown(q, tuple(order) if order else tuple(range(len(q.choices))))
    return check(shown, parse_answer(shown, text))


def test_choice_right_and_wrong_with_feedback():
    right = typed(CHOICE, "2")
    assert right.correct and right.expected == "two pipes" and right.explain == "Because."
    wrong = typed(CHOICE, "1")
    assert not wrong.correct and wrong.given == "one pipe" and wrong.expected == "two pipes"


def test_shuffled_choices_map_back_to_the_bank():
    shown = Shown(CHOICE, (2, 1, 0))  # shown: a FIFO, two pipes, one pipe
    assert shown.choices == ("a FIFO", "two pipes", "one pipe")
    assert check(shown, 1).correct and not check(shown, 0).correct
    assert describe_answer(shown, 0) == "2"  # stored as the bank index


def test_present_shuffles_choice_kinds_but_never_order_questions():
    rng = random.Random(3)
    orders = {Shown.present(MULTI, rng).order for _ in range(20)}
    assert len(orders) > 1
    assert all(Shown.present(ORDER, rng).order == (0, 1, 2) for _ in range(10))
    assert Shown.present(CHOICE, None).order == (0, 1, 2)


@pytest.mark.parametrize("text, ok", [("1 3", True), ("3,1", True), ("1", False), ("1 2 3", False), ("2 4", False)])
def test_multi_needs_all_and_only(text, ok):
    assert typed(MULTI, text).correct is ok


def test_multi_partial_credit_is_reported():
    assert typed(MULTI, "1").partial == 0.5
    assert typed(MULTI, "1 3").partial == 1.0


@pytest.mark.parametrize(
    "text, ok", [("f", True), ("false", True), ("2", True), ("t", False), ("1", False), ("TRUE", False)]
)
def test_truefalse(text, ok):
    assert typed(TRUEFALSE, text).correct is ok


def test_truefalse_is_shown_as_two_numbered_choices():
    assert Shown.present(TRUEFALSE).choices == ("True", "False")


@pytest.mark.parametrize(
    "text, ok",
    [
        ("65536", True),
        ("  64   kib ", True),
        ("`65536`", True),
        ("64 KiB.", True),
        ("'64 KIB'", True),
        ("65535", False),
        ("64", False),
    ],
)
def test_short_is_normalised(text, ok):
    assert typed(SHORT, text).correct is ok


def test_normalise():
    assert normalise("  Pipe\tBuffer. ") == "pipe buffer"


def test_order():
    assert typed(ORDER, "2 3 1").correct
    wrong = typed(ORDER, "2 1 3")
    assert not wrong.correct and wrong.partial == pytest.approx(1 / 3)
    assert wrong.expected == "1. pipe\n2. fork\n3. read"


def test_code_is_checked_like_choice():
    assert typed(CODE, "2").correct and not typed(CODE, "1").correct


@pytest.mark.parametrize(
    "q, text, hint",
    [
        (CHOICE, "", r"number of your choice \(1-3\)"),
        (CHOICE, "two", "number of your choice"),
        (CHOICE, "4", "from 1 to 3"),
        (CHOICE, "0", "from 1 to 3"),
        (CHOICE, "1 2", "number of your choice"),
        (MULTI, "1 1", "once"),
        (TRUEFALSE, "maybe", "1 or t"),
        (ORDER, "1 1 2", "permutation"),
        (ORDER, "1 2", "permutation"),
    ],
)
def test_unreadable_answers_say_what_to_type(q, text, hint):
    shown = Shown(q, tuple(range(len(q.choices))))
    with pytest.raises(AnswerFormatError, match=hint):
        check(shown, parse_answer(shown, text))


def test_structured_answers_are_validated_too():
    shown = Shown(CHOICE, (0, 1, 2))
    for bad in (5, -1, True, "1"):
        with pytest.raises(AnswerFormatError):
            check(shown, bad)
    with pytest.raises(AnswerFormatError):
        check(Shown(TRUEFALSE, ()), "yes")
