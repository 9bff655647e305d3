"""Every kata's grading cost, and whether its perf thresholds tell fast from slow.

    python bench/grade_all.py [--runs 3] [--rounds 20] [--out bench/results.md]

Part 1, per kata (reference solution): wall time of `kata grade <id> --solution
--no-perf` and with perf (medians), the grader's overhead over a bare pytest
run of the same suite (see grade_latency.py), and the peak memory of the whole
grading process tree.

Part 2, perf-threshold discrimination: with two busy loops running beside it,
each kata's reference and its slow mutant (the `perf=True` row of its project
test) are graded `--rounds` times on the perf tasks only; the table says how
often each passed. Goal: reference every time, slow mutant never.

Writes a Markdown table to --out and prints it.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import psutil

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(BENCH)]

from grade_latency import bare_pytest, timed  # noqa: E402

from grader import grade  # noqa: E402
from grader.catalog import all_katas  # noqa: E402


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
def busy_neighbours(count: int = 2):
    """`count` processes spinning on a CPU each, for the duration of the block."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def slow_mutant(kata_id: str):
    from grader.mutants import declared_mutants

    return next((m for m in declared_mutants(kata_id) if m.perf), None)


def perf_passes(kata, path: Path, rounds: int) -> int:
    perf_tasks = [t.id for t in kata.tasks if t.perf]
    return sum(grade(kata.id, path, perf=True, tasks=perf_tasks).status == "pass" for _ in range(rounds))


def cost_rows(katas, runs: int) -> list[str]:
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


def discrimination_rows(katas, rounds: int) -> list[str]:
    from grader.mutants import mutant_source

    rows = ["| kata | reference passes perf | slow mutant | slow mutant passes perf |", "|---|---:|---|---:|"]
    with busy_neighbours(), tempfile.TemporaryDirectory(prefix="kata-bench-") as folder:
        for kata in katas:
            reference = perf_passes(kata, kata.solution_path, rounds)
            mutant = slow_mutant(kata.id)
            if mutant is None:
                rows.append(f"| {kata.id} | {reference}/{rounds} | (none) | - |")
            else:
                path = Path(folder) / f"{kata.module}.py"
                path.write_text(mutant_source(mutant))
                rows.append(
                    f"| {kata.id} | {reference}/{rounds} | {mutant.name} | {perf_passes(kata, path, rounds)}/{rounds} |"
                )
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timings per kata (medians)")
    parser.add_argument("--rounds", type=int, default=20, help="perf grades per reference / mutant")
    parser.add_argument("--kata", action="append", help="only these katas")
    parser.add_argument("--out", default=str(BENCH / "results.md"))
    args = parser.parse_args()
    os.environ.setdefault("KATA_HOME", tempfile.mkdtemp(prefix="kata-bench-home-"))
    katas = [k for k in all_katas() if not args.kata or k.id in args.kata]
    load = os.getloadavg()[0]
    header = [
        f"# Grading benchmark, {datetime.date.today()}",
        "",
        f"{os.cpu_count()} cores, load average {load:.1f} at the start; "
        f"`python bench/grade_all.py --runs {args.runs} --rounds {args.rounds}`.",
        "",
        "## Cost of grading each reference",
        "",
        "Medians. Peak memory sums RSS over the grading process tree (pages shared after fork "
        "are counted in each process, so it overstates).",
        "",
    ]
    cost = cost_rows(katas, args.runs)
    middle = ["", f"## Perf thresholds under two busy-loop neighbours ({args.rounds} perf-only grades each)", ""]
    discrimination = discrimination_rows(katas, args.rounds)
    text = "\n".join(header + cost + middle + discrimination) + "\n"
    Path(args.out).write_text(text)
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
