"""The `fifo` kata both ways: the reference passes, the starter and each mutant fail with the right message."""
import pytest

from katalib import Mutant, assert_solution_passes, assert_starter_fails_every_task, check_mutant

MUTANTS = [
    Mutant("mode_not_set.py", ("test_creates_a_fifo_with_mode_0600",), "fail", "expected 0600"),
    Mutant("replaces_any_file.py", ("test_refuses_a_path_that_is_not_a_fifo",), "fail",
           "accepted a path that holds a regular file"),
    Mutant("blocking_open_in_init.py", ("test_constructor_does_not_wait_for_a_writer",), "fail",
           "blocked in its constructor until a writer opened the FIFO"),
    Mutant("eof_ends_receive.py", ("test_writers_come_and_go",), "fail", "EOF is not the end of the server"),
    Mutant("no_partial_line_buffer.py", ("test_receive_keeps_incomplete_lines",), "fail",
           "keep the incomplete tail of each read"),
    Mutant("length_in_characters.py", ("test_send_rejects_lines_larger_than_pipe_buf",), "fail",
           "Measure the bytes, not the str"),
    Mutant("open_for_writing_creates.py", ("test_send_without_a_fifo_raises_file_not_found",), "fail",
           "created a regular file"),
    Mutant("blocking_open_in_send.py", ("test_send_without_a_reader_does_not_block",), "timeout",
           "os.O_WRONLY | os.O_NONBLOCK"),
    Mutant("nonblocking_write.py", ("test_send_waits_while_the_fifo_is_full",), "fail", "BlockingIOError"),
    Mutant("newline_written_apart.py", ("test_eight_writers_lose_split_or_mix_no_line",), "fail",
           "ONE write()"),
    Mutant("byte_at_a_time.py", ("test_lines_per_second_from_eight_writers",), "fail", "too slow", perf=True),
]


def test_solution_passes():
    assert_solution_passes("fifo")


def test_starter_fails_every_task_with_not_implemented():
    assert_starter_fails_every_task("fifo")


@pytest.mark.parametrize("mutant", MUTANTS, ids=str)
def test_mutant_is_rejected(mutant):
    check_mutant("fifo", mutant)
