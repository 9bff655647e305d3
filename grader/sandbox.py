"""The supervisor of one sandboxed pytest run, started by grader/_boot.py (isolated
interpreter, explicit import path) with the runner's `Handover` on an inherited pipe.

Process tree of a grade (docs/architecture.md, "Processes of a grade"):

    runner (kata grade / TUI)          child subreaper, reaps what reaches it
      └─ sandbox supervisor            new session, child subreaper, reaps
           └─ pytest test process      rlimits, child subreaper, runs the suite
                └─ the learner's children ...

The supervisor exists so that the learner's code, running in the test process,
can kill its parent (`os.kill(os.getppid(), SIGKILL)`) without touching the
grader, and so that orphans of the run are reaped (PID 1 in a container may
not reap them). It reports the test process's exit status as an event and
exits when the runner closes its stdin and no child is left.

The test process dies with the supervisor (PR_SET_PDEATHSIG): it is never
re-parented to the runner, where code that signals its parent would reach
`kata grade` itself. It leads a process group of its own, so a signal the
learner's code sends to "its group" never reaches the supervisor, and it is
fenced (grader/fence.py): no process of the learner's can signal the runner, or
every process of the user at once (kill(-1)).
"""

from __future__ import annotations

import os
import resource
import select
import sys
from typing import NoReturn

from grader import fence, hygiene, proctree
from grader.channel import EventSender
from grader.protocol import Handover, PytestExit

PYTEST_FAILED_TO_START = 4


def pytest_args(suite_dir: str) -> list[str]:
    """The suite folder is the rootdir and its pytest.ini the only configuration."""
    return [
        suite_dir,
        "-c",
        os.path.join(os.path.dirname(suite_dir), "pytest.ini"),
        "--rootdir",
        suite_dir,
        "--noconftest",  # the suites have none: a conftest.py found anywhere was planted
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


def run_pytest(handover: Handover, unfenced: str = "") -> int:
    """The suite under the grading plugin, in this process: pytest's exit status."""
    import pytest

    from grader.plugin import GradingPlugin

    plugin = GradingPlugin(handover.config, handover.key, unfenced)
    return int(pytest.main(pytest_args(handover.config.suite_dir), plugins=[plugin]))


def fence_off(runner: int) -> str:
    """Keep this process and all it starts from signalling the runner, its process group or
    every process of the user (grader/fence.py); why it could not, or "". The supervisor is
    left reachable: its death is a crash the runner explains."""
    try:
        fence.install({runner}, {os.getpgid(runner)})
    except (fence.FenceError, ProcessLookupError) as err:
        return err.strerror or str(err)
    return ""


def run_tests(handover: Handover, runner: int, supervisor: int) -> NoReturn:
    """In the forked test process: tied to the supervisor, fenced, limits, then pytest; never returns."""
    config = handover.config
    status = PYTEST_FAILED_TO_START
    try:
        proctree.die_with_parent(supervisor)
        os.setpgid(0, 0)
        unfenced = fence_off(runner)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        limit = config.memory_limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        proctree.become_subreaper()
        status = run_pytest(handover, unfenced)
    except OSError as err:  # the runner shows the last line of output as the reason
        print(f"the grading sandbox cannot start the tests: {err}", file=sys.stderr)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def supervise(handover: Handover, child: int) -> int:
    config = handover.config
    events = EventSender(config.folder.events, config.session, handover.key)
    me = os.getpid()
    control_closed = False
    while True:
        for pid, status in proctree.reap_any():
            if pid == child:
                try:
                    events.send(PytestExit(status))
                except OSError:
                    pass
        if control_closed and not proctree.children(me):
            return 0
        ready, _, _ = select.select([0], [], [], 0.05)
        if ready and not control_closed and os.read(0, 64) == b"":
            # The runner is done (or gone): nothing of this run may outlive us.
            control_closed = True
            hygiene.kill_run(config.token)


def main(handover_fd: int) -> int:
    """The supervisor: read the handover (and close its pipe), fork the test process, supervise it."""
    handover = Handover.read(handover_fd)
    try:
        proctree.become_subreaper()
    except proctree.SubreaperError as err:
        print(f"the grading sandbox cannot isolate the run: {err.strerror}", file=sys.stderr)
        return 2
    import grader.plugin  # noqa: F401  imported once here, before the fork, for a faster start

    supervisor, runner = os.getpid(), os.getppid()
    child = os.fork()
    if child == 0:
        run_tests(handover, runner, supervisor)
    return supervise(handover, child)
