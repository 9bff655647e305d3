"""`python -m grader.sandbox CONFIG`: the supervisor of one sandboxed pytest run.

Process tree of a grade:

    runner (kata grade / TUI)          child subreaper, reaps what reaches it
      └─ sandbox supervisor            new session, child subreaper, reaps
           └─ pytest test process      rlimits, child subreaper, runs the suite
                └─ the learner's children ...

The supervisor exists so that the learner's code, running in the test process,
can kill its parent (`os.kill(os.getppid(), SIGKILL)`) without touching the
grader, and so that orphans of the run are reaped (PID 1 in a container may
not reap them). It reports the test process's exit status as an event and
exits when the runner closes its stdin and no child is left.
"""

from __future__ import annotations

import json
import os
import resource
import select
import sys
from pathlib import Path

from grader.hygiene import TOKEN_ENV, kill_all, run_processes, set_child_subreaper


def pytest_args(config: dict) -> list[str]:
    suite = config["suite_dir"]
    return [
        suite,
        "-c",
        os.path.join(os.path.dirname(suite), "pytest.ini"),
        "--rootdir",
        suite,
        "-p",
        "grader.plugin",
        "-p",
        "no:terminal",
        "-p",
        "no:capture",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:warnings",
        "-p",
        "no:logging",
    ]


def run_tests(config: dict) -> None:
    """In the forked test process: limits, then pytest; never returns."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    limit = config["memory_limit_mb"] * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    set_child_subreaper()
    import pytest

    status = 4
    try:
        status = int(pytest.main(pytest_args(config)))
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def supervise(config: dict, child: int) -> int:
    from grader.channel import send_event

    token = os.environ[TOKEN_ENV]
    child_done = control_closed = False
    while True:
        no_children = False
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                no_children = True
                break
            if pid == 0:
                break
            if pid == child and not child_done:
                child_done = True
                try:
                    send_event(config["events"], {"ev": "pytest_exit", "status": status, "session": config["session"]})
                except OSError:
                    pass
        if control_closed and no_children:
            return 0
        ready, _, _ = select.select([0], [], [], 0.05)
        if ready and not control_closed and os.read(0, 64) == b"":
            # The runner is done (or gone): nothing of this run may outlive us.
            control_closed = True
            kill_all(lambda: run_processes(token))


def main() -> int:
    config = json.loads(Path(sys.argv[1]).read_text())
    set_child_subreaper()
    import pytest  # noqa: F401  imported once here, before the fork, for a faster start

    import grader.plugin  # noqa: F401

    child = os.fork()
    if child == 0:
        run_tests(config)
    return supervise(config, child)


if __name__ == "__main__":
    sys.exit(main())
