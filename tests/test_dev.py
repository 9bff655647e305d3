"""`kata dev new` and `kata dev check`, in a copy of the tree (a new kata must never
appear in the real one while other tests list the katas): a scaffold is reported item
by item with exactly what is missing, a broken suite is named as such, and bad usage
is one line with exit 2."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from katalib import ROOT


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """The packages, solutions and mutants, copied: a clone as far as the tools can tell."""
    copy = tmp_path / "tree"
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("grader", "kata", "solutions", "tests/mutants"):
        shutil.copytree(ROOT / folder, copy / folder, ignore=skip)
    return copy


def kata(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, KATA_HOME=str(tree / "home"), PYTHONPATH=str(tree))
    return subprocess.run(
        [sys.executable, "-m", "kata.cli", *args], cwd=tree, env=env, capture_output=True, text=True, timeout=120
    )


def items(output: str) -> dict[str, tuple[str, str]]:
    """item -> (mark, detail) from `kata dev check`'s lines."""
    found = {}
    for line in output.splitlines():
        if line.startswith("  "):
            mark, rest = line.split(maxsplit=1)
            item, _, detail = rest.partition("  ")
            found[item.strip()] = (mark, detail.strip())
    return found


def test_a_new_kata_is_checked_and_everything_missing_is_named(tree):
    made = kata(tree, "dev", "new", "demo-kata")
    assert made.returncode == 0, made.stderr
    for path in (
        "kata/exercises/demo-kata/kata.yaml",
        "kata/exercises/demo-kata/starter.py",
        "grader/suites/demo-kata/test_demo_kata.py",
        "solutions/demo_kata.py",
        "tests/mutants/demo-kata/mutants.yaml",
    ):
        assert (tree / path).is_file(), path
    checked = kata(tree, "dev", "check", "demo-kata")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    found = items(checked.stdout)
    assert found["kata.yaml"] == ("FAIL", "still TODO: title, mechanism, summary, task 1 title")
    assert found["perf"][0] == "FAIL" and "no perf task" in found["perf"][1]
    assert found["spec"] == ("FAIL", "README.md still holds TODO placeholders")
    assert found["starter"] == ("ok", "starter.py defines solve")
    assert found["hints"] == ("FAIL", "hints.yaml still holds TODO placeholders")
    assert found["suite"] == ("ok", "1 tests over 1 tasks")
    assert found["starter fails"][0] == "ok"
    assert found["solution"][0] == "FAIL" and "`solve` is not implemented yet" in found["solution"][1]
    assert found["mutants"] == ("FAIL", "0 declared in tests/mutants/demo-kata/mutants.yaml, at least 3 needed")
    assert checked.stdout.rstrip().endswith("6 checks failed")

    again = kata(tree, "dev", "new", "demo-kata")
    assert again.returncode == 2 and again.stderr.startswith("kata: kata demo-kata already has files: ")


def test_a_test_without_a_task_marker_is_named_as_the_suites_fault(tree):
    assert kata(tree, "dev", "new", "demo-kata").returncode == 0
    suite = tree / "grader/suites/demo-kata/test_demo_kata.py"
    suite.write_text(suite.read_text().replace("@pytest.mark.task(1)\n", ""))
    checked = kata(tree, "dev", "check", "demo-kata", "--no-mutants")
    assert checked.returncode == 1
    mark, detail = items(checked.stdout)["suite"]
    assert mark == "FAIL"
    assert detail == (
        "the hidden suite of demo-kata is broken: test_demo_kata.py::test_solve_returns_its_input "
        "has no @pytest.mark.task(n)"
    )


def test_without_the_tests_folder_mutants_are_not_checked_and_nothing_is_scaffolded(tree):
    assert kata(tree, "dev", "new", "demo-kata").returncode == 0
    shutil.rmtree(tree / "tests")
    checked = kata(tree, "dev", "check", "demo-kata")
    assert items(checked.stdout)["mutants"] == (
        "skip",
        "not checked: tests/mutants is not here (an installed package has none; run from a clone)",
    )
    made = kata(tree, "dev", "new", "other-kata")
    assert made.returncode == 2
    assert made.stderr == "kata: kata dev new writes into a clone of ipc-kata (tests/mutants is not here)\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (("dev", "check", "no-such-kata"), "kata: unknown kata 'no-such-kata'; known katas: "),
        (("dev", "new", "Bad_Id"), "kata: 'Bad_Id' is not a kata id: lowercase words joined by dashes"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(tree, args, message):
    done = kata(tree, *args)
    assert done.returncode == 2 and done.stderr.startswith(message) and done.stderr.count("\n") == 1, done.stderr
    assert not (tree / "kata/exercises/Bad_Id").exists()


def test_a_starter_test_that_passes_inside_a_failing_task_is_named_not_a_crash(monkeypatch):
    """A test the starter passes has no message: the check names it instead of failing on its first line."""
    from grader import authoring
    from grader.catalog import load_kata
    from grader.report import Result, TaskResult, TestResult

    graded = Result(
        "pipe",
        "starter.py",
        "fail",
        tasks=[TaskResult(1, "child-to-parent", "t", "fail", passed=1, total=2)],
        tests=[TestResult("test_a", 1, "fail", "`a` is not implemented"), TestResult("test_b", 1, "pass")],
    )
    monkeypatch.setattr(authoring, "grade", lambda *args, **kwargs: graded)
    suite, starter_fails = authoring.check_starter(load_kata("pipe"))
    assert suite.ok is True
    assert starter_fails.ok is False
    assert starter_fails.detail == "test_b (pass) does not say 'not implemented': (no message)"
