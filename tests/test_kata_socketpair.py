"""The `socketpair` kata both ways: the reference passes, the starter and each mutant fail with the right message."""
import pytest

from katalib import Mutant, assert_solution_passes, assert_starter_fails_every_task, check_mutant

MUTANTS = [
    Mutant("child_keeps_parent_end.py", ("test_children_hold_only_their_own_end",), "fail",
           "still holds the parent's end of its socketpair"),
    Mutant("ends_leak_between_workers.py", ("test_children_hold_only_their_own_end",), "fail",
           "holds the first Worker's socket"),
    Mutant("raw_wait_status.py", ("test_close_returns_the_child_exit_status",), "fail",
           "the raw wait status of os.waitpid()"),
    Mutant("exception_kills_worker.py", ("test_handler_exception_raises_remote_error",), "fail",
           "The child must catch the handler's exception"),
    Mutant("single_recv.py", ("test_large_response",), "fail",
           "recv(n) returns what has arrived so far"),
    Mutant("child_returns.py", ("test_close_returns_zero_and_reaps",), "fail",
           "instead of ending with os._exit()"),
    Mutant("fork_per_call.py", ("test_one_child_serves_every_call",), "fail",
           "let it serve every request over the same socketpair"),
    Mutant("quadratic_concat.py", ("test_large_echo_throughput",), "fail", "too slow", perf=True),
]


def test_solution_passes():
    assert_solution_passes("socketpair")


def test_starter_fails_every_task_with_not_implemented():
    assert_starter_fails_every_task("socketpair")


@pytest.mark.parametrize("mutant", MUTANTS, ids=str)
def test_mutant_is_rejected(mutant):
    check_mutant("socketpair", mutant)
