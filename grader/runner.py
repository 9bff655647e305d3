"""Runs one hidden suite against one implementation, isolated, and builds the Result.

`grade_iter` yields a `TestStarted` / `TestFinished` event per test as it
happens (the TUI streams them) and ends with `GradeFinished(result)`; `grade`
is the same, with an optional callback. The runner enforces each test's time
limit from outside the sandbox (no SIGALRM near the learner's code): a test
over its limit is diagnosed (where-blocked), everything of the run is killed,
and a fresh sandbox runs the remaining tests. A test process that dies in the
middle of a test (os._exit, a signal to its own group) is handled the same way.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from grader import blocked, hygiene
from grader.catalog import CatalogError, KataDef, load_kata
from grader.channel import EventReceiver
from grader.report import (
    OUTPUT_CAP,
    HygieneFinding,
    PerfFigure,
    Result,
    TaskResult,
    TestResult,
    cap_output,
    error_result,
    test_result_from_dict,
)

STARTUP_LIMIT = 30.0  # interpreter + pytest start, generous for a busy machine
BETWEEN_TESTS_LIMIT = 30.0  # fixture teardown and collection between results
DUMP_SIGNAL = signal.SIGRTMAX - 1


@dataclass
class TestStarted:
    name: str
    nodeid: str
    task: int | None


@dataclass
class TestFinished:
    result: TestResult


@dataclass
class GradeFinished:
    result: Result


GradeEvent = TestStarted | TestFinished | GradeFinished


def grade(
    kata_id: str,
    impl_path: str | os.PathLike,
    *,
    perf: bool = True,
    tasks: Iterable[int] | None = None,
    tests: Iterable[str] | None = None,
    on_event: Callable[[GradeEvent], None] | None = None,
    cancel: threading.Event | None = None,
) -> Result:
    """Grade `impl_path` against the hidden suite of `kata_id`.

    `tasks` / `tests` restrict the run to some task ids / test names (the CLI's
    --task, and the project's mutant tests); `perf=False` skips perf tasks.
    """
    for event in grade_iter(kata_id, impl_path, perf=perf, tasks=tasks, tests=tests, cancel=cancel):
        if on_event is not None:
            on_event(event)
        if isinstance(event, GradeFinished):
            return event.result
    raise AssertionError("grade_iter ended without a result")  # pragma: no cover


def grade_iter(
    kata_id: str,
    impl_path: str | os.PathLike,
    *,
    perf: bool = True,
    tasks: Iterable[int] | None = None,
    tests: Iterable[str] | None = None,
    cancel: threading.Event | None = None,
) -> Iterator[GradeEvent]:
    started = time.monotonic()
    shown_path = str(impl_path)
    try:
        kata = load_kata(kata_id)
    except CatalogError as err:
        yield GradeFinished(error_result(kata_id, shown_path, str(err)))
        return
    path = Path(impl_path).expanduser().absolute()
    problem = precheck(path, kata.id)
    if problem:
        yield GradeFinished(error_result(kata_id, str(path), problem))
        return
    selection = {
        "tasks": sorted(tasks) if tasks is not None else None,
        "tests": sorted(tests) if tests is not None else None,
    }
    run = _Run(kata, path, perf, selection, cancel)
    try:
        yield from run.execute()
    finally:
        run.cleanup()
    result = run.result()
    result.duration = round(time.monotonic() - started, 3)
    yield GradeFinished(result)


def precheck(path: Path, kata_id: str) -> str:
    """One line on why `path` cannot be graded, or "" (nothing is executed here)."""
    if not path.exists():
        return f"{path}: no such file (`kata start {kata_id}` creates it from the starter)"
    if path.is_dir():
        return f"{path}: is a directory, not a Python file"
    if not path.is_file():
        return f"{path}: not a regular file"
    try:
        source = path.read_bytes()
    except OSError as err:
        return f"{path}: cannot read: {err.strerror}"
    if b"\0" in source:
        return f"{path}: not a Python source file (it contains NUL bytes)"
    try:
        compile(source, str(path), "exec", dont_inherit=True)
    except SyntaxError as err:
        return f"{err.filename}:{err.lineno}: SyntaxError: {err.msg}"
    except ValueError as err:
        return f"{path}: not Python source: {err}"
    return ""


class _Session:
    """One sandbox process and the pytest run inside it."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.test_pid: int | None = None
        self.test_exit_status: int | None = None
        self.ended_cleanly = False


class _Run:
    def __init__(self, kata: KataDef, impl: Path, perf: bool, selection: dict, cancel: threading.Event | None):
        self.kata = kata
        self.impl = impl
        self.perf = perf
        self.selection = selection
        self.cancel = cancel
        self.token = secrets.token_hex(4)
        self.dir = Path(tempfile.mkdtemp(prefix=f"kata-{self.token}-"))
        for sub in ("escapes", "scratch"):
            (self.dir / sub).mkdir()
        self.receiver = EventReceiver(str(self.dir / "events.sock"))
        self.tests: dict[str, dict] = {}  # nodeid -> collected description, in order
        self.results: dict[str, TestResult] = {}
        self.perf_figures: list[PerfFigure] = []
        self.findings: list[HygieneFinding] = []
        self.load_error = ""
        self.cancelled = False
        self.sessions = 0
        self._output = bytearray()
        self._output_total = 0
        hygiene.set_child_subreaper()

    # --- the loop ---------------------------------------------------------------

    def execute(self) -> Iterator[GradeEvent]:
        while True:
            session = self._start_session()
            try:
                outcome = yield from self._drive(session)
            finally:
                self._end_session(session)
            if outcome != "restart" or not self._remaining():
                return

    def _remaining(self) -> list[str]:
        return [n for n, t in self.tests.items() if t["selected"] and n not in self.results]

    def _start_session(self) -> _Session:
        self.sessions += 1
        config = {
            "kata": self.kata.id,
            "impl": str(self.impl),
            "token": self.token,
            "perf": self.perf,
            "run_dir": str(self.dir),
            "events": self.receiver.path,
            "suite_dir": str(self.kata.suite_dir),
            "memory_limit_mb": self.kata.memory_limit_mb,
            "only": self._remaining() if self.tests else None,
            "session": self.sessions,
            "select": self.selection,
        }
        config_path = self.dir / f"config-{self.sessions}.json"
        config_path.write_text(json.dumps(config))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "KATA_GRADE", "COV_"))}
        package_parent = str(Path(__file__).resolve().parent.parent)
        env.update(
            {
                hygiene.TOKEN_ENV: self.token,
                "KATA_GRADE_CONFIG": str(config_path),
                "PYTHONPATH": os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")])),
                "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "grader.sandbox", str(config_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            cwd=self.dir,
        )
        os.set_blocking(proc.stdout.fileno(), False)
        return _Session(proc)

    def _drive(self, session: _Session):
        phase = "starting"
        deadline = time.monotonic() + STARTUP_LIMIT
        current: str | None = None
        while True:
            wait = min(0.1, max(0.0, deadline - time.monotonic()))
            select.select([self.receiver, session.proc.stdout], [], [], wait)
            # Events before output: a test writes only after its "start" is sent, so output read
            # after handling "start" is the test's (reading first would drop its beginning).
            for event in self.receiver.drain():
                if event.get("session") != self.sessions:
                    continue  # late news from a session already ended
                kind = event["ev"]
                now = time.monotonic()
                if kind == "hello":
                    session.test_pid = event["pid"]
                    phase, deadline = "importing", now + self.kata.import_time_limit
                elif kind == "loaded":
                    phase, deadline = "collecting", now + BETWEEN_TESTS_LIMIT
                elif kind == "load_error":
                    self.load_error = event["message"]
                    return "load_error"
                elif kind == "collected":
                    if not self.tests:
                        self.tests = {t["nodeid"]: t for t in event["tests"]}
                    phase, deadline = "running", now + BETWEEN_TESTS_LIMIT
                elif kind == "start":
                    current = event["nodeid"]
                    deadline = now + self.tests[current]["limit"]
                    self._output.clear()
                    self._output_total = 0
                    yield TestStarted(self.tests[current]["name"], current, self.tests[current]["task"])
                elif kind == "result":
                    self._read_output(session)  # all the test wrote before sending its result
                    result = self._record_result(event)
                    current = None
                    deadline = now + BETWEEN_TESTS_LIMIT
                    yield TestFinished(result)
                elif kind == "pytest_exit":
                    session.test_exit_status = event["status"]
                elif kind == "session_end":
                    session.ended_cleanly = True
            self._read_output(session)
            if self.cancel is not None and self.cancel.is_set():
                self.cancelled = True
                return "cancelled"
            if self._test_process_gone(session):
                self._read_output(session)
                if session.ended_cleanly:
                    return "done"
                if current is not None:
                    yield TestFinished(self._record_crash(current, session))
                    return "restart"
                self.load_error = self._early_death_message(session, phase)
                return "load_error"
            if time.monotonic() >= deadline:
                if current is not None:
                    yield TestFinished(self._record_timeout(current, session))
                    return "restart"
                self.load_error = self._stall_message(session, phase)
                return "load_error"

    # --- events --------------------------------------------------------------------

    def _record_result(self, event: dict) -> TestResult:
        result = test_result_from_dict(event["result"])
        result.output = cap_output(bytes(self._output), self._output_total)
        self.results[result.nodeid] = result
        self.perf_figures += [PerfFigure(**p) for p in event["perf"]]
        self.findings += [HygieneFinding(**h) for h in event["hygiene"]]
        return result

    def _record_timeout(self, nodeid: str, session: _Session) -> TestResult:
        info = self.tests[nodeid]
        procs = hygiene.run_processes(self.token, exclude={session.proc.pid})
        where = blocked.where_blocked(procs, session.test_pid, self.dir / "stacks.log", str(self.impl), DUMP_SIGNAL)
        message = (
            f"timed out after {info['limit']:g} s (the limit for this test). A hang in IPC is almost always "
            "a process blocked in read, write, wait or a semaphore that nobody will release: see where "
            "each process was."
        )
        if info.get("on_timeout"):
            message += "\nLikely cause: " + info["on_timeout"]
        result = TestResult(
            name=info["name"],
            task=info["task"],
            status="timeout",
            message=message,
            output=cap_output(bytes(self._output), self._output_total),
            duration=info["limit"],
            blocked=where,
            nodeid=nodeid,
        )
        self.results[nodeid] = result
        return result

    def _record_crash(self, nodeid: str, session: _Session) -> TestResult:
        info = self.tests[nodeid]
        how = _describe_status(session.test_exit_status)
        message = (
            f"the test process ended in the middle of this test ({how}). The implementation ended or "
            "killed the caller's process: os._exit() outside a forked child, a signal to its own process "
            "group (os.killpg(0, ...)) or to its parent, or closed the grader's descriptors. Only a forked "
            "child may end itself, with os._exit()."
        )
        result = TestResult(
            name=info["name"],
            task=info["task"],
            status="error",
            message=message,
            output=cap_output(bytes(self._output), self._output_total),
            nodeid=nodeid,
        )
        self.results[nodeid] = result
        return result

    def _early_death_message(self, session: _Session, phase: str) -> str:
        base = os.path.basename(self.impl)
        if phase == "importing":
            how = _describe_status(session.test_exit_status)
            return f"{base}: the test process ended while importing the module ({how})"
        tail = bytes(self._output[-400:]).decode(errors="replace").strip().splitlines()
        detail = f": {tail[-1]}" if tail else ""
        return f"the grading sandbox ended before running any test ({phase}){detail}"

    def _stall_message(self, session: _Session, phase: str) -> str:
        if phase == "importing":
            procs = hygiene.run_processes(self.token, exclude={session.proc.pid})
            where = blocked.where_blocked(procs, session.test_pid, self.dir / "stacks.log", str(self.impl), DUMP_SIGNAL)
            spot = next((p.stack[0] for p in where if p.stack), where[0].state if where else "unknown")
            return (
                f"importing {os.path.basename(self.impl)} did not finish within {self.kata.import_time_limit:g} s "
                f"(top-level code runs at import; it was at {spot})"
            )
        return f"the grading sandbox stalled while {phase} (no progress for {BETWEEN_TESTS_LIMIT:g} s)"

    def _test_process_gone(self, session: _Session) -> bool:
        if session.test_exit_status is not None:
            return True
        if session.proc.poll() is None or session.test_pid is None:
            return session.proc.poll() is not None and session.test_pid is None
        # The supervisor is gone (killed by the learner's code): look at the test process itself.
        hygiene.reap_own_children([session.test_pid])
        try:
            return psutil.Process(session.test_pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    def _read_output(self, session: _Session) -> None:
        """Keep the first OUTPUT_CAP bytes of the current test's output; count the rest."""
        fd = session.proc.stdout.fileno()
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                return
            if not chunk:
                return
            room = OUTPUT_CAP - len(self._output)
            if room > 0:
                self._output += chunk[:room]
            self._output_total += len(chunk)

    # --- cleanup ----------------------------------------------------------------------

    def _end_session(self, session: _Session) -> None:
        """Kill every process of the run but the supervisor, let it reap, then let it go."""
        sup = session.proc
        killed = hygiene.kill_all(lambda: hygiene.run_processes(self.token, exclude={sup.pid}))
        # The test process is ours to reap when the learner killed the supervisor (we are a
        # subreaper); it may have become a zombie, which run_processes cannot see, already.
        hygiene.reap_own_children(killed | ({session.test_pid} if session.test_pid else set()))
        try:
            sup.stdin.close()
        except OSError:
            pass
        try:
            sup.wait(timeout=5)
        except subprocess.TimeoutExpired:
            sup.kill()
            sup.wait()
        self._read_output(session)
        sup.stdout.close()

    def cleanup(self) -> None:
        """The final sweep: processes, IPC objects and files of the run, then the run folder."""
        hygiene.reap_own_children(hygiene.kill_all(lambda: hygiene.run_processes(self.token)))
        try:
            keys = [int(k) for k in (self.dir / "keys").read_text().split()]
        except OSError:
            keys = []
        self.findings += hygiene.sweep_ipc(
            f"kata_{self.token}_", keys, [self.dir / "scratch"], ledger_path=self.dir / "ledger"
        )
        self.receiver.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- the result -----------------------------------------------------------------

    def result(self) -> Result:
        if self.load_error:
            return error_result(self.kata.id, str(self.impl), self.load_error)
        if self.cancelled:
            return error_result(self.kata.id, str(self.impl), "grading was cancelled")
        tests = [self.results.get(n) or _not_run(t) for n, t in self.tests.items() if t["selected"]]
        tasks = []
        for task in self.kata.tasks:
            mine = [t for t in tests if t.task == task.id]
            passed = sum(t.status == "pass" for t in mine)
            skipped_because = ""
            if not mine:
                status = "skipped"
                skipped_because = "--no-perf" if task.perf and not self.perf else "not selected"
            else:
                status = "pass" if passed == len(mine) else "fail"
            tasks.append(
                TaskResult(
                    id=task.id,
                    name=task.name,
                    title=task.title,
                    status=status,
                    passed=passed,
                    total=len(mine),
                    perf=task.perf,
                    skipped_because=skipped_because,
                )
            )
        run_level_leak = any(not f.test for f in self.findings)
        ok = tests and all(t.status == "pass" for t in tests) and not run_level_leak
        notices = []
        if not hygiene.mqueue_visible():
            notices.append(
                "/dev/mqueue is not mounted, so leaked POSIX message queues cannot be found "
                "(as root: mount -t mqueue none /dev/mqueue)"
            )
        return Result(
            kata=self.kata.id,
            implementation=str(self.impl),
            status="pass" if ok else "fail",
            tasks=tasks,
            tests=tests,
            perf=self.perf_figures,
            hygiene=self.findings,
            notices=notices,
        )


def _not_run(info: dict) -> TestResult:
    return TestResult(
        name=info["name"],
        task=info["task"],
        status="error",
        message="this test did not run (the sandbox ended before it)",
        nodeid=info["nodeid"],
    )


def _describe_status(status: int | None) -> str:
    if status is None:
        return "killed, together with its supervisor"
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.WEXITSTATUS(status)}"
