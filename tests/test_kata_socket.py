"""The `socket` kata both ways: the reference passes, the starter and each mutant fail with the right message."""
import pytest

from katalib import Mutant, assert_solution_passes, assert_starter_fails_every_task, check_mutant

MUTANTS = [
    Mutant("single_recv.py", ("test_one_byte_at_a_time",), "fail",
           "one recv() is not one frame"),
    Mutant("sequential_server.py", ("test_slow_client_does_not_block_the_others",), "fail",
           "Is the server serving one client at a time"),
    Mutant("stale_file_not_handled.py", ("test_stale_socket_file_is_reused",), "fail",
           "A socket file left by a dead server must be reused"),
    Mutant("unlinks_live_socket.py", ("test_live_socket_is_refused_and_kept",), "fail",
           "start() on the path of a live server succeeded"),
    Mutant("no_reuseaddr.py", ("test_tcp_restart_on_the_same_port",), "fail", "set SO_REUSEADDR"),
    Mutant("peercred_of_listener.py", ("test_peer_credentials",), "fail",
           "not on the listening socket"),
    Mutant("stop_keeps_socket_file.py", ("test_stop_closes_connections_and_removes_the_file",), "fail",
           "stop() left the socket file behind"),
    Mutant("stop_leaves_connections.py", ("test_stop_closes_connections_and_removes_the_file",), "fail",
           "stop() must close every connection"),
    Mutant("no_length_limits.py", ("test_garbage_and_absurd_lengths",), "fail",
           "The server is waiting for the bytes the header announced"),
    Mutant("nagle_split_writes.py", ("test_tcp_nodelay_on_both_sides",), "fail", "TCP_NODELAY off"),
    Mutant("connect_per_request.py", ("test_unix_requests_per_second",), "fail",
           "a KVClient that connects for every request", perf=True),
]


def test_solution_passes():
    assert_solution_passes("socket")


def test_starter_fails_every_task_with_not_implemented():
    assert_starter_fails_every_task("socket")


@pytest.mark.parametrize("mutant", MUTANTS, ids=str)
def test_mutant_is_rejected(mutant):
    check_mutant("socket", mutant)
