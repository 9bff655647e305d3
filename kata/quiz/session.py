"""Quiz sessions: the one engine behind the TUI and `kata quiz`. No UI here.

A face drives a session like this and only renders what it gets back:

    session = start_session(store, mode="practice", topic=None, count=20,
                            bank=None, clock=utcnow, rng=None)   # -> QuizSession
    while (asked := session.next()) is not None:      # Asked: number/total, question, choices as shown, time_left
        feedback = session.answer(structured)         # or session.answer_text("2"), session.dont_know()
        ...                                           # Feedback: verdict (right answer, explain), rating, next due
    summary = session.stop()                          # Summary: per-topic breakdown, wrong questions, to review

- `answer_text` raises `AnswerFormatError` (nothing recorded) when the text is
  not an answer; the face shows its message and asks again.
- Every answer is recorded at once (review + FSRS state, one transaction), so
  quitting, end of input or a crash loses at most the question on screen.
- `next()` returns None when the plan is done, the time limit passed, or after
  `stop()`; `session.idle_reason()` says why a session had nothing to ask.
- `undo()` takes the last answer back (Anki's undo) and asks that question again;
  `override()` counts a wrong typed answer right ("I typed a synonym"). Both are
  kept in the store's corrections log, so the record says what the learner decided.
- `clock` and `rng` are injectable: tests move time and fix the shuffles.

Modes (`MODES`): practice (due first, then new within the daily cap; optionally
one topic), drill (one topic: due, new, then the weakest), mistakes (answered
wrong in the last `MISTAKE_WINDOW` until right twice), mock (see kata.quiz.mock).
New questions come in `teaching_order`: topics.yaml order, easier first.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from kata.errors import UserError
from kata.progress import CardState, ProgressStore, utcnow
from kata.quiz.bank import Bank, Question, load_bank
from kata.quiz.checking import Shown, Verdict, check, describe_answer, parse_answer
from kata.quiz.scheduler import Clock, Scheduler
from kata.quiz.share import Share

MODES = ("practice", "drill", "mistakes", "mock")
DEFAULT_COUNT = 20
MISTAKE_WINDOW = timedelta(days=30)
WEAK_ACCURACY = 0.7  # a topic below this share of right answers is worth reviewing


@dataclass(frozen=True)
class Asked:
    """The question on screen."""

    number: int  # 1-based position in the session
    total: int
    shown: Shown
    time_left: float | None  # seconds, for a timed session

    @property
    def question(self) -> Question:
        return self.shown.question

    @property
    def choices(self) -> tuple[str, ...]:
        return self.shown.choices


@dataclass(frozen=True)
class Feedback:
    question: Question
    verdict: Verdict
    rating: int  # FSRS rating the answer earned (1 Again .. 4 Easy)
    due: datetime  # when the question comes back
    seconds: float
    overridden: bool = False  # counted right by the learner, not by the checker


def duration(seconds: float | None) -> str:
    """A time as the quiz shows it: minutes and seconds, "1:02"."""
    seconds = round(seconds or 0)
    return f"{seconds // 60}:{seconds % 60:02d}"


@dataclass(frozen=True)
class Summary:
    mode: str
    planned: int
    answered: int
    correct: int
    topics: dict[str, Share]  # right answers of those answered, per topic
    wrong: tuple[Question, ...]
    right: tuple[Question, ...]
    seconds: float
    time_up: bool = False

    @property
    def accuracy(self) -> float:
        return Share(self.correct, self.answered).share

    @property
    def score(self) -> str:
        """ "3/5 right (60%) of 10 planned, in 1:02 min": the line both faces report a session with."""
        rate = f" ({self.accuracy:.0%})" if self.answered else ""
        return f"{self.correct}/{self.answered} right{rate} of {self.planned} planned, in {duration(self.seconds)} min"

    def topic_lines(self) -> list[str]:
        """One line per topic, by name: "  pipes            3/5"."""
        return [f"  {topic:<16} {score.count}/{score.of}" for topic, score in sorted(self.topics.items())]

    @property
    def to_review(self) -> list[str]:
        """Topics answered below WEAK_ACCURACY, weakest first."""
        weak = [(s.share, t) for t, s in self.topics.items() if s.of and s.share < WEAK_ACCURACY]
        return [t for _acc, t in sorted(weak)]


@dataclass
class _Answer:
    """One recorded answer, with what an undo or override needs."""

    asked: Asked
    feedback: Feedback
    review_id: int
    before: CardState | None  # the question's schedule before this answer
    at: datetime
    typed: bool  # a typed answer (not "don't know", not a pick): one that can be overridden

    @property
    def question(self) -> Question:
        return self.asked.question

    @property
    def correct(self) -> bool:
        return self.feedback.verdict.correct


class QuizSession:
    """A planned list of questions asked one at a time; see the module docstring."""

    def __init__(
        self,
        store: ProgressStore,
        plan: Sequence[Question],
        *,
        mode: str,
        clock: Clock = utcnow,
        rng: random.Random | None = None,
        time_limit: float | None = None,
        scheduler: Scheduler | None = None,
        idle: str = "",
    ):
        self.store = store
        self.plan = list(plan)
        self.mode = mode
        self.clock = clock
        self.rng = rng
        self.time_limit = time_limit
        self.scheduler = scheduler or Scheduler(store, clock=clock)
        self.started = clock()
        self._idle = idle
        self._position = 0
        self._current: Asked | None = None
        self._asked_at: datetime | None = None
        self._answers: list[_Answer] = []
        self._stopped = False

    # --- driving --------------------------------------------------------------------

    @property
    def time_left(self) -> float | None:
        if self.time_limit is None:
            return None
        return max(0.0, self.time_limit - (self.clock() - self.started).total_seconds())

    @property
    def time_up(self) -> bool:
        left = self.time_left
        return left is not None and left <= 0

    @property
    def finished(self) -> bool:
        return self._stopped or self.time_up or (self._current is None and self._position >= len(self.plan))

    def next(self) -> Asked | None:
        """The next question (the same one again while it is unanswered), or None."""
        if self._current is not None and not self._stopped:
            return self._current
        if self.finished:
            return None
        q = self.plan[self._position]
        self._position += 1
        self._current = Asked(self._position, len(self.plan), Shown.present(q, self.rng), self.time_left)
        self._asked_at = self.clock()
        return self._current

    def answer(self, response: Any) -> Feedback:
        """Check a structured answer (see kata.quiz.checking), record it, give feedback."""
        current = self._require_current()
        verdict = check(current.shown, response)
        typed = current.question.kind == "short"
        return self._record(current, verdict, describe_answer(current.shown, response), typed=typed)

    def answer_text(self, text: str) -> Feedback:
        """Like `answer`, from typed text; AnswerFormatError records nothing."""
        current = self._require_current()
        return self.answer(parse_answer(current.shown, text))

    def dont_know(self) -> Feedback:
        """Give up on the question: recorded as wrong, so it comes back soon."""
        current = self._require_current()
        q = current.question
        return self._record(current, Verdict(False, "(don't know)", q.answer_text(), q.explain), "", typed=False)

    @property
    def can_undo(self) -> bool:
        return bool(self._answers) and not self._stopped

    def undo(self) -> Asked:
        """Take back the last answer: its review leaves the record (logged as an undo), the
        question's schedule is restored, and the question is asked again as it was shown.
        A question on screen, unanswered, is asked after it."""
        if not self.can_undo:
            raise UserError("nothing to undo: no answer in this session yet")
        last = self._answers.pop()
        self.store.undo_review(last.review_id, before=last.before, at=self.clock())
        if last.before is None:
            self.scheduler.cards.pop(last.question.id, None)
        else:
            self.scheduler.cards[last.question.id] = last.before
        if self._current is not None:
            self._position -= 1
        self._current = last.asked
        self._asked_at = self.clock()
        return last.asked

    @property
    def can_override(self) -> bool:
        last = self._answers[-1] if self._answers and not self._stopped else None
        return last is not None and last.typed and not last.correct

    def override(self) -> Feedback:
        """Count the last answer right, as the learner says ("I typed a synonym"): only a
        typed answer graded wrong. The review keeps the answer given and is marked
        overridden; the schedule becomes what a right answer at that time would give."""
        if not self.can_override:
            raise UserError("only a typed answer graded wrong can be counted right (undo takes any answer back)")
        last = self._answers[-1]
        q = last.question
        rating, state = self.scheduler.rescore(q, last.before, correct=True, seconds=last.feedback.seconds, at=last.at)
        self.store.override_review(last.review_id, rating=int(rating), card=state.card, due=state.due, at=self.clock())
        self.scheduler.cards[q.id] = state
        verdict = replace(last.feedback.verdict, correct=True, partial=1.0)
        last.feedback = replace(last.feedback, verdict=verdict, rating=int(rating), due=state.due, overridden=True)
        return last.feedback

    def stop(self) -> Summary:
        """End now (the question on screen, unanswered, is not recorded)."""
        self._stopped = True
        self._current = None
        return self.summary()

    def summary(self) -> Summary:
        topics: dict[str, list[int]] = {}
        for a in self._answers:
            score = topics.setdefault(a.question.topic, [0, 0])
            score[0] += int(a.correct)
            score[1] += 1
        correct = sum(1 for a in self._answers if a.correct)
        return Summary(
            mode=self.mode,
            planned=len(self.plan),
            answered=len(self._answers),
            correct=correct,
            topics={t: Share(c, n) for t, (c, n) in topics.items()},
            wrong=tuple(a.question for a in self._answers if not a.correct),
            right=tuple(a.question for a in self._answers if a.correct),
            seconds=(self.clock() - self.started).total_seconds(),
            time_up=self.time_up,
        )

    def idle_reason(self) -> str:
        """Why the plan is empty (for the face to say), or "" when it is not."""
        return "" if self.plan else self._idle

    # --- internals --------------------------------------------------------------------

    def _require_current(self) -> Asked:
        if self._current is None:
            raise RuntimeError("no question on screen: call next() first")
        return self._current

    def _record(self, current: Asked, verdict: Verdict, answer: str, *, typed: bool) -> Feedback:
        now = self.clock()
        seconds = max(0.0, (now - (self._asked_at or now)).total_seconds())
        before = self.scheduler.cards.get(current.question.id)
        review, state = self.scheduler.record(
            current.question,
            correct=verdict.correct,
            seconds=seconds,
            answer=answer,
            mode=self.mode,
            at=now,
            partial=verdict.partial,
        )
        feedback = Feedback(current.question, verdict, review.rating, state.due, seconds)
        assert review.id is not None
        self._answers.append(_Answer(current, feedback, review.id, before, now, typed))
        self._current = None
        return feedback


# --- planning -----------------------------------------------------------------------------


def start_session(
    store: ProgressStore,
    *,
    mode: str = "practice",
    topic: str | None = None,
    count: int | None = None,
    bank: Bank | None = None,
    clock: Clock = utcnow,
    rng: random.Random | None = None,
    new_per_day: int | None = None,
) -> QuizSession:
    """Plan a practice, drill or mistakes session (a mock is `kata.quiz.mock.MockInterview`)."""
    if mode not in ("practice", "drill", "mistakes"):
        raise UserError(
            f"unknown quiz mode {mode!r}; choose practice, drill or mistakes (mock: see kata quiz --mode mock)"
        )
    bank = bank if bank is not None else load_bank()
    questions = teaching_order(bank, questions_of(bank, topic))
    if mode == "drill" and topic is None:
        raise UserError("a drill is on one topic: kata quiz --mode drill --topic T")
    scheduler = Scheduler(store, clock=clock, **({"new_per_day": new_per_day} if new_per_day is not None else {}))
    now = clock()
    limit = count if count is not None else DEFAULT_COUNT
    if limit < 1:
        raise UserError("--count must be at least 1")
    idle = ""
    if mode == "practice":
        plan = (scheduler.due(questions, now) + scheduler.new(questions, now))[:limit]
        if not plan:
            idle = _nothing_due(scheduler, questions)
    elif mode == "drill":
        due = scheduler.due(questions, now)
        unseen = scheduler.unseen(questions)
        rest = scheduler.weakest_first([q for q in questions if q not in due and q not in unseen], now)
        plan = (due + unseen + rest)[:limit]
    else:
        wanted = set(q.id for q in questions)
        by_id = {q.id: q for q in questions}
        ids = [i for i in store.mistakes(now - MISTAKE_WINDOW) if i in wanted]
        plan = [by_id[i] for i in ids][:limit]
        idle = "no mistakes to review: everything answered wrong lately has since been answered right twice"
    return QuizSession(store, plan, mode=mode, clock=clock, rng=rng, scheduler=scheduler, idle=idle)


def questions_of(bank: Bank, topic: str | None) -> tuple[Question, ...]:
    """The bank, or one topic of it (an unknown topic is a UserError naming the known ones)."""
    if topic is None:
        return bank.questions
    questions = bank.in_topic(topic)
    if not questions:
        from kata.wording import unknown

        known = [t.id for t in bank.topics if bank.in_topic(t.id)] or sorted({q.topic for q in bank.questions})
        raise UserError(unknown("topic", topic, known))
    return questions


def teaching_order(bank: Bank, questions: Sequence[Question]) -> list[Question]:
    """Topics in topics.yaml order, easier questions first: the order new ones are met in."""
    rank = {t.id: n for n, t in enumerate(bank.topics)}
    position = {q.id: n for n, q in enumerate(bank.questions)}
    return sorted(questions, key=lambda q: (rank.get(q.topic, len(rank)), q.difficulty, position[q.id]))


def _nothing_due(scheduler: Scheduler, questions: Sequence[Question]) -> str:
    upcoming = [scheduler.cards[q.id].due for q in questions if q.id in scheduler.cards]
    parts = ["nothing is due"]
    if scheduler.unseen(questions):
        parts.append(f"and today's {scheduler.new_per_day} new questions are done")
    if upcoming:
        parts.append(f"(next review {min(upcoming):%Y-%m-%d %H:%M} UTC)")
    return " ".join(parts)  # what to do instead is each face's to say: its keys or its flags


def clock_from_env(environ: dict[str, str] | None = None) -> Clock:
    """The real clock, or with KATA_NOW=<ISO time> a clock that starts then and
    runs at real speed (for scripted sessions: "pretend it is tomorrow")."""
    raw = (environ if environ is not None else os.environ).get("KATA_NOW")
    if not raw:
        return utcnow
    try:
        start = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"KATA_NOW must be an ISO time like 2026-03-02T09:00:00+00:00, got {raw!r}") from None
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    origin = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - origin)
