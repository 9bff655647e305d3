"""Browsing the question bank: each question's state for the learner, and a search by
words and `topic:`, `tag:`, `kind:`, `state:` filters. No UI here (the app's Browse
screen shows it); browsing records nothing.

States: `new` (never answered), `due` (its review is due now), `mastered` (graduated
and recalled with high probability now: `Scheduler.mastered`), `learning` (the rest).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from kata.errors import UserError
from kata.progress import ProgressStore
from kata.quiz.bank import Bank, Question
from kata.quiz.scheduler import Scheduler
from kata.wording import unknown

STATES = ("new", "due", "learning", "mastered")
FILTERS = ("topic", "tag", "kind", "state")


def question_states(store: ProgressStore, bank: Bank, now: datetime) -> dict[str, str]:
    scheduler = Scheduler(store, clock=lambda: now)
    due = {q.id for q in scheduler.due(bank.questions, now)}
    states = {}
    for q in bank.questions:
        if q.id not in scheduler.cards:
            states[q.id] = "new"
        elif q.id in due:
            states[q.id] = "due"
        else:
            states[q.id] = "mastered" if scheduler.mastered(q.id, now) else "learning"
    return states


def search(questions: Iterable[Question], states: dict[str, str], query: str) -> list[Question]:
    """The questions matching every word of `query`: `name:value` filters exactly on
    topic, tag, kind or state; a plain word must appear in the id, prompt, topic or tags."""
    wanted: list[tuple[str, str]] = []
    words: list[str] = []
    for word in query.lower().split():
        name, colon, value = word.partition(":")
        if colon and name in FILTERS:
            wanted.append((name, value))
        elif colon and name:
            raise UserError(unknown("filter", name, FILTERS))
        else:
            words.append(word)
    found = []
    for q in questions:
        facets: dict[str, set[str]] = {
            "topic": {q.topic},
            "tag": set(q.tags),
            "kind": {q.kind},
            "state": {states.get(q.id, "new")},
        }
        text = f"{q.id} {q.prompt} {q.topic} {' '.join(q.tags)}".lower()
        if all(value in facets[name] for name, value in wanted if value) and all(w in text for w in words):
            found.append(q)
    return found
