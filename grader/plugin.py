"""The pytest plugin every hidden suite runs under, inside the sandbox.

It loads the learner's file (suites reach it only through the `impl` fixture),
gives each test unique IPC names and keys, checks hygiene after every test
(children, zombies, escaped forks, fds, IPC objects, a killed parent), puts
back what the learner's code may change in the test process (signal handlers
and mask, umask, cwd) so the next test starts clean, turns exceptions into
messages that teach, and sends each test's result to the runner as it finishes.
Configuration comes from the JSON file named by $KATA_GRADE_CONFIG.
"""

from __future__ import annotations

import faulthandler
import gc
import json
import os
import signal
import time
import traceback
from pathlib import Path

import psutil
import pytest

from grader import hygiene, ledger
from grader.catalog import KataDef, load_kata
from grader.channel import send_event
from grader.loader import ImplLoadError, load_impl
from grader.perf import PerfRecorder
from grader.report import HygieneFinding, TestResult
from grader.testing import Names, PythonProcesses

CONFIG_ENV = "KATA_GRADE_CONFIG"
DUMP_SIGNAL = signal.SIGRTMAX - 1  # faulthandler dumps on this; documented as reserved


class _Run:
    """Everything the plugin knows about the current grading run."""

    def __init__(self, config: dict):
        self.config = config
        self.kata: KataDef = load_kata(config["kata"])
        self.impl_path: str = config["impl"]
        self.token: str = config["token"]
        self.run_dir = Path(config["run_dir"])
        self.escapes_dir = self.run_dir / "escapes"
        self.scratch_root = self.run_dir / "scratch"
        self.ledger_path = self.run_dir / "ledger"
        self.impl = None
        self.ordinals: dict[str, int] = {}
        self._stacks_file = None

    def send(self, event: dict) -> None:
        send_event(self.config["events"], dict(event, session=self.config["session"]))

    def install_stack_dumper(self) -> None:
        """faulthandler on DUMP_SIGNAL, inherited by forked children, so the runner
        can ask any Python process of the run where it is."""
        self._stacks_file = open(self.run_dir / "stacks.log", "ab", buffering=0)  # noqa: SIM115  open for the process's life
        faulthandler.register(DUMP_SIGNAL, file=self._stacks_file, all_threads=True, chain=False)


_run: _Run | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _run
    config.addinivalue_line("markers", "task(n): the kata task this test grades")
    config.addinivalue_line("markers", "on_timeout(text): what a timeout of this test most likely means")
    path = os.environ.get(CONFIG_ENV)
    if not path:
        raise pytest.UsageError(f"the grader plugin needs ${CONFIG_ENV}")
    _run = _Run(json.loads(Path(path).read_text()))
    _run.install_stack_dumper()


def pytest_sessionstart(session: pytest.Session) -> None:
    _run.send({"ev": "hello", "pid": os.getpid()})
    os.chdir(_run.scratch_root)
    os.environ[ledger.LEDGER_ENV] = str(_run.ledger_path)  # load_impl installs it, here and in python -c
    before = {c.pid for c in psutil.Process().children()}
    try:
        _run.impl = load_impl(_run.impl_path, str(_run.escapes_dir), _run.kata.api)
    except ImplLoadError as err:
        _run.send({"ev": "load_error", "message": str(err)})
        pytest.exit("the implementation did not load", returncode=3)
    forked = [c for c in psutil.Process().children() if c.pid not in before]
    if forked:
        hygiene.kill_all(lambda: [c for c in forked if c.is_running()])
        for child in forked:
            hygiene.reap_own_children([child.pid])
        _run.send(
            {
                "ev": "load_error",
                "message": f"importing {os.path.basename(_run.impl_path)} started a process (pid {forked[0].pid}): "
                "top-level code runs at import and must only define things; fork inside a function",
            }
        )
        pytest.exit("the implementation forked at import", returncode=3)
    _run.send({"ev": "loaded"})


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    only = set(_run.config.get("only") or [])
    select = _run.config.get("select") or {}
    described, selected, deselected = [], [], []
    for ordinal, item in enumerate(items, start=1):
        _run.ordinals[item.nodeid] = ordinal
        task_id = _task_of(item)
        task = _run.kata.task(task_id)
        run_it = (
            (not only or item.nodeid in only)
            and (_run.config["perf"] or not task.perf)
            and (select.get("tasks") is None or task_id in select["tasks"])
            and (select.get("tests") is None or item.name in select["tests"])
        )
        (selected if run_it else deselected).append(item)
        marker = item.get_closest_marker("on_timeout")
        described.append(
            {
                "nodeid": item.nodeid,
                "name": item.name,
                "task": task_id,
                "limit": _run.kata.time_limit(item.name, task_id),
                "selected": run_it,
                "on_timeout": marker.args[0] if marker else "",
            }
        )
    items[:] = selected
    config.hook.pytest_deselected(items=deselected)
    _run.send({"ev": "collected", "tests": described})


def _task_of(item: pytest.Item) -> int:
    marker = item.get_closest_marker("task")
    if marker is None or not marker.args:
        raise pytest.UsageError(f"{item.nodeid} has no @pytest.mark.task(n)")
    return int(marker.args[0])


