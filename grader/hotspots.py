"""Where a slow implementation's time went: one round of a failed perf task,
traced line by line in the learner's file, and the top places named.

Why a line tracer and not cProfile: the learner needs a line ("pipe.py:33"),
and cProfile only knows functions; a bytes `+=` is no function call at all.
Only frames of the learner's file are traced line by line (sys.settrace hands
every other frame back untraced), so the cost stays on the learner's lines;
what tracing adds to each line is measured once per process and taken off.

A statement's own time is the CPU time its thread spent from the statement's
line to the next line of the learner's file (less deeper calls into the file),
and for a statement that sleeps, the wall time of its nap too: sleeping is the
learner's choice. Time blocked waiting for the other side (read, acquire,
waitpid...) or taken by other processes on a busy machine is nobody's own
time, so a reader blocked on a slow writer does not hide the writer's slow
line, and a neighbour's load does not move the figures.

What is profiled: the process that runs the round (the calling thread and the
threads it starts) and the children it forks, which leave what they saw in a
spool folder when they end with os._exit. A child that runs another program,
is killed, or is still running when the round ends is not seen, and
`Profile.coverage` says so. The cost is bounded: after `budget` seconds the
tracing stops and the round finishes at full speed.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from types import FrameType
from typing import Any, NoReturn

from grader import proctree
from grader.hotspot_causes import EARLY_RUNS, SETUPS, Statement, name_cause, statements
from grader.loader import MODULE_NAME
from grader.report import Hotspot, counted

clock = time.perf_counter
cpu_clock = time.thread_time

TOP = 2  # places named in a report
BUDGET = 2.0  # seconds of traced time; the rest of the round runs untraced
SHOWN_SHARE = 0.05  # a place under this share of the profiled time is not worth a line
CALIBRATION_RUNS = 5000


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
    beneath: float = 0.0  # own seconds of the lines of the file it called (in its functions), overhead not taken off
    beneath_runs: int = 0  # how many lines ran there
    grown: str = ""  # the type a concatenation grows, once seen
    largest: int = 0  # the largest size it grew to (bytes, str, bytearray)
    first: float = 0.0  # the median own seconds of its first EARLY_RUNS runs (0: it ran too few times to say)
    last: float = 0.0  # and of its last EARLY_RUNS

    def add(self, other: Seen) -> None:
        if other.runs > self.runs:  # the process or thread that ran it most says how its cost went
            self.first, self.last = other.first, other.last
        self.own += other.own
        self.runs += other.runs
        self.beneath += other.beneath
        self.beneath_runs += other.beneath_runs
        self.grown = self.grown or other.grown
        self.largest = max(self.largest, other.largest)

    def less_overhead(self, overhead: float) -> Seen:
        """The figures without what tracing added to each line that ran."""
        own = max(0.0, self.own - self.runs * overhead)
        beneath = max(0.0, self.beneath - self.beneath_runs * overhead)
        return replace(self, own=own, beneath=beneath)

    def growth(self) -> float:
        """What its last runs cost each against its first ones (0: too few runs to say). Medians, because
        one of a few runs may fault a page in, warm a cache or collect garbage; both include what tracing
        adds, which only makes a growth look smaller."""
        return self.last / self.first if self.first > 0 else 0.0


class _Figures:
    """What one thread sees of one statement, as it runs (slots: the tracer touches them at every line)."""

    __slots__ = (
        "beneath",
        "beneath_runs",
        "first_starts",
        "function",
        "grown",
        "largest",
        "last_starts",
        "own",
        "runs",
        "statement",
    )

    def __init__(self, statement: Statement, function: str):
        self.statement = statement
        self.function = function
        self.clear()
        self.grown = ""
        self.largest = 0

    def clear(self) -> None:
        self.own = self.beneath = 0.0
        self.runs = self.beneath_runs = 0
        self.first_starts: list[float] = []  # its own time as each of its first runs began
        self.last_starts: deque[float] = deque(maxlen=EARLY_RUNS)  # and as each of its last ones did

    def seen(self) -> Seen:
        first = last = 0.0
        if self.runs > 2 * EARLY_RUNS:
            first, last = _median_cost(self.first_starts), _median_cost([*self.last_starts, self.own])
        figures = (self.own, self.runs, self.beneath, self.beneath_runs, self.grown, self.largest, first, last)
        return Seen(self.statement.line, self.function, *figures)


def _median_cost(starts: list[float]) -> float:
    """The median cost of the runs that began at these own times (the last one ending at the last)."""
    return statistics.median(end - start for start, end in itertools.pairwise(starts))


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
        self.already_running = 0  # child processes of the test process when the round began: not profiled
        self.tracers: list[_Tracer] = []

    def tracer(self, role: str) -> _Tracer:
        tracer = _Tracer(self, role)
        self.tracers.append(tracer)
        return tracer

    def start_thread(self, frame: FrameType, event: str, arg: object) -> Any:
        """threading.settrace's hook: each thread the round starts gets a tracer of its own."""
        if not self.active:
            return _untraced()
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
            tracer.mark, tracer.cpu_mark = clock(), cpu_clock()

    def child_exits(self) -> None:
        """A forked child ends: it leaves what it saw in the spool for the parent."""
        try:
            for tracer in self.tracers:
                tracer.charge(clock(), cpu_clock())
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
        self.frame = [0.0, 0]  # own seconds and lines run so far in the current frame of the file and below it
        self.stack: list[tuple[_Figures | None, list[float]]] = []  # the callers' statements and frames
        self.mark = clock()  # when the tracer last handed back to the learner's code
        self.cpu_mark = cpu_clock()  # the thread's CPU time then

    def enter(self, frame: FrameType, event: str, arg: object) -> Any:
        """The global trace function: a frame of the learner's file is traced, any other left alone."""
        session = self.session
        if not session.active:
            return _untraced()
        if event != "call" or frame.f_code.co_filename not in session.files:
            return None
        now, cpu = clock(), cpu_clock()
        self.charge(now, cpu)
        self.stack.append((self.current, self.frame))
        self.current = None
        self.frame = [0.0, 0]
        self.mark, self.cpu_mark = now, cpu
        return self.step

    def step(self, frame: FrameType, event: str, arg: object) -> Any:
        """The local trace function of a frame of the learner's file."""
        now, cpu = clock(), cpu_clock()
        session = self.session
        if not session.active:
            return _untraced()
        if now > session.deadline:
            session.stopped_early = True
            session.active = False
            return _untraced()
        if event == "line":
            self.charge(now, cpu)
            figures = self.by_line.get(frame.f_lineno) or self.first_sight(frame)
            if figures is not self.current:  # a statement over several lines runs once
                figures.runs += 1
                self.frame[1] += 1
                figures.last_starts.append(figures.own)  # what its runs cost, the first ones and the last
                if figures.runs <= EARLY_RUNS + 1:
                    figures.first_starts.append(figures.own)
            if figures.statement.concat:
                _peek(figures, frame)
                now, cpu = clock(), cpu_clock()  # the look is no part of the statement
            self.current = figures
        elif event == "return":
            self.charge(now, cpu)
            self.returned()
        self.mark, self.cpu_mark = now, cpu
        return self.step

    def returned(self) -> None:
        """Back in the caller: what ran in the frame that returns counts beneath the caller's statement."""
        done = self.frame
        caller, self.frame = self.stack.pop() if self.stack else (None, [0.0, 0])
        self.current = caller
        self.frame[0] += done[0]
        self.frame[1] += done[1]
        if caller is not None:
            caller.beneath += done[0]
            caller.beneath_runs += int(done[1])

    def first_sight(self, frame: FrameType) -> _Figures:
        line = frame.f_lineno
        statement = self.session.statements.get(line) or Statement(line)
        same = next((f for f in self.by_line.values() if f.statement is statement), None)
        figures = self.by_line[line] = same or _Figures(statement, frame.f_code.co_qualname)
        return figures

    def charge(self, now: float, cpu: float) -> None:
        """The statement that ran since the last event: its CPU time, or the wall time of a nap. (The tracer's
        own time, one clock reading per event, goes with it: `_overhead` takes it off.)"""
        current = self.current
        if current is not None:
            spent = now - self.mark if current.statement.sleeps else cpu - self.cpu_mark
            current.own += spent
            self.frame[0] += spent


