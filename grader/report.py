"""The result schema (JSON, versioned) and its human rendering.

One `Result` object per grade; the CLI's `--json`, the human report and the TUI
all read the same object. Modelled on Exercism's test-runner results.json:
status pass/fail/error, per-test message, capped output, task ids, and an
explicit "timeout" status.
"""

from __future__ import annotations

import json
import os
import textwrap
from dataclasses import asdict, dataclass, field
from typing import Any

# 1: the first schema. 2: tests[].diagnosis (why a test timed out, from the wait-for graph),
# tests[].blocked[].waits_for, hygiene[].pid (the process that created the object).
# 3: perf[].hotspots and perf[].profiled (where a failed perf task's time went, grader/hotspots.py).
SCHEMA_VERSION = 3
OUTPUT_CAP = 8 * 1024  # bytes of captured output kept per test
TEST_STATUSES = ("pass", "fail", "error", "timeout")


def counted(n: int, one: str, many: str) -> str:
    """ "1 IPC object", "2 IPC objects": a count with its noun, for a report's sentences."""
    return f"{n} {one if n == 1 else many}"


@dataclass
class BlockedProcess:
    """Where one live process of the run was when its test timed out."""

    pid: int
    role: str  # "test process" or "child of <pid>"
    command: str
    state: str  # e.g. "sleeping in pipe_read", "running"
    stack: list[str] = field(default_factory=list)  # "file:line in func", innermost first
    waits_for: str = ""  # what the wait-for graph says it waits for: "read(): waits to read pipe 4411 (fd 3); ..."

    def describe(self) -> str:
        mine = [frame for frame in self.stack if frame.endswith("<- your code")]
        where = (mine or self.stack or ["no Python stack available"])[0]
        return f"pid {self.pid} ({self.role}): {where}; {self.state}"


@dataclass
class TimeoutDiagnosis:
    """Why a test timed out, read from what each process waited for (grader/diagnosis.py)."""

    pattern: str  # cycle, no-eof, no-waker, fifo-no-peer, lost-wakeup, busy-loop, sleeping, threads, hint, unknown
    sentence: str  # the cause, with pids and fds; a guess says so
    confidence: str  # certain (a proven deadlock), likely, guess (the test's own hint)
    deadlock: bool = False  # proven: nothing could wake the test process
    evidence: list[str] = field(default_factory=list)  # one line per process: what it waited for
    pids: list[int] = field(default_factory=list)  # the processes the sentence is about
    unreadable: list[str] = field(default_factory=list)  # what /proc refused, which may hide the cause
    objects: list[str] = field(default_factory=list)  # kinds of object waited on: pipe, child, socket, posix-sem...
    stopped_early: bool = False  # the deadlock was proven before the limit: the test was stopped then
    same_as: str = ""  # an earlier test of this grade that timed out the same way (one failure, one report)

    @property
    def explained(self) -> bool:
        """The graph named the pattern (not a fallback to the test's hint)."""
        return self.confidence != "guess"

    def cause(self) -> str:
        """The line a learner reads under the timeout: evidence first, a guess said as one."""
        if not self.explained:
            return self.sentence
        proven = (
            " (a proven deadlock: nothing can wake these processes)" if self.deadlock and not self.stopped_early else ""
        )
        return f"Cause, from what each process waits for{proven}: {self.sentence}"


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
class PerfFigure:
    name: str
    description: str
    value: float
    unit: str
    baseline: float
    ratio: float
    threshold: float
    passed: bool
    test: str = ""
    # A failed figure's profile (grader/hotspots.py): the top places of the learner's file, and what was profiled
    hotspots: list[Hotspot] = field(default_factory=list)
    profiled: str = ""

    def __post_init__(self) -> None:
        """From JSON (the protocol, --json, a stored result) the places arrive as dicts."""
        self.hotspots = [spot if isinstance(spot, Hotspot) else Hotspot(**spot) for spot in self.hotspots]


@dataclass
class HygieneFinding:
    kind: str  # zombie, process, fd, escape, posix-shm, posix-sem, posix-mq, sysv-shm, sysv-sem, sysv-msg, fifo, socket
    name: str  # the object: pid, fd, name or key
    message: str
    test: str = ""  # the test that created it; empty: made outside any test, found by the run's final sweep
    pid: int = 0  # the process that created it, when the creation ledger knows (0: unknown)


@dataclass
class TestResult:
    __test__ = False  # a result, not a pytest test class
    name: str
    task: int | None
    status: str  # one of TEST_STATUSES
    message: str = ""
    details: str = ""  # traceback or extra context, learner frames first
    output: str = ""  # captured stdout+stderr, capped
    duration: float = 0.0
    blocked: list[BlockedProcess] = field(default_factory=list)
    nodeid: str = ""
    diagnosis: TimeoutDiagnosis | None = None  # a timeout's cause, from the wait-for graph


@dataclass
class TaskResult:
    id: int
    name: str
    title: str
    status: str  # pass, fail, skipped
    passed: int = 0
    total: int = 0
    perf: bool = False
    skipped_because: str = ""  # when skipped: "--no-perf" or "not selected"


