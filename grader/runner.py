"""Runs one hidden suite against one implementation, isolated, and builds the Result.

`grade_iter` yields a `TestStarted` / `TestFinished` event per test as it
happens (the TUI streams them) and ends with `GradeFinished(result)`; `grade`
is the same, with an optional callback. The runner enforces each test's time
limit from outside the sandbox (no SIGALRM near the learner's code): a test
over its limit is diagnosed (where-blocked), everything of the run is killed,
and a fresh sandbox runs the remaining tests. A test process that dies in the
middle of a test (os._exit, a signal to its own group) is handled the same way.

Each sandbox session is driven as a small state machine over the events of
grader/protocol.py (docs/architecture.md, "The event protocol"): a `Phase`
says what the sandbox is doing and how long it may take, and the session ends
with an `Outcome` that says whether a fresh sandbox must run the rest.

A session starts isolated (grader/_boot.py): an interpreter that ignores the
user's environment and site hooks, an import path computed here, no pytest
plugin autoload, the root folder as its working folder, and its configuration
and the run's key on an inherited pipe (`protocol.Handover`). A test process
that keeps crashing the same way is not restarted forever: after
SAME_CRASHES_LIMIT identical crashes in a row the rest are failed as not run.
"""

from __future__ import annotations

import enum
import functools
import importlib.util
import json
import os
import secrets
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypedDict, Unpack

import psutil

from grader import _boot, blocked, explain, hygiene, integrity, observed, proctree, protocol, sweep
from grader.catalog import CatalogError, KataDef, load_kata
from grader.channel import EventReceiver
from grader.deadlock import DeadlockWatch
from grader.diagnosis import PATTERNS, describe_objects
from grader.protocol import DUMP_SIGNAL, Handover, RunFolder, SandboxConfig, TestDescription
from grader.report import (
    OUTPUT_CAP,
    BlockedProcess,
    HygieneFinding,
    PerfFigure,
    Result,
    TaskResult,
    TestResult,
    TimeoutDiagnosis,
    cap_output,
    error_result,
)

STARTUP_LIMIT = 30.0  # interpreter + pytest start, generous for a busy machine
BETWEEN_TESTS_LIMIT = 30.0  # fixture teardown and collection between results
SAME_CRASHES_LIMIT = 3  # identical crashes in a row before the rest is failed as not run
SUPERVISOR_KILLED = (
    "the parent of the caller's process (the grader's supervisor) was killed during this test: "
    "the implementation signalled os.getppid() from the caller's process, or a child it forked outlived the "
    "caller and signalled its new parent. Only a forked child may signal its parent, and only while that parent "
    "is the caller; in the caller, the parent is whoever called your function."
)
CALLER_ENDED = (
    "The implementation ended or killed the caller's process: os._exit() outside a forked child, a signal "
    "to its own process group (os.killpg(0, ...)) or to its parent, or closed the grader's descriptors. "
    "Only a forked child may end itself, with os._exit()."
)
CALLER_SIGPIPE = (
    "The caller's process wrote into a pipe (or socket) whose reader was gone while SIGPIPE had its default "
    "action, which kills. Python ignores SIGPIPE (such a write raises BrokenPipeError instead): restore SIG_DFL "
    "only in a forked child, right before exec, never in the caller's process, not even for a moment."
)
SUITE_BROKEN = "the hidden suite of {kata} is broken: "  # not the learner's doing: said so


# --- what a grade tells its caller -----------------------------------------------------


@dataclass
class TestStarted:
    __test__ = False  # not a pytest test class
    name: str
    nodeid: str
    task: int | None


@dataclass
class TestFinished:
    __test__ = False
    result: TestResult


@dataclass
class GradeFinished:
    result: Result


GradeEvent = TestStarted | TestFinished | GradeFinished


class GradeOptions(TypedDict, total=False):
    """grade_iter's keywords, which grade passes on."""

    perf: bool
    tasks: Iterable[int] | None
    tests: Iterable[str] | None
    cancel: threading.Event | None


