"""How the code runner starts its sandbox (kata/quiz/coderun.py).

In a module of its own: the spy below replaces subprocess.run for the whole process,
which must not happen while test_questions_code.py's pool is starting sandboxes.
"""

from __future__ import annotations

import json
import os
import subprocess

from kata.quiz import coderun

SANDBOX_ANSWER = {
    "pid": 1,
    "returncode": 0,
    "timed_out": False,
    "stdout": "",
    "stderr": "",
    "duration": 0.0,
    "leftovers": [],
}


def test_the_sandbox_is_started_with_a_private_copy_of_the_environment(monkeypatch):
    """run_code runs in several threads at once (the tests' pool, `kata questions check
    --run`). With env=None, the vfork'ed child's execve() reads the live C environ array
    while another thread may be changing it (pytest sets and deletes PYTEST_CURRENT_TEST
    around every test): an entry turns NULL or points at freed memory, and the start fails
    at random with "OSError: [Errno 14] Bad address". An env dict given to subprocess is
    copied into an array of the call's own before the fork, so the sandbox must get one."""
    calls: list[dict] = []

    def spy(args, **kwargs):
        calls.append(kwargs)
        return subprocess.CompletedProcess(args, 0, json.dumps(SANDBOX_ANSWER), "")

    monkeypatch.setattr(coderun.subprocess, "run", spy)
    monkeypatch.setenv("KATA_CODERUN_PROBE", "inherited")
    coderun.run_code("pass", timeout=1)
    [kwargs] = calls
    env = kwargs.get("env")
    assert isinstance(env, dict), "the sandbox must not read the live environ (env=None)"
    assert env is not os.environ and env == dict(os.environ)
    assert env["KATA_CODERUN_PROBE"] == "inherited"
