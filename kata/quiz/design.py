"""The `design` kind: the open question of a senior interview, self-assessed.

The learner writes (or thinks through) an answer, reveals the model answer, and
ticks the rubric's key points their answer covered. The ticks are the answer:
`DesignAnswer`. Their share sets the FSRS rating (`kata.quiz.scheduler.rate`):
under half of the points is Again, half or more Hard, three quarters or more
Good, every point Easy; half or more counts as right in the summary.

A mixed mock interview asks one design question, after the others: `split_design`
and `pick_design` are what the mock's planner calls.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kata.quiz.bank import Bank, Question

if TYPE_CHECKING:  # the scheduler imports fsrs: the checker, which imports this module, stays light
    from kata.quiz.scheduler import Scheduler

PASS_SHARE = 0.5  # covered at least this share of the rubric: right (FSRS Hard or better)


@dataclass(frozen=True)
class DesignAnswer:
    """The rubric points (0-based, in the bank's order) the learner says they covered,
    and what they wrote, kept with the review."""

    covered: frozenset[int]
    notes: str = ""


def coverage_report(question: Question, covered: frozenset[int]) -> str:
    """What the learner covered and missed, each missed point with why it matters."""
    total = len(question.rubric)
    lines = [f"Covered {len(covered)} of {total} key points."]
    missed = [p for n, p in enumerate(question.rubric) if n not in covered]
    if missed:
        lines.append("Missed:")
        lines += [f"- {p.point} (why: {p.why})" for p in missed]
    return "\n".join(lines)


def split_design(bank: Bank, topic: str | None = None) -> tuple[Bank, list[Question]]:
    """The bank without its design questions, and the design questions, for a mixed mock.
    A mock on one topic asks that topic's questions as they come: nothing is split off."""
    if topic is not None:
        return bank, []
    designs = [q for q in bank.questions if q.kind == "design"]
    rest = tuple(q for q in bank.questions if q.kind != "design")
    return Bank(bank.directory, bank.topics, rest), designs


def pick_design(designs: list[Question], rng: random.Random, scheduler: Scheduler) -> list[Question]:
    """One design question among the three least known (a list: empty when there is none)."""
    if not designs:
        return []
    weakest = scheduler.weakest_first(designs)[:3]
    return [weakest[rng.randrange(len(weakest))]]
