"""Exceptions into messages that teach: the suite's own code summarised as what it observed,
the concept named when a system call said it, the learner's threads and children by line."""

from __future__ import annotations

import errno
import os

from grader import explain
from grader.observed import Observed

IMPL = "/home/learner/pipe.py"


def _raise_in(filename: str, source: str) -> BaseException:
    """The exception that `source` raises, its frames in `filename` (a suite's or the learner's)."""
    try:
        exec(compile(source, filename, "exec"), {"errno": errno, "os": os})
    except Exception as exc:
        return exc
    raise AssertionError("the source did not raise")


def test_an_exception_in_the_suites_own_code_is_what_the_suite_observed():
    suite_file = "/opt/ipc-kata/grader/suites/socket/test_socket.py"
    exc = _raise_in(
        suite_file,
        "def read_reply():\n"
        "    raise ConnectionResetError(errno.ECONNRESET, 'Connection reset by peer')\n"
        "read_reply()\n",
    )
    message, details = explain.exception(exc, exc.__traceback__, IMPL, 512)
    assert message == (
        "the suite's check (test_socket.py:2 in read_reply) got ConnectionResetError: [Errno 104] Connection reset "
        "by peer: the other end closed the connection with data still unread, or died (a reset)"
    )
    assert "test_socket.py" in details and "/grader/explain.py" not in details


def test_the_concept_is_named_only_when_a_system_call_said_it():
    from_kernel = _raise_in(IMPL, "raise BrokenPipeError(errno.EPIPE, 'Broken pipe')\n")
    by_code = _raise_in(IMPL, "raise ChildProcessError('child 12 failed with status 1')\n")
    assert "(EPIPE)" in explain.exception(from_kernel, from_kernel.__traceback__, IMPL, 512)[0]
    message, _ = explain.exception(by_code, by_code.__traceback__, IMPL, 512)
    assert message == "`<module>` raised ChildProcessError: child 12 failed with status 1 (pipe.py:1)"


def _observed(**fields: object) -> Observed:
    base: dict = {
        "test": 3,
        "pid": 812,
        "thread": "",
        "status": 1,
        "error": "KeyError",
        "errno": None,
        "text": "'x'",
        "where": "pipe.py:24 in worker: table['x']",
        "frames": ("pipe.py:30 in child_to_parent", "pipe.py:24 in worker: table['x']"),
        "by_learner": True,
    }
    return Observed(**(base | fields))


def test_what_ended_a_child_or_a_thread_is_said_in_one_line_each_with_frames_in_the_details():
    child = _observed()
    thread = _observed(pid=800, thread="feeder", status=None, error="ValueError", text="bad")
    suite = _observed(
        pid=800,
        thread="server",
        status=None,
        by_learner=False,
        error="BrokenPipeError",
        errno=32,
        text="[Errno 32] Broken pipe",
    )
    message, details = explain.observed([child, thread, suite], test_pid=800)
    assert message.splitlines() == [
        "Seen during this test:",
        "child 812 ended with os._exit(1) while handling KeyError: 'x', raised at pipe.py:24 in worker: table['x']",
        "a thread of yours (feeder, pid 800) died of ValueError: bad, raised at pipe.py:24 in worker: table['x']",
        "a thread of the suite (server) observed BrokenPipeError: [Errno 32] Broken pipe: "
        "a write into a pipe or socket whose every reader has closed it (EPIPE)",
    ]
    assert "  pipe.py:30 in child_to_parent" in details.splitlines()
    assert "server" not in details  # the suite's traceback is never shown as the learner's
    assert explain.observed([], test_pid=800) == ("", "")


def test_many_are_summarised():
    message, _ = explain.observed([_observed(pid=900 + n) for n in range(5)], test_pid=1)
    assert message.splitlines()[-1] == "... and 2 more"
