"""A kata's author's tools: check a kata end to end (`kata dev check`), scaffold a new
one (`kata dev new`). The contract they check is docs/authoring-katas.md.

A check is one item of that contract, ok or not, with one line that says what was
seen or what is missing; the checks that grade carry the grade's report.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from grader import mutants
from grader.catalog import CatalogError, KataDef, load_hints, load_kata, module_name
from grader.locations import exercises_dir, mutants_dir, solutions_dir, suites_dir
from grader.report import Result, render_text
from grader.runner import SUITE_BROKEN, grade

PLACEHOLDER = "TODO"  # what `kata dev new` leaves for the author to replace
KATA_ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Check:
    item: str
    ok: bool | None  # None: not checked, `detail` says why
    detail: str
    report: str = ""  # the grade behind the check, when there is one


# --- kata dev check -----------------------------------------------------------------------


def check_kata(kata_id: str, *, with_mutants: bool = True) -> Iterator[Check]:
    """Every check of one kata, in order, as each is done (grading takes a while)."""
    try:
        kata = load_kata(kata_id)
    except CatalogError as err:
        yield Check("kata.yaml", False, str(err))
        return
    yield from check_files(kata)
    yield from check_starter(kata)
    yield check_solution(kata)
    if with_mutants:
        yield from check_mutants(kata)
    else:
        yield Check("mutants", None, "not checked (--no-mutants)")


def check_files(kata: KataDef) -> list[Check]:
    """What can be checked without running anything: the definition, spec, starter and hints."""
    return [_definition(kata), _perf_task(kata), _spec(kata), _starter_source(kata), _hints(kata)]


def check_starter(kata: KataDef) -> list[Check]:
    """The starter graded: the suite collects every task's tests, and every one fails as 'not implemented'."""
    starter = grade(kata.id, kata.starter_path, perf=True)
    return [_suite(kata, starter), _starter_fails(starter)]


def _placeholders(**texts: str) -> list[str]:
    return [name for name, text in texts.items() if PLACEHOLDER in text]


def _definition(kata: KataDef) -> Check:
    left = _placeholders(
        title=kata.title,
        mechanism=kata.mechanism,
        summary=kata.summary,
        **{f"task {t.id} title": t.title for t in kata.tasks},
    )
    if left:
        return Check("kata.yaml", False, f"still {PLACEHOLDER}: {', '.join(left)}")
    return Check("kata.yaml", True, f"{len(kata.tasks)} tasks; API: {', '.join(kata.api)}")


def _perf_task(kata: KataDef) -> Check:
    timed = [t.id for t in kata.tasks if t.perf]
    if not timed or not kata.perf:
        return Check(
            "perf",
            False,
            "no perf task with a metric: every kata measures one figure against a same-run baseline "
            "(a task with `perf: true`, a `perf:` metric with its threshold)",
        )
    return Check("perf", True, f"task {', '.join(map(str, timed))}: {', '.join(m.name for m in kata.perf)}")


def _spec(kata: KataDef) -> Check:
    try:
        text = kata.spec_path.read_text(encoding="utf-8")
    except OSError:
        return Check("spec", False, f"{kata.spec_path} is missing")
    if PLACEHOLDER in text:
        return Check("spec", False, f"README.md still holds {PLACEHOLDER} placeholders")
    unnamed = [name for name in kata.api if name not in text]
    if unnamed:
        return Check("spec", False, f"README.md never names {', '.join(unnamed)} (the API it must teach)")
    return Check("spec", True, "README.md names every API name")


def _starter_source(kata: KataDef) -> Check:
    try:
        tree = ast.parse(kata.starter_path.read_bytes(), str(kata.starter_path))
    except OSError:
        return Check("starter", False, f"{kata.starter_path} is missing")
    except SyntaxError as err:
        return Check("starter", False, f"starter.py:{err.lineno}: SyntaxError: {err.msg}")
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.ClassDef)}
    defined |= {
        t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)
    }
    missing = [name for name in kata.api if name not in defined]
    if missing:
        return Check("starter", False, f"starter.py does not define {', '.join(missing)}")
    return Check("starter", True, f"starter.py defines {', '.join(kata.api)}")