def grade(
    kata_id: str,
    impl_path: str | os.PathLike[str],
    *,
    on_event: Callable[[GradeEvent], None] | None = None,
    **options: Unpack[GradeOptions],
) -> Result:
    """Grade `impl_path` against the hidden suite of `kata_id`, calling `on_event` as
    tests start and finish (`options`: see grade_iter)."""
    for event in grade_iter(kata_id, impl_path, **options):
        if on_event is not None:
            on_event(event)
        if isinstance(event, GradeFinished):
            return event.result
    raise AssertionError("grade_iter ended without a result")  # pragma: no cover


def grade_iter(
    kata_id: str,
    impl_path: str | os.PathLike[str],
    *,
    perf: bool = True,
    tasks: Iterable[int] | None = None,
    tests: Iterable[str] | None = None,
    cancel: threading.Event | None = None,
) -> Iterator[GradeEvent]:
    """Grade as `grade` does, yielding the events. `tasks` / `tests` restrict the run to
    some task ids / test names (the CLI's --task, the project's mutant tests);
    `perf=False` skips perf tasks; setting `cancel` stops the grade (an error result)."""
    started = time.monotonic()
    try:
        kata = load_kata(kata_id)
    except CatalogError as err:
        yield GradeFinished(error_result(kata_id, str(impl_path), str(err)))
        return
    path = Path(impl_path).expanduser().absolute()
    problem = precheck(path, kata.id)
    if problem:
        yield GradeFinished(error_result(kata_id, str(path), problem))
        return
    # What the sandbox must find unchanged, taken before the check: a change after the check shows in the sandbox.
    held = integrity.fingerprint(integrity.held_paths(kata.suite_dir, kata.folder))
    installation = integrity.check()
    if installation.problem:
        yield GradeFinished(error_result(kata_id, str(path), installation.problem))
        return
    try:
        proctree.become_subreaper()
    except proctree.SubreaperError as err:
        yield GradeFinished(error_result(kata_id, str(path), f"the grader cannot isolate the run: {err.strerror}"))
        return
    selection = Selection(
        perf, tuple(sorted(tasks)) if tasks is not None else None, tuple(sorted(tests)) if tests is not None else None
    )
    swept = sweep.sweep_dead_runs()  # before this run's folder exists: a grade killed earlier left its run
    run = GradingRun(kata, path, selection, cancel, held)
    run.notices += installation.notices + swept
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


# --- one sandbox session as a state machine ----------------------------------------------


@dataclass(frozen=True)
class Selection:
    """What the caller asked to grade: perf tasks or not, some tasks, some tests (None: all)."""

    perf: bool
    tasks: tuple[int, ...] | None
    tests: tuple[str, ...] | None


class Phase(enum.Enum):
    """What the sandbox is doing; each phase has its own time limit."""

    STARTING = "starting"  # interpreter and pytest start
    COLLECTING = "collecting"  # the suite's modules load (before any of the learner's code)
    IMPORTING = "importing"  # the learner's module loads (kata.yaml's import_time_limit)
    RUNNING = "running"  # a test (its own limit) or between tests


class Outcome(enum.Enum):
    """How a session ended."""

    FINISHED = "finished"  # pytest reached its end: every test it ran has its result
    TEST_LOST = "test lost"  # a test timed out or took the test process with it: a fresh sandbox runs the rest
    LOAD_FAILED = "load failed"  # nothing can run: the module did not load, or the sandbox died or stalled first
    INTERRUPTED = "interrupted"  # KeyboardInterrupt or pytest.exit() ended pytest between tests: an error
    CANCELLED = "cancelled"


class SandboxSession:
    """One sandbox process (supervisor and test process) and what the runner knows of it."""

    def __init__(self, number: int, proc: subprocess.Popen[bytes]):
        self.number = number
        self.proc = proc
        assert proc.stdout is not None
        self.output: IO[bytes] = proc.stdout
        os.set_blocking(self.output.fileno(), False)  # read what is there, never wait for more
        self.test_pid: int | None = None
        self.exit_status: int | None = None  # the test process's wait status, from the supervisor
        self.ended_cleanly = False
        self.interrupted = ""  # what cut pytest short between tests, and where (SessionEnd)
        self.phase = Phase.STARTING
        self.deadline = time.monotonic() + STARTUP_LIMIT
        self.current: TestDescription | None = None  # the test running now
        self.finished: list[str] = []  # nodeids of the tests this session reported, in order

    def enter(self, phase: Phase, limit: float) -> None:
        self.phase = phase
        self.deadline = time.monotonic() + limit

    def test_process_gone(self) -> bool:
        if self.exit_status is not None:
            return True
        if self.proc.poll() is None:
            return False  # the supervisor is there: it reports the test process's end
        if self.test_pid is None:
            return True  # the supervisor died before pytest said hello
        # The supervisor is gone (killed by the learner's code): look at the test process itself,
        # ours to reap now (we are a subreaper).
        proctree.reap([self.test_pid])
        return not proctree.alive(self.test_pid)


