"""Where a slow implementation's time went: one round of a failed perf task,
traced line by line in the learner's file, and the top places named.

Why a line tracer and not cProfile: the learner needs a line ("pipe.py:33"),
and cProfile only knows functions; a bytes `+=` is no function call at all.
Only frames of the learner's file are traced line by line (sys.settrace hands
every other frame back untraced), so the cost stays on the learner's lines,
and the tracer's own bookkeeping is left out of every figure.

A statement's own time is the wall time from its line to the next line of the
learner's file, less what deeper calls into the file took. Time blocked in a
call that waits for the other side (read, write, recv, acquire, waitpid...)
is left out (what the line did on the CPU meanwhile is kept): a reader blocked
on a slow writer must not hide the writer's slow line. Sleeping is the
learner's choice and counts.

What is profiled: the process that runs the round (the calling thread and the
threads it starts) and the children it forks, which leave what they saw in a
spool folder when they end with os._exit. A child that runs another program,
is killed, or is still running when the round ends is not seen, and
`Profile.coverage` says so. The cost is bounded: after `budget` seconds the
tracing stops and the round finishes at full speed.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from types import FrameType
from typing import Any, NoReturn

from grader.hotspot_causes import Statement, name_cause, statements

clock = time.perf_counter
cpu_clock = time.thread_time

TOP = 2  # places named in a report
BUDGET = 2.0  # seconds of traced time; the rest of the round runs untraced
SHOWN_SHARE = 0.05  # a place under this share of the profiled time is not worth a line
CALIBRATION_RUNS = 5000


@dataclass
class Hotspot:
    """One statement of the learner's file and its share of the own time profiled there."""

    file: str  # the learner's file as graded
    line: int
    function: str
    share: float  # of the own time profiled in the learner's file, 0..1
    seconds: float  # own time of the statement in the profiled round
    runs: int  # times it ran
    process: str = "test process"  # or "thread" (one the round started) or "child" (a forked child)
    cause: str = ""  # what the profile shows it doing, when recognised: "bytes concatenation"
    why: str = ""  # why that is slow and what to do instead

    def describe(self) -> str:
        """`71% of the time in bytes concatenation at pipe.py:33 in child_to_parent (each += copies ...)`"""
        where = f"{os.path.basename(self.file)}:{self.line} in {self.function}"
        where += {"child": ", in a forked child", "thread": ", in a thread"}.get(self.process, "")
        text = f"{self.share:.0%} of the time " + (f"in {self.cause} at {where}" if self.cause else f"at {where}")
        return text + (f" ({self.why})" if self.why else "")


@dataclass
class Profile:
    """The named places, and what the profile covered, said plainly."""

    hotspots: list[Hotspot] = field(default_factory=list)
    coverage: str = ""


# --- the tracer ---------------------------------------------------------------------------------------------


@dataclass
class Seen:
    """What the profile saw of one statement in one kind of process (what a forked child hands back)."""

    line: int
    function: str
    own: float = 0.0  # seconds, the overhead of tracing not yet taken off
    runs: int = 0
    waited: float = 0.0  # seconds blocked in a call that waits for the other side
    grown: str = ""  # the type a concatenation grows, once seen
    largest: int = 0  # the largest size it grew to (bytes, str, bytearray)

    def add(self, other: Seen) -> None:
        self.own += other.own
        self.runs += other.runs
        self.waited += other.waited
        self.grown = self.grown or other.grown
        self.largest = max(self.largest, other.largest)


class _Figures:
    """What one thread sees of one statement, as it runs (slots: the tracer touches them at every line)."""

    __slots__ = ("function", "grown", "largest", "own", "runs", "statement", "waited")

    def __init__(self, statement: Statement, function: str):
        self.statement = statement
        self.function = function
        self.clear()
        self.grown = ""
        self.largest = 0

    def clear(self) -> None:
        self.own = self.waited = 0.0
        self.runs = 0

    def seen(self) -> Seen:
        return Seen(self.statement.line, self.function, self.own, self.runs, self.waited, self.grown, self.largest)


