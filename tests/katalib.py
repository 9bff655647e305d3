"""Shared helpers for the project's kata tests: grade a file, check a verdict.

Each kata's mutants are declared in `tests/mutants/<kata>/mutants.yaml`, beside
their diffs: the tests a mutant is graded on, the status of the first of them
and a piece of the message that names its bug (the grader tested "both ways").

A mutant is stored as a unified diff against the kata's reference solution
(`tests/mutants/<kata>/<name>.diff`, made with `diff -u solutions/<module>.py
<name>.py`), so it shows exactly the bug it plants and stops applying, loudly,
when the solution changes under it.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from grader import grade
from grader.catalog import load_kata
from grader.report import Result, render_text

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "tests" / "mutants"


@dataclass(frozen=True)
class Mutant:
    kata: str
    name: str  # <name>.diff under tests/mutants/<kata>/
    tests: tuple[str, ...]  # the tests graded (kept few: timeouts cost their limit)
    status: str  # the verdict of the first of them: fail, timeout, error
    message: str  # a piece of the message that names the bug
    perf: bool = False  # graded with its perf task (a slow-but-correct mutant)
    leak: str = ""  # the hygiene finding kind its bug leaves behind, when that is the bug

    def __str__(self) -> str:
        return f"{self.kata}/{self.name}"

    @property
    def diff_path(self) -> Path:
        return MUTANTS / self.kata / f"{self.name}.diff"


def declared_mutants(kata_id: str) -> list[Mutant]:
    """The rows of tests/mutants/<kata>/mutants.yaml."""
    path = MUTANTS / kata_id / "mutants.yaml"
    rows = yaml.safe_load(path.read_text()) or []
    return [
        Mutant(
            kata=kata_id,
            name=row["name"],
            tests=tuple(row["tests"]),
            status=row["status"],
            message=row["message"],
            perf=bool(row.get("perf", False)),
            leak=row.get("leak", ""),
        )
        for row in rows
    ]


def grade_solution(kata_id: str, **kwargs) -> Result:
    return grade(kata_id, load_kata(kata_id).solution_path, **kwargs)


def assert_solution_passes(kata_id: str, perf: bool = True) -> None:
    result = grade_solution(kata_id, perf=perf)
    assert result.status == "pass", render_text(result, verbose=True)
    assert not result.hygiene, render_text(result)


def assert_starter_fails_every_task(kata_id: str) -> None:
    kata = load_kata(kata_id)
    result = grade(kata_id, kata.starter_path, perf=True)
    assert result.status == "fail", render_text(result)
    for task in result.tasks:
        assert task.status == "fail", f"task {task.id} of the starter: {task.status}\n" + render_text(result)
    for test in result.tests:
        assert "not implemented" in test.message, f"{test.name}: {test.message}"


_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@")


def apply_diff(original: str, diff: str, what: str) -> str:
    """Apply a unified diff to `original`; every context and removed line must match exactly."""
    source = original.splitlines(keepends=True)
    out: list[str] = []
    position = 0  # index in `source` of the next line not yet copied
    lines = diff.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        match = _HUNK.match(lines[i])
        i += 1
        if not match:
            continue
        start = int(match.group(1)) - 1 if match.group(2) != "0" else int(match.group(1))
        out.extend(source[position:start])
        position = start
        while i < len(lines) and not lines[i].startswith("@@"):
            tag, text = lines[i][:1], lines[i][1:]
            i += 1
            if tag in (" ", "-"):
                if position >= len(source) or source[position] != text:
                    raise AssertionError(
                        f"{what} no longer applies at line {position + 1}: "
                        "the solution changed; re-make the mutant with diff -u"
                    )
                position += 1
                if tag == " ":
                    out.append(text)
            elif tag == "+":
                out.append(text)
    out.extend(source[position:])
    return "".join(out)


def mutant_source(mutant: Mutant) -> str:
    solution = load_kata(mutant.kata).solution_path
    label = f"mutant {mutant.diff_path.relative_to(ROOT)}"
    return apply_diff(solution.read_text(), mutant.diff_path.read_text(), label)


def check_mutant(mutant: Mutant) -> Result:
    """Grade the mutant on its tests; it must be rejected with its status and message."""
    with tempfile.TemporaryDirectory(prefix="kata-mutant-") as folder:
        path = Path(folder) / f"{load_kata(mutant.kata).module}.py"
        path.write_text(mutant_source(mutant))
        result = grade(mutant.kata, path, perf=mutant.perf, tests=mutant.tests)
    report = render_text(result, verbose=True)
    assert result.status in ("fail", "error"), f"{mutant} was not rejected:\n{report}"
    if mutant.status == "error":
        assert mutant.message in result.message, report
        return result
    first = next(t for t in result.tests if t.name == mutant.tests[0])
    expected = f"{mutant}: {first.name} is {first.status}, expected {mutant.status}"
    assert first.status == mutant.status, f"{expected}\n{report}"
    assert mutant.message in first.message, f"{mutant}: message does not name the bug:\n{report}"
    if mutant.leak:
        named = {finding.kind: finding.name for finding in result.hygiene}
        assert mutant.leak in named, f"{mutant}: no {mutant.leak} leak finding: {result.hygiene}"
        assert named[mutant.leak] in first.message, f"{mutant}: the message does not name the leaked object"
    return result
