"""Where-blocked diagnostics: for each live process of a timed-out test, its
Python stack (faulthandler, registered by the plugin on a reserved signal and
inherited across fork), what the kernel says it waits for, and the wait-for
graph's diagnosis of the whole run (grader.waitgraph, grader.diagnosis).

A process that blocks the signal, replaced the handler, or is not Python
(an exec'd command) gets the kernel view only: state, wchan and system call.
The graph is read before any stack is dumped: the dump signal interrupts the
blocking calls it describes.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from grader import procfs, syscalls, waitgraph
from grader.diagnosis import Diagnosis, diagnose
from grader.report import BlockedProcess, TimeoutDiagnosis

MAX_DUMPED = 12
_FRAME = re.compile(r'File "(?P<file>.*)", line (?P<line>\d+) in (?P<func>.*)')
_INTERNAL = (
    "/_pytest/",
    "/pluggy/",
    "/grader/plugin.py",
    "/grader/sandbox.py",
    "/grader/_boot.py",
    "/grader/loader.py",
    "<frozen ",
)


@dataclass
class WhereBlocked:
    """Everything known about the processes of a timed-out test."""

    processes: list[BlockedProcess]  # stack and kernel state of each, the test process first
    diagnosis: Diagnosis  # the pattern the wait-for graph names, or the test's hint flagged as a guess
    waits: dict[int, str] = field(default_factory=dict)  # pid -> "read(): waits to read pipe 4411 (fd 3); ..."

    def summary(self) -> TimeoutDiagnosis:
        """The diagnosis as the result schema carries it."""
        d = self.diagnosis
        return TimeoutDiagnosis(
            pattern=d.pattern,
            sentence=d.sentence,
            confidence=d.confidence,
            deadlock=d.deadlock,
            evidence=list(d.evidence),
            pids=list(d.pids),
            unreadable=list(d.unreadable),
            objects=list(d.objects),
        )

    def cause(self) -> str:
        """The line that replaces the per-test "Likely cause": evidence first, a guess said as one."""
        return self.summary().cause()


@dataclass
class Waits:
    """What /proc says of a run's processes, read without sending them anything: the runner
    reads this first, so that a test that sends its result meanwhile is left undisturbed."""

    procs: list[psutil.Process]  # the test process first, at most MAX_DUMPED of them
    skipped: int  # processes beyond MAX_DUMPED, not inspected
    test_pid: int | None
    diagnosis: Diagnosis
    waits: dict[int, str]  # pid -> what the wait-for graph says it waits for
    states: dict[int, str]  # pid -> kernel_state(pid)


def read_waits(procs: list[psutil.Process], test_pid: int | None, dump_signal: int, hint: str = "") -> Waits:
    """The wait-for graph, its diagnosis and each process's kernel state: read before any stack
    is dumped, because the dump signal interrupts the blocking calls they describe."""
    ordered = sorted(procs, key=lambda p: (p.pid != test_pid, p.pid))
    graph = waitgraph.build([proc.pid for proc in ordered])
    diagnosis = diagnose(graph, test_pid, hint, quiet_signals=1 << (dump_signal - 1))
    waits = {pid: graph.describe(pid) for pid in graph.processes}
    kept = ordered[:MAX_DUMPED]
    states = {proc.pid: kernel_state(proc.pid) for proc in kept}
    return Waits(kept, len(ordered) - len(kept), test_pid, diagnosis, waits, states)


def with_stacks(waits: Waits, stacks_log: Path, impl_path: str, dump_signal: int) -> WhereBlocked:
    """Each process's Python stack added to what was read: this sends the dump signal."""
    report = []
    for proc in waits.procs:
        try:
            role = "test process" if proc.pid == waits.test_pid else f"child of {proc.ppid()}"
            command = " ".join(proc.cmdline())[:80] or proc.name()
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            continue
        stack = []
        if _handles(proc.pid, dump_signal):
            stack = _order_frames(_dump(proc.pid, stacks_log, dump_signal), impl_path)
        state = waits.states.get(proc.pid, "gone")
        report.append(
            BlockedProcess(
                pid=proc.pid,
                role=role,
                command=command,
                state=state,
                stack=stack,
                waits_for=waits.waits.get(proc.pid, ""),
            )
        )
    if waits.skipped:
        report.append(
            BlockedProcess(pid=0, role=f"and {waits.skipped} more processes", command="", state="not inspected")
        )
    return WhereBlocked(report, waits.diagnosis, waits.waits)


def inspect(
    procs: list[psutil.Process],
    test_pid: int | None,
    stacks_log: Path,
    impl_path: str,
    dump_signal: int,
    hint: str = "",
) -> WhereBlocked:
    """The wait-for graph and its diagnosis, then each process's stack."""
    return with_stacks(read_waits(procs, test_pid, dump_signal, hint), stacks_log, impl_path, dump_signal)


def kernel_state(pid: int) -> str:
    """'blocked in read() (kernel: pipe_read)', 'running on a CPU (a busy loop?)', ..."""
    try:
        state = procfs.task_stat(pid).state
    except (OSError, ValueError):
        return "gone"
    if state == "R":
        return "running on a CPU (a busy loop?)"
    if state in ("T", "t"):
        return "stopped"
    try:
        call = procfs.syscall(pid)
    except OSError:
        call = None
    try:
        wchan = procfs.wchan(pid)
    except OSError:
        wchan = ""
    parts = [f"blocked in {syscalls.name(call.number)}()" if call is not None and call.number >= 0 else "sleeping"]
    if wchan:
        parts.append(f"(kernel: {wchan})")
    return " ".join(parts)


def _handles(pid: int, signum: int) -> bool:
    """True when the process catches signum and does not block it (faulthandler can answer)."""
    try:
        masks = procfs.signal_masks(pid)
    except OSError:
        return False
    bit = 1 << (signum - 1)
    return bool(masks.caught & bit) and not masks.blocked & bit


def _dump(pid: int, stacks_log: Path, signum: int, timeout: float = 0.5) -> str:
    start = stacks_log.stat().st_size if stacks_log.exists() else 0
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        return ""
    deadline = time.monotonic() + timeout
    size, stable_since = start, time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.01)
        now_size = stacks_log.stat().st_size
        if now_size != size:
            size, stable_since = now_size, time.monotonic()
        elif size > start and time.monotonic() - stable_since > 0.03:
            break
    with open(stacks_log, "rb") as f:
        f.seek(start)
        return f.read(size - start).decode(errors="replace")


def _order_frames(dump: str, impl_path: str) -> list[str]:
    """Frames innermost first, the grader's own frames dropped, the learner's file named short."""
    blocks = dump.split("\n\n")
    current = next((b for b in blocks if b.lstrip().startswith("Current thread")), blocks[0])
    frames = []
    for match in _FRAME.finditer(current):
        path, line, func = match["file"], match["line"], match["func"].strip()
        if any(part in path for part in _INTERNAL):
            continue
        label = os.path.basename(path) if path == impl_path else path
        frames.append(f"{label}:{line} in {func}" + ("   <- your code" if path == impl_path else ""))
    return frames
