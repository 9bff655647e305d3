"""`kata stats`: what the learner knows, from the progress store. No UI here.

Mastery of a topic is the share of its questions that FSRS has graduated to
review and whose retrievability now is above `MASTERED_RETRIEVABILITY`
(`Scheduler.mastered`): a question answered right long ago and not since stops
counting, which is the point of spaced repetition. `progress_stats` returns
plain data (the `--json` output and what the TUI shows); `render_stats` is the
text face.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kata import perf_history
from kata.progress import ProgressStore, utcnow
from kata.quiz.bank import Bank, load_bank
from kata.quiz.scheduler import Clock, Scheduler
from kata.wording import plural


def progress_stats(
    store: ProgressStore | None = None,
    *,
    bank: Bank | None = None,
    clock: Clock = utcnow,
    katas: Sequence[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """{"topics": {id: {title, questions, answered, mastered, mastery}}, "reviews_per_day": {day: n},
    "katas": [{id, title, status, attempts, best_tasks, last, perf}], "mocks": [{at, score, kata, kata_status}]}.
    A kata's `perf` is its metrics across attempts (kata.perf_history.as_data).
    `katas` is [(id, title)], default the catalog."""
    if store is None:
        with ProgressStore.open() as opened:
            return progress_stats(opened, bank=bank, clock=clock, katas=katas)
    bank = bank if bank is not None else load_bank()
    now = clock()
    scheduler = Scheduler(store, clock=clock)
    topics: dict[str, dict[str, Any]] = {}
    for topic in bank.topics:
        questions = bank.in_topic(topic.id)
        answered = [q for q in questions if q.id in scheduler.cards]
        mastered = [q for q in answered if scheduler.mastered(q.id, now)]
        topics[topic.id] = {
            "title": topic.title,
            "questions": len(questions),
            "answered": len(answered),
            "mastered": len(mastered),
            "mastery": round(len(mastered) / len(questions), 3) if questions else 0.0,
        }
    rows = []
    for kata_id, title in katas if katas is not None else _catalog():
        attempts = store.attempts(kata_id)
        best = max(attempts, key=lambda a: (a.tasks_passed, a.at), default=None)
        rows.append(
            {
                "id": kata_id,
                "title": title,
                "status": "passing" if store.has_passed(kata_id) else ("attempted" if attempts else "not attempted"),
                "attempts": len(attempts),
                "best_tasks": f"{best.tasks_passed}/{best.tasks_total}" if best else "",
                "last": attempts[0].at.isoformat() if attempts else None,
                "perf": perf_history.as_data(store.perf_history(kata_id)),
            }
        )
    mocks = [
        {"at": m.at.isoformat(), "score": round(m.score, 3), "kata": m.kata, "kata_status": m.kata_status}
        for m in store.mocks(limit=10)
    ]
    return {"topics": topics, "reviews_per_day": store.reviews_per_day(), "katas": rows, "mocks": mocks}


def render_stats(data: dict[str, Any]) -> str:
    lines = ["Mastery per topic (questions you would recall now):"]
    for tid, row in data["topics"].items():
        bar = "#" * round(row["mastery"] * 20)
        lines.append(f"  {tid:<16} {bar:<20} {row['mastered']:>3}/{row['questions']:<3} ({row['answered']} answered)")
    days = list(data["reviews_per_day"].items())[-14:]
    lines.append("")
    lines.append("Answers per day (last 14 days with answers):" if days else "No answers yet: `kata quiz`.")
    lines += [f"  {day}  {n}" for day, n in days]
    lines.append("")
    lines.append("Katas:")
    for row in data["katas"]:
        lines.append(f"  {row['id']:<16} {row['status']}{kata_history(row)}")
        lines += perf_history.render(row.get("perf", []), indent="    ")
    if data["mocks"]:
        lines.append("")
        lines.append("Mock interviews (latest first):")
        lines += [
            f"  {m['at'][:16].replace('T', ' ')}  {m['score']:.0%}  kata {m['kata']}: {m['kata_status']}"
            for m in data["mocks"]
        ]
    return "\n".join(lines)


def kata_history(row: dict[str, Any]) -> str:
    """`, best 3/4 tasks, 1 attempt` for a kata row of `progress_stats` ("" before any attempt)."""
    return f", best {row['best_tasks']} tasks, {plural(row['attempts'], 'attempt')}" if row["attempts"] else ""


def _catalog() -> list[tuple[str, str]]:
    from grader.catalog import CatalogError, all_katas

    try:
        return [(k.id, k.title) for k in all_katas()]
    except CatalogError:
        return []  # stats still show the quiz side
