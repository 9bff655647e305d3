"""Shared helpers for the project's kata tests: grade a file, check a verdict.

A kata's test module declares its mutants as `Mutant` rows and calls
`check_mutant`; each row names the tests the mutant must fail, the status and
a piece of the message that names its bug (the grader test "both ways").

A mutant is stored as a unified diff against the kata's reference solution
(`tests/mutants/<kata>/<name>.diff`, made with `diff -u solutions/<kata>.py
<name>.py`), so it shows exactly the bug it plants and stops applying, loudly,
when the solution changes under it.
"""
from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from grader import grade
from grader.catalog import load_kata
from grader.report import Result, render_text

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "tests" / "mutants"


@dataclass(frozen=True)
class Mutant:
    file: str  # under tests/mutants/<kata>/
    tests: tuple[str, ...]  # the tests graded (kept few: timeouts cost their limit)
    status: str  # the verdict of the first of them: fail, timeout, error
    message: str  # a piece of the message that names the bug
    perf: bool = False

    def __str__(self) -> str:
        return self.file


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
                    raise AssertionError(f"{what} no longer applies at line {position + 1}: "
                                         "the solution changed; re-make the mutant with diff -u")
                position += 1
                if tag == " ":
                    out.append(text)
            elif tag == "+":
                out.append(text)
    out.extend(source[position:])
    return "".join(out)


def mutant_source(kata_id: str, mutant: Mutant) -> str:
    folder = kata_id.replace("-", "_")
    diff = MUTANTS / folder / Path(mutant.file).with_suffix(".diff").name
    solution = load_kata(kata_id).solution_path
    return apply_diff(solution.read_text(), diff.read_text(), f"mutant {diff.relative_to(ROOT)}")


def check_mutant(kata_id: str, mutant: Mutant) -> Result:
    with tempfile.TemporaryDirectory(prefix="kata-mutant-") as folder:
        path = Path(folder) / mutant.file
        path.write_text(mutant_source(kata_id, mutant))
        result = grade(kata_id, path, perf=mutant.perf, tests=mutant.tests)
    report = render_text(result, verbose=True)
    assert result.status in ("fail", "error"), f"{mutant} was not rejected:\n{report}"
    if mutant.status == "error":
        assert mutant.message in result.message, report
        return result
    first = next(t for t in result.tests if t.name == mutant.tests[0])
    assert first.status == mutant.status, f"{mutant}: {first.name} is {first.status}, expected {mutant.status}\n{report}"
    assert mutant.message in first.message, f"{mutant}: message does not name the bug:\n{report}"
    return result
