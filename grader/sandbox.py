"""`python -m grader.sandbox CONFIG`: the supervisor of one sandboxed pytest run.

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
"""

from __future__ import annotations

import os
import resource
import select
import sys
from pathlib import Path
from typing import NoReturn

from grader import hygiene, proctree
from grader.channel import EventSender
from grader.protocol import PytestExit, SandboxConfig

PYTEST_FAILED_TO_START = 4


def pytest_args(suite_dir: str) -> list[str]:
    """The suite folder is the rootdir and its pytest.ini the only configuration."""
    return [
        suite_dir,
        "-c",
        os.path.join(os.path.dirname(suite_dir), "pytest.ini"),
        "--rootdir",
        suite_dir,
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


def run_pytest(config: SandboxConfig) -> int:
    """The suite under the grading plugin, in this process: pytest's exit status."""
    import pytest

    from grader.plugin import GradingPlugin

    return int(pytest.main(pytest_args(config.suite_dir), plugins=[GradingPlugin(config)]))


def run_tests(config: SandboxConfig) -> NoReturn:
    """In the forked test process: limits, then pytest; never returns."""
    status = PYTEST_FAILED_TO_START
    try:
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        limit = config.memory_limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        proctree.become_subreaper()
        status = run_pytest(config)
    except OSError as err:  # the runner shows the last line of output as the reason
        print(f"the grading sandbox cannot start the tests: {err}", file=sys.stderr)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def supervise(config: SandboxConfig, child: int) -> int:
    events = EventSender(config.folder.events, config.session)
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


def main() -> int:
    config = SandboxConfig.from_json(Path(sys.argv[1]).read_text())
    try:
        proctree.become_subreaper()
    except proctree.SubreaperError as err:
        print(f"the grading sandbox cannot isolate the run: {err.strerror}", file=sys.stderr)
        return 2
    import pytest  # noqa: F401  imported once here, before the fork, for a faster start

    import grader.plugin  # noqa: F401

    child = os.fork()
    if child == 0:
        run_tests(config)
    return supervise(config, child)


if __name__ == "__main__":
    sys.exit(main())