class GradingRun:
    """One grade: its run folder and token, the sandbox sessions it starts one after the
    other, the results they report, and the final sweep."""

    def __init__(
        self,
        kata: KataDef,
        impl: Path,
        selection: Selection,
        cancel: threading.Event | None,
        grader_files: dict[str, str] | None = None,
    ):
        self.kata = kata
        self.impl = impl
        self.selection = selection
        self.cancel = cancel
        self.token = secrets.token_hex(4)
        self.key = protocol.new_key()
        self.folder = RunFolder.make(self.token)
        self.lease = sweep.Lease.take(self.folder)  # held until cleanup: the next grade knows this one lives
        self.receiver = EventReceiver(self.folder.events, self.key)
        self.tests: dict[str, TestDescription] = {}  # nodeid -> description, in suite order
        self.results: dict[str, TestResult] = {}
        self.perf_figures: list[PerfFigure] = []
        self.findings: list[HygieneFinding] = []
        self.load_error = ""
        self.interrupted = ""
        self.unfenced = ""  # why the sandbox could not fence off the grader's processes (grader/fence.py)
        self.cancelled = False
        self.crashed: dict[str, str] = {}  # nodeid -> the short reason, for each test whose process crashed
        self.notices: list[str] = []
        self.barren_sessions = 0  # sessions in a row that ended without a test result
        self.grader_files = grader_files  # what the sandbox must find unchanged (integrity.fingerprint)
        self.violations = 0  # events out of order: ignored
        self.sessions = 0
        self._output = bytearray()
        self._output_total = 0
        self._watch: tuple[str, DeadlockWatch] | None = None  # the running test's nodeid and its watch
        self._timed_out: dict[tuple[str, tuple[str, ...], str], TestResult] = {}  # see _same_timeout

    def execute(self) -> Iterator[GradeEvent]:
        while True:
            if self.sessions and self._grader_changed():
                return
            session = self._start_session()
            results = len(self.results)
            try:
                outcome = yield from self._drive(session)
            finally:
                self._end_session(session)
            self.barren_sessions = self.barren_sessions + 1 if len(self.results) == results else 0
            if outcome is Outcome.TEST_LOST and session.current is not None:
                self._sweep_lost_test(session.current)
            if outcome is not Outcome.TEST_LOST or not self._remaining():
                return
            reason = self._same_crashes()
            if reason:
                yield from self._give_up(reason)
                return

    def _grader_changed(self) -> bool:
        """Did the last session change the grader's files (the next one would import them)?"""
        problem = integrity.grader_files().problem
        if problem:
            self.load_error = f"during this grade, {problem}"
        return bool(problem)

    def _remaining(self) -> tuple[str, ...]:
        return tuple(n for n, t in self.tests.items() if t.selected and n not in self.results)

    def _start_session(self) -> SandboxSession:
        self.sessions += 1
        config = SandboxConfig(
            kata=self.kata.id,
            impl=str(self.impl),
            token=self.token,
            run_dir=str(self.folder.root),
            suite_dir=str(self.kata.suite_dir),
            memory_limit_mb=self.kata.memory_limit_mb,
            session=self.sessions,
            perf=self.selection.perf,
            only=self._remaining() if self.tests else None,
            tasks=self.selection.tasks,
            tests=self.selection.tests,
            grader_files=self.grader_files,
        )
        handover = Handover(config, self.key).write()
        try:
            proc = subprocess.Popen(
                sandbox_command(handover),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=sandbox_env(self.token),
                cwd="/",  # no folder the learner's code can write (nothing is found there: -I)
                pass_fds=(handover,),
            )
        finally:
            os.close(handover)
        return SandboxSession(self.sessions, proc)

    def _drive(self, session: SandboxSession) -> Generator[GradeEvent, None, Outcome]:
        while True:
            wait = min(0.1, max(0.0, session.deadline - time.monotonic()))
            select.select([self.receiver.fileno(), session.output.fileno()], [], [], wait)
            # Events before output: a test writes only after its TestStart is sent, so output read
            # after handling TestStart is the test's (reading first would drop its beginning).
            for envelope in self.receiver.drain():
                if envelope.session != session.number:
                    continue  # late news from a session already ended
                outcome = yield from self._handle(session, envelope.event)
                if outcome is not None:
                    return outcome
            self._read_output(session)
            outcome = yield from self._check(session)
            if outcome is not None:
                return outcome

    def _handle(self, session: SandboxSession, event: protocol.Event) -> Generator[GradeEvent, None, Outcome | None]:
        match event:
            case protocol.Hello(pid=pid, unfenced=unfenced):
                session.test_pid = pid
                self.unfenced = unfenced
                session.enter(Phase.COLLECTING, BETWEEN_TESTS_LIMIT)
            case protocol.Loaded():
                session.enter(Phase.RUNNING, BETWEEN_TESTS_LIMIT)
            case protocol.LoadError(message=message):
                self.load_error = message
                return Outcome.LOAD_FAILED
            case protocol.SuiteError(message=message):
                self.load_error = SUITE_BROKEN.format(kata=self.kata.id) + message
                return Outcome.LOAD_FAILED
            case protocol.Collected(tests=tests):
                if not self.tests:  # a later session collects the same suite
                    self.tests = {t.nodeid: t for t in tests}
                session.enter(Phase.IMPORTING, self.kata.import_time_limit)
            case protocol.TestStart(nodeid=nodeid):
                test = self.tests.get(nodeid)
                if test is None or not test.selected or nodeid in self.results or session.current is not None:
                    self.violations += 1
                    return None
                session.current = test
                session.enter(Phase.RUNNING, test.limit)
                self._output.clear()
                self._output_total = 0
                yield TestStarted(test.name, nodeid, test.task)
            case protocol.TestResultEvent():
                if session.current is None or event.result.nodeid != session.current.nodeid:
                    self.violations += 1
                    return None
                self._read_output(session)  # all the test wrote before sending its result
                yield TestFinished(self._record_result(event, session))
                session.current = None
                session.enter(Phase.RUNNING, BETWEEN_TESTS_LIMIT)
            case protocol.PytestExit(status=status):
                session.exit_status = status
            case protocol.SessionEnd(interrupted=interrupted):
                session.ended_cleanly = True
                session.interrupted = interrupted
        return None

    def _check(self, session: SandboxSession) -> Generator[GradeEvent, None, Outcome | None]:
        """The end of a session that no event announces: cancel, death, or a deadline passed."""
        if self.cancel is not None and self.cancel.is_set():
            self.cancelled = True
            return Outcome.CANCELLED
        if session.test_process_gone():
            self._read_output(session)
            if session.interrupted or (session.ended_cleanly and session.current is not None):
                yield from self._record_interrupted(session)
                return Outcome.INTERRUPTED
            if session.ended_cleanly and session.phase is Phase.RUNNING:
                return Outcome.FINISHED
            supervisor_killed = self._supervisor_killed(session)
            if supervisor_killed:
                yield from self._void_passes(session)
            if session.current is not None:
                yield TestFinished(self._record_crash(session.current, session))
                return Outcome.TEST_LOST
            if supervisor_killed and session.finished:
                return Outcome.TEST_LOST
            if session.phase is Phase.RUNNING and self.barren_sessions < SAME_CRASHES_LIMIT - 1:
                return Outcome.TEST_LOST  # killed between tests (from outside): a fresh sandbox runs the rest
            self.load_error = self._early_death_message(session)
            return Outcome.LOAD_FAILED
        if session.current is not None and self._deadlock_proven(session, session.current):
            return (yield from self._at_limit(session, session.current, stopped_early=True))
        if time.monotonic() >= session.deadline:
            if session.current is not None:
                return (yield from self._at_limit(session, session.current))
            self.load_error = self._stall_message(session)
            return Outcome.LOAD_FAILED
        return None

    # --- results ---------------------------------------------------------------------------

    def _record(self, result: TestResult) -> TestResult:
        result.output = cap_output(bytes(self._output), self._output_total)
        self.results[result.nodeid] = result
        return result

    def _record_result(self, event: protocol.TestResultEvent, session: SandboxSession) -> TestResult:
        self.perf_figures += event.perf
        self.findings += event.hygiene
        session.finished.append(event.result.nodeid)
        return self._record(event.result)

    def _deadlock_proven(self, session: SandboxSession, test: TestDescription) -> bool:
        """The wait-for graph proves the running test deadlocked: waiting out its limit is pointless."""
        if session.test_pid is None:
            return False
        if self._watch is None or self._watch[0] != test.nodeid:
            self._watch = (test.nodeid, DeadlockWatch(session.test_pid))
        return self._watch[1].proven()

    def _at_limit(
        self, session: SandboxSession, test: TestDescription, stopped_early: bool = False
    ) -> Generator[GradeEvent, None, Outcome | None]:
        """A test at its limit (or proven deadlocked). Where its processes wait is read from /proc
        first: that takes a moment and disturbs nothing. A test that sent its result meanwhile was
        not stuck: its result stands, with the events after it. Only a test still silent gets its
        stacks dumped, whose signal ends blocked calls, and is recorded as timed out."""
        waits = blocked.read_waits(self._run_processes(session), session.test_pid, DUMP_SIGNAL, test.on_timeout)
        late = [envelope.event for envelope in self.receiver.drain() if envelope.session == session.number]
        if any(isinstance(event, protocol.TestResultEvent) and event.result.nodeid == test.nodeid for event in late):
            for event in late:
                outcome = yield from self._handle(session, event)
                if outcome is not None:
                    return outcome
            return None
        where = self._with_stacks(waits)
        yield TestFinished(self._record_timeout(test, session, where, stopped_early))
        return Outcome.TEST_LOST

    def _record_timeout(
        self, test: TestDescription, session: SandboxSession, where: blocked.WhereBlocked, stopped_early: bool
    ) -> TestResult:
        diagnosis = where.summary()
        diagnosis.stopped_early = stopped_early
        elapsed = min(test.limit, time.monotonic() - (session.deadline - test.limit))
        result = TestResult(
            test.name,
            test.task,
            "timeout",
            duration=round(elapsed, 3) if stopped_early else test.limit,
            blocked=where.processes,
            nodeid=test.nodeid,
            diagnosis=diagnosis,
        )
        first = self._same_timeout(result, diagnosis)
        result.message = _timeout_message(test, diagnosis, elapsed, first)
        return self._record(self._with_observed(result, test, session))

    def _same_timeout(self, result: TestResult, diagnosis: TimeoutDiagnosis) -> TestResult | None:
        """The earlier timeout of this grade with the same pattern on the same kinds of object, the
        test process stuck in the same function of the learner's, if any (then this one is the same
        bug again); else this one is remembered as the first."""
        if not diagnosis.explained:
            return None
        key = (diagnosis.pattern, tuple(diagnosis.objects), _learner_function(result.blocked))
        first = self._timed_out.setdefault(key, result)
        if first is result:
            return None
        diagnosis.same_as = first.name
        return first

    def _void_passes(self, session: SandboxSession) -> Iterator[GradeEvent]:
        """The supervisor was killed: no pass of its session stands. A call that signals its parent can
        let the test process report a pass, even several, before the parent is gone and takes it along
        (a signal is delivered when its target next runs); and a grade killed from outside fails."""
        for nodeid in session.finished:
            if self.results[nodeid].status == "pass":
                yield TestFinished(self._record_crash(self.tests[nodeid], session))

    @staticmethod
    def _supervisor_killed(session: SandboxSession) -> bool:
        """The supervisor died before its test process (which dies with it, PR_SET_PDEATHSIG)."""
        return session.proc.poll() is not None and session.exit_status is None

    def _record_crash(self, test: TestDescription, session: SandboxSession) -> TestResult:
        if self._supervisor_killed(session):
            # The supervisor died first (its test process dies with it, PR_SET_PDEATHSIG): killed by the
            # caller's code, which signalled its parent.
            status, reason = "fail", "the caller's code killed its parent (the grader's supervisor)"
            message = SUPERVISOR_KILLED
        else:
            how = _describe_status(session.exit_status)
            status, reason = "error", f"the test process ended in the middle of the test ({how})"
            message = f"the test process ended in the middle of this test ({how}). {_crash_cause(session.exit_status)}"
        self.crashed[test.nodeid] = reason
        result = TestResult(test.name, test.task, status, message, nodeid=test.nodeid)
        return self._record(self._with_observed(result, test, session))

    def _record_interrupted(self, session: SandboxSession) -> Iterator[GradeEvent]:
        """pytest was cut short between tests: the test it was reporting (if any) failed, the grade is an error."""
        self.interrupted = session.interrupted or "a KeyboardInterrupt in the grader's code"
        if session.current is not None:
            test = session.current
            message = f"the test did not run to its end: {self.interrupted} cut the session short"
            yield TestFinished(self._record(TestResult(test.name, test.task, "fail", message, nodeid=test.nodeid)))

    def _same_crashes(self) -> str:
        """The reason, when the last SAME_CRASHES_LIMIT results are crashes of that same reason; else ""."""
        last = list(self.results)[-SAME_CRASHES_LIMIT:]
        reasons = {self.crashed.get(nodeid, "") for nodeid in last}
        if len(last) < SAME_CRASHES_LIMIT or len(reasons) != 1:
            return ""
        return reasons.pop()

    def _give_up(self, reason: str) -> Iterator[GradeEvent]:
        """Fail every test still to run, without restarting a sandbox that would only crash again."""
        message = (
            f"not run: {reason} in each of the {SAME_CRASHES_LIMIT} tests before this one, so the grader stopped "
            "restarting the sandbox. Fix that first."
        )
        for nodeid in self._remaining():
            test = self.tests[nodeid]
            yield TestFinished(self._record(TestResult(test.name, test.task, "fail", message, nodeid=nodeid)))

    def _with_observed(self, result: TestResult, test: TestDescription, session: SandboxSession) -> TestResult:
        """The result, with the exceptions that ended threads or children during the test: often
        why it hung (a server thread that died) or crashed (os._exit while handling an error)."""
        entries = observed.read(self.folder.observed, self._ordinal(test))
        message, details = explain.observed(entries, session.test_pid or 0)
        if message:
            result.message += "\n" + message
            result.details = "\n".join(filter(None, [result.details, details]))
        return result

    def _run_processes(self, session: SandboxSession) -> list[psutil.Process]:
        procs = []
        for pid in hygiene.run_processes(self.token, exclude={session.proc.pid}):
            try:
                procs.append(psutil.Process(pid))
            except psutil.NoSuchProcess:
                continue
        return procs

    def _with_stacks(self, waits: blocked.Waits) -> blocked.WhereBlocked:
        return blocked.with_stacks(waits, self.folder.stacks, str(self.impl), DUMP_SIGNAL)

    def _early_death_message(self, session: SandboxSession) -> str:
        base = os.path.basename(self.impl)
        if session.phase is Phase.IMPORTING:
            how = _describe_status(session.exit_status)
            return f"{base}: the test process ended while importing the module ({how})"
        tail = bytes(self._output[-400:]).decode(errors="replace").strip().splitlines()
        detail = f": {tail[-1]}" if tail else ""
        return f"the grading sandbox ended before running any test ({session.phase.value}){detail}"

    def _stall_message(self, session: SandboxSession) -> str:
        if session.phase is Phase.IMPORTING:
            procs = self._run_processes(session)
            where = self._with_stacks(blocked.read_waits(procs, session.test_pid, DUMP_SIGNAL)).processes
            spot = next((p.stack[0] for p in where if p.stack), where[0].state if where else "unknown")
            return (
                f"importing {os.path.basename(self.impl)} did not finish within {self.kata.import_time_limit:g} s "
                f"(top-level code runs at import; it was at {spot})"
            )
        return f"the grading sandbox stalled while {session.phase.value} (no progress for {BETWEEN_TESTS_LIMIT:g} s)"

    def _read_output(self, session: SandboxSession) -> None:
        """Keep the first OUTPUT_CAP bytes of the current test's output; count the rest."""
        fd = session.output.fileno()
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

    # --- cleanup ----------------------------------------------------------------------------

    def _end_session(self, session: SandboxSession) -> None:
        """Kill every process of the run but the supervisor, let it reap, then let it go."""
        sup = session.proc
        killed = hygiene.kill_run(self.token, exclude={sup.pid})
        # The test process is ours to reap when the learner killed the supervisor (we are a
        # subreaper); it may have become a zombie, which run_processes cannot see, already.
        proctree.reap(killed | ({session.test_pid} if session.test_pid else set()))
        if sup.stdin is not None:
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
        session.output.close()

    def _sweep_lost_test(self, test: TestDescription) -> None:
        """A test stopped (a timeout) or cut short (a crash) never reached its cleanup or the plugin's
        checks: what it made is swept now, attributed to it, before the next test can be blamed."""
        found = hygiene.find_ipc(
            self.token, self.folder.scratch, test=self._ordinal(test), ledger_path=self.folder.ledger
        )
        self.findings += hygiene.remove_ipc(found, lambda ordinal: test.name, stopped=True)
        self.findings += hygiene.escapes(self.folder.escapes, test.name)

    def _ordinal(self, test: TestDescription) -> int:
        """The test's number in the suite, as the plugin numbers them: its place in `Collected`."""
        return list(self.tests).index(test.nodeid) + 1

    def _test_name(self, ordinal: int) -> str:
        """The name of the test with this ordinal; "" for none (made outside any test)."""
        tests = list(self.tests.values())
        return tests[ordinal - 1].name if 0 < ordinal <= len(tests) else ""

    def cleanup(self) -> None:
        """The final sweep: processes, IPC objects and files of the run, then the run folder; then
        the lease goes (a sweep that took it now would find the folder gone)."""
        self.findings += sweep.clear_run(self.token, self.folder, self._test_name).findings
        self.receiver.close()
        self.lease.release()

    # --- the result --------------------------------------------------------------------------

    def result(self) -> Result:
        notices = self.notices + self._run_notices()
        if self.load_error or self.cancelled:
            failed = error_result(self.kata.id, str(self.impl), self.load_error or "grading was cancelled")
            failed.notices = notices  # a forgery is said even when nothing could be graded
            return failed
        tests = [self.results.get(n) or _not_run(t) for n, t in self.tests.items() if t.selected]
        tasks = [self._task_result(task.id, tests) for task in self.kata.tasks]
        run_level_leak = self._leak_outside_failed_tests(tests)
        ok = bool(tests) and all(t.status == "pass" for t in tests) and not run_level_leak
        status, message = ("pass" if ok else "fail"), ""
        if self.interrupted:
            not_run = sum(n not in self.results for n, t in self.tests.items() if t.selected)
            status, message = (
                "error",
                (
                    f"the grade was cut short by {self.interrupted}: {not_run} of {len(tests)} tests did not run. "
                    "A SIGINT (or pytest.exit()) reached the test process between tests; a grade needs every test "
                    "to run."
                ),
            )
        return Result(
            kata=self.kata.id,
            implementation=str(self.impl),
            status=status,
            message=message,
            tasks=tasks,
            tests=tests,
            perf=self.perf_figures,
            hygiene=self.findings,
            notices=hygiene.notices() + notices,
        )

    def _run_notices(self) -> list[str]:
        notices = []
        if self.unfenced:
            notices.append(
                f"the grader could not fence itself off from your code's processes ({self.unfenced}): code that "
                "kills the grader or every process of yours can end this grade"
            )
        ignored = len(self.receiver.rejected) + self.violations
        if ignored:
            notices.append(f"{ignored} malformed or out-of-order events from the sandbox were ignored")
        forgers = sorted(set(self.receiver.unsigned))
        if forgers:
            pids = ", ".join(str(pid) for pid in forgers[:5]) + (", ..." if len(forgers) > 5 else "")
            notices.append(
                f"{len(self.receiver.unsigned)} events not signed by this grade's sandbox were ignored (sent by pid "
                f"{pids}): a process tried to forge this grade's results"
            )
        return notices

    def _leak_outside_failed_tests(self, tests: list[TestResult]) -> bool:
        """A finding that no failed test accounts for: made outside any test, or found by the final
        sweep after its test had passed (e.g. by a process that outlived it). It fails the grade."""
        failed = {t.name for t in tests if t.status != "pass"}
        return any(f.test not in failed for f in self.findings)

    def _task_result(self, task_id: int, tests: list[TestResult]) -> TaskResult:
        task = self.kata.task(task_id)
        mine = [t for t in tests if t.task == task_id]
        passed = sum(t.status == "pass" for t in mine)
        if not mine:
            status, because = "skipped", "--no-perf" if task.perf and not self.selection.perf else "not selected"
        else:
            status, because = ("pass" if passed == len(mine) else "fail"), ""
        return TaskResult(
            task.id, task.name, task.title, status, passed, len(mine), perf=task.perf, skipped_because=because
        )


