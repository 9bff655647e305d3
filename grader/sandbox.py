"""The supervisor of one sandboxed pytest run, started by grader/_boot.py (isolated
interpreter, explicit import path) with the runner's `Handover` on an inherited pipe.

Process tree of a grade (docs/architecture.md, "Processes of a grade"):

    runner (kata grade / TUI)          child subreaper, reaps what reaches it
      └─ sandbox supervisor            new session, child subreaper, reaps
           ├─ pytest test process      dies with the supervisor, own group, fenced, rlimits,
           │    │                      child subreaper, runs the suite
           │    └─ the learner's children ...
           └─ baseline process         on the test process's first perf request: fenced

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
every process of the user at once (kill(-1)). The supervisor also starts the
baseline process (grader/baseline_process.py) when the test process first asks
for a baseline: forked from the supervisor, it never saw the learner's code.
"""

from __future__ import annotations

import fcntl
import os
import resource
import select
import signal
import socket
import sys
from typing import NoReturn

from grader import baseline_process, fence, hygiene, liveness, proctree
from grader.baseline_process import BaselineClient
from grader.channel import EventSender
from grader.protocol import Handover, PytestExit

PYTEST_FAILED_TO_START = 4
HIGH_FD = 200  # where the test process keeps the baseline process's socket


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


def run_pytest(handover: Handover, unfenced: str = "", baselines: socket.socket | None = None) -> int:
    """The suite under the grading plugin, in this process: pytest's exit status."""
    import pytest

    from grader.plugin import GradingPlugin

    client = BaselineClient(_out_of_the_way(baselines)) if baselines is not None else None
    plugin = GradingPlugin(handover.config, handover.key, unfenced, client)
    return int(pytest.main(pytest_args(handover.config.suite_dir), plugins=[plugin]))


def _out_of_the_way(sock: socket.socket) -> socket.socket:
    """`sock` moved to a high fd (still closed on exec), so that the learner's first fd is the
    one it would be without the grader's (reports name fds by number)."""
    high = fcntl.fcntl(sock.fileno(), fcntl.F_DUPFD_CLOEXEC, HIGH_FD)
    sock.close()
    return socket.socket(fileno=high)


def fence_off(runner: int) -> str:
    """Keep this process and all it starts from signalling the runner, its process group or
    every process of the user (grader/fence.py); why it could not, or "". The supervisor is
    left reachable: its death is a crash the runner explains."""
    try:
        fence.install({runner}, {os.getpgid(runner)})
    except (fence.FenceError, ProcessLookupError) as err:
        return err.strerror or str(err)
    return ""


# Set to "ignore" by Python itself at startup: a fresh interpreter has them so.
PYTHON_IGNORES = frozenset({signal.SIGPIPE, signal.SIGXFSZ})


def default_signals() -> None:
    """Signal dispositions and mask as a fresh interpreter in a terminal has them, whatever the grade's
    caller passed on: a background job of a shell script ignores SIGINT and SIGQUIT, `nohup` SIGHUP, and
    exec keeps both. The learner's code (and the suite's checks of it) meet the same process everywhere."""
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
    for signum in signal.valid_signals() - PYTHON_IGNORES - {signal.SIGKILL, signal.SIGSTOP}:
        if signal.getsignal(signum) == signal.SIG_IGN:
            signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def run_tests(handover: Handover, runner: int, supervisor: int, baselines: socket.socket) -> NoReturn:
    """In the forked test process: tied to the supervisor, fenced, limits, then pytest; never returns."""
    config = handover.config
    status = PYTEST_FAILED_TO_START
    try:
        proctree.die_with_parent(supervisor)
        default_signals()
        os.setpgid(0, 0)
        unfenced = fence_off(runner)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        limit = config.memory_limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        proctree.become_subreaper()
        status = run_pytest(handover, unfenced, baselines)
    except OSError as err:  # the runner shows the last line of output as the reason
        print(f"the grading sandbox cannot start the tests: {err}", file=sys.stderr)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def supervise(
    handover: Handover, child: int, baselines: socket.socket, runner: int, answerer: liveness.Answerer
) -> int:
    """Report the test process's end; start the baseline process when the test process first
    asks for it (on `baselines`); answer the test process's questions (grader/liveness.py);
    when the runner closes stdin, kill the run and wait for it."""
    config = handover.config
    events = EventSender(config.folder.events, config.session, handover.key)
    me = os.getpid()
    control_closed = False
    waiting: socket.socket | None = baselines
    while True:
        for pid, status in proctree.reap_any():
            if pid == child:
                try:
                    events.send(PytestExit(status))
                except OSError:
                    pass
        if control_closed and not proctree.children(me):
            return 0
        watched = [0, answerer.fileno()] if waiting is None else [0, answerer.fileno(), waiting.fileno()]
        ready, _, _ = select.select(watched, [], [], 0.05)
        if answerer.fileno() in ready:
            answerer.answer()
        if waiting is not None and waiting.fileno() in ready:
            start_baselines(waiting, handover, runner)  # or the test process closed its end
            waiting = None
        if 0 in ready and not control_closed and os.read(0, 64) == b"":
            # The runner is done (or gone): nothing of this run may outlive us.
            control_closed = True
            hygiene.kill_run(config.token)


def start_baselines(sock: socket.socket, handover: Handover, runner: int) -> None:
    """Fork the baseline process (grader/baseline_process.py) to serve the request waiting on `sock`."""
    try:
        asked = sock.recv(1, socket.MSG_PEEK) != b""
    except OSError:
        asked = False
    if asked and os.fork() == 0:
        status = 1
        try:
            proctree.die_with_parent(os.getppid())
            os.setpgid(0, 0)
            fence_off(runner)
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            os.close(devnull)
            baseline_process.serve(sock, handover.config.suite_dir, handover.config.grader_files or {})
            status = 0
        finally:
            os._exit(status)
    sock.close()


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
    tests_end, supervisor_end = socket.socketpair()  # the test process's requests for baselines
    answerer = liveness.Answerer(handover.config.folder.supervisor(handover.config.session))
    child = os.fork()
    if child == 0:
        supervisor_end.close()
        answerer.close()
        run_tests(handover, runner, supervisor, tests_end)
    tests_end.close()
    return supervise(handover, child, supervisor_end, runner, answerer)
