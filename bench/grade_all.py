"""Every kata's grading cost, and whether its perf thresholds tell fast from slow.

    python bench/grade_all.py [--runs 3] [--rounds 20] [--kata pipe ...] [--skip-cost] [--out FILE]

Part 1, per kata (reference solution): wall time of `kata grade <id> --solution
--no-perf` and with perf (medians), the grader's overhead over a bare pytest
run of the same suite (see grade_latency.py), and the peak memory of the whole
grading process tree.

Part 2, perf-threshold discrimination: with two busy loops running beside it
(`python -c 'while True: pass'` x2), each kata's reference is graded `--rounds`
times on its perf tasks, and each of its slow-but-correct mutants (the
`perf: true` rows of tests/mutants/<kata>/mutants.yaml) `--rounds` times on the
perf test it targets. Per kata and metric the table gives how often each
passed, the median ratio reached, and the margin: reference median / threshold
(goal >= 2, every round passed) and threshold / mutant median (goal >= 2, no
round passed).

Prints the rows as they come, then the whole Markdown report, or writes it to --out: a new
file only (bench/results.md is a dated record edited by hand, not a file to regenerate).
"""

from __future__ import annotations

import argparse
import datetime
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(BENCH)]

from grade_latency import bare_pytest, timed  # noqa: E402

from grader import grade  # noqa: E402
from grader.catalog import KataDef, all_katas  # noqa: E402
from grader.mutants import Mutant, declared_mutants, mutant_source  # noqa: E402

REFERENCE_MARGIN = 2.0  # the reference's median ratio is at least this many times the threshold
MUTANT_MARGIN = 2.0  # a slow mutant's median ratio is at most the threshold divided by this


def peak_tree_rss(argv: list[str]) -> tuple[float, int]:
    """(wall seconds, peak RSS in bytes summed over the command's whole process tree)."""
    proc = psutil.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    peak = 0
    started = datetime.datetime.now()
    while proc.poll() is None:
        total = 0
        try:
            for p in [proc, *proc.children(recursive=True)]:
                total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            pass
        peak = max(peak, total)
        try:
            proc.wait(timeout=0.05)
        except psutil.TimeoutExpired:
            pass
    return (datetime.datetime.now() - started).total_seconds(), peak


