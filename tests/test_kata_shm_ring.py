"""The `shm-ring` kata both ways: the reference passes, the starter and each mutant fail with the right message."""
import pytest

from katalib import Mutant, assert_solution_passes, assert_starter_fails_every_task, check_mutant

MUTANTS = [
    Mutant("no_mutex.py", ("test_two_producers_never_share_a_slot",), "fail", "both producers used the same `head`"),
    Mutant("busy_wait.py", ("test_blocked_put_and_get_use_no_cpu",), "fail", "that is busy-waiting"),
    Mutant("poll_with_sleep.py", ("test_blocked_put_and_get_use_no_cpu",), "fail", "polling with a sleep"),
    Mutant("semaphores_not_unlinked.py", ("test_every_length_round_trips_in_one_process",), "fail",
           "POSIX named semaphore"),
    Mutant("no_length_header.py", ("test_every_length_round_trips_in_one_process",), "fail", "a length prefix"),
    Mutant("off_by_one_wrap.py", ("test_fill_and_drain_wraps_around",), "fail", "% slots"),
    Mutant("attach_reinitialises.py", ("test_attach_sees_the_ring_as_it_is",), "fail",
           "only `create` writes the header"),
    Mutant("attach_resets_lock.py", ("test_two_producers_never_share_a_slot",), "fail",
           "must not reset the lock"),
    Mutant("length_after_full_post.py", ("test_a_message_is_never_visible_half_written",), "fail",
           "visible before it was completely written"),
    Mutant("timeout_keeps_lock.py", ("test_timeouts_leave_the_ring_usable",), "fail",
           "the timeout path must release everything"),
    Mutant("posix_lock.py", ("test_consumer_killed_anywhere_in_get_freezes_nobody",), "fail",
           "the lock the dead consumer held was never released"),
    Mutant("no_sem_undo.py", ("test_consumer_killed_anywhere_in_get_freezes_nobody",), "fail", "SEM_UNDO"),
]


def test_solution_passes():
    assert_solution_passes("shm-ring")


def test_starter_fails_every_task_with_not_implemented():
    assert_starter_fails_every_task("shm-ring")


@pytest.mark.parametrize("mutant", MUTANTS, ids=str)
def test_mutant_is_rejected(mutant):
    check_mutant("shm-ring", mutant)