class _Session:
    """One profiled round in this process: the learner's file, the deadline, every thread's tracer."""

    def __init__(self, learner_file: str, budget: float, spool: str):
        self.files = {learner_file, os.path.realpath(learner_file)}
        self.statements = statements(_read(learner_file))
        self.budget = budget
        self.deadline = clock() + budget
        self.spool = spool
        self.pid = os.getpid()
        self.active = True
        self.stopped_early = False
        self.forked = 0  # by this process during the round
        self.tracers: list[_Tracer] = []

    def tracer(self, role: str) -> _Tracer:
        tracer = _Tracer(self, role)
        self.tracers.append(tracer)
        return tracer

    def start_thread(self, frame: FrameType, event: str, arg: object) -> Any:
        """threading.settrace's hook: each thread the round starts gets a tracer of its own."""
        tracer = self.tracer("thread")
        sys.settrace(tracer.enter)
        return tracer.enter(frame, event, arg)

    def after_fork_in_child(self) -> None:
        """A forked child goes on tracing the thread that forked, from zero."""
        current = getattr(sys.gettrace(), "__self__", None)
        self.tracers = [tracer for tracer in self.tracers if tracer is current]
        self.forked = 0
        for tracer in self.tracers:
            tracer.role = "child"
            for figures in tracer.by_line.values():
                figures.clear()
            tracer.mark = clock()

    def child_exits(self) -> None:
        """A forked child ends: it leaves what it saw in the spool for the parent."""
        try:
            for tracer in self.tracers:
                tracer.charge(clock())
            seen = [asdict(seen) for _role, seen in self.seen() if seen.runs or seen.own]
            with open(os.path.join(self.spool, f"{os.getpid()}.json"), "w") as out:
                json.dump({"seen": seen, "forked": self.forked}, out)
        except Exception:  # the child must end whatever happens here
            pass

    def seen(self) -> Iterator[tuple[str, Seen]]:
        """Each thread's figures, once per statement."""
        for tracer in list(self.tracers):
            for figures in {id(f): f for f in list(tracer.by_line.values())}.values():
                yield tracer.role, figures.seen()


class _Tracer:
    """sys.settrace's functions for one thread. Each event charges the time since the previous one (less the
    tracer's own) to the statement that ran: a call into the file pushes the caller's statement, a return pops it."""

    def __init__(self, session: _Session, role: str):
        self.session = session
        self.role = role
        self.by_line: dict[int, _Figures] = {}  # every line seen -> its statement's figures
        self.current: _Figures | None = None  # the statement being timed; None: outside the file
        self.stack: list[_Figures | None] = []
        self.mark = clock()
        self.cpu_mark: float | None = None  # while `current` may wait: the thread's CPU time when it began

    def enter(self, frame: FrameType, event: str, arg: object) -> Any:
        """The global trace function: a frame of the learner's file is traced, any other left alone."""
        session = self.session
        if event != "call" or not session.active or frame.f_code.co_filename not in session.files:
            return None
        self.charge(clock())
        self.stack.append(self.current)
        self.current = None
        self.cpu_mark = None
        self.mark = clock()
        return self.step

    def step(self, frame: FrameType, event: str, arg: object) -> Any:
        """The local trace function of a frame of the learner's file."""
        now = clock()
        session = self.session
        if not session.active:
            return None
        if now > session.deadline:
            session.stopped_early = True
            session.active = False
            return None
        if event == "line":
            self.charge(now)
            figures = self.by_line.get(frame.f_lineno) or self.first_sight(frame)
            if figures is not self.current:  # a statement over several lines runs once
                figures.runs += 1
            if figures.statement.concat:
                _peek(figures, frame)
            self.current = figures
            self.cpu_mark = cpu_clock() if figures.statement.waits else None
        elif event == "return":
            self.charge(now)
            current = self.current = self.stack.pop() if self.stack else None
            self.cpu_mark = cpu_clock() if current is not None and current.statement.waits else None
        self.mark = clock()
        return self.step

    def first_sight(self, frame: FrameType) -> _Figures:
        line = frame.f_lineno
        statement = self.session.statements.get(line) or Statement(line)
        same = next((f for f in self.by_line.values() if f.statement is statement), None)
        figures = self.by_line[line] = same or _Figures(statement, frame.f_code.co_qualname)
        return figures

    def charge(self, now: float) -> None:
        current = self.current
        if current is None:
            return
        spent = now - self.mark
        if self.cpu_mark is not None:
            busy = min(spent, cpu_clock() - self.cpu_mark)
            current.waited += spent - busy
            spent = busy
        current.own += spent


def _peek(figures: _Figures, frame: FrameType) -> None:
    """What a concatenation grows and how large, seen before each run: bytes += is quadratic, and it
    matters once the buffer is large; bytearray += is not. (Python syncs f_locals for every trace call.)"""
    target = figures.statement.concat
    try:
        if target.startswith("self."):
            value = getattr(frame.f_locals.get("self"), "__dict__", {}).get(target[5:])
        else:
            value = frame.f_locals.get(target)
    except Exception:  # a look must never disturb the learner's code
        return
    if value is not None:
        figures.grown = type(value).__name__
        if isinstance(value, (bytes, str, bytearray)) and len(value) > figures.largest:
            figures.largest = len(value)


# --- one profiled round ----------------------------------------------------------------------------------------

_session: _Session | None = None  # the round being profiled in this process, if any
_real_exit = os._exit


def _after_fork_in_parent() -> None:
    if _session is not None and _session.active:
        _session.forked += 1


def _after_fork_in_child() -> None:
    if _session is not None:
        _session.after_fork_in_child()


os.register_at_fork(after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)


def _exit(status: int) -> NoReturn:
    """os._exit while a round is profiled: a forked child reports what it saw first."""
    try:
        if _session is not None and os.getpid() != _session.pid:
            _session.child_exits()
    finally:
        _real_exit(status)


