"""grader/baseline_process.py: baselines timed in a process that never saw the learner's code.

A suite module is made here (with its sha256, as the runner takes it), the baseline
process is forked from this (clean) process as the supervisor forks it, and this process
then plays the test process: patching its clock or os.read changes nothing over there,
and nothing but a function defined at the top of the suite can be run there."""

from __future__ import annotations

import functools
import os
import pickle
import socket
import sys
import time
from pathlib import Path

import pytest

from grader import baseline_process, integrity, proctree
from grader.baseline_process import BaselineClient, BaselineError

SUITE = """
import os, time

def spin(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass

def read_pipe(size):
    r, w = os.pipe()
    os.write(w, b"x" * size)
    os.close(w)
    while os.read(r, 1):
        pass
    os.close(r)

class Elapsed:
    def __init__(self, seconds):
        self.seconds = seconds

def timed_itself():
    return Elapsed(42.0)

def untouched():  # 1 s when os.read and the clock are the interpreter's own here, else 2 s
    import posix
    builtin = type(time.perf_counter).__name__ == "builtin_function_or_method"
    return Elapsed(1.0 if os.read is posix.read and builtin else 2.0)

def _nested():
    def inner():
        pass
    return inner
"""


@pytest.fixture
def baselines(tmp_path: Path):
    """A client whose baseline process serves a suite folder made here; the process is gone after."""
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_speed.py").write_text(SUITE)
    held = integrity.fingerprint([suite])
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        ours.close()
        try:
            baseline_process.serve(theirs, str(suite), held)
        finally:
            os._exit(0)
    theirs.close()
    yield BaselineClient(ours), suite
    ours.close()
    os.waitpid(pid, 0)
    sys.modules.pop("test_speed", None)


def suite_function(suite: Path, name: str):
    """The suite's function as the test process has it (a module of its own)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("test_speed", suite / "test_speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def test_a_baseline_round_is_timed_over_there(baselines):
    client, suite = baselines
    seconds = client.seconds(functools.partial(suite_function(suite, "spin"), 0.05))
    assert 0.05 <= seconds < 5


def test_what_the_test_process_patches_does_not_reach_the_baseline(baselines, monkeypatch):
    """A learner's file that slows os.read and stops the clock in its own process: over there
    both are the interpreter's own."""
    client, suite = baselines
    monkeypatch.setattr(os, "read", lambda fd, n: time.sleep(1) or b"")
    monkeypatch.setattr(time, "perf_counter", lambda: 0.0)
    assert client.seconds(suite_function(suite, "untouched")) == 1.0


def test_a_call_that_timed_itself_says_its_own_seconds(baselines):
    client, suite = baselines
    assert client.seconds(suite_function(suite, "timed_itself")) == 42.0


@pytest.mark.parametrize(
    "request_, why",
    [
        (("run", "os", "system", ("true",), {}), "os is not a module of the suite"),
        (("run", "test_speed", "os", (), {}), "test_speed.os is not a function defined at the top of test_speed"),
        (("run", "test_speed", "Elapsed", (1.0,), {}), "is not a function defined at the top"),
        (("run", "test_speed", "spin.__globals__", (), {}), "is not a function defined at the top"),
        (("run", "grader.hygiene", "kill_run", ("x",), {}), "grader.hygiene is not a module of the suite"),
        (("hello",), "not a request"),
    ],
)
def test_nothing_but_a_suite_function_runs_over_there(baselines, request_, why):
    client, _ = baselines
    baseline_process._send(client._sock, request_)
    kind, message = baseline_process._receive(client._sock)
    assert kind == "error" and why in message, message


def test_a_request_that_carries_an_object_is_refused(baselines):
    client, _ = baselines
    data = pickle.dumps(("run", "test_speed", "spin", (proctree.ProcStat(1, "R", 0, 0),), {}))
    client._sock.sendall(baseline_process._LENGTH.pack(len(data)) + data)
    kind, message = baseline_process._receive(client._sock)
    assert kind == "error" and "only plain data crosses to the baseline process" in message


def test_a_suite_changed_since_the_grade_began_gives_an_error_not_a_baseline(baselines):
    client, suite = baselines
    spin = suite_function(suite, "spin")
    (suite / "test_speed.py").write_text(SUITE.replace("while time.perf_counter() < end", "while False"))
    with pytest.raises(BaselineError, match=r"test_speed\.py was changed while this grade ran"):
        client.seconds(functools.partial(spin, 0.05))


def test_a_baseline_process_that_is_gone_is_said_so(tmp_path):
    ours, theirs = socket.socketpair()
    theirs.close()
    with pytest.raises(BaselineError, match="the baseline process is gone"):
        BaselineClient(ours).seconds(lambda: None)
    ours.close()
