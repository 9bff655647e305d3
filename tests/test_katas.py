"""Every kata both ways: the reference passes, the starter fails every task with
"not implemented", and each declared mutant is rejected with the message that
names its bug (tests/mutants/<kata>/mutants.yaml)."""

from __future__ import annotations

import pytest
from katalib import assert_solution_passes, assert_starter_fails_every_task, check_mutant, declared_mutants

from grader.catalog import kata_ids

KATAS = kata_ids()
MUTANTS = [mutant for kata_id in KATAS for mutant in declared_mutants(kata_id)]


@pytest.mark.parametrize("kata_id", KATAS)
def test_solution_passes(kata_id):
    assert_solution_passes(kata_id)


@pytest.mark.parametrize("kata_id", KATAS)
def test_starter_fails_every_task_with_not_implemented(kata_id):
    assert_starter_fails_every_task(kata_id)


@pytest.mark.parametrize("mutant", MUTANTS, ids=str)
def test_mutant_is_rejected(mutant):
    check_mutant(mutant)