@functools.cache
def sandbox_path() -> tuple[str, ...]:
    """Where the sandbox imports the grader's dependencies from (the folders holding them
    here); the standard library comes first by itself, the grader is loaded by location."""
    folders: list[str] = []
    for name in _boot.DEPENDENCIES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise ModuleNotFoundError(f"the grader needs {name}, which is not installed")
        origin = Path(spec.origin)
        folder = str(origin.parent.parent if spec.submodule_search_locations else origin.parent)
        if folder not in folders:
            folders.append(folder)
    return tuple(folders)


def sandbox_command(handover_fd: int) -> list[str]:
    """An isolated interpreter (-I: no cwd, user site or PYTHON* variables; -S: no .pth;
    -B: writes no cache; -u: output as it happens) running grader/_boot.py."""
    boot = str(Path(_boot.__file__).resolve())
    return [sys.executable, "-I", "-S", "-B", "-u", boot, json.dumps(sandbox_path()), str(handover_fd)]


def sandbox_env(token: str) -> dict[str, str]:
    """The user's environment without what configures Python or pytest, plus the run's token
    (every process of the run carries it) and no pytest plugin autoload."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST_", "COV_"))}
    env.update(
        {
            hygiene.TOKEN_ENV: token,
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
            "PYTHONDONTWRITEBYTECODE": "1",  # for the learner's own python processes
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _not_run(test: TestDescription) -> TestResult:
    message = "this test did not run (the sandbox ended before it)"
    return TestResult(test.name, test.task, "error", message, nodeid=test.nodeid)


def _learner_function(processes: list[BlockedProcess]) -> str:
    """The function of the learner's the test process was blocked in ("" when unknown)."""
    test_process = next((p for p in processes if p.role == "test process"), None)
    mine = [frame for frame in test_process.stack if frame.endswith("<- your code")] if test_process else []
    return mine[0].split(" in ", 1)[-1].split()[0] if mine else ""


