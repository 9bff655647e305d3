"""The pytest plugin every hidden suite runs under, inside the sandbox.

`GradingPlugin(config)` is handed to `pytest.main(plugins=[...])` by
grader/sandbox.py. It loads the learner's file (suites reach it only through
the `impl` fixture), gives each test unique IPC names and keys, checks hygiene
after every test (children, zombies, escaped forks, fds, IPC objects, a killed
parent), puts back what the learner's code may change in the test process
(signal handlers and mask, umask, cwd) so the next test starts clean, turns
exceptions into messages that teach, and sends each test's result to the
runner as it finishes (grader/protocol.py). What it knows of one test lives in
the item's stash (`TestState`).

A test passes only when its call ran to its end and returned (`TestState.returned`,
set by the `pytest_pyfunc_call` wrapper) and nothing failed in any phase: whatever
else the learner's code raises that pytest would take for a skip, an expected
failure or the end of the session is turned into a failure naming it
(grader/interrupts.py). The learner's file is imported after collection, so the
suite's modules are compiled before any of its code runs.

Fixtures the suites use: impl, kata, names, scratch, perf, forks, python_processes.
"""

from __future__ import annotations

import faulthandler
import gc
import os
import signal
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, ModuleType
from typing import IO, Any, NoReturn

import pytest

from grader import (
    baseline_process,
    explain,
    hygiene,
    integrity,
    interrupts,
    ledger,
    liveness,
    observed,
    proctree,
    protocol,
)
from grader.baseline_process import BaselineClient
from grader.catalog import KataDef, load_kata
from grader.channel import EventSender
from grader.explain import Verdict
from grader.loader import STACKS_ENV, ImplLoadError, load_impl
from grader.perf import PerfRecorder
from grader.protocol import DUMP_SIGNAL, SandboxConfig, TestDescription
from grader.report import HygieneFinding, PerfFigure, TestResult
from grader.testing import Names, PythonProcesses

ABORTED = 3  # pytest's exit status when the session could not grade anything


@dataclass
class TestState:
    """What the plugin knows of the test running now (in `item.stash[STATE]`)."""

    __test__ = False  # not a pytest test class
    description: TestDescription
    ordinal: int  # the test's number in the suite: in its IPC names and scratch folder
    scratch: Path
    keys: list[int] = field(default_factory=list)  # System V keys handed out by `names.key()`
    perf: list[dict[str, Any]] = field(default_factory=list)  # figures recorded by the `perf` fixture
    failure: Verdict | None = None  # the first failure of any phase
    returned: bool = False  # the test function was called and returned normally
    finished: bool = False  # ... and the call phase was reported as passed
    interrupted_by: str = ""  # what stopped the test past pytest's reporting, and where (a message)


STATE = pytest.StashKey[TestState]()


def _guarded_phase(when: str) -> Callable[[GradingPlugin, pytest.Item], Generator[None, object, object]]:
    """The hook wrapper of one phase of a test (setup, teardown): see GradingPlugin._fail_instead."""

    @pytest.hookimpl(wrapper=True)
    def guard(self: GradingPlugin, item: pytest.Item) -> Generator[None, object, object]:
        try:
            return (yield)
        except BaseException as exc:
            self._fail_instead(item, when, exc)
            raise

    return guard