@contextmanager
def busy_neighbours(count: int = 2) -> Iterator[None]:
    """`count` processes spinning on a CPU each, for the duration of the block."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def cost_rows(katas: list[KataDef], runs: int) -> list[str]:
    rows = [
        "| kata | grade --no-perf | grade (perf) | bare pytest | overhead | peak memory |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for kata in katas:
        cmd = [sys.executable, "-m", "kata.cli", "grade", kata.id, "--solution"]
        no_perf = [timed([*cmd, "--no-perf"]) for _ in range(runs)]
        full, peaks = zip(*(peak_tree_rss(cmd) for _ in range(runs)), strict=False)
        bare = [bare_pytest(kata.id) for _ in range(runs)]
        overhead = statistics.median(no_perf) - statistics.median(bare)
        rows.append(
            f"| {kata.id} | {statistics.median(no_perf):.2f} s | {statistics.median(full):.2f} s | "
            f"{statistics.median(bare):.2f} s | {overhead:+.2f} s | {max(peaks) / 2**20:.0f} MiB |"
        )
        print(rows[-1], flush=True)
    return rows


@dataclass
class Rounds:
    """What `rounds` perf grades of one file said about one metric."""

    threshold: float
    ratios: list[float] = field(default_factory=list)
    passed: int = 0
    missing: int = 0  # rounds without a figure for this metric (the test timed out or failed before measuring)

    @property
    def median(self) -> float | None:
        return statistics.median(self.ratios) if self.ratios else None


def perf_rounds(kata: KataDef, path: Path, rounds: int, tests: Iterable[str] | None) -> dict[str, Rounds]:
    """Grade `path` `rounds` times on its perf tasks (or only `tests`); per metric, the ratios and passes.
    A metric that never got a figure (its test timed out, or failed before measuring) is left out."""
    perf_tasks = [t.id for t in kata.tasks if t.perf]
    metrics = {m.name: Rounds(m.threshold) for m in kata.perf}
    for _ in range(rounds):
        result = grade(kata.id, path, perf=True, tasks=perf_tasks, tests=None if tests is None else set(tests))
        figures = {f.name: f for f in result.perf}
        for name, tally in metrics.items():
            figure = figures.get(name)
            if figure is None:
                tally.missing += 1
                continue
            tally.ratios.append(figure.ratio)
            test = next((t for t in result.tests if t.name == figure.test), None)
            tally.passed += figure.passed and test is not None and test.status == "pass"
    return {name: tally for name, tally in metrics.items() if tally.ratios}


def verdict_row(kata_id: str, who: str, metric: str, tally: Rounds, rounds: int, slow: bool) -> str:
    median = tally.median
    if median is None:
        shown, margin, ok = "-", "-", slow  # a slow mutant that never produced a figure still failed
    else:
        shown = f"{median:.3g}x"
        if slow:
            value = tally.threshold / median if median else float("inf")
            ok = tally.passed == 0 and value >= MUTANT_MARGIN
        else:
            value = median / tally.threshold
            ok = tally.passed == rounds and value >= REFERENCE_MARGIN
        margin = f"{value:.1f}"
    missing = f" ({tally.missing} without a figure)" if tally.missing else ""
    return (
        f"| {kata_id} | {metric} | {tally.threshold:g}x | {who} | {tally.passed}/{rounds}{missing} | {shown} | "
        f"{margin} | {'ok' if ok else 'NO'} |"
    )


def slow_mutants(kata_id: str) -> list[Mutant]:
    return [m for m in declared_mutants(kata_id) if m.perf]


def discrimination_rows(katas: list[KataDef], rounds: int) -> list[str]:
    rows = [
        "| kata | metric | threshold | graded | passed | median ratio | margin | goal met |",
        "|---|---|---:|---|---:|---:|---:|---|",
    ]
    with busy_neighbours(), tempfile.TemporaryDirectory(prefix="kata-bench-") as folder:
        for kata in katas:
            for metric, tally in perf_rounds(kata, kata.solution_path, rounds, None).items():
                rows.append(verdict_row(kata.id, "reference", metric, tally, rounds, slow=False))
                print(rows[-1], flush=True)
            for mutant in slow_mutants(kata.id):
                path = Path(folder) / f"{kata.module}.py"
                path.write_text(mutant_source(mutant))
                tallies = perf_rounds(kata, path, rounds, mutant.tests)
                for metric, tally in tallies.items():
                    rows.append(verdict_row(kata.id, f"mutant {mutant.name}", metric, tally, rounds, slow=True))
                    print(rows[-1], flush=True)
                if not tallies:  # every round timed out or failed before measuring: rejected, but no ratio
                    rows.append(
                        f"| {kata.id} | {', '.join(mutant.tests)} | - | mutant {mutant.name} | 0/{rounds} "
                        f"(no figure) | - | - | ok |"
                    )
                    print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timings per kata (medians)")
    parser.add_argument("--rounds", type=int, default=20, help="perf grades per reference / mutant")
    parser.add_argument("--kata", action="append", help="only these katas")
    parser.add_argument("--skip-cost", action="store_true", help="only the perf-threshold discrimination")
    parser.add_argument("--out", help="a new file for the report (an existing one is never overwritten)")
    args = parser.parse_args()
    if args.out and os.path.exists(args.out):
        parser.error(f"{args.out} exists: give a new file (the report never overwrites one)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: the busy neighbours are stopped
    home = tempfile.TemporaryDirectory(prefix="kata-bench-home-")  # a store of its own, gone at exit
    os.environ.setdefault("KATA_HOME", home.name)
    katas = [k for k in all_katas() if not args.kata or k.id in args.kata]
    load = os.getloadavg()[0]
    command = f"python bench/grade_all.py --runs {args.runs} --rounds {args.rounds}"
    command += "".join(f" --kata {k}" for k in args.kata or []) + (" --skip-cost" if args.skip_cost else "")
    text = [
        f"# Grading benchmark, {datetime.date.today()}",
        "",
        f"{os.cpu_count()} cores, load average {load:.1f} at the start; `{command}`.",
        "",
    ]
    if not args.skip_cost:
        text += [
            "## Cost of grading each reference",
            "",
            "Medians. Peak memory sums RSS over the grading process tree (pages shared after fork "
            "are counted in each process, so it overstates).",
            "",
            *cost_rows(katas, args.runs),
            "",
        ]
    text += [
        f"## Perf thresholds under two busy-loop neighbours ({args.rounds} perf grades each)",
        "",
        "The reference is graded on every perf task; each slow-but-correct mutant on the perf test it "
        f"targets. Goal: the reference passes every round with a median ratio at least {REFERENCE_MARGIN:g}x "
        f"the threshold (margin = median / threshold); a slow mutant passes no round with a median ratio at "
        f"most the threshold / {MUTANT_MARGIN:g} (margin = threshold / median).",
        "",
        *discrimination_rows(katas, args.rounds),
    ]
    report = "\n".join(text) + "\n"
    if args.out:
        with open(args.out, "x") as out:  # exclusive: never someone's file
            out.write(report)
        print(f"\nwritten to {args.out}")
    else:
        print("\n" + report)


if __name__ == "__main__":
    main()
