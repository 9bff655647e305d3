"""The mutant machinery itself (grader/mutants.py): every stored mutant is declared,
applies and plants a change; a diff that no longer matches fails loudly."""

from __future__ import annotations

import pytest

from grader.catalog import kata_ids, load_kata
from grader.mutants import MINIMUM, MutantError, apply_diff, declared_mutants, mutant_source, stored_diffs


@pytest.mark.parametrize("kata_id", kata_ids())
def test_every_stored_mutant_is_declared_and_applies(kata_id):
    declared = declared_mutants(kata_id)
    assert {m.name for m in declared} == stored_diffs(kata_id)
    assert len(declared) >= MINIMUM, f"{kata_id} needs at least {MINIMUM} realistic mutants"
    solution = load_kata(kata_id).solution_path.read_text()
    for mutant in declared:
        assert mutant_source(mutant) != solution


def test_a_diff_that_no_longer_matches_the_solution_fails_loudly():
    diff = "--- a\n+++ b\n@@ -2,2 +2,2 @@\n two\n-three\n+THREE\n"
    assert apply_diff("one\ntwo\nthree\nfour\n", diff, "m") == "one\ntwo\nTHREE\nfour\n"
    with pytest.raises(MutantError, match="m no longer applies at line 3"):
        apply_diff("one\ntwo\n3\nfour\n", diff, "m")
