"""Answer checking, one rule per question kind, with no UI in it.

Answers come in two shapes, so both faces of the quiz share one checker:

- structured (what the TUI hands over): `choice`/`code` an index, `multi` a set
  of indices, `order` a sequence of indices, all 0-based into the choices *as
  shown*; `truefalse` a bool; `short` the text typed; `design` a `DesignAnswer`
  (or a set of 0-based rubric indices: the key points the learner covered);
- text (what `kata quiz` reads): `parse_answer` turns "2", "1 3", "3,1,2",
  "t"/"false" into the structured shape, with 1-based numbers as printed, and
  raises `AnswerFormatError` (message: what to type) for anything else. A
  truefalse question is shown as the choices 1. True, 2. False (t/f work too);
  for a design question "0" or "none" means no rubric point was covered.

Fairness: a `short` answer is matched by `kata.quiz.answers` (text variants and
numbers by value); an `order` answer is right when it keeps every constraint of
the question's partial order, so concurrent steps may come in either order.

`Shown` is a question with its choices in the order presented (the quiz may
shuffle them); `check` maps the answer back to the bank's indices and returns a
`Verdict` carrying the right answer and the `explain` for the feedback.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kata.quiz.answers import texts_match
from kata.quiz.bank import Question
from kata.quiz.design import PASS_SHARE, DesignAnswer, coverage_report
from kata.quiz.ordering import satisfied

CHOICE_KINDS = frozenset({"choice", "multi", "code", "order"})
TRUE_FALSE = ("True", "False")  # the choices a truefalse question is shown with, numbered 1 and 2
TRUE_WORDS = frozenset({"t", "true", "y", "yes", "1"})
FALSE_WORDS = frozenset({"f", "false", "n", "no", "2"})
NOTHING_COVERED = frozenset({"0", "none", "-"})


class AnswerFormatError(ValueError):
    """The text cannot be read as an answer of this kind; the message says what to type."""


@dataclass(frozen=True)
class Shown:
    """A question as presented: `order[i]` is the bank index of the i-th choice shown."""

    question: Question
    order: tuple[int, ...]

    @classmethod
    def present(cls, question: Question, rng: random.Random | None = None) -> Shown:
        """Shuffle the choices of choice/multi/code questions (not `order`: its
        choices are already scrambled, and shuffling them again teaches nothing)."""
        order = list(range(len(question.choices)))
        if rng is not None and question.kind in ("choice", "multi", "code"):
            rng.shuffle(order)
        return cls(question, tuple(order))

    @property
    def choices(self) -> tuple[str, ...]:
        if self.question.kind == "truefalse":
            return TRUE_FALSE
        return tuple(self.question.choices[i] for i in self.order)

    def to_bank(self, shown_index: int) -> int:
        return self.order[shown_index]


@dataclass(frozen=True)
class Verdict:
    correct: bool
    given: str  # the learner's answer in words
    expected: str  # the right answer in words (Question.answer_text)
    explain: str
    partial: float = 0.0  # share right (multi, order: constraints kept, design: points covered); 1.0 when correct


def short_matches(question: Question, text: str) -> bool:
    """Is the typed text a right answer to this short question (see kata.quiz.answers)?"""
    if any(texts_match(text, accepted) for accepted in question.accepted):
        return True
    return question.number is not None and question.number.matches(text)


def check(shown: Shown, answer: Any) -> Verdict:
    """Check a structured answer (see the module docstring)."""
    q = shown.question
    expected, explain = q.answer_text(), q.explain
    if q.kind == "truefalse":
        if not isinstance(answer, bool):
            raise AnswerFormatError("answer true or false")
        return Verdict(answer == q.truth, "True" if answer else "False", expected, explain, float(answer == q.truth))
    if q.kind == "short":
        given = str(answer)
        ok = short_matches(q, given)
        return Verdict(ok, given.strip(), expected, explain, float(ok))
    if q.kind == "design":
        covered = _covered(q, answer)
        share = len(covered) / len(q.rubric)
        return Verdict(share >= PASS_SHARE, coverage_report(q, covered), expected, explain, share)
    if q.kind in ("choice", "code"):
        index = _index(shown, answer)
        bank = shown.to_bank(index)
        ok = bank in q.correct
        return Verdict(ok, q.choices[bank], expected, explain, float(ok))
    if q.kind == "multi":
        picked = {shown.to_bank(_index(shown, a)) for a in _many(answer)}
        right = set(q.correct)
        ok = picked == right  # all and only
        partial = len(picked & right) / len(right | picked) if picked | right else 1.0
        given = "\n".join(q.choices[i] for i in sorted(picked)) or "(nothing)"
        return Verdict(ok, given, expected, explain, partial)
    if q.kind == "order":
        sequence = [shown.to_bank(_index(shown, a)) for a in _many(answer)]
        if sorted(sequence) != list(range(len(q.choices))):
            raise AnswerFormatError(f"give every item once, in order: a permutation of 1-{len(q.choices)}")
        kept = satisfied(sequence, q.constraints)
        given = "\n".join(f"{n}. {q.choices[i]}" for n, i in enumerate(sequence, 1))
        return Verdict(kept == len(q.constraints), given, expected, explain, kept / len(q.constraints))
    raise AnswerFormatError(f"unknown question kind {q.kind!r}")


def parse_answer(shown: Shown, text: str) -> Any:
    """Read a typed answer (1-based numbers as printed) into the structured shape."""
    q = shown.question
    raw = text.strip()
    if not raw:
        raise AnswerFormatError(_how_to_answer(shown))
    if q.kind == "short":
        return raw
    if q.kind == "design":
        if raw.lower() in NOTHING_COVERED:
            return DesignAnswer(frozenset())
        numbers = _numbers(raw, len(q.rubric), shown)
        if len(set(numbers)) != len(numbers):
            raise AnswerFormatError("name each key point once")
        return DesignAnswer(frozenset(numbers))
    if q.kind == "truefalse":
        word = raw.lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise AnswerFormatError(_how_to_answer(shown))
    numbers = _numbers(raw, len(shown.choices), shown)
    if q.kind in ("choice", "code"):
        if len(numbers) != 1:
            raise AnswerFormatError(_how_to_answer(shown))
        return numbers[0]
    if q.kind == "multi":
        if len(set(numbers)) != len(numbers):
            raise AnswerFormatError("name each choice once")
        return frozenset(numbers)
    return tuple(numbers)  # order


def _numbers(raw: str, count: int, shown: Shown) -> list[int]:
    parts = [p for p in re.split(r"[\s,;]+", raw) if p]
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        raise AnswerFormatError(_how_to_answer(shown)) from None
    if any(not 1 <= n <= count for n in numbers):
        raise AnswerFormatError(f"choose numbers from 1 to {count}")
    return [n - 1 for n in numbers]


def _how_to_answer(shown: Shown) -> str:
    n = len(shown.choices)
    return {
        "choice": f"type the number of your choice (1-{n})",
        "code": f"type the number of your choice (1-{n})",
        "multi": f"type every right number, e.g. `1 3` (1-{n})",
        "order": f"type the numbers in the right order, e.g. `{' '.join(str(i) for i in range(n, 0, -1))}`",
        "truefalse": "type 1 or t (true), 2 or f (false)",
        "short": "type your answer",
        "design": f"type the numbers of the key points you covered, e.g. `1 3` (1-{len(shown.question.rubric)}), "
        "or 0 for none",
    }[shown.question.kind]


def _index(shown: Shown, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < len(shown.order):
        raise AnswerFormatError(f"choose numbers from 1 to {len(shown.order)}")
    return value


def _covered(q: Question, answer: Any) -> frozenset[int]:
    """The rubric indices of a design answer, validated."""
    covered = answer.covered if isinstance(answer, DesignAnswer) else frozenset(_many(answer))
    for n in covered:
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n < len(q.rubric):
            raise AnswerFormatError(f"choose key points from 1 to {len(q.rubric)}")
    return covered


def _many(answer: Any) -> Iterable[Any]:
    if isinstance(answer, (str, bytes)) or not isinstance(answer, Iterable):
        raise AnswerFormatError("give a list of choices")
    return answer


def describe_answer(shown: Shown, answer: Any) -> str:
    """The structured answer as stored in the progress store (bank indices, so
    the record stays meaningful whatever order the choices were shown in)."""
    q = shown.question
    if q.kind in ("choice", "code"):
        return str(shown.to_bank(answer))
    if q.kind == "multi":
        return " ".join(str(i) for i in sorted(shown.to_bank(a) for a in answer))
    if q.kind == "order":
        return " ".join(str(shown.to_bank(a)) for a in answer)
    if q.kind == "truefalse":
        return "true" if answer else "false"
    if q.kind == "design":
        notes = answer.notes.strip() if isinstance(answer, DesignAnswer) else ""
        covered = " ".join(str(i) for i in sorted(_covered(q, answer)))
        return f"covered: {covered or 'none'}" + (f"\nnotes: {notes}" if notes else "")
    return str(answer)