# --- per-test protocol --------------------------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem):
    ordinal = _run.ordinals[item.nodeid]
    scratch = _run.scratch_root / str(ordinal)
    scratch.mkdir(parents=True, exist_ok=True)
    os.chdir(scratch)
    item.kata_state = {"ordinal": ordinal, "scratch": scratch, "keys": [], "perf": [], "failure": None}
    gc.collect()
    fds_before = hygiene.fd_snapshot()
    process_state = _ProcessState()
    parent = os.getppid()
    _run.send({"ev": "start", "nodeid": item.nodeid})
    started = time.monotonic()
    yield
    duration = time.monotonic() - started
    process_state.restore()
    findings = _check_hygiene(item, fds_before)
    failure = item.kata_state["failure"]
    escapes = [f for f in findings if f.kind == "escape"]
    if escapes:  # the root cause: a child ran the caller's code, whatever failed after that
        status, message, details = "fail", escapes[0].message, failure[2] if failure else ""
    elif os.getppid() != parent:  # re-parented: the caller's code killed the supervisor
        status, message, details = (
            "fail",
            (
                f"the parent of the caller's process (pid {parent}, the grader's supervisor) was killed during "
                "this test: the implementation signalled os.getppid() (or killed it) from the caller's process. "
                "Only a forked child may signal its parent; in the caller, the parent is whoever called your "
                "function."
            ),
            failure[2] if failure else "",
        )
    elif failure is not None:
        status, message, details = failure
    elif findings:
        status, message, details = "fail", _hygiene_message(findings), ""
    else:
        status, message, details = "pass", "", ""
    result = TestResult(
        name=item.name,
        task=_task_of(item),
        status=status,
        message=message,
        details=details,
        duration=round(duration, 3),
        nodeid=item.nodeid,
    )
    _run.send(
        {
            "ev": "result",
            "result": _capped(result),
            "perf": item.kata_state["perf"],
            "hygiene": [f.__dict__ for f in _capped_findings(findings)],
        }
    )


class _ProcessState:
    """What the learner's code may change in the test process that later tests (and the
    plugin) rely on: signal handlers and mask, umask. Saved before a test, put back after."""

    def __init__(self):
        self.handlers = {}
        for signum in signal.valid_signals() - {DUMP_SIGNAL, signal.SIGKILL, signal.SIGSTOP}:
            try:
                handler = signal.getsignal(signum)
            except (ValueError, OSError):
                continue
            if handler is not None:  # None: a handler not set from Python, cannot be restored
                self.handlers[signum] = handler
        self.mask = signal.pthread_sigmask(signal.SIG_BLOCK, ())
        self.umask = os.umask(0o077)
        os.umask(self.umask)

    def restore(self) -> None:
        for signum, handler in self.handlers.items():
            if signal.getsignal(signum) is not handler:
                try:
                    signal.signal(signum, handler)
                except (ValueError, OSError):
                    pass
        signal.pthread_sigmask(signal.SIG_SETMASK, self.mask)
        os.umask(self.umask)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    yield
    if call.excinfo is None or item.kata_state["failure"] is not None:
        return
    if call.excinfo.errisinstance(pytest.skip.Exception):
        return
    message, details = explain_exception(call.excinfo, _run.impl_path, _run.kata.memory_limit_mb)
    if call.when != "call":
        message = f"(during test {call.when}) {message}"
    item.kata_state["failure"] = ("fail", message, details)


def pytest_sessionfinish(session: pytest.Session, exitstatus) -> None:
    if _run is not None:
        _run.send({"ev": "session_end"})


# --- fixtures the suites use --------------------------------------------------------


@pytest.fixture(scope="session")
def impl():
    """The learner's module (loaded from any path, functions guarded)."""
    return _run.impl


@pytest.fixture(scope="session")
def kata() -> KataDef:
    return _run.kata


@pytest.fixture
def names(request) -> Names:
    """Unique POSIX names, System V keys and paths for this test."""
    state = request.node.kata_state
    return Names(
        token=_run.token,
        ordinal=state["ordinal"],
        scratch=state["scratch"],
        keys=state["keys"],
        keys_log=_run.run_dir / "keys",
    )


@pytest.fixture
def scratch(request) -> Path:
    """A folder of this test's own; FIFOs and sockets left in it are leaks."""
    return request.node.kata_state["scratch"]


@pytest.fixture
def perf(request) -> PerfRecorder:
    return PerfRecorder(_run.kata, request.node.name, request.node.kata_state["perf"])


_forks_in_test = [0]
os.register_at_fork(after_in_parent=lambda: _forks_in_test.__setitem__(0, _forks_in_test[0] + 1))


@pytest.fixture
def forks():
    """`forks()` is how many times the test process called fork() since the test began,
    so a suite can tell "computed in the caller" from "done by a child"."""
    _forks_in_test[0] = 0
    return lambda: _forks_in_test[0]


@pytest.fixture
def python_processes():
    """Start unrelated `python -c` processes that load the learner's file as `impl`."""
    procs = PythonProcesses(_run.impl_path)
    yield procs
    procs.kill_all()