def profile(work: Callable[[], object], learner_file: str, *, budget: float = BUDGET, top: int = TOP) -> Profile:
    """Run `work` once, tracing the learner's file, and name the `top` statements by own time."""
    global _session
    if _session is not None:
        raise RuntimeError("a round is being profiled in this process already")
    overhead = _overhead()
    spool = tempfile.mkdtemp(prefix="kata-profile-")
    session = _session = _Session(learner_file, budget, spool)
    failure = ""
    started = clock()
    previous, previous_threads = sys.gettrace(), threading.gettrace()
    os._exit = _exit
    threading.settrace(session.start_thread)
    sys.settrace(session.tracer("test process").enter)
    try:
        work()
    except Exception as err:  # a round that raises still shows where its time went
        failure = f"the profiled round raised {type(err).__name__}"
    finally:
        sys.settrace(previous)
        threading.settrace(previous_threads)
        session.active = False
        os._exit = _real_exit
        _session = None
    elapsed = clock() - started
    try:
        children = _children(spool)
    finally:
        shutil.rmtree(spool, ignore_errors=True)
    hotspots = _ranked(session, children, learner_file, top, overhead)
    return Profile(hotspots, _coverage(session, children, elapsed, failure))


_measured_overhead: float | None = None


def _overhead() -> float:
    """Seconds tracing adds to a statement each time it runs that the tracer cannot time itself (Python's work
    around each call of a trace function): measured once per process on a loop of cheap statements, and taken
    off every statement's own time, so that a line that merely runs often does not look slow."""
    global _measured_overhead
    if _measured_overhead is None:
        session = _Session(__file__, budget=1.0, spool="")
        previous = sys.gettrace()
        sys.settrace(session.tracer("calibration").enter)
        try:
            _calibration_loop(CALIBRATION_RUNS)
        finally:
            sys.settrace(previous)
        per_run = [seen.own / seen.runs for _role, seen in session.seen() if seen.runs >= CALIBRATION_RUNS]
        _measured_overhead = min(per_run, default=0.0)
    return _measured_overhead


def _calibration_loop(runs: int) -> int:
    """Cheap statements with a few locals, like a learner's loop: their traced time is nearly all overhead."""
    total = first = second = 0
    for step in range(runs):
        total += step
    return total + first + second


def _children(spool: str) -> list[dict[str, Any]]:
    """What the forked children handed back: {"seen": [Seen as a dict], "forked": their own forks}."""
    found = []
    for name in sorted(os.listdir(spool)):
        try:
            with open(os.path.join(spool, name)) as handed:
                found.append(json.load(handed))
        except (OSError, ValueError):
            continue  # a child killed while writing: not seen
    return found


def _ranked(
    session: _Session, children: list[dict[str, Any]], learner_file: str, top: int, overhead: float
) -> list[Hotspot]:
    """The figures of a statement summed per kind of process, less the overhead of tracing; the `top` by own time."""
    totals: dict[tuple[str, int], Seen] = {}
    seen = [*session.seen(), *(("child", Seen(**item)) for child in children for item in child["seen"])]
    for process, figures in seen:
        figures.own = max(0.0, figures.own - figures.runs * overhead)
        totals.setdefault((process, figures.line), Seen(figures.line, figures.function)).add(figures)
    profiled = sum(total.own for total in totals.values())
    hotspots = []
    for (process, line), total in sorted(totals.items(), key=lambda item: -item[1].own)[:top]:
        share = total.own / profiled if profiled else 0.0
        if share < SHOWN_SHARE:
            break
        statement = session.statements.get(line) or Statement(line)
        cause, why = name_cause(statement, total.runs, total.grown, total.largest)
        hotspots.append(
            Hotspot(
                learner_file,
                line,
                total.function,
                round(share, 3),
                round(total.own, 4),
                total.runs,
                process,
                cause,
                why,
            )
        )
    return hotspots


def _coverage(session: _Session, children: list[dict[str, Any]], elapsed: float, failure: str) -> str:
    """What the figures cover: the round, the processes seen and those not seen."""
    seen = "the test process"
    if any(tracer.role == "thread" for tracer in session.tracers):
        seen += " and the threads it started"
    forked = session.forked + sum(int(child.get("forked", 0)) for child in children)
    reported = len(children)
    if forked:
        seen += f", {reported} of {forked} forked children"
    parts = [f"one round ({elapsed:.2f} s) profiled in {seen}"]
    if session.stopped_early:
        parts.append(f"tracing stopped after {session.budget:g} s, the round finished untraced")
    if forked > reported:
        parts.append(
            f"{forked - reported} forked children ran another program, were killed or were still "
            "running at the end: their time is not shown"
        )
    if failure:
        parts.append(failure)
    return "; ".join(parts)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as source:
            return source.read()
    except OSError:
        return ""