@dataclass
class Result:
    kata: str
    implementation: str
    status: str  # pass, fail, error
    duration: float = 0.0
    message: str = ""  # one line when status is error
    tasks: list[TaskResult] = field(default_factory=list)
    tests: list[TestResult] = field(default_factory=list)
    perf: list[PerfFigure] = field(default_factory=list)
    hygiene: list[HygieneFinding] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    schema: int = SCHEMA_VERSION

    @property
    def exit_code(self) -> int:
        return {"pass": 0, "fail": 1}.get(self.status, 2)

    @property
    def tasks_passed(self) -> int:
        return sum(1 for t in self.tasks if t.status == "pass")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        data = dict(data)
        data["tasks"] = [TaskResult(**t) for t in data.get("tasks", [])]
        data["tests"] = [test_result_from_dict(t) for t in data.get("tests", [])]
        data["perf"] = [PerfFigure(**p) for p in data.get("perf", [])]
        data["hygiene"] = [HygieneFinding(**h) for h in data.get("hygiene", [])]
        return cls(**data)


def test_result_from_dict(data: dict[str, Any]) -> TestResult:
    data = dict(data)
    data["blocked"] = [BlockedProcess(**b) for b in data.get("blocked", [])]
    if data.get("diagnosis") is not None:
        data["diagnosis"] = TimeoutDiagnosis(**data["diagnosis"])
    return TestResult(**data)


def error_result(kata: str, implementation: str, message: str) -> Result:
    return Result(kata=kata, implementation=implementation, status="error", message=message)


def cap_output(raw: bytes, total: int | None = None) -> str:
    """Decode captured output, keeping the first OUTPUT_CAP bytes and saying how much was cut."""
    total = len(raw) if total is None else total
    text = raw[:OUTPUT_CAP].decode("utf-8", errors="replace")
    if total > OUTPUT_CAP:
        text += f"\n[... output truncated: {total - OUTPUT_CAP} more bytes ...]"
    return text


# --- human rendering ---------------------------------------------------------

_MARK = {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "timeout": "TIMEOUT", "skipped": "SKIP"}


HYGIENE_SHOWN_PER_KIND = 5  # a fork storm leaves hundreds of findings: a few teach as much
REPORT_WIDTH = 92  # columns, when the reader's are not known (`kata grade` passes its terminal's)


def render_text(result: Result, *, verbose: bool = False, width: int = REPORT_WIDTH) -> str:
    """The report a learner reads after `kata grade`: tasks, what failed and why, perf, hygiene;
    long lines wrapped to `width` under their own indent (a terminal would wrap them to column 0)."""
    lines: list[str] = [f"kata {result.kata}: {result.implementation}"]
    if result.status == "error":
        lines.append(f"ERROR: {result.message}")
        return "\n".join(lines) + "\n"
    lines.append("")
    for task in result.tasks:
        detail = (
            (task.skipped_because or "skipped") if task.status == "skipped" else f"{task.passed}/{task.total} tests"
        )
        lines.append(f"  [{_MARK[task.status]:>4}] task {task.id}: {task.title}  ({detail})")
    lines += _failures(result.tests, verbose, width)
    lines += _perf(result.perf, width)
    lines += _hygiene(result.hygiene)
    lines += [f"note: {notice}" for notice in result.notices]
    lines.append("")
    lines.append(f"{result.status.upper()}: {totals(result)}")
    return "\n".join(_fitted(lines, width)) + "\n"


def _fitted(lines: list[str], width: int) -> list[str]:
    """Every line longer than `width` wrapped under its indent plus four, but the learner's own output
    and tracebacks (`>` and `|` lines), which are shown as they were written."""
    fitted: list[str] = []
    for line in lines:
        indent = line[: len(line) - len(line.lstrip())]
        if len(line) <= width or line.lstrip().startswith((">", "|")):
            fitted.append(line)
        else:
            fitted += _wrapped(line[len(indent) :], width, indent, indent + "    ")
    return fitted


def _wrapped(text: str, width: int, indent: str, hanging: str) -> list[str]:
    """Each line of `text` indented, those longer than `width` wrapped under `hanging` (never inside a
    word: a path or an identifier stays whole)."""
    lines: list[str] = []
    for line in text.splitlines():
        if len(indent) + len(line) <= width:
            lines.append(indent + line)
        else:
            lines += textwrap.wrap(
                line,
                width=width,
                initial_indent=indent,
                subsequent_indent=hanging,
                break_long_words=False,
                break_on_hyphens=False,
            )
    return lines


