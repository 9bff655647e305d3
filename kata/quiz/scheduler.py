"""Spaced repetition with FSRS (the `fsrs` package): which question next, and what
an answer does to its schedule.

    sched = Scheduler(store, clock=lambda: fixed_time)
    sched.due(questions)            # due now, most overdue first
    sched.new(questions, limit)     # never answered, in bank order, within today's cap
    sched.record(question, correct=True, seconds=7.5, answer="2", mode="practice")

- Rating: wrong is Again; right is Easy when answered well under the time the kind
  and difficulty deserve, Good within it, Hard when slow (`rate`). A `design`
  question is rated by the share of its rubric the learner covered, not by time
  (open answers take as long as they take): see `design_rating`.
- The FSRS card of each question lives in the progress store (`Card.to_dict()`),
  so the schedule survives restarts. Card ids are derived from the question id,
  stable across runs (fsrs would otherwise sleep to make a unique one).
- Fuzzing is off so that the same answers at the same times give the same
  schedule: tests move the clock with `clock=` and expect exact due dates.
- A "day" for the daily cap of new questions is a UTC day.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import fsrs

from kata.progress import CardState, ProgressStore, Review, utcnow
from kata.quiz.bank import Question

NEW_PER_DAY = 20
# Seconds a prepared learner needs for a difficulty-1 question of each kind.
EXPECTED_SECONDS = {"truefalse": 10, "choice": 15, "short": 20, "multi": 25, "order": 30, "code": 45}
MASTERED_RETRIEVABILITY = 0.8  # `kata stats`: a question counts as mastered above this

Clock = Callable[[], datetime]


# A design answer's rating by the share of rubric points covered: the least share for each.
DESIGN_RATINGS = ((1.0, fsrs.Rating.Easy), (0.75, fsrs.Rating.Good), (0.5, fsrs.Rating.Hard))


def design_rating(covered: float) -> fsrs.Rating:
    """Every key point: Easy; three quarters or more: Good; half or more: Hard (still
    a pass, shorter interval); less than half: Again (it comes back soon). With a
    rubric of 4: 4 Easy, 3 Good, 2 Hard, 0-1 Again; of 5: 5, 4, 3, 0-2; of 6: 6, 5, 3-4, 0-2."""
    for least, rating in DESIGN_RATINGS:
        if covered >= least - 1e-9:
            return rating
    return fsrs.Rating.Again


def rate(question: Question, correct: bool, seconds: float, partial: float | None = None) -> fsrs.Rating:
    """Map an answer and the time it took to an FSRS rating (`partial`: the share of a
    design rubric covered)."""
    if question.kind == "design":
        return design_rating(partial if partial is not None else float(correct))
    if not correct:
        return fsrs.Rating.Again
    budget = EXPECTED_SECONDS.get(question.kind, 20) * (0.5 + 0.5 * question.difficulty)
    if seconds <= 0.4 * budget:
        return fsrs.Rating.Easy
    if seconds <= 1.5 * budget:
        return fsrs.Rating.Good
    return fsrs.Rating.Hard


def card_of(stored: dict[str, Any]) -> fsrs.Card:
    """The FSRS card kept in the progress store (as `Card.to_dict()` wrote it)."""
    return fsrs.Card.from_dict(cast("Any", stored))


def card_id(question_id: str) -> int:
    return zlib.crc32(question_id.encode("utf-8")) + 1


def day_bounds(at: datetime) -> tuple[datetime, datetime]:
    start = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


class Scheduler:
    """FSRS scheduling over the questions of a bank, state kept in `store`."""

    def __init__(self, store: ProgressStore, *, clock: Clock = utcnow, new_per_day: int = NEW_PER_DAY):
        self.store = store
        self.clock = clock
        self.new_per_day = new_per_day
        self.fsrs = fsrs.Scheduler(enable_fuzzing=False)
        self._cards: dict[str, CardState] | None = None

    @property
    def cards(self) -> dict[str, CardState]:
        """Scheduling state per question id (read once, then kept current by `record`)."""
        if self._cards is None:
            self._cards = self.store.cards()
        return self._cards

    def due(self, questions: Iterable[Question], now: datetime | None = None) -> list[Question]:
        """Answered before and due by `now`, most overdue first."""
        now = now or self.clock()
        cards = self.cards
        due = [q for q in questions if q.id in cards and cards[q.id].due <= now]
        return sorted(due, key=lambda q: cards[q.id].due)

    def unseen(self, questions: Iterable[Question]) -> list[Question]:
        return [q for q in questions if q.id not in self.cards]

    def new_left_today(self, now: datetime | None = None) -> int:
        start, end = day_bounds(now or self.clock())
        return max(0, self.new_per_day - self.store.new_cards_on(start, end))

    def new(self, questions: Iterable[Question], now: datetime | None = None) -> list[Question]:
        """Never-answered questions, in bank order, no more than today's cap allows."""
        return self.unseen(questions)[: self.new_left_today(now)]

    def retrievability(self, question_id: str, now: datetime | None = None) -> float:
        """FSRS probability of recalling it now; 0 for a question never answered."""
        state = self.cards.get(question_id)
        if state is None:
            return 0.0
        return self.fsrs.get_card_retrievability(card_of(state.card), now or self.clock())

    def mastered(self, question_id: str, now: datetime | None = None) -> bool:
        """Graduated from (re)learning and above MASTERED_RETRIEVABILITY now. Right after
        any answer retrievability is ~1, so the state is what tells a wrong answer apart."""
        state = self.cards.get(question_id)
        if state is None or state.card.get("state") != fsrs.State.Review.value:
            return False
        return self.retrievability(question_id, now) >= MASTERED_RETRIEVABILITY

    def weakest_first(self, questions: Iterable[Question], now: datetime | None = None) -> list[Question]:
        now = now or self.clock()
        return sorted(questions, key=lambda q: self.retrievability(q.id, now))

    def record(
        self,
        question: Question,
        *,
        correct: bool,
        seconds: float,
        answer: str = "",
        mode: str = "",
        at: datetime | None = None,
        partial: float | None = None,
    ) -> tuple[Review, CardState]:
        """Rate the answer, advance the question's FSRS card, store both in one write.
        The returned review carries its `id` in the store (for an undo or override)."""
        at = at or self.clock()
        before = self.cards.get(question.id)
        rating, new_state = self.rescore(question, before, correct=correct, seconds=seconds, at=at, partial=partial)
        review = Review(question.id, question.topic, correct, int(rating), answer, round(seconds, 3), mode, at)
        review = replace(review, id=self.store.record_review(review, card=new_state.card, due=new_state.due))
        self.cards[question.id] = new_state
        return review, new_state

    def rescore(
        self,
        question: Question,
        before: CardState | None,
        *,
        correct: bool,
        seconds: float,
        at: datetime,
        partial: float | None = None,
    ) -> tuple[fsrs.Rating, CardState]:
        """The rating of an answer and the question's state after it, from the state `before`
        (None: never answered). Nothing is stored."""
        rating = rate(question, correct, seconds, partial)
        card = card_of(before.card) if before else fsrs.Card(card_id=card_id(question.id), due=at)
        card, _log = self.fsrs.review_card(card, rating, at)
        return rating, CardState(question.id, card.due, dict(card.to_dict()))
