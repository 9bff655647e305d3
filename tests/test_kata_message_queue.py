"""The `message-queue` kata both ways: the reference passes, the starter and each mutant fail with the right message."""
import pytest

from katalib import Mutant, assert_solution_passes, assert_starter_fails_every_task, check_mutant

MUTANTS = [
    Mutant("priority_not_sent.py", ("test_job_queue_highest_priority_first_fifo_within",), "fail",
           "the highest priority comes first. Pass the priority to send()"),
    Mutant("capacity_ignored.py", ("test_job_queue_timeouts_when_full_and_when_empty",), "fail",
           "create it with max_messages=capacity"),
    Mutant("unlink_does_nothing.py", ("test_job_queue_round_trip",), "fail",
           "unlink() (mq_unlink) removes the name"),
    Mutant("reply_read_with_type_0.py", ("test_rpc_call_takes_only_its_own_reply",), "fail",
           "rpc_call returned a reply addressed to another caller"),
    Mutant("default_max_message_size.py", ("test_rpc_large_messages",), "fail",
           "max_message_size defaults to 2048"),
    Mutant("server_replies_to_sender_pid.py", ("test_rpc_server_replies_on_the_type_in_the_request",), "fail",
           "the server never answered on type 4242"),
    Mutant("open_per_call.py", ("test_job_queue_throughput",), "fail", "too slow", perf=True),
]


def test_solution_passes():
    assert_solution_passes("message-queue")


def test_starter_fails_every_task_with_not_implemented():
    assert_starter_fails_every_task("message-queue")


@pytest.mark.parametrize("mutant", MUTANTS, ids=str)
def test_mutant_is_rejected(mutant):
    result = check_mutant("message-queue", mutant)
    if mutant.file == "unlink_does_nothing.py":  # the leak finding names the queue the mutant left behind
        assert any(f.kind == "posix-mq" and f.name.endswith("_jobs") for f in result.hygiene), result.hygiene