def _hints(kata: KataDef) -> Check:
    try:
        hints = load_hints(kata.hints_path)
    except CatalogError as err:
        return Check("hints", False, str(err))
    if not hints:
        return Check("hints", False, "hints.yaml has no hints (4-7, from a nudge to nearly the answer)")
    if any(PLACEHOLDER in hint for hint in hints):
        return Check("hints", False, f"hints.yaml still holds {PLACEHOLDER} placeholders")
    return Check("hints", True, f"{len(hints)} hints")


def _suite(kata: KataDef, starter: Result) -> Check:
    """The suite collects, every test has a task marker, every task has a test (seen through
    the starter's grade, which selects every test)."""
    report = render_text(starter, verbose=True)
    if not kata.suite_dir.is_dir():
        return Check("suite", False, f"{kata.suite_dir} is missing")
    if starter.status == "error":
        if starter.message.startswith(SUITE_BROKEN.format(kata=kata.id)):
            return Check("suite", False, starter.message, report)
        return Check("suite", None, f"not checked: the starter did not load ({starter.message})", report)
    untested = [str(t.id) for t in starter.tasks if t.total == 0]
    if untested:
        return Check("suite", False, f"task {', '.join(untested)} has no test", report)
    return Check("suite", True, f"{len(starter.tests)} tests over {len(starter.tasks)} tasks")


def _starter_fails(starter: Result) -> Check:
    report = render_text(starter, verbose=True)
    if starter.status == "error":
        return Check("starter fails", False, f"the starter did not load: {starter.message}", report)
    passing = [t.id for t in starter.tasks if t.status != "fail"]
    if passing:
        return Check(
            "starter fails", False, f"task {', '.join(map(str, passing))} does not fail for the starter", report
        )
    unexplained = [t for t in starter.tests if "not implemented" not in t.message]
    if unexplained:
        test = unexplained[0]
        detail = f"{test.name} ({test.status}) does not say 'not implemented': {_first_line(test.message)}"
        return Check("starter fails", False, detail, report)
    return Check("starter fails", True, "every task fails, each test with 'not implemented'")


def check_solution(kata: KataDef) -> Check:
    """The reference passes every test, perf included, and leaves nothing behind."""
    if not kata.solution_path.is_file():
        return Check("solution", False, f"{kata.solution_path} is missing")
    result = grade(kata.id, kata.solution_path, perf=True)
    report = render_text(result, verbose=True)
    if result.status == "error":
        return Check("solution", False, result.message, report)
    failing = [t for t in result.tests if t.status != "pass"]
    if failing:
        test = failing[0]
        detail = f"{len(failing)} tests do not pass; {test.name}: {_first_line(test.message)}"
        return Check("solution", False, detail, report)
    if result.hygiene:
        finding = result.hygiene[0]
        return Check("solution", False, f"it leaves things behind: {finding.kind} {finding.name}", report)
    figures = ", ".join(f"{p.name} {p.ratio:.2f}x (threshold {p.threshold:g}x)" for p in result.perf)
    return Check("solution", True, f"passes {len(result.tests)} tests" + (f"; {figures}" if figures else ""))


def check_mutants(kata: KataDef) -> Iterator[Check]:
    """The mutants are declared, stored and each rejected with its status and message; a perf
    mutant also passes the rest of the suite (one grade without perf: it costs seconds)."""
    if mutants_dir() is None:
        yield Check(
            "mutants", None, "not checked: tests/mutants is not here (an installed package has none; run from a clone)"
        )
        return
    where = f"tests/mutants/{kata.id}"
    try:
        declared = mutants.declared_mutants(kata.id)
        stored = mutants.stored_diffs(kata.id)
    except mutants.MutantError as err:
        yield Check("mutants", False, str(err))
        return
    names = {m.name for m in declared}
    problems = [f"{name}.diff is not declared" for name in sorted(stored - names)]
    problems += [f"{name} has no {name}.diff" for name in sorted(names - stored)]
    if len(declared) < mutants.MINIMUM:
        problems.insert(0, f"{len(declared)} declared in {where}/mutants.yaml, at least {mutants.MINIMUM} needed")
    yield Check("mutants", not problems, "; ".join(problems) or f"{len(declared)} declared in {where}")
    for mutant in declared:
        if mutant.name not in stored:
            continue
        try:
            verdict = mutants.check_mutant(mutant)
        except mutants.MutantError as err:
            yield Check("mutant", False, f"{mutant.name}: {err}")
            continue
        if verdict.ok:
            yield Check("mutant", True, f"{mutant.name}: rejected, {mutant.status}, {mutant.message!r}")
        else:
            yield Check("mutant", False, verdict.problem, render_text(verdict.result, verbose=True))
        if mutant.perf:
            yield check_perf_mutant_correct(mutant)


