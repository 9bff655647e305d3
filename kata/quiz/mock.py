"""The mock interview: timed mixed questions weighted to weak topics, then one kata,
scored at the end with a per-topic breakdown and stored. No UI here.

    mock = MockInterview.start(store, count=10, time_limit=20 * 60, clock=..., rng=...,
                               katas=None, grade=None)
    quiz = mock.quiz                      # a QuizSession (mode "mock"): drive it as usual
    ...                                   # next()/answer() until next() is None (done or time up)
    mock.kata                             # the kata to implement (its topic is among the weakest)
    mock.grade_kata(path)                 # grade the learner's file (grader.grade), or mock.skip_kata(),
                                          # or mock.graded(result) for a grade made elsewhere (the app)
    result = mock.finish()                # MockResult: score, per-topic breakdown, what to review; stored

The time limit covers the questions (`quiz.next()` returns None once it has
passed; an answer to a question asked in time still counts); the kata part is
graded whenever the learner says so, and the total duration is stored.

The last question of a mixed mock is a `design` question when the bank has one:
a senior interview ends with an open question.

Scoring: the questions are 70 % (every planned question counts, so running out
of time costs), the kata 30 % (share of its tasks passed). Weak topics: those
answered below `WEAK_ACCURACY` in the last 30 days weigh up to three times as
much as mastered ones; a topic never answered counts as half known. Each pick
halves its topic's weight, so the questions stay mixed.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from kata.errors import UserError
from kata.progress import MockRecord, ProgressStore, utcnow
from kata.quiz.bank import Bank, Question, load_bank
from kata.quiz.design import pick_design, split_design
from kata.quiz.scheduler import Clock, Scheduler
from kata.quiz.session import MISTAKE_WINDOW, WEAK_ACCURACY, QuizSession, Summary

DEFAULT_COUNT = 10
DEFAULT_TIME_LIMIT = 20 * 60.0
QUESTION_SHARE = 0.7

GradeFn = Callable[[str, Path], Any]  # (kata id, file) -> grader.report.Result


@dataclass(frozen=True)
class KataOutcome:
    kata: str
    status: str  # pass, fail, error, skipped
    tasks_passed: int = 0
    tasks_total: int = 0
    message: str = ""

    @property
    def share(self) -> float:
        return self.tasks_passed / self.tasks_total if self.tasks_total else 0.0


@dataclass(frozen=True)
class MockResult:
    score: float  # 0..1
    summary: Summary
    kata: KataOutcome
    topics: dict[str, dict[str, int]]  # topic -> {"correct", "asked"} over the planned questions
    to_review: list[str]  # weak topics, weakest first
    wrong: list[str]  # ids of questions answered wrong or not reached
    record: MockRecord | None = field(default=None, compare=False)


def topic_weights(store: ProgressStore, bank: Bank, now: datetime) -> dict[str, float]:
    """Weight per topic: 1 for a mastered topic up to 3 for one always answered wrong."""
    accuracy = store.topic_accuracy(now - MISTAKE_WINDOW)
    weights = {}
    for topic in sorted({q.topic for q in bank.questions}):
        right, answered = accuracy.get(topic, (0, 0))
        share = right / answered if answered else 0.5
        weights[topic] = 1.0 + 2.0 * (1.0 - share)
    return weights


def pick_questions(
    bank: Bank, weights: dict[str, float], count: int, rng: random.Random, scheduler: Scheduler
) -> list[Question]:
    """`count` distinct questions, topic by weighted draw, the least-known question of that topic."""
    pools = {t: scheduler.weakest_first(bank.in_topic(t)) for t in weights}
    weights = dict(weights)
    chosen: list[Question] = []
    while len(chosen) < count:
        topics = [t for t in weights if pools.get(t)]
        if not topics:
            break
        topic = rng.choices(topics, [weights[t] for t in topics])[0]
        pool = pools[topic]
        # Among the least-known few, pick at random so two mocks differ.
        chosen.append(pool.pop(rng.randrange(min(3, len(pool)))))
        weights[topic] /= 2
    return chosen


class MockInterview:
    def __init__(self, store: ProgressStore, quiz: QuizSession, kata: str, *, grade: GradeFn | None, clock: Clock):
        self.store = store
        self.quiz = quiz
        self.kata = kata
        self._grade = grade
        self.clock = clock
        self.outcome: KataOutcome | None = None
        self.result: Any = None  # the kata's grader Result, once graded

    @classmethod
    def start(
        cls,
        store: ProgressStore,
        *,
        count: int = DEFAULT_COUNT,
        time_limit: float = DEFAULT_TIME_LIMIT,
        bank: Bank | None = None,
        clock: Clock = utcnow,
        rng: random.Random | None = None,
        katas: Sequence[str] | None = None,
        grade: GradeFn | None = None,
        topic: str | None = None,
    ) -> MockInterview:
        """Plan the questions and choose the kata. `katas` (default: the catalog)
        and `grade` (default: grader.grade) are injectable for tests."""
        if count < 1:
            raise UserError("--count must be at least 1")
        if time_limit <= 0:
            raise UserError("--minutes must be more than 0")
        bank = bank if bank is not None else load_bank()
        rng = rng or random.Random()
        scheduler = Scheduler(store, clock=clock)
        weights = topic_weights(store, bank, clock())
        if topic is not None:
            from kata.quiz.session import questions_of

            questions_of(bank, topic)  # a UserError for an unknown topic
            weights = {topic: 1.0}
        asked, designs = split_design(bank, topic)  # one open design question, asked last
        plan = pick_questions(asked, weights, count - bool(designs), rng, scheduler)
        plan += pick_design(designs, rng, scheduler)
        kata = choose_kata(store, plan, weights, katas if katas is not None else _catalog())
        quiz = QuizSession(store, plan, mode="mock", clock=clock, rng=rng, time_limit=time_limit, scheduler=scheduler)
        return cls(store, quiz, kata, grade=grade, clock=clock)

    def grade_kata(self, path: Path) -> KataOutcome:
        """Grade the learner's file for `self.kata`; the attempt is recorded like `kata grade`'s."""
        if self._grade is None:
            from grader import grade as grader_grade

            result = grader_grade(self.kata, Path(path))
        else:
            result = self._grade(self.kata, Path(path))
        if result.status != "error":
            self.store.record_attempt(result, at=self.clock())
        return self.graded(result)

    def graded(self, result: Any) -> KataOutcome:
        """Take a grade of the kata made (and recorded) elsewhere, e.g. the app's Grade screen."""
        tasks = list(result.tasks)
        self.result = result
        self.outcome = KataOutcome(
            self.kata,
            result.status,
            sum(1 for t in tasks if t.status == "pass"),
            len(tasks),
            getattr(result, "message", "") or "",
        )
        return self.outcome

    def skip_kata(self) -> KataOutcome:
        self.outcome = KataOutcome(self.kata, "skipped")
        return self.outcome

    def finish(self) -> MockResult:
        """Score everything, store it, and say what to review. Unasked questions count as wrong."""
        summary = self.quiz.stop()
        outcome = self.outcome or KataOutcome(self.kata, "skipped")
        right_ids = {q.id for q in summary.right}
        topics: dict[str, dict[str, int]] = {}
        for q in self.quiz.plan:
            row = topics.setdefault(q.topic, {"correct": 0, "asked": 0})
            row["asked"] += 1
            row["correct"] += int(q.id in right_ids)
        planned = len(self.quiz.plan)
        question_share = len(right_ids) / planned if planned else 0.0
        score = QUESTION_SHARE * question_share + (1 - QUESTION_SHARE) * outcome.share
        weak = sorted(
            (row["correct"] / row["asked"], t)
            for t, row in topics.items()
            if row["correct"] / row["asked"] < WEAK_ACCURACY
        )
        to_review = [t for _share, t in weak]
        wrong = [q.id for q in self.quiz.plan if q.id not in right_ids]
        details = {
            "topics": topics,
            "to_review": to_review,
            "wrong": wrong,
            "time_up": summary.time_up,
            "time_limit": self.quiz.time_limit,
            "kata": {
                "id": outcome.kata,
                "status": outcome.status,
                "tasks_passed": outcome.tasks_passed,
                "tasks_total": outcome.tasks_total,
            },
        }
        record = self.store.record_mock(
            duration=summary.seconds,
            score=score,
            correct=len(right_ids),
            total=planned,
            kata=outcome.kata,
            kata_status=outcome.status,
            details=details,
            at=self.clock(),
        )
        return MockResult(score, summary, outcome, topics, to_review, wrong, record)


def choose_kata(store: ProgressStore, plan: Sequence[Question], weights: dict[str, float], katas: Sequence[str]) -> str:
    """The kata practised by the weakest topic in the plan, preferring one not passed yet."""
    if not katas:
        raise UserError("no katas found for the mock interview's coding part")
    known = set(katas)
    ranked: list[str] = []
    for q in sorted(plan, key=lambda q: -weights.get(q.topic, 0.0)):
        if q.kata in known and q.kata not in ranked:
            ranked.append(q.kata)
    ranked += [k for k in katas if k not in ranked]
    for kata in ranked:
        if not store.has_passed(kata):
            return kata
    return ranked[0]


def _catalog() -> list[str]:
    from grader.catalog import CatalogError, all_katas

    try:
        return [k.id for k in all_katas()]
    except CatalogError as err:
        raise UserError(str(err)) from None
