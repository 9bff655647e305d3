"""Answer checking, one rule per question kind, with no UI in it.

Answers come in two shapes, so both faces of the quiz share one checker:

- structured (what the TUI hands over): `choice`/`code` an index, `multi` a set
  of indices, `order` a sequence of indices, all 0-based into the choices *as
  shown*; `truefalse` a bool; `short` the text typed;
- text (what `kata quiz --plain` reads): `parse_answer` turns "2", "1 3", "3,1,2",
  "t"/"false" into the structured shape, with 1-based numbers as printed, and
  raises `AnswerFormatError` (message: what to type) for anything else. A
  truefalse question is shown as the choices 1. True, 2. False (t/f work too).

`Shown` is a question with its choices in the order presented (the quiz may
shuffle them); `check` maps the answer back to the bank's indices and returns a
`Verdict` carrying the right answer and the `explain` for the feedback.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kata.quiz.bank import Question

CHOICE_KINDS = frozenset({"choice", "multi", "code", "order"})
TRUE_FALSE = ("True", "False")  # the choices a truefalse question is shown with, numbered 1 and 2
TRUE_WORDS = frozenset({"t", "true", "y", "yes", "1"})
FALSE_WORDS = frozenset({"f", "false", "n", "no", "2"})


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
    partial: float = 0.0  # share of the answer that was right (multi, order), 1.0 when correct


def normalise(text: str) -> str:
    """How `short` answers are compared: case, accents, surrounding quotes,
    backticks and final full stop, and runs of whitespace do not matter."""
    text = unicodedata.normalize("NFKC", text).casefold().strip()
    text = text.strip("`'\"").strip()
    text = text.rstrip(".").strip()
    return " ".join(text.split())


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
        ok = normalise(given) in {normalise(a) for a in q.accepted}
        return Verdict(ok, given.strip(), expected, explain, float(ok))
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
        placed = sum(1 for a, b in zip(sequence, q.correct, strict=False) if a == b)
        ok = tuple(sequence) == q.correct
        given = "\n".join(f"{n}. {q.choices[i]}" for n, i in enumerate(sequence, 1))
        return Verdict(ok, given, expected, explain, placed / len(q.correct))
    raise AnswerFormatError(f"unknown question kind {q.kind!r}")


def parse_answer(shown: Shown, text: str) -> Any:
    """Read a typed answer (1-based numbers as printed) into the structured shape."""
    q = shown.question
    raw = text.strip()
    if not raw:
        raise AnswerFormatError(_how_to_answer(shown))
    if q.kind == "short":
        return raw
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
    }[shown.question.kind]


def _index(shown: Shown, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < len(shown.order):
        raise AnswerFormatError(f"choose numbers from 1 to {len(shown.order)}")
    return value


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
    return str(answer)
