"""The mutant machinery itself (grader/mutants.py): every stored mutant is declared,
applies and plants a change; a diff that no longer matches fails loudly."""

from __future__ import annotations

import dataclasses

import pytest

from grader import mutants
from grader.authoring import check_mutants
from grader.catalog import kata_ids, load_kata
from grader.mutants import MINIMUM, Mutant, MutantError, apply_diff, declared_mutants, mutant_source, stored_diffs
from grader.report import HygieneFinding, Result, TestResult, TimeoutDiagnosis


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


def _declare(tmp_path, monkeypatch, rows: str) -> list[Mutant]:
    (tmp_path / "pipe").mkdir(exist_ok=True)
    (tmp_path / "pipe" / "mutants.yaml").write_text(rows)
    monkeypatch.setattr(mutants, "_folder", lambda kata_id: tmp_path / kata_id)
    return declared_mutants("pipe")


def test_a_timeout_row_must_name_the_pattern_the_graph_finds(tmp_path, monkeypatch):
    row = "- {name: m, tests: [t], status: timeout, message: x%s}\n"
    for missing_or_a_guess in ("", ", pattern: hint"):
        with pytest.raises(MutantError, match=r"a timeout row \(and only one\) names the pattern"):
            _declare(tmp_path, monkeypatch, row % missing_or_a_guess)
    assert _declare(tmp_path, monkeypatch, row % ", pattern: cycle")[0].pattern == "cycle"


def test_a_timeout_named_otherwise_or_guessed_is_a_problem():
    mutant = Mutant("pipe", "m", ("t",), "timeout", "x", pattern="cycle")

    def graded(pattern: str, confidence: str, sentence: str) -> Result:
        diagnosis = TimeoutDiagnosis(pattern, sentence, confidence, objects=["child", "pipe"])
        return Result("pipe", "x.py", "fail", tests=[TestResult("t", 1, "timeout", "x", diagnosis=diagnosis)])

    ok = graded("cycle", "certain", "the parent (pid 9) waits for child 10 to exit; ... pipe 7 (fd 4) ...")
    assert mutants._problem(mutant, ok) == ""
    assert "is named no-eof, expected cycle" in mutants._problem(mutant, graded("no-eof", "likely", "pid 9 (fd 4)"))
    assert "fell back to a guess" in mutants._problem(mutant, graded("hint", "guess", "A guess from this test"))
    assert "names no fd" in mutants._problem(mutant, graded("cycle", "certain", "pid 9 waits for pid 10"))


def test_an_error_row_is_the_grades_error_or_its_first_tests():
    """`status: error` is the grade's (the file did not load) or, when the grade ran, the first test's (its
    test process died mid-test): either way the message must name the bug."""
    mutant = Mutant("pipeline", "m", ("t",), "error", "killed by SIGPIPE")
    load_error = Result("pipeline", "x.py", "error", message="x.py:1: killed by SIGPIPE")
    assert mutants._problem(mutant, load_error) == ""
    crashed = Result("pipeline", "x.py", "fail", tests=[TestResult("t", 3, "error", "ended (killed by SIGPIPE)")])
    assert mutants._problem(mutant, crashed) == ""
    failed = Result("pipeline", "x.py", "fail", tests=[TestResult("t", 3, "fail", "killed by SIGPIPE")])
    assert mutants._problem(mutant, failed) == "pipeline/m: t is fail, expected error"


def test_a_perf_mutant_is_correct_only_when_the_rest_of_the_suite_passes_clean():
    mutant = Mutant("pipe", "naps", ("test_throughput",), "fail", "too slow", perf=True)
    passing = TestResult("test_round_trip", 1, "pass")
    polls = TestResult("test_waits_sleep", 2, "fail", "it woke up 231 times in 0.30 s: it polls\nmore")
    assert mutants.correctness_problem(mutant, Result("pipe", "x.py", "pass", tests=[passing])) == ""
    failed = Result("pipe", "x.py", "fail", tests=[passing, polls, TestResult("test_big", 1, "timeout", "timed out")])
    assert mutants.correctness_problem(mutant, failed) == (
        "perf mutant naps is not correct: it fails test_waits_sleep (and 1 more) "
        "(it woke up 231 times in 0.30 s: it polls)"
    )
    leaks = Result("pipe", "x.py", "fail", tests=[passing], hygiene=[HygieneFinding("posix-shm", "/k1", "left")])
    assert (
        mutants.correctness_problem(mutant, leaks) == "perf mutant naps is not correct: it leaves posix-shm /k1 behind"
    )


def test_dev_check_grades_each_perf_mutant_on_the_rest_of_the_suite(monkeypatch):
    """Both ways on real diffs, graded without perf (seconds): a nap after each send only costs time;
    a mutant whose bug a correctness test catches is named with the test it fails. The declared
    rejection (a perf grade) is not what this checks: it is taken as done."""
    declared = {m.name: m for m in declared_mutants("message-queue")}
    correct = declared["put_naps_after_send"]
    wrong = dataclasses.replace(declared["capacity_ignored"], perf=True)
    monkeypatch.setattr(mutants, "declared_mutants", lambda kata_id: [correct, wrong])
    monkeypatch.setattr(mutants, "check_mutant", lambda m: mutants.MutantVerdict(m, Result("", "", "fail"), ""))
    checks = [c for c in check_mutants(load_kata("message-queue")) if c.item == "perf mutant"]
    assert [c.ok for c in checks] == [True, False], [c.detail for c in checks]
    assert checks[0].detail.startswith("put_naps_after_send: correct, passes ")
    assert checks[1].detail.startswith(
        "perf mutant capacity_ignored is not correct: it fails test_job_queue_timeouts_when_full_and_when_empty ("
    )
    assert "max_messages=capacity" in checks[1].detail
