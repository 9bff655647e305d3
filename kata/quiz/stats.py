"""Counts of the bank per topic, kind and difficulty (`kata questions stats`)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from kata.quiz.bank import CLAIMS_FILE, KINDS, Bank

DIFFICULTIES = (1, 2, 3)


def bank_stats(bank: Bank) -> dict[str, Any]:
    """{"total", "topics": {topic: {"title", "total", "kinds": {...}, "difficulty": {...}}},
    "kinds": {...}, "difficulty": {...}, "code_questions", "katas": {...}}"""
    topic_order = [t.id for t in bank.topics]
    for q in bank.questions:  # topics used but not declared still get a row
        if q.topic not in topic_order:
            topic_order.append(q.topic)
    titles = {t.id: t.title for t in bank.topics}
    topics: dict[str, dict[str, Any]] = {}
    for tid in topic_order:
        qs = [q for q in bank.questions if q.topic == tid]
        kinds: Counter[str] = Counter(q.kind for q in qs)
        diffs = Counter(q.difficulty for q in qs)
        topics[tid] = {
            "title": titles.get(tid, tid),
            "total": len(qs),
            "kinds": {k: kinds[k] for k in KINDS},
            "difficulty": {str(d): diffs.get(d, 0) for d in DIFFICULTIES},
        }
    kinds = Counter[str](q.kind for q in bank.questions)
    diffs = Counter(q.difficulty for q in bank.questions)
    katas = Counter(q.kata for q in bank.questions if q.kata)
    return {
        "directory": str(bank.directory),
        "total": len(bank.questions),
        "topics": topics,
        "kinds": {k: kinds[k] for k in KINDS},
        "difficulty": {str(d): diffs.get(d, 0) for d in DIFFICULTIES},
        "code_questions": kinds.get("code", 0),
        "katas": dict(sorted(katas.items())),
    }


def claims_stats(directory: Path) -> dict[str, Any]:
    """{"total", "verdicts": {...}, "questions_cited"} of claims.yaml (problems are
    left to `kata questions check`)."""
    from kata.quiz.claims import VERDICTS, parse_claims

    claims = parse_claims(Path(directory) / CLAIMS_FILE, [])
    verdicts = Counter(c.verdict for c in claims)
    return {
        "total": len(claims),
        "verdicts": {v: verdicts.get(v, 0) for v in VERDICTS},
        "questions_cited": len({q for c in claims for q in c.questions}),
    }


def render_stats(stats: dict[str, Any]) -> str:
    short = {
        "choice": "choice",
        "multi": "multi",
        "truefalse": "t/f",
        "short": "short",
        "order": "order",
        "code": "code",
        "design": "design",
    }
    name_width = max([len("topic")] + [len(t) for t in stats["topics"]]) + 2
    header = (
        f"{'topic':<{name_width}}{'total':>6}  "
        + "".join(f"{short[k]:>7}" for k in KINDS)
        + "  "
        + "".join(f"{'d' + str(d):>5}" for d in DIFFICULTIES)
    )
    lines = [f"{stats['total']} questions in {stats['directory']}", "", header, "-" * len(header)]

    def row(name: str, total: int, kinds: dict[str, int], diffs: dict[str, int]) -> str:
        return (
            f"{name:<{name_width}}{total:>6}  "
            + "".join(f"{kinds[k]:>7}" for k in KINDS)
            + "  "
            + "".join(f"{diffs[str(d)]:>5}" for d in DIFFICULTIES)
        )

    for tid, t in stats["topics"].items():
        lines.append(row(tid, t["total"], t["kinds"], t["difficulty"]))
    lines.append("-" * len(header))
    lines.append(row("all", stats["total"], stats["kinds"], stats["difficulty"]))
    lines.append("")
    lines.append(f"code questions (executed by the tests and `kata questions check --run`): {stats['code_questions']}")
    claims = stats.get("claims")
    if claims:
        verdicts = ", ".join(f"{n} {v}" for v, n in claims["verdicts"].items())
        lines.append(
            f"claims of the material: {claims['total']} ({verdicts}), covered by {claims['questions_cited']} questions"
        )
    if stats["katas"]:
        lines.append("questions per kata: " + ", ".join(f"{k} {n}" for k, n in stats["katas"].items()))
    return "\n".join(lines)