class GradingPlugin:
    """One grading session's plugin: its hooks, its fixtures, and the run's configuration."""

    def __init__(self, config: SandboxConfig, key: bytes, unfenced: str = "", baselines: BaselineClient | None = None):
        self.config = config
        self.unfenced = unfenced
        self.baselines = baselines  # times perf baselines away from the learner's code (grader/baseline_process.py)
        self.kata_def: KataDef = load_kata(config.kata)
        self.folder = config.folder
        self.events = EventSender(self.folder.events, config.session, key)
        self._aborting = False
        self._interrupted = ""  # what ended the session early, and where
        self._module: ModuleType | None = None
        self._descriptions: dict[str, TestDescription] = {}
        self._ordinals: dict[str, int] = {}
        self._forks_in_test = 0
        self._stacks_file: IO[bytes] | None = None
        os.register_at_fork(after_in_parent=self._count_fork)

    def _count_fork(self) -> None:
        self._forks_in_test += 1

    def _abort(self, event: protocol.Event, reason: str) -> NoReturn:
        self.events.send(event)
        self._aborting = True
        pytest.exit(reason, returncode=ABORTED)

    # --- the session ----------------------------------------------------------------------

    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line("markers", "task(n): the kata task this test grades")
        config.addinivalue_line("markers", "on_timeout(text): what a timeout of this test most likely means")
        # faulthandler on DUMP_SIGNAL, inherited by forked children, so that the runner can
        # ask any Python process of the run where it is (grader/blocked.py).
        self._stacks_file = open(self.folder.stacks, "ab", buffering=0)  # noqa: SIM115  open for the process's life
        faulthandler.register(DUMP_SIGNAL, file=self._stacks_file, all_threads=True, chain=False)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.events.send(protocol.Hello(os.getpid(), self.unfenced))
        os.chdir(self.folder.scratch)
        os.environ[ledger.LEDGER_ENV] = str(self.folder.ledger)  # load_impl installs it, here and in python -c
        os.environ[observed.OBSERVED_ENV] = str(self.folder.observed)  # likewise

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            lines = str(report.longrepr).strip().splitlines() or ["no reason given"]
            message = f"{report.nodeid or 'the suite'} could not be collected: {lines[-1]}"
            self._abort(protocol.SuiteError(message), "the suite could not be collected")

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """The learner's module, imported once the suite's modules are: nothing of the
        learner's runs before the grader's own code is in place."""
        self._check_held_files()
        me = os.getpid()
        before = set(proctree.children(me))
        try:
            self._module = load_impl(self.config.impl, str(self.folder.escapes), self.kata_def.api)
        except ImplLoadError as err:
            self._abort(protocol.LoadError(str(err)), "the implementation did not load")
        os.environ[STACKS_ENV] = str(self.folder.stacks)  # after load_impl: python -c processes answer dumps too
        forked = [pid for pid in proctree.children(me) if pid not in before]
        if forked:
            proctree.kill_all(lambda: [pid for pid in proctree.children(me) if pid in forked])
            proctree.reap(forked)
            message = (
                f"importing {os.path.basename(self.config.impl)} started a process (pid {forked[0]}): "
                "top-level code runs at import and must only define things; fork inside a function"
            )
            self._abort(protocol.LoadError(message), "the implementation forked at import")
        # What is alive now (pytest, the grader, the suite, the learner's module) lives for the
        # whole session: frozen, it is no longer scanned by the collections around each test.
        gc.collect()
        gc.freeze()
        self.events.send(protocol.Loaded())

    def _check_held_files(self) -> None:
        """The suite just collected and kata.yaml are those the runner checked when the grade
        began: another process may have changed them since."""
        if self.config.grader_files is None:
            return
        held = integrity.held_paths(Path(self.config.suite_dir), self.kata_def.folder)
        changed = integrity.changed_since(self.config.grader_files, held)
        if changed:
            message = f"the grader's files were changed while this grade ran: {', '.join(changed[:3])}"
            self._abort(protocol.LoadError(message), "the suite was changed")

    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        selected: list[pytest.Item] = []
        deselected: list[pytest.Item] = []
        for ordinal, item in enumerate(items, start=1):
            description = self._describe(item)
            self._descriptions[item.nodeid] = description
            self._ordinals[item.nodeid] = ordinal
            (selected if description.selected else deselected).append(item)
        items[:] = selected
        config.hook.pytest_deselected(items=deselected)
        self.events.send(protocol.Collected(tuple(self._descriptions.values())))

    def _describe(self, item: pytest.Item) -> TestDescription:
        marker = item.get_closest_marker("task")
        if marker is None or not marker.args or not isinstance(marker.args[0], int):
            self._abort(protocol.SuiteError(f"{item.nodeid} has no @pytest.mark.task(n)"), "a test has no task")
        task_id = marker.args[0]
        try:
            task = self.kata_def.task(task_id)
        except KeyError:
            message = f"{item.nodeid} is marked task {task_id}, which {self.kata_def.id}'s kata.yaml does not declare"
            self._abort(protocol.SuiteError(message), "a test names an unknown task")
        c = self.config
        selected = (
            (c.only is None or item.nodeid in c.only)
            and (c.perf or not task.perf)
            and (c.tasks is None or task_id in c.tasks)
            and (c.tests is None or item.name in c.tests)
        )
        hint = item.get_closest_marker("on_timeout")
        return TestDescription(
            nodeid=item.nodeid,
            name=item.name,
            task=task_id,
            limit=self.kata_def.time_limit(item.name, task_id),
            selected=selected,
            on_timeout=str(hint.args[0]) if hint else "",
            perf=task.perf,
        )

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        """KeyboardInterrupt or pytest.exit() got past every test's phases and ends the session:
        said to the runner, which makes the grade an error (the rest did not run)."""
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the session is over: no more of them
        if not self._aborting:
            exc = excinfo.value
            self._interrupted = f"{interrupts.name(exc)} {interrupts.where(excinfo.tb, self.config.impl)}"

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.events.send(protocol.SessionEnd(self._interrupted))

    # --- one test -------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> Generator[None, object, object]:
        ordinal = self._ordinals[item.nodeid]
        state = TestState(self._descriptions[item.nodeid], ordinal, self.folder.scratch / str(ordinal))
        state.scratch.mkdir(parents=True, exist_ok=True)
        os.chdir(state.scratch)
        item.stash[STATE] = state
        os.environ[ledger.TEST_ENV] = str(ordinal)  # what the learner creates now is this test's
        gc.collect()
        fds_before = hygiene.fd_snapshot()
        saved = ProcessState()
        self.events.send(protocol.TestStart(item.nodeid))
        started = time.monotonic()
        try:
            return (yield)
        except BaseException as exc:  # past pytest's reports: it ends the session
            state.interrupted_by = interrupts.message(exc, exc.__traceback__, self.config.impl)
            raise
        finally:
            duration = time.monotonic() - started
            saved.restore()
            self._report(item, state, fds_before, duration)
            os.environ[ledger.TEST_ENV] = "0"

    # Each phase of a test under a guard: what would end it without a failure becomes one.
    # (No `yield from` a shared generator: it would not pass a GeneratorExit on.)

    pytest_runtest_setup = _guarded_phase("setup")
    pytest_runtest_teardown = _guarded_phase("teardown")

    @pytest.hookimpl(wrapper=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> Generator[None, object, object]:
        try:
            outcome = yield
        except BaseException as exc:
            self._fail_instead(pyfuncitem, "call", exc)
            raise
        pyfuncitem.stash[STATE].returned = True
        return outcome

    def _fail_instead(self, item: pytest.Item, when: str, exc: BaseException) -> None:
        """Raise a failure naming `exc` (recorded as the test's verdict) when pytest would not
        count `exc` as one; return when it would."""
        if not interrupts.stops_a_test(exc):
            return
        message = interrupts.message(exc, exc.__traceback__, self.config.impl)
        message = message if when == "call" else f"(during test {when}) {message}"
        state = item.stash[STATE]
        if state.failure is None:
            tb = interrupts.from_the_test(exc.__traceback__, self.config.suite_dir, self.config.impl)
            _, details = explain.exception(exc, tb, self.config.impl, self.kata_def.memory_limit_mb)
            state.failure = Verdict("fail", message, details)
        raise pytest.fail.Exception(message, pytrace=False) from None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        state = item.stash[STATE]
        if call.when == "call" and report.passed and state.returned:
            state.finished = True
        if call.excinfo is not None and state.failure is None:
            message, details = explain.exception(
                call.excinfo.value, call.excinfo.tb, self.config.impl, self.kata_def.memory_limit_mb
            )
            if call.when != "call":
                message = f"(during test {call.when}) {message}"
            state.failure = Verdict("fail", message, details)
        return report

    def _report(self, item: pytest.Item, state: TestState, fds_before: dict[int, str], duration: float) -> None:
        """Hygiene, the verdict, the result event; a SIGINT meanwhile is dropped: it is not the test's."""
        handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            self._send_result(item, state, fds_before, duration)
        finally:
            signal.signal(signal.SIGINT, handler)

    def _send_result(self, item: pytest.Item, state: TestState, fds_before: dict[int, str], duration: float) -> None:
        findings = self._hygiene(item.name, state, fds_before)
        verdict = self._with_observed(self._verdict(state, findings), state)
        result = TestResult(
            name=item.name,
            task=state.description.task,
            status=verdict.status,
            message=verdict.message,
            details=verdict.details,
            duration=round(duration, 3),
            nodeid=item.nodeid,
        )
        liveness.wait_for_supervisor(self.folder.supervisor(self.config.session))  # killed meanwhile: no result
        self.events.send(protocol.TestResultEvent.fitted(result, [PerfFigure(**p) for p in state.perf], findings))

    def _hygiene(self, test: str, state: TestState, fds_before: dict[int, str]) -> list[HygieneFinding]:
        findings = hygiene.escapes(self.folder.escapes, test) + hygiene.leftover_children(test)
        findings += hygiene.open_fds(fds_before, test)
        found = hygiene.find_ipc(
            self.config.token, self.folder.scratch, test=state.ordinal, keys=state.keys, ledger_path=self.folder.ledger
        )
        return findings + hygiene.remove_ipc(found, lambda ordinal: test)

    @staticmethod
    def _verdict(state: TestState, findings: list[HygieneFinding]) -> Verdict:
        details = state.failure.details if state.failure else ""
        escapes = [f for f in findings if f.kind == "escape"]
        if escapes:  # the root cause: a child ran the caller's code, whatever failed after that
            return Verdict("fail", escapes[0].message, details)
        if state.failure is not None:
            return state.failure
        if state.interrupted_by:
            return Verdict("fail", state.interrupted_by)
        if not state.finished:
            return Verdict("fail", explain.INTERRUPTED.format(what="an interrupt (KeyboardInterrupt)"))
        if findings:
            return Verdict("fail", explain.left_behind(findings))
        return explain.PASSED

    def _with_observed(self, verdict: Verdict, state: TestState) -> Verdict:
        """A failed test's verdict, with the exceptions that ended threads or children meanwhile
        (often the real cause: a child's KeyError behind "child failed with status 1")."""
        if verdict.status == "pass":
            return verdict
        message, details = explain.observed(observed.read(self.folder.observed, state.ordinal), os.getpid())
        if not message:
            return verdict
        return Verdict(
            verdict.status, f"{verdict.message}\n{message}", "\n".join(filter(None, [verdict.details, details]))
        )

    # --- fixtures the suites use -------------------------------------------------------------

    @pytest.fixture(scope="session")
    def impl(self) -> ModuleType:
        """The learner's module (loaded from any path, functions guarded)."""
        assert self._module is not None, "the session starts only once the module is loaded"
        return self._module

    @pytest.fixture(scope="session")
    def kata(self) -> KataDef:
        return self.kata_def

    @pytest.fixture
    def names(self, request: pytest.FixtureRequest) -> Names:
        """Unique POSIX names, System V keys and paths for this test."""
        state = request.node.stash[STATE]
        return Names(
            token=self.config.token,
            ordinal=state.ordinal,
            scratch=state.scratch,
            keys=state.keys,
            keys_log=self.folder.keys,
        )

    @pytest.fixture
    def scratch(self, request: pytest.FixtureRequest) -> Path:
        """A folder of this test's own; FIFOs and sockets left in it are leaks."""
        state: TestState = request.node.stash[STATE]
        return state.scratch

    @pytest.fixture
    def perf(self, request: pytest.FixtureRequest) -> PerfRecorder:
        """Same-run perf checks whose baselines run in the baseline process (grader/baseline_process.py)."""
        baseline_process.CLIENT = self.baselines
        return _PerfElsewhere(self.kata_def, request.node.name, request.node.stash[STATE].perf, str(self.folder.root))

    @pytest.fixture
    def forks(self) -> Callable[[], int]:
        """`forks()` is how many times the test process called fork() since the test began,
        so a suite can tell "computed in the caller" from "done by a child"."""
        self._forks_in_test = 0
        return lambda: self._forks_in_test

    @pytest.fixture
    def python_processes(self) -> Iterator[PythonProcesses]:
        """Start unrelated `python -c` processes that load the learner's file as `impl`."""
        procs = PythonProcesses(self.config.impl)
        yield procs
        procs.kill_all()


class _PerfElsewhere(PerfRecorder):
    """grader.perf's recorder, handed each baseline as one to run in the baseline process."""

    def check(self, metric_name: str, learner: Any, baseline: Any, *args: Any, **kwargs: Any) -> PerfFigure:
        figure: PerfFigure = super().check(metric_name, learner, baseline_process.elsewhere(baseline), *args, **kwargs)
        return figure


_SignalHandler = Callable[[int, FrameType | None], Any] | int | signal.Handlers


class ProcessState:
    """What the learner's code may change in the test process that later tests (and the
    plugin) rely on: signal handlers and mask, umask. Saved when made, put back by restore()."""

    def __init__(self) -> None:
        self.handlers: dict[int, _SignalHandler] = {}
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
