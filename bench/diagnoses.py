"""How many timeouts the wait-for graph explains, and how many fall back to the test's hint.

    python bench/diagnoses.py [--kata pipe ...] [--out bench/diagnoses.md]

Grades every mutant declared with `status: timeout` in tests/mutants/<kata>/mutants.yaml
on its tests, and for every test that timed out records what grader.blocked.inspect
concluded from /proc at that moment (the runner calls where_blocked there; this script
wraps it to keep the diagnosis). A timeout is *explained* when the graph names a
pattern, *proven* when it also proves that nothing could wake the test process, and
a *fallback* when only the test's hint remains.

Each timeout costs its test's full time limit: expect a minute or two.
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

from katalib import Mutant, declared_mutants, mutant_source  # noqa: E402

from grader import blocked, grade  # noqa: E402
from grader.catalog import all_katas, load_kata  # noqa: E402
from grader.diagnosis import Diagnosis  # noqa: E402

FALLBACK = ("hint", "unknown")


@dataclass
class Row:
    mutant: Mutant
    test: str
    diagnosis: Diagnosis | None  # None: the test did not time out


def grade_with_diagnoses(mutant: Mutant) -> list[Row]:
    """Grade one mutant, keeping the diagnosis of each timeout."""
    seen: list[Diagnosis] = []
    original = blocked.where_blocked

    def recording(procs, test_pid, stacks_log, impl_path, dump_signal):  # type: ignore[no-untyped-def]
        where = blocked.inspect(procs, test_pid, stacks_log, impl_path, dump_signal)
        seen.append(where.diagnosis)
        return where.processes

    blocked.where_blocked = recording
    try:
        with tempfile.TemporaryDirectory(prefix="kata-diagnoses-") as folder:
            path = Path(folder) / f"{load_kata(mutant.kata).module}.py"
            path.write_text(mutant_source(mutant))
            result = grade(mutant.kata, path, perf=mutant.perf, tests=mutant.tests)
    finally:
        blocked.where_blocked = original
    timeouts = [t for t in result.tests if t.status == "timeout"]
    rows = [Row(mutant, t.name, d) for t, d in zip(timeouts, seen, strict=False)]
    if not rows:
        rows = [Row(mutant, mutant.tests[0], None)]
    return rows


def table(rows: list[Row], elapsed: float) -> str:
    timed_out = [r for r in rows if r.diagnosis is not None]
    explained = [r for r in timed_out if r.diagnosis and r.diagnosis.pattern not in FALLBACK]
    proven = [r for r in explained if r.diagnosis and r.diagnosis.deadlock]
    lines = [
        f"# Timeouts explained by the wait-for graph, {datetime.date.today().isoformat()}",
        "",
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end; "
        f"`python bench/diagnoses.py` ({elapsed:.0f} s).",
        "",
        f"**{len(explained)} of {len(timed_out)} timeouts explained by the graph** "
        f"({len(proven)} proven deadlocks); {len(timed_out) - len(explained)} fell back to the test's hint.",
        "",
        "| kata | mutant | test | pattern | confidence | proven deadlock |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        d = row.diagnosis
        if d is None:
            lines.append(f"| {row.mutant.kata} | {row.mutant.name} | {row.test} | (no timeout) | | |")
            continue
        deadlock = "yes" if d.deadlock else "no"
        lines.append(
            f"| {row.mutant.kata} | {row.mutant.name} | {row.test} | {d.pattern} | {d.confidence} | {deadlock} |"
        )
    lines += ["", "## What the learner reads", ""]
    for row in timed_out:
        assert row.diagnosis is not None
        lines.append(f"- **{row.mutant}** ({row.test}): {row.diagnosis.sentence}")
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
    report = table(rows, time.monotonic() - started)
    print(report)
    if args.out:
        args.out.write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
