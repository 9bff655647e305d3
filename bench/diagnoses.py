"""How many timeouts the wait-for graph explains, and how many fall back to the test's hint.

    python bench/diagnoses.py [--kata pipe ...] [--out bench/diagnoses.md]

Grades every mutant declared with `status: timeout` in tests/mutants/<kata>/mutants.yaml
on its tests, and for every test that timed out reads the diagnosis the result carries
(`TestResult.diagnosis`, from grader.blocked.inspect at that moment). A timeout is
*explained* when the graph names a pattern, *proven* when it also proves that nothing
could wake the test process (the runner then stops the test early), and a *fallback*
when only the test's hint remains. The time column is what the timeout cost.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from grader import grade  # noqa: E402
from grader.catalog import all_katas, load_kata  # noqa: E402
from grader.mutants import Mutant, declared_mutants, mutant_source  # noqa: E402
from grader.report import TestResult  # noqa: E402


@dataclass
class Row:
    mutant: Mutant
    test: str
    result: TestResult | None  # None: the test did not time out


def grade_with_diagnoses(mutant: Mutant, tests: tuple[str, ...] | None = None) -> list[Row]:
    """Grade one mutant (on its own tests, or these); a row per test that timed out."""
    with tempfile.TemporaryDirectory(prefix="kata-diagnoses-") as folder:
        path = Path(folder) / f"{load_kata(mutant.kata).module}.py"
        path.write_text(mutant_source(mutant))
        result = grade(mutant.kata, path, perf=mutant.perf or tests is not None, tests=tests or mutant.tests)
    rows = [Row(mutant, t.name, t) for t in result.tests if t.status == "timeout"]
    return rows or [Row(mutant, mutant.tests[0], None)]


# Issue 20's case: the perf test waited out its 30 s on the deadlock task 1 had already reported.
RECURRENCE = (
    "pipe",
    "waitpid_before_read",
    ("test_child_to_parent_larger_than_pipe_buffer", "test_child_to_parent_throughput"),
)


def recurrence() -> list[str]:
    kata, name, tests = RECURRENCE
    mutant = next(m for m in declared_mutants(kata) if m.name == name)
    rows = [r for r in grade_with_diagnoses(mutant, tests) if r.result is not None]
    limits = sum(load_kata(kata).time_limit(r.test, r.result.task or 0) for r in rows if r.result)
    lines = [
        "",
        f"## One failure, one report: {kata}/{name} with its perf test",
        "",
        f"{len(rows)} timeouts cost {sum(r.result.duration for r in rows if r.result):.1f} s of their {limits:g} s "
        "of limits. What the second one says:",
        "",
    ]
    lines += [f"> {r.result.message}" for r in rows[1:] if r.result]
    return lines


def table(rows: list[Row], elapsed: float) -> str:
    timed_out = [(r, r.result.diagnosis) for r in rows if r.result is not None and r.result.diagnosis is not None]
    explained = [(r, d) for r, d in timed_out if d.explained]
    proven = [(r, d) for r, d in explained if d.deadlock]
    early = [(r, d) for r, d in timed_out if d.stopped_early]
    spent = sum(r.result.duration for r, _ in timed_out if r.result is not None)
    limits = sum(load_kata(r.mutant.kata).time_limit(r.test, r.result.task or 0) for r, _ in timed_out if r.result)
    lines = [
        f"# Timeouts explained by the wait-for graph, {datetime.date.today().isoformat()}",
        "",
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end; "
        f"`python bench/diagnoses.py` ({elapsed:.0f} s).",
        "",
        f"**{len(explained)} of {len(timed_out)} timeouts explained by the graph** "
        f"({len(proven)} proven deadlocks); {len(timed_out) - len(explained)} fell back to the test's hint.",
        f"{len(early)} stopped early: the timeouts cost {spent:.0f} s of their {limits:g} s of limits.",
        "",
        "| kata | mutant | test | expected | pattern | confidence | proven deadlock | stopped after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if row.result is None or row.result.diagnosis is None:
            lines.append(
                f"| {row.mutant.kata} | {row.mutant.name} | {row.test} | {row.mutant.pattern} | (no timeout) |||"
            )
            continue
        d = row.result.diagnosis
        lines.append(
            f"| {row.mutant.kata} | {row.mutant.name} | {row.test} | {row.mutant.pattern or '-'} | {d.pattern} | "
            f"{d.confidence} | {'yes' if d.deadlock else 'no'} | {row.result.duration:.1f} s |"
        )
    lines += ["", "## What the learner reads", ""]
    for row, d in timed_out:
        lines.append(f"- **{row.mutant}** ({row.test}): {d.sentence}")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kata", action="append", help="only these katas (repeatable)")
    parser.add_argument("--out", type=Path, help="also write the Markdown report here")
    args = parser.parse_args()
    katas = args.kata or [kata.id for kata in all_katas()]
    mutants = [m for kata in katas for m in declared_mutants(kata) if m.status == "timeout"]
    started = time.monotonic()
    rows: list[Row] = []
    for mutant in mutants:
        print(f"grading {mutant} ...", file=sys.stderr, flush=True)
        rows += grade_with_diagnoses(mutant)
    extra = recurrence() if "pipe" in katas else []
    report = table(rows, time.monotonic() - started) + "\n".join(extra) + ("\n" if extra else "")
    print(report)
    if args.out:
        args.out.write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