def _untraced() -> None:
    """The budget is spent: this thread's trace hook goes, not only its tracing. A hook that stays
    and hands every frame back still costs each call (a pure-Python round ran up to 20x slower),
    and a round that was too slow could then time out. Each thread removes its own, at its next
    event; `profile` puts the caller's hook back when the round ends."""
    sys.settrace(None)


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


def profile_learner(
    work: Callable[[], object], *, budget: float = BUDGET, spool_in: str | None = None
) -> Profile | None:
    """`profile` on the learner's file as grader.loader loaded it (in the test process of a grade);
    None when no learner's file is loaded."""
    path = getattr(sys.modules.get(MODULE_NAME), "__file__", None)
    return profile(work, path, budget=budget, spool_in=spool_in) if path else None


def profile(
    work: Callable[[], object],
    learner_file: str,
    *,
    budget: float = BUDGET,
    top: int = TOP,
    spool_in: str | None = None,
) -> Profile:
    """Run `work` once, tracing the learner's file, and name the `top` statements by own time.
    `spool_in`: where the children's profiles are spooled (a grade's run folder, which the runner
    removes even when this process is killed mid-round); the temp folder by default."""
    global _session
    if _session is not None:
        raise RuntimeError("a round is being profiled in this process already")
    overhead = _overhead()
    spool = tempfile.mkdtemp(prefix="kata-profile-", dir=spool_in)
    session = _session = _Session(learner_file, budget, spool)
    failure = ""
    session.already_running = len(proctree.children(os.getpid()))
    started = clock()
    previous, previous_threads = sys.gettrace(), threading.gettrace()
    os._exit = _exit
    threading.settrace(session.start_thread)
    sys.settrace(session.tracer("test process").enter)
    try:
        work()
    except KeyboardInterrupt:
        raise
    except BaseException as err:  # the verdict is in: nothing the round raises (a skip, an exit) may change it
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
    """The figures of each statement summed per kind of process, less the overhead of tracing; the `top` by own
    time, where a statement that opens, maps or encodes counts what its calls into the file took too (a per-call
    `attach()` of the learner's own costs inside it)."""
    totals: dict[tuple[str, int], Seen] = {}
    seen = [*session.seen(), *(("child", Seen(**item)) for child in children for item in child["seen"])]
    for process, figures in seen:
        totals.setdefault((process, figures.line), Seen(figures.line, figures.function)).add(figures)
    profiled = sum(total.less_overhead(overhead).own for total in totals.values())
    places = []
    for (process, line), total in totals.items():
        figures = total.less_overhead(overhead)
        statement = session.statements.get(line) or Statement(line)
        cause, why = name_cause(statement, figures.runs, figures.grown, figures.largest, total.growth())
        spent = figures.own + (figures.beneath if statement.calling(SETUPS) else 0.0)
        places.append((spent, process, figures, cause, why))
    places.sort(key=lambda place: -place[0])
    hotspots = []
    for spent, process, figures, cause, why in places[:top]:
        share = min(1.0, spent / profiled) if profiled else 0.0
        if share < SHOWN_SHARE:
            break
        where = (learner_file, figures.line, figures.function)
        hotspots.append(Hotspot(*where, round(share, 3), round(spent, 4), figures.runs, process, cause, why))
    return hotspots


def _coverage(session: _Session, children: list[dict[str, Any]], elapsed: float, failure: str) -> str:
    """What the figures cover: the round, the processes seen and those not seen."""
    seen = ["the test process"]
    if any(tracer.role == "thread" for tracer in session.tracers):
        seen.append("the threads it started")
    forked = session.forked + sum(int(child.get("forked", 0)) for child in children)
    reported = len(children)
    if forked:
        seen.append(f"{reported} of {forked} forked children")
    places = ", ".join(seen[:-1]) + " and " + seen[-1] if len(seen) > 1 else seen[0]
    parts = [f"one round of {elapsed:.2f} s, profiled in {places}"]
    if session.stopped_early:
        parts.append(f"tracing stopped after {session.budget:g} s, the round finished untraced")
    if forked > reported:
        parts.append(
            f"{counted(forked - reported, 'forked child', 'forked children')} not seen (another program run by "
            "exec, killed, or still running at the end)"
        )
    if session.already_running:
        parts.append(
            f"{counted(session.already_running, 'child process', 'child processes')} already running when the round "
            "began: not profiled, and your code may run there too"
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
