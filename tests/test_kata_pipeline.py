"""The `pipeline` kata both ways: the reference passes, the starter and each mutant fail with the right message."""
import pytest

from katalib import Mutant, assert_solution_passes, assert_starter_fails_every_task, check_mutant

MUTANTS = [
    Mutant("parent_keeps_pipe_ends.py", ("test_binary_bytes_pass_unchanged",), "timeout",
           "the parent must close every pipe end it does not use itself"),
    Mutant("write_all_then_read.py", ("test_input_and_output_larger_than_pipe_buffer",), "timeout",
           "writing all of stdin before reading any output deadlocks"),
    Mutant("no_sigpipe_reset.py", ("test_early_exit_ends_the_writer_by_sigpipe",), "fail",
           "`yes` must die of SIGPIPE (-13)"),
    Mutant("exec_failure_exits_1.py", ("test_command_not_found_is_127",), "fail",
           "its return code must be 127"),
    Mutant("exec_failure_raises.py", ("test_command_not_found_is_127",), "fail",
           "instead of ending with os._exit()"),
    Mutant("status_shift.py", ("test_killed_by_a_signal_is_negative",), "fail",
           "report minus the signal number"),
    Mutant("inheritable_pipes.py", ("test_commands_start_with_only_their_stdio",), "fail",
           "open besides stdin, stdout and stderr"),
    Mutant("broken_pipe_not_handled.py", ("test_first_command_reads_only_part_of_stdin",), "fail",
           "raised BrokenPipeError"),
    Mutant("quadratic_concat.py", ("test_cat_cat_throughput",), "fail", "too slow", perf=True),
]


def test_solution_passes():
    assert_solution_passes("pipeline")


def test_starter_fails_every_task_with_not_implemented():
    assert_starter_fails_every_task("pipeline")


@pytest.mark.parametrize("mutant", MUTANTS, ids=str)
def test_mutant_is_rejected(mutant):
    check_mutant("pipeline", mutant)