def check_perf_mutant_correct(mutant: mutants.Mutant) -> Check:
    """A `perf: true` mutant passes every test but the perf task's: its only fault is speed."""
    verdict = mutants.check_correct(mutant)
    if verdict.ok:
        return Check("perf mutant", True, f"{mutant.name}: correct, passes {len(verdict.result.tests)} tests")
    return Check("perf mutant", False, verdict.problem, render_text(verdict.result, verbose=True))


# --- kata dev new ---------------------------------------------------------------------------


class ScaffoldError(Exception):
    """A kata cannot be scaffolded here: one line."""


def scaffold(kata_id: str) -> list[Path]:
    """The files of a new kata, each with TODO where the author has work to do; the paths written.
    `kata dev check <id>` then lists what is still missing."""
    if not KATA_ID.match(kata_id):
        raise ScaffoldError(f"{kata_id!r} is not a kata id: lowercase words joined by dashes, e.g. shm-ring")
    mutants_root = mutants_dir()
    if mutants_root is None:
        raise ScaffoldError("kata dev new writes into a clone of ipc-kata (tests/mutants is not here)")
    module = module_name(kata_id)
    files = {
        exercises_dir() / kata_id / "kata.yaml": _KATA_YAML.format(id=kata_id),
        exercises_dir() / kata_id / "README.md": _SPEC,
        exercises_dir() / kata_id / "starter.py": _STARTER,
        exercises_dir() / kata_id / "hints.yaml": _HINTS,
        suites_dir() / kata_id / f"test_{module}.py": _SUITE.format(id=kata_id),
        solutions_dir() / f"{module}.py": _SOLUTION.format(id=kata_id),
        mutants_root / kata_id / "mutants.yaml": _MUTANTS.format(module=module),
    }
    existing = [str(path) for path in files if path.exists()] + [
        str(folder) for folder in (exercises_dir() / kata_id, suites_dir() / kata_id) if folder.exists()
    ]
    if existing:
        raise ScaffoldError(f"kata {kata_id} already has files: {existing[0]} (nothing was written)")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(files)


_KATA_YAML = """\
id: {id}
title: TODO a title
mechanism: TODO the IPC mechanism it practises
difficulty: 1
summary: >
  TODO one or two sentences for the kata list.
api: [solve]
time_limit: 5
import_time_limit: 10
memory_limit_mb: 4096
tasks:
  - {{id: 1, name: first, title: "TODO what task 1 asks"}}
"""
_SPEC = """\
# TODO the kata's title

TODO the concept, the API with examples (`solve`), the rules the suite checks,
the tasks and the pitfalls. See docs/authoring-katas.md.
"""
_STARTER = '''\
"""TODO what the learner builds."""


def solve(data: bytes) -> bytes:
    """TODO the contract of solve."""
    raise NotImplementedError
'''
_HINTS = """\
hints:
  - TODO a nudge
"""
_SUITE = '''\
"""Hidden suite of the `{id}` kata (docs/authoring-katas.md, "The suite")."""

from __future__ import annotations

import pytest

from grader.testing import expect


@pytest.mark.task(1)
def test_solve_returns_its_input(impl):
    got = impl.solve(b"TODO")
    expect(got == b"TODO", f"`solve` returned {{got!r}}: TODO what was expected, what happened, the concept")
'''
_SOLUTION = '''\
"""Reference solution of the `{id}` kata."""


def solve(data: bytes) -> bytes:
    raise NotImplementedError("TODO the reference")
'''
_MUTANTS = """\
# Mutants of the reference: each a realistic bug, stored as a diff beside this
# file (diff -u solutions/{module}.py <name>.py > <name>.diff), declared here:
# - name: <name>
#   tests: [<the tests it is graded on>]
#   status: fail            # of the first test: fail, timeout or error
#   message: <words of the message that name the bug>
#   pattern: cycle          # a timeout only: what the wait-for graph must name (grader/diagnosis.py)
[]
"""


def _first_line(message: str) -> str:
    """A report's first line, cut for a one-line check; a test that passed has no message."""
    return message.splitlines()[0][:160] if message.strip() else "(no message)"
