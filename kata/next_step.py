"""What to do next, from the learner's record (rustlings' `next`): the kata to work on
and the quiz to take. Shared by `kata next` and the app's Home. No UI here.

The kata: the one being worked on (started, not passing; the latest graded first),
else the first not started in catalog order (easier first). The quiz: questions due
first (spaced repetition), then a topic answered badly lately, then the topic that
prepares the next kata, then today's new questions, then the least mastered topic.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from grader.catalog import KataDef
from kata.progress import ProgressStore
from kata.wording import plural
from kata.workspace import kata_state

if TYPE_CHECKING:  # the quiz engine (fsrs, the bank) loads with the first quiz suggestion, not with Home
    from kata.quiz.bank import Bank

WEAK_AFTER = 3  # answers on a topic before its accuracy says it is weak


@dataclass(frozen=True)
class Step:
    """One suggestion: what, and the command that does it."""

    text: str
    command: str
    kata: str | None = None  # the kata it is about, when it is about one
    topic: str | None = None  # the quiz topic, when it is a drill


def next_kata(store: ProgressStore, katas: Sequence[KataDef], workspace: str | os.PathLike[str] | None = None) -> Step:
    states = {k.id: kata_state(k, store.has_passed(k.id), workspace=workspace) for k in katas}
    started = [k for k in katas if states[k.id] == "started"]
    if started:
        latest = {a.kata: a for a in reversed(store.attempts())}  # the newest attempt of each kata
        kata = max(started, key=lambda k: (latest[k.id].at.timestamp() if k.id in latest else 0.0, -katas.index(k)))
        last = latest.get(kata.id)
        how = f", {last.tasks_passed}/{last.tasks_total} tasks at the last grade" if last else ""
        return Step(f"{kata.id} (started{how})", f"kata grade {kata.id}", kata=kata.id)
    fresh = [k for k in katas if states[k.id] == "not started"]
    if fresh:
        kata = fresh[0]
        return Step(f"{kata.id} (not started: {kata.title})", f"kata start {kata.id}", kata=kata.id)
    return Step("every kata passes; a mock interview puts it together", "kata quiz --mode mock")


def next_quiz(store: ProgressStore, bank: Bank, now: datetime, kata: str | None = None) -> Step:
    from kata.quiz.scheduler import Scheduler
    from kata.quiz.session import MISTAKE_WINDOW, WEAK_ACCURACY

    scheduler = Scheduler(store, clock=lambda: now)
    due = scheduler.due(bank.questions, now)
    if due:
        return Step(f"{plural(len(due), 'question')} due", "kata quiz")
    accuracy = store.topic_accuracy(now - MISTAKE_WINDOW)
    weak = sorted(
        (right / answered, topic)
        for topic, (right, answered) in accuracy.items()
        if answered >= WEAK_AFTER and right / answered < WEAK_ACCURACY and bank.in_topic(topic)
    )
    if weak:
        share, topic = weak[0]
        return _drill(f"weakest topic {topic} ({share:.0%} right lately)", topic)
    unseen = scheduler.unseen(bank.questions)
    if kata is not None:
        practising = Counter(q.topic for q in unseen if q.kata == kata)
        if practising:
            topic = practising.most_common(1)[0][0]
            return _drill(f"topic {topic}, the ideas behind the {kata} kata", topic)
    new = min(scheduler.new_left_today(now), len(unseen))
    if new:
        return Step(f"{plural(new, 'new question')} today", "kata quiz")

    def mastery(topic: str) -> float:
        questions = bank.in_topic(topic)
        return sum(scheduler.mastered(q.id, now) for q in questions) / len(questions) if questions else 1.0

    least = min(bank.topics, key=lambda t: mastery(t.id))
    return _drill(f"nothing due; your least mastered topic is {least.id}", least.id)


def _drill(text: str, topic: str) -> Step:
    return Step(text, f"kata quiz --topic {topic}", topic=topic)
