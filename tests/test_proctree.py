"""The sandbox library (grader/proctree.py) on real processes: escapees found by their
environment, killed and reaped; a process that is no longer ours is left alone; a
refused prctl is an error, never a silent loss of the reaping guarantee."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from grader import proctree

ESCAPE = """
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        print(os.getpid(), flush=True)
        os.close(1)  # the caller reads to EOF
        time.sleep(60)
        os._exit(0)
    os._exit(0)
os.wait()
"""


def start_escapee(marker: str) -> int:
    """A grandchild that left with setsid and a double fork, carrying MARK=marker; its pid.
    This process becomes a subreaper first, so that the orphan is ours to reap."""
    proctree.become_subreaper()
    env = dict(os.environ, MARK=marker)
    with subprocess.Popen([sys.executable, "-c", ESCAPE], env=env, stdout=subprocess.PIPE, text=True) as proc:
        pid = int(proc.stdout.readline())
    return pid


def test_an_escapee_is_found_by_its_environment_killed_and_gone():
    marker = uuid.uuid4().hex
    pid = start_escapee(marker)
    try:
        assert proctree.marked("MARK", marker) == [pid]
        assert proctree.environ_value(pid, "MARK") == marker
        killed = proctree.kill_all(lambda: proctree.marked("MARK", marker))
        assert killed == {pid}
        assert not proctree.alive(pid)
    finally:
        proctree.reap(proctree.kill_all(lambda: proctree.marked("MARK", marker)) | {pid})


def test_a_process_that_is_no_longer_ours_is_not_signalled():
    marker = uuid.uuid4().hex
    pid = start_escapee(marker)
    try:
        assert proctree.kill_all(lambda: [pid], still_ours=lambda p: False) == set()
        assert proctree.alive(pid)
    finally:
        proctree.reap(proctree.kill_all(lambda: proctree.marked("MARK", marker)) | {pid})


def test_children_and_zombies_are_seen_and_reaped():
    child = os.fork()
    if child == 0:
        os._exit(3)
    try:
        assert child in proctree.children(os.getpid())
        assert child in proctree.descendants(os.getpid())
        os.waitid(os.P_PID, child, os.WEXITED | os.WNOWAIT)  # a zombie now, not yet reaped
        assert proctree.stat(child).zombie and not proctree.alive(child)
        assert (child, 3 << 8) in proctree.reap_any()
        assert proctree.stat(child) is None
    finally:
        proctree.reap([child])


def test_a_refused_prctl_is_an_error(monkeypatch):
    class Libc:
        @staticmethod
        def prctl(*args: int) -> int:
            return -1

    monkeypatch.setattr(proctree.ctypes, "CDLL", lambda *a, **k: Libc())
    monkeypatch.setattr(proctree.ctypes, "get_errno", lambda: 1)
    with pytest.raises(proctree.SubreaperError, match=r"PR_SET_CHILD_SUBREAPER\) failed \(Operation not permitted\)"):
        proctree.become_subreaper()


STORM = """
import os, resource, signal
from grader import proctree
pids = []
for _ in range(200):
    pid = os.fork()
    if pid == 0:
        signal.pause()
        os._exit(0)
    pids.append(pid)
resource.setrlimit(resource.RLIMIT_NOFILE, (32, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
mine = set(pids)
killed = proctree.kill_all(lambda: [p for p in proctree.children(os.getpid()) if p in mine])
proctree.reap(killed)
print(len(killed), sum(proctree.alive(p) for p in pids))
"""


def test_a_storm_is_killed_when_no_fd_is_left_for_pidfds():
    """Out of fds (the learner's code may hold them all), processes are signalled by pid."""
    done = subprocess.run([sys.executable, "-c", STORM], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["200", "0"], done.stderr
