"""The mutant machinery itself: every stored mutant is declared, applies and plants a change."""

from __future__ import annotations

import pytest
from katalib import MUTANTS, apply_diff, declared_mutants, mutant_source

from grader.catalog import kata_ids, load_kata


@pytest.mark.parametrize("kata_id", kata_ids())
def test_every_stored_mutant_is_declared_and_applies(kata_id):
    stored = {p.stem for p in (MUTANTS / kata_id).glob("*.diff")}
    declared = declared_mutants(kata_id)
    assert {m.name for m in declared} == stored
    assert len(stored) >= 3, f"{kata_id} needs at least 3 realistic mutants"
    solution = load_kata(kata_id).solution_path.read_text()
    for mutant in declared:
        assert mutant_source(mutant) != solution


def test_a_diff_that_no_longer_matches_the_solution_fails_loudly():
    diff = "--- a\n+++ b\n@@ -2,2 +2,2 @@\n two\n-three\n+THREE\n"
    assert apply_diff("one\ntwo\nthree\nfour\n", diff, "m") == "one\ntwo\nTHREE\nfour\n"
    with pytest.raises(AssertionError, match="m no longer applies at line 3"):
        apply_diff("one\ntwo\n3\nfour\n", diff, "m")
