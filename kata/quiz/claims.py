"""`questions/claims.yaml`: every factual claim of the source material, with the
questions that cover it and, where the material is imprecise or wrong, the
precise fact.

    material: <title of the source material>
    claims:
      - id: pipe-parent-child-only          # lowercase-with-dashes, unique
        quote: "can only be used between parent-child processes"  # verbatim or paraphrased
        verdict: imprecise                   # accurate | imprecise | wrong
        precise: "Any processes that inherit ..."   # required unless accurate
        questions: [pipes-related-not-only-parent, ...]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from kata.quiz.bank import ID_PATTERN
from kata.quiz.yamlio import Problem, key_lines, line_of, read_yaml, value_nodes

VERDICTS = ("accurate", "imprecise", "wrong")
CLAIM_FIELDS = frozenset({"id", "quote", "verdict", "precise", "questions", "note"})


@dataclass(frozen=True)
class Claim:
    id: str
    quote: str
    verdict: str
    precise: str | None
    questions: tuple[str, ...]
    file: Path = field(default=Path(), compare=False)
    line: int = field(default=0, compare=False)
    question_lines: tuple[int, ...] = field(default=(), compare=False)


def parse_claims(path: Path, problems: list[Problem]) -> list[Claim]:
    if not path.is_file():
        problems.append(
            Problem(path, 1, "missing: claims.yaml lists the material's claims and the questions covering them")
        )
        return []
    data, node = read_yaml(path, problems)
    if node is None:
        return []
    if not isinstance(data, dict) or not isinstance(data.get("claims"), list):
        problems.append(Problem(path, line_of(node), "expected a mapping with `material:` and a `claims:` list"))
        return []
    claims_node = value_nodes(node)["claims"]
    claims: list[Claim] = []
    seen: set[str] = set()
    for item, item_node in zip(data["claims"], claims_node.value, strict=False):
        start = line_of(item_node)
        if not isinstance(item, dict):
            problems.append(Problem(path, start, "a claim must be a mapping with id, quote, verdict, questions"))
            continue
        lines = key_lines(item_node)
        cid = item.get("id")
        label = cid if isinstance(cid, str) else "claim"

        def bad(
            key: str | None,
            message: str,
            line: int | None = None,
            lines: dict[str, int] = lines,
            start: int = start,
            label: str = label,
        ) -> None:
            problems.append(Problem(path, line or lines.get(key or "", start), f"claim {label}: {message}"))

        before = len(problems)
        for name in sorted(set(item) - CLAIM_FIELDS, key=str):
            bad(str(name), f"unknown field {name!r}")
        if not isinstance(cid, str) or not ID_PATTERN.match(cid):
            bad("id", f"id must be lowercase words joined by dashes, got {cid!r}")
        elif cid in seen:
            bad("id", f"duplicate claim id {cid!r}")
        quote = item.get("quote")
        if not isinstance(quote, str) or not quote.strip():
            bad("quote", "quote must be the claim's text")
        verdict = item.get("verdict")
        if verdict not in VERDICTS:
            bad("verdict", f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}")
        precise = item.get("precise")
        if verdict in ("imprecise", "wrong") and (not isinstance(precise, str) or not precise.strip()):
            bad("precise" if "precise" in item else "verdict", f"an {verdict} claim needs `precise`: the precise fact")
        elif precise is not None and not isinstance(precise, str):
            bad("precise", "precise must be text")
        qids = item.get("questions")
        qlines: list[int] = []
        if not isinstance(qids, list) or not qids:
            bad(
                "questions" if "questions" in item else None,
                "not covered: `questions` must list at least one question id",
            )
            qids = []
        else:
            qnode = value_nodes(item_node).get("questions")
            for i, qid in enumerate(qids):
                ql = line_of(qnode.value[i]) if isinstance(qnode, yaml.SequenceNode) else lines.get("questions", start)
                qlines.append(ql)
                if not isinstance(qid, str):
                    bad(None, f"question id must be text, got {qid!r}", line=ql)
        if len(problems) > before or not isinstance(cid, str) or not isinstance(quote, str):
            continue
        seen.add(cid)
        claims.append(
            Claim(
                id=cid,
                quote=" ".join(quote.split()),
                verdict=str(verdict),
                precise=" ".join(precise.split()) if isinstance(precise, str) else None,
                questions=tuple(qids),
                file=path,
                line=start,
                question_lines=tuple(qlines),
            )
        )
    return claims
