"""The `signals` kata both ways: the reference passes, the starter and each mutant fail with the right message."""
import pytest

from katalib import Mutant, assert_solution_passes, assert_starter_fails_every_task, check_mutant

MUTANTS = [
    Mutant("notify_with_standard_signal.py", ("test_notify_ten_thousand_exactly",), "fail",
           "Standard signals (SIGUSR1, SIGUSR2, ...) merge while pending"),
    Mutant("wait_for_polls.py", ("test_wait_for_times_out_without_spinning",), "fail", "it polls"),
    Mutant("wait_for_spins.py", ("test_wait_for_times_out_without_spinning",), "fail", "it busy-waits"),
    Mutant("wait_for_sleeps_the_timeout.py", ("test_wait_for_wakes_up_when_the_signal_arrives",), "timeout",
           "are *restarted* after a Python handler runs (PEP 475)"),
    Mutant("close_resets_to_default.py", ("test_close_restores_the_previous_handler",), "fail",
           "close() must put back exactly what signal.signal() returned"),
    Mutant("worker_exits_in_the_handler.py", ("test_worker_finishes_the_current_job_on_sigterm",), "fail",
           "the job was cut in half"),
    Mutant("worker_one_shot_handler.py", ("test_second_sigterm_does_not_kill_the_worker_early",), "fail",
           "the second SIGTERM killed the worker in the middle of its job"),
    Mutant("worker_wait_polls.py", ("test_wait_learns_of_the_exit_through_sigchld",), "fail", "it polls"),
    Mutant("notify_sleeps_between_signals.py", ("test_reliable_notify_rate",), "fail", "too slow", perf=True),
]


def test_solution_passes():
    assert_solution_passes("signals")


def test_starter_fails_every_task_with_not_implemented():
    assert_starter_fails_every_task("signals")


@pytest.mark.parametrize("mutant", MUTANTS, ids=str)
def test_mutant_is_rejected(mutant):
    check_mutant("signals", mutant)
