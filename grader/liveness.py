"""Proof that the supervisor outlived a test, asked for before the test's result is sent.

The learner's code may signal its parent, the supervisor (tests/zoo/kill_parent.py). A SIGKILL
takes effect only when its target next runs, and on a busy machine that can be after the test
process has finished the test, reported a pass and even ended the session: a pass the runner
could not tell from an honest one (tests/zoo/kill_parent_late.py gets one in about half its
grades without this). So the test process asks the supervisor to answer on a socket in the run
folder before it sends a result. A process with a SIGKILL pending never runs its own code again:
an answer proves that nobody killed the supervisor before the question was asked, and no answer
means it is dying, and the test process with it (PR_SET_PDEATHSIG), with this test running: the
runner then names the kill (grader/runner.py, SUPERVISOR_KILLED).

A socket path rather than an inherited descriptor: the learner's code may close every
descriptor it has (tests/zoo/closes_all_fds.py), and a fresh socket per question survives that.
"""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

from grader.proctree import PARENT_GONE

ANSWER = b"!"
# The supervisor is gone or going: its socket refuses, vanished, or closed without an answer.
GONE = frozenset({errno.ECONNREFUSED, errno.ENOENT, errno.ECONNRESET, errno.EPIPE})


class Answerer:
    """The supervisor's end: listens at `path` and answers every question it finds waiting."""

    def __init__(self, path: Path):
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(os.fspath(path))
        os.chmod(path, 0o600)
        self._sock.listen(8)
        self._sock.setblocking(False)

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self._sock.close()

    def answer(self) -> None:
        while True:
            try:
                question, _ = self._sock.accept()
            except BlockingIOError:
                return
            with question:
                try:
                    question.sendall(ANSWER)
                except OSError:
                    pass  # the asker is gone: nobody to answer


def supervisor_alive(path: Path) -> bool:
    """Whether the supervisor at `path` answered; False when it is gone or dying. A question that
    cannot even be asked (no descriptor left: the learner's code used them all) counts as answered:
    the runner still sees a supervisor that died (grader/runner.py voids its session's passes)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(os.fspath(path))
            return sock.recv(1) == ANSWER
    except OSError as err:
        return err.errno not in GONE


def wait_for_supervisor(path: Path) -> None:
    """Return once the supervisor has answered; if it never will, end this process without a result
    (its death signal is on the way: the test it was running is the one that killed it)."""
    if not supervisor_alive(path):
        os._exit(PARENT_GONE)
