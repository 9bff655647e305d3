"""Every kata both ways, through the checks of `kata dev check`: its files are complete,
the reference passes, the starter fails every task with "not implemented", each
declared mutant is rejected with the message that names its bug
(tests/mutants/<kata>/mutants.yaml), and each slow mutant is correct but for its speed."""

from __future__ import annotations

import pytest
from katalib import assert_ok, assert_rejected

from grader.authoring import check_files, check_perf_mutant_correct, check_solution, check_starter
from grader.catalog import kata_ids, load_kata
from grader.mutants import declared_mutants

KATAS = kata_ids()
MUTANTS = [mutant for kata_id in KATAS for mutant in declared_mutants(kata_id)]


@pytest.mark.parametrize("kata_id", KATAS)
def test_files_are_complete(kata_id):
    for check in check_files(load_kata(kata_id)):
        assert_ok(check)


@pytest.mark.parametrize("kata_id", KATAS)
def test_solution_passes(kata_id):
    assert_ok(check_solution(load_kata(kata_id)))


@pytest.mark.parametrize("kata_id", KATAS)
def test_starter_fails_every_task_with_not_implemented(kata_id):
    for check in check_starter(load_kata(kata_id)):
        assert_ok(check)


@pytest.mark.parametrize("mutant", MUTANTS, ids=str)
def test_mutant_is_rejected(mutant):
    assert_rejected(mutant)


@pytest.mark.parametrize("mutant", [mutant for mutant in MUTANTS if mutant.perf], ids=str)
def test_slow_mutant_is_correct(mutant):
    """A perf mutant stands for a slow-but-correct learner: a new correctness test that rejects it
    turns it into a plain mutant, and its kata needs another slow one (it happened twice)."""
    assert_ok(check_perf_mutant_correct(mutant))
