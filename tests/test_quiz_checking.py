"""Answer checking per kind, structured and typed, with shuffled choices; fair
matching of short answers (numbers by value, call syntax, module prefixes, man
sections, Unicode minus); order questions as partial orders; design answers."""

from __future__ import annotations

import random

import pytest

from kata.quiz.answers import Quantity, canonical, normalise
from kata.quiz.bank import Question, RubricPoint
from kata.quiz.checking import AnswerFormatError, Shown, check, describe_answer, parse_answer
from kata.quiz.design import DesignAnswer
from kata.quiz.ordering import right_orders


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
    assert normalise("\u221215") == "-15"  # the Unicode minus sign


PIPE_BUF = question("short", accepted=("4096 bytes",), number=Quantity(4096, "bytes", kilo=1024), variants=("4 KB",))
SI_KILO = question("short", accepted=("4096 bytes",), number=Quantity(4096, "bytes", kilo=1000))
CAPACITY = question("short", accepted=("65536 bytes",), number=Quantity(65536, "bytes", kilo=1024))
RETURNCODE = question("short", accepted=("-15",), number=Quantity(-15))
DELAY = question("short", accepted=("40 ms",), number=Quantity(40, "ms"))
NAMES = question("short", accepted=("socketpair", "/dev/shm", "SIGSTOP", "WNOHANG"))


@pytest.mark.parametrize(
    "q, text, ok",
    [
        (CAPACITY, "64KB", True),
        (CAPACITY, "65,536", True),
        (CAPACITY, "65 536", True),
        (CAPACITY, "65536 bytes", True),
        (CAPACITY, "2^16", True),
        (CAPACITY, "2**16", True),
        (CAPACITY, "2¹⁶", True),
        (CAPACITY, "1 << 16", True),
        (CAPACITY, "0x10000", True),
        (CAPACITY, "64 KiB", True),
        (CAPACITY, "64 kilobytes", True),
        (CAPACITY, "64", False),
        (CAPACITY, "65535", False),
        (CAPACITY, "64 MB", False),
        (CAPACITY, "64 pages", False),
        (PIPE_BUF, "4 KB", True),  # loose: KB read as 1024, as people say it of PIPE_BUF
        (PIPE_BUF, "4096 bytes", True),
        (PIPE_BUF, "4kb", True),
        (PIPE_BUF, "4000", False),
        (SI_KILO, "4 KiB", True),
        (SI_KILO, "4 KB", False),  # strict: KB is 1000
        (RETURNCODE, "-15", True),
        (RETURNCODE, "\u221215", True),
        (RETURNCODE, "\u201315", True),
        (RETURNCODE, "15", False),
        (RETURNCODE, "-15 bytes", False),
        (DELAY, "40", True),
        (DELAY, "0.04 s", True),
        (DELAY, "40 milliseconds", True),
        (DELAY, "40000 µs", True),
        (DELAY, "40 s", False),
    ],
)
def test_numbers_are_compared_by_value(q, text, ok):
    assert typed(q, text).correct is ok


@pytest.mark.parametrize(
    "text, ok",
    [
        ("socket.socketpair()", True),
        ("socketpair(2)", True),
        ("dev/shm/", True),
        ("/dev/shm/", True),
        ("SIGSTOP (19)", True),
        ("signal.SIGSTOP", True),
        ("os.WNOHANG", True),
        ("`WNOHANG`", True),
        ("socketpairs", False),
        ("/dev/mqueue", False),
        ("SIGTSTP", False),
        ("socketpair(AF_UNIX)", False),  # arguments are not call syntax to drop: they change the answer
    ],
)
def test_call_syntax_module_prefixes_sections_and_slashes_do_not_matter(text, ok):
    assert typed(NAMES, text).correct is ok


def test_canonical():
    assert canonical("os.pipe()") == "pipe" and canonical("pipe(2)") == "pipe"
    assert canonical("signal.Signals.SIGPIPE") == "sigpipe"


RUBRIC = tuple(RubricPoint(f"point {n}", f"why {n}") for n in range(1, 5))
DESIGN = question("design", model="Use a socket.", rubric=RUBRIC, wrong_turns=("a", "b"))


@pytest.mark.parametrize(
    "text, covered, ok",
    [
        ("1 3", {0, 2}, True),
        ("4", {3}, False),
        ("0", set(), False),
        ("none", set(), False),
        ("1,2,3,4", {0, 1, 2, 3}, True),
    ],
)
def test_design_answer_is_the_rubric_points_covered(text, covered, ok):
    shown = Shown.present(DESIGN)
    answer = parse_answer(shown, text)
    assert answer == DesignAnswer(frozenset(covered))
    verdict = check(shown, answer)
    assert verdict.correct is ok and verdict.partial == len(covered) / 4
    assert verdict.expected == "Use a socket."


def test_design_feedback_lists_the_missed_points_with_why():
    verdict = check(Shown.present(DESIGN), DesignAnswer(frozenset({0, 1, 3}), "my notes"))
    assert verdict.given == "Covered 3 of 4 key points.\nMissed:\n- point 3 (why: why 3)"


def test_design_answer_is_stored_with_the_learners_notes():
    shown = Shown.present(DESIGN)
    assert (
        describe_answer(shown, DesignAnswer(frozenset({2, 0}), "pipes\nand poll"))
        == "covered: 0 2\nnotes: pipes\nand poll"
    )
    assert describe_answer(shown, frozenset()) == "covered: none"


@pytest.mark.parametrize("text, hint", [("5", "from 1 to 4"), ("1 1", "once"), ("socket", "key points you covered")])
def test_design_unreadable_ticks_say_what_to_type(text, hint):
    with pytest.raises(AnswerFormatError, match=hint):
        parse_answer(Shown.present(DESIGN), text)


def test_order_without_constraints_is_a_total_order():
    assert typed(ORDER, "2 3 1").correct
    wrong = typed(ORDER, "2 1 3")  # pipe, read, fork: keeps pipe < fork, breaks fork < read
    assert not wrong.correct and wrong.partial == pytest.approx(1 / 2)
    assert wrong.expected == "1. pipe\n2. fork\n3. read"


# pipe, fork, then the child writes and the parent closes its write end in either
# order, then the parent reads to EOF: steps 3 and 4 may swap.
PARTIAL = question(
    "order",
    choices=("child: write", "pipe()", "parent: read to EOF", "fork()", "parent: close the write end"),
    correct=(1, 3, 0, 4, 2),
    before=((1, 3), (3, 0), (0, 2), (3, 4), (4, 2)),
)


def test_partial_order_accepts_every_sequence_that_keeps_the_constraints():
    assert sorted(right_orders(range(5), PARTIAL.before)) == [(1, 3, 0, 4, 2), (1, 3, 4, 0, 2)]
    assert typed(PARTIAL, "2 4 1 5 3").correct  # the order as written in the answer
    assert typed(PARTIAL, "2 4 5 1 3").correct  # the two concurrent steps swapped


@pytest.mark.parametrize(
    "text, kept",
    [("4 2 1 5 3", 4), ("2 4 3 1 5", 3), ("2 1 4 5 3", 4), ("3 5 1 4 2", 0)],
    ids=["fork-before-pipe", "read-first", "write-before-fork", "reversed"],
)
def test_partial_order_rejects_a_broken_constraint_with_partial_credit(text, kept):
    verdict = typed(PARTIAL, text)
    assert not verdict.correct and verdict.partial == pytest.approx(kept / 5)


def test_order_feedback_names_the_steps_that_may_swap():
    assert PARTIAL.answer_text().endswith("(also right: steps 3 and 4 in either order)")


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
