"""The `semaphore` kata both ways: the reference passes, the starter and each mutant fail with the right message."""
import pytest

from katalib import Mutant, assert_solution_passes, assert_starter_fails_every_task, check_mutant

MUTANTS = [
    Mutant("no_lock_around_update.py", ("test_locked_increments_exact_under_contention",), "fail",
           "The semaphore must be held around the whole read-modify-write"),
    Mutant("never_unlinks.py", ("test_locked_increments_one_process",), "fail",
           "was never unlinked: call unlink() (sem_unlink)"),
    Mutant("recreate_on_exists.py", ("test_pool_shared_with_an_unrelated_process",), "fail",
           "must open the existing semaphore"),
    Mutant("busy_error_escapes.py", ("test_pool_counts_its_slots",), "fail",
           "catch the library's BusyError and raise TimeoutError"),
    Mutant("no_sem_undo.py", ("test_robust_lock_released_when_holder_is_killed",), "fail",
           "Set SEM_UNDO"),
    Mutant("reopen_file_each_time.py", ("test_locked_increments_throughput",), "fail", "too slow", perf=True),
]


def test_solution_passes():
    assert_solution_passes("semaphore")


def test_starter_fails_every_task_with_not_implemented():
    assert_starter_fails_every_task("semaphore")


@pytest.mark.parametrize("mutant", MUTANTS, ids=str)
def test_mutant_is_rejected(mutant):
    result = check_mutant("semaphore", mutant)
    if mutant.file == "never_unlinks.py":  # the leak finding names the object the mutant left behind
        assert any(f.kind == "posix-sem" and "_counter" in f.name for f in result.hygiene), result.hygiene