def _timeout_message(
    test: TestDescription, diagnosis: TimeoutDiagnosis, elapsed: float, first: TestResult | None
) -> str:
    """What the learner reads: how the test ended, then its cause; one line when an earlier test
    of this grade already timed out the same way (one failure, one report)."""
    if diagnosis.stopped_early:
        ended = f"stopped after {elapsed:.1f} s of its {test.limit:g} s limit"
    else:
        ended = f"timed out after {test.limit:g} s (the limit for this test)"
    if first is not None:
        return (
            f"{ended}: the same bug as {first.name} (task {first.task}), {PATTERNS[diagnosis.pattern]} on "
            f"{describe_objects(diagnosis.objects)}. Fix that one first: this test needs the same fix."
        )
    if diagnosis.stopped_early:
        head = f"{ended}: a proven deadlock (nothing could ever wake these processes), so waiting longer was pointless."
    elif test.perf:
        head = (
            f"{ended}: too slow, or stuck. This test measures rounds of your code against a baseline, and they "
            "did not end in time (a correct file needs a few seconds): a process running in your code is where "
            "the time goes; one blocked in a read, write or wait is stuck."
        )
    else:
        head = (
            f"{ended}. A hang in IPC is almost always a process blocked in read, write, wait or a semaphore that "
            "nobody will release: see where each process was."
        )
    return f"{head}\n{diagnosis.cause()}"


def _crash_cause(status: int | None) -> str:
    """What most likely ended the test process mid-test, by how it ended."""
    if status is not None and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGPIPE:
        return CALLER_SIGPIPE
    return CALLER_ENDED


def _describe_status(status: int | None) -> str:
    if status is None:
        return "killed, together with its supervisor"
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.WEXITSTATUS(status)}"
