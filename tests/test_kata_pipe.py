"""The `pipe` kata both ways: the reference passes, the starter and each mutant fail with the right message."""
import pytest

from katalib import Mutant, assert_solution_passes, assert_starter_fails_every_task, check_mutant

MUTANTS = [
    Mutant("never_closes_write_end.py", ("test_child_to_parent_small",), "timeout",
           "the parent must close its own copy of the write end"),
    Mutant("waitpid_before_read.py", ("test_child_to_parent_larger_than_pipe_buffer",), "timeout",
           "A parent that calls waitpid() before reading"),
    Mutant("single_read.py", ("test_child_to_parent_larger_than_pipe_buffer",), "fail",
           "read in a loop until read() returns b'' (EOF)"),
    Mutant("child_returns.py", ("test_child_to_parent_small",), "fail",
           "returned from `child_to_parent` instead of ending with os._exit()"),
    Mutant("gather_in_order_of_finish.py", ("test_gather_more_tasks_than_workers",), "fail",
           "results must come back in task order"),
    Mutant("quadratic_concat.py", ("test_child_to_parent_throughput",), "fail", "too slow", perf=True),
]


def test_solution_passes():
    assert_solution_passes("pipe")


def test_starter_fails_every_task_with_not_implemented():
    assert_starter_fails_every_task("pipe")


@pytest.mark.parametrize("mutant", MUTANTS, ids=str)
def test_mutant_is_rejected(mutant):
    check_mutant("pipe", mutant)
