"""The project's kata tests go through the grader's own authoring checks
(grader/authoring.py, grader/mutants.py), the ones `kata dev check` runs: a
failing check shows its grade report."""

from __future__ import annotations

from pathlib import Path

from grader import mutants
from grader.authoring import Check
from grader.mutants import Mutant

ROOT = Path(__file__).resolve().parent.parent


def assert_ok(check: Check) -> None:
    assert check.ok, f"{check.item}: {check.detail}\n{check.report}"


def assert_rejected(mutant: Mutant) -> None:
    """The mutant is rejected with its declared status and message."""
    verdict = mutants.check_mutant(mutant)
    assert verdict.ok, mutants.report(verdict)