def _failures(tests: list[TestResult], verbose: bool, width: int) -> list[str]:
    failing = [t for t in tests if t.status != "pass"]
    lines = ["", "What went wrong:"] if failing else []
    for group in _same_failure_groups(failing):
        test = group[0]
        lines.append("")
        tasks = ", ".join(dict.fromkeys(str(t.task) for t in group))
        heading = f"{_MARK[test.status]} {', '.join(t.name for t in group)} (task {tasks})"
        lines += _wrapped(heading, width, "  ", "      ")
        lines += _wrapped(test.message, width, "    ", "    ")
        if test.diagnosis is not None and test.diagnosis.same_as and not verbose:
            continue  # the same bug as a test above: its one line says so, --verbose shows the rest
        lines += _blocked(test, verbose)
        if test.details and (verbose or test.status == "error"):
            lines.extend("    | " + line for line in test.details.splitlines())
        if test.output:
            output = test.output if verbose else _tail(test.output, 12)
            lines.append("    output:")
            lines.extend("    > " + line for line in output.splitlines())
    return lines


def _blocked(test: TestResult, verbose: bool) -> list[str]:
    """Each process of a timed-out test: where it was, what it waited for, its frames;
    with --verbose, the evidence the diagnosis rests on and what /proc refused."""
    lines = []
    for proc in test.blocked:
        lines.append("      " + proc.describe())
        if proc.waits_for:
            lines.append("        waits: " + proc.waits_for)
        lines.extend("        " + frame for frame in proc.stack[1:6])
    if verbose and test.diagnosis is not None:
        lines += ["    evidence:", *("      " + line for line in test.diagnosis.evidence)]
        lines += ["      could not read: " + gap for gap in test.diagnosis.unreadable]
    return lines


def _perf(figures: list[PerfFigure], width: int) -> list[str]:
    if not figures:
        return []
    lines = ["", "Performance (same-run baseline, ratio must reach the threshold):"]
    for p in figures:
        verdict = "ok" if p.passed else "TOO SLOW"
        lines.append(
            f"  {p.description or p.name}: {p.value:,.1f} {p.unit} vs baseline {p.baseline:,.1f} {p.unit}"
            f" = {_ratio(p.ratio)}x (threshold {_ratio(p.threshold)}x) {verdict}"
        )
        lines += _where_the_time_went(p, width)
    return lines


def _where_the_time_went(figure: PerfFigure, width: int) -> list[str]:
    """A failed figure's top places in the learner's file, and what the profile covered."""
    if not figure.profiled:
        return []
    lines = ["    where the time went, by own time per line of your file:"]
    for spot in figure.hotspots:
        lines += _wrapped(spot.describe(), width, "      ", "        ")
    if not figure.hotspots:
        lines.append("      no line of your file stands out")
    lines += _wrapped(f"({figure.profiled})", width, "      ", "       ")
    return lines


def _hygiene(findings: list[HygieneFinding]) -> list[str]:
    """A few findings per test and kind (a fork storm leaves hundreds), then a count of the rest."""
    if not findings:
        return []
    lines = ["", "Hygiene (left behind, and removed by the grader):"]
    per_group: dict[tuple[str, str], int] = {}
    for h in findings:
        group = (h.test, h.kind)
        per_group[group] = per_group.get(group, 0) + 1
        if per_group[group] <= HYGIENE_SHOWN_PER_KIND:
            made = ", ".join(filter(None, [h.test, f"made by pid {h.pid}" if h.pid else ""]))
            where = f" [{made}]" if made else ""
            lines.append(f"  {h.kind} {h.name}{where}: {h.message}")
    for (test, kind), count in per_group.items():
        if count > HYGIENE_SHOWN_PER_KIND:
            where = f" in {test}" if test else ""
            lines.append(f"  ... and {count - HYGIENE_SHOWN_PER_KIND} more {kind} findings{where} (all in --json)")
    return lines


def totals(result: Result) -> str:
    """`3/3 tasks (1 skipped), 13/13 tests in 1.0s`: the one wording of a run's totals,
    shared by the report, `kata watch` and the TUI. Skipped tasks are not counted as failed."""
    graded = [t for t in result.tasks if t.status != "skipped"]
    skipped = len(result.tasks) - len(graded)
    return (
        f"{result.tasks_passed}/{len(graded)} tasks"
        + (f" ({skipped} skipped)" if skipped else "")
        + f", {sum(t.status == 'pass' for t in result.tests)}/{len(result.tests)} tests in {result.duration:.1f}s"
    )


def _ratio(value: float) -> str:
    """Two decimals, or three significant digits for the tiny floors of some katas (0.005x)."""
    return f"{value:.2f}" if value >= 0.1 else f"{value:.3g}"


def _same_failure_groups(failing: list[TestResult]) -> list[list[TestResult]]:
    """Consecutive failures with the same message and nothing else to show, shown once:
    a starter's fourteen "not implemented" read as one line per function."""
    groups: list[list[TestResult]] = []
    for test in failing:
        plain = not (test.blocked or test.output or test.details)
        last = groups[-1][0] if groups else None
        if (
            plain
            and last is not None
            and not (last.blocked or last.output or last.details)
            and (last.status, last.message) == (test.status, test.message)
        ):
            groups[-1].append(test)
        else:
            groups.append([test])
    return groups


def _tail(text: str, n: int) -> str:
    lines = text.splitlines()
    if len(lines) <= n:
        return text
    return "\n".join([f"[... {len(lines) - n} earlier lines ...]", *lines[-n:]])