# --- messages -------------------------------------------------------------------------


def explain_exception(excinfo, impl_path: str, memory_limit_mb: int) -> tuple[str, str]:
    """(message, details): what went wrong, in the learner's terms."""
    exc = excinfo.value
    if isinstance(exc, pytest.fail.Exception):
        return str(exc.msg), ""
    frames = traceback.extract_tb(excinfo.tb)
    mine = [f for f in frames if f.filename == impl_path]
    details = "".join(traceback.format_list(frames[-12:])) + "".join(traceback.format_exception_only(type(exc), exc))
    base = os.path.basename(impl_path)
    if isinstance(exc, NotImplementedError) and mine:
        return (
            f"`{mine[-1].name}` is not implemented yet (it raises NotImplementedError): "
            "write it as the spec describes.",
            "",
        )
    if isinstance(exc, MemoryError):
        return (
            f"hit the memory limit ({memory_limit_mb} MiB): something allocates without bound, "
            "e.g. reading everything into memory or a list that never stops growing."
        ), details
    if isinstance(exc, SystemExit):
        return (
            "the implementation called sys.exit() in the caller's process: only a forked child may end "
            "itself, and it must use os._exit()."
        ), details
    text = str(exc).splitlines()[0] if str(exc) else ""
    if mine:
        where = mine[-1]
        return (
            f"`{where.name}` raised {type(exc).__name__}{': ' + text if text else ''} ({base}:{where.lineno})",
            details,
        )
    return f"{type(exc).__name__}{': ' + text if text else ''}", details


def _hygiene_message(findings: list[HygieneFinding]) -> str:
    lines = [f"{f.kind} {f.name}: {f.message}" for f in findings[:5]]
    if len(findings) > 5:
        lines.append(f"... and {len(findings) - 5} more")
    return "the test passed, but left things behind:\n" + "\n".join(lines)


MAX_FINDINGS_SENT = 100  # a fork storm leaves hundreds: the event must stay below channel.MAX_EVENT


def _capped_findings(findings: list[HygieneFinding]) -> list[HygieneFinding]:
    if len(findings) <= MAX_FINDINGS_SENT:
        return findings
    kept, rest = findings[: MAX_FINDINGS_SENT - 1], findings[MAX_FINDINGS_SENT - 1 :]
    more = f"{len(rest)} more things were left behind (not listed; removed like the others)"
    return [*kept, HygieneFinding(rest[0].kind, f"and {len(rest)} more", more, rest[0].test)]


def _capped(result: TestResult) -> dict:
    data = result.__dict__.copy()
    data["message"] = data["message"][:8000]
    data["details"] = data["details"][-16000:]
    data["blocked"] = []
    return data


# --- hygiene after each test --------------------------------------------------------------


def _check_hygiene(item: pytest.Item, fds_before: dict[int, str]) -> list[HygieneFinding]:
    test = item.name
    state = item.kata_state
    gc.collect()  # unreferenced sockets and files close here, not as leaks
    findings = _escapes(test) + _children(test)
    for fd, target in hygiene.new_fds(fds_before, hygiene.fd_snapshot()).items():
        findings.append(
            HygieneFinding(
                "fd",
                str(fd),
                f"fd {fd} ({target}) was opened during the test and is still open: close every fd you "
                "create, in every process (in the parent too, once the child has its copy)",
                test,
            )
        )
    prefix = f"kata_{_run.token}_{state['ordinal']}_"
    findings += hygiene.sweep_ipc(prefix, state["keys"], [state["scratch"]], test, _run.ledger_path)
    return findings


def _escapes(test: str) -> list[HygieneFinding]:
    findings = []
    for path in sorted(_run.escapes_dir.glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        finally:
            path.unlink(missing_ok=True)
        findings.append(
            HygieneFinding(
                "escape",
                f"pid {record['pid']}",
                f"a forked child (pid {record['pid']}, parent {record['ppid']}) {record['how']} from "
                f"`{record['function']}` instead of ending with os._exit(): it would go on running the "
                "caller's code. End every child with os._exit(status), in a try/finally.",
                test,
            )
        )
    return findings


def _children(test: str) -> list[HygieneFinding]:
    """Children (and re-parented orphans: this process is a subreaper) still around."""
    me = psutil.Process()
    findings = []
    children = me.children(recursive=True)
    for child in children:
        try:
            zombie = child.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            continue
        if zombie:
            findings.append(
                HygieneFinding(
                    "zombie",
                    f"pid {child.pid}",
                    f"child {child.pid} exited but was never waited for (a zombie): call os.waitpid() "
                    "on every child you fork",
                    test,
                )
            )
        else:
            findings.append(
                HygieneFinding(
                    "process",
                    f"pid {child.pid}",
                    f"process {child.pid} ({hygiene.describe_process(child)}) is still running after the test: "
                    "every child must have exited and been reaped when the function returns (or after close())",
                    test,
                )
            )
    if children:
        hygiene.kill_all(lambda: [c for c in children if c.is_running()])
        hygiene.reap_own_children([c.pid for c in children])
    return findings
