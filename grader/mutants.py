"""Mutants: small, realistic buggy variants of a kata's reference solution, each of
which the hidden suite must reject with the message that names its bug (a suite
that a realistic mutant passes is a weak suite).

A kata's mutants live in a clone, beside the project's tests, in
`tests/mutants/<kata>/`: one unified diff per mutant against the reference
(`diff -u solutions/<module>.py <name>.py > <name>.diff`), so that it shows
exactly the bug it plants and stops applying, loudly, when the reference
changes under it; and `mutants.yaml`, one row per mutant: `name`, the `tests`
it is graded on, the `status` of the first of them, a piece of its `message`,
and optionally `perf: true` (graded with its perf task) and `leak: <kind>` (the
hygiene finding its bug leaves behind). A `timeout` row also names the `pattern`
the wait-for graph must find (grader/diagnosis.py's PATTERNS: cycle, no-eof, ...):
its timeout is explained from evidence, with pids, never by the test's hint alone.
An installed package has no mutants.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from grader.catalog import load_kata
from grader.diagnosis import PATTERNS
from grader.locations import mutants_dir
from grader.report import Result, TestResult, render_text
from grader.runner import grade

STATUSES = ("fail", "timeout", "error")
MINIMUM = 3  # realistic mutants per kata


class MutantError(Exception):
    """A mutants.yaml that does not parse, or a diff that no longer applies: one line."""


@dataclass(frozen=True)
class Mutant:
    kata: str
    name: str  # <name>.diff under tests/mutants/<kata>/
    tests: tuple[str, ...]  # the tests graded (kept few: timeouts cost their limit)
    status: str  # the verdict of the first of them: one of STATUSES
    message: str  # a piece of the message that names the bug
    perf: bool = False  # graded with its perf task (a slow-but-correct mutant)
    leak: str = ""  # the hygiene finding kind its bug leaves behind, when that is the bug
    pattern: str = ""  # a timeout's blocking pattern, as the wait-for graph must name it

    def __str__(self) -> str:
        return f"{self.kata}/{self.name}"

    @property
    def diff_path(self) -> Path:
        return _folder(self.kata) / f"{self.name}.diff"


@dataclass(frozen=True)
class MutantVerdict:
    mutant: Mutant
    result: Result
    problem: str  # "" when the mutant was rejected as declared; else why not, in one line

    @property
    def ok(self) -> bool:
        return not self.problem


def _folder(kata_id: str) -> Path:
    root = mutants_dir()
    if root is None:
        raise MutantError("tests/mutants is not here: mutants live in a clone of ipc-kata, not in an installed package")
    return root / kata_id


def declaration_path(kata_id: str) -> Path:
    return _folder(kata_id) / "mutants.yaml"


def declared_mutants(kata_id: str) -> list[Mutant]:
    """The rows of tests/mutants/<kata>/mutants.yaml (none when the file is missing)."""
    import yaml

    path = declaration_path(kata_id)
    if not path.is_file():
        return []
    try:
        rows = yaml.safe_load(path.read_text()) or []
        mutants = [
            Mutant(
                kata=kata_id,
                name=str(row["name"]),
                tests=tuple(str(t) for t in row["tests"]),
                status=str(row["status"]),
                message=str(row["message"]),
                perf=bool(row.get("perf", False)),
                leak=str(row.get("leak", "")),
                pattern=str(row.get("pattern", "")),
            )
            for row in rows
        ]
    except yaml.YAMLError as err:
        raise MutantError(f"{path}: malformed YAML: {str(err).splitlines()[0]}") from None
    except (KeyError, TypeError, AttributeError) as err:
        raise MutantError(f"{path}: each row needs name, tests, status and message ({err})") from None
    for mutant in mutants:
        if mutant.status not in STATUSES or not mutant.tests:
            raise MutantError(f"{path}: {mutant.name}: status must be one of {', '.join(STATUSES)}, with tests")
        if (mutant.status == "timeout") != bool(mutant.pattern) or mutant.pattern in ("hint", "unknown"):
            raise MutantError(
                f"{path}: {mutant.name}: a timeout row (and only one) names the pattern the wait-for graph finds: "
                f"one of {', '.join(p for p in PATTERNS if p not in ('hint', 'unknown'))}"
            )
        if mutant.pattern and mutant.pattern not in PATTERNS:
            raise MutantError(f"{path}: {mutant.name}: unknown pattern {mutant.pattern!r}")
    return mutants


def stored_diffs(kata_id: str) -> set[str]:
    return {p.stem for p in _folder(kata_id).glob("*.diff")}


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
                    raise MutantError(
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
    label = f"mutant tests/mutants/{mutant.kata}/{mutant.name}.diff"
    return apply_diff(solution.read_text(), mutant.diff_path.read_text(), label)


def _grade_mutant(mutant: Mutant, *, perf: bool, tests: tuple[str, ...] | None) -> Result:
    with tempfile.TemporaryDirectory(prefix="kata-mutant-") as folder:
        path = Path(folder) / f"{load_kata(mutant.kata).module}.py"
        path.write_text(mutant_source(mutant))
        return grade(mutant.kata, path, perf=perf, tests=tests)


def check_mutant(mutant: Mutant) -> MutantVerdict:
    """Grade the mutant on its tests: it must be rejected with its status and message."""
    result = _grade_mutant(mutant, perf=mutant.perf, tests=mutant.tests)
    return MutantVerdict(mutant, result, _problem(mutant, result))


def check_correct(mutant: Mutant) -> MutantVerdict:
    """Grade a perf mutant on the whole suite but its perf task: slow-but-correct means it passes
    all of it (a mutant that polls, or times out on a big input, is caught by a correctness test
    first, and proves nothing about the perf threshold)."""
    result = _grade_mutant(mutant, perf=False, tests=None)
    return MutantVerdict(mutant, result, correctness_problem(mutant, result))


def correctness_problem(mutant: Mutant, result: Result) -> str:
    """ "" when the grade without the perf task is a clean pass; else the first thing it fails, in one line."""
    why = ""
    failed = [t for t in result.tests if t.status != "pass"]
    if result.status == "error":
        why = f"its grade is an error: {result.message}"
    elif failed:
        first = failed[0]
        said = (first.message.splitlines() or [first.status])[0]
        said = said if len(said) <= 160 else said[:157] + "..."
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        why = f"it fails {first.name}{more} ({said})"
    elif result.hygiene:
        finding = result.hygiene[0]
        why = f"it leaves {finding.kind} {finding.name} behind"
    elif result.status != "pass":
        why = f"its grade is {result.status}"
    return f"perf mutant {mutant.name} is not correct: {why}" if why else ""


def _problem(mutant: Mutant, result: Result) -> str:
    if result.status not in ("fail", "error"):
        return f"{mutant} was not rejected (the grade is {result.status})"
    if mutant.status == "error" and result.status == "error":  # the grade's own error (the file did not load)
        return "" if mutant.message in result.message else f"{mutant}: the error does not say {mutant.message!r}"
    first = next((t for t in result.tests if t.name == mutant.tests[0]), None)
    if first is None:
        return f"{mutant}: {mutant.tests[0]} was not graded ({result.message or 'no such test'})"
    # A machine busy enough can stretch one round of a slow mutant past the test's limit: that timeout
    # says "too slow" too (runner._timeout_message), and rejects it as well.
    slow_enough_to_time_out = mutant.perf and mutant.status == "fail" and first.status == "timeout"
    if first.status != mutant.status and not slow_enough_to_time_out:
        return f"{mutant}: {first.name} is {first.status}, expected {mutant.status}"
    if mutant.message not in first.message:
        return f"{mutant}: the message of {first.name} does not name the bug ({mutant.message!r})"
    if mutant.pattern:
        problem = _diagnosis_problem(mutant, first)
        if problem:
            return problem
    if mutant.leak:
        named = {finding.kind: finding.name for finding in result.hygiene}
        if mutant.leak not in named:
            return f"{mutant}: no {mutant.leak} leak finding"
        if named[mutant.leak] not in first.message:
            return f"{mutant}: the message does not name the leaked object {named[mutant.leak]}"
    return ""


def _diagnosis_problem(mutant: Mutant, test: TestResult) -> str:
    """A timeout must be explained by the wait-for graph: the declared pattern, with the pids
    (and the fds, for pipes and sockets) it rests on."""
    found = test.diagnosis
    if found is None or not found.explained:
        why = found.sentence if found else "no diagnosis"
        return f"{mutant}: the timeout of {test.name} fell back to a guess, not the {mutant.pattern} pattern: {why}"
    if found.pattern != mutant.pattern:
        return f"{mutant}: {test.name}'s timeout is named {found.pattern}, expected {mutant.pattern}: {found.sentence}"
    if "pid " not in found.sentence:
        return f"{mutant}: the diagnosis of {test.name} names no pid: {found.sentence}"
    if {"pipe", "socket"} & set(found.objects) and "fd " not in found.sentence:
        return f"{mutant}: the diagnosis of {test.name} names no fd: {found.sentence}"
    return ""


def report(verdict: MutantVerdict) -> str:
    """The problem with the full grade report under it (for a failing test)."""
    return f"{verdict.problem}\n{render_text(verdict.result, verbose=True)}"
