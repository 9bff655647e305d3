"""How long `kata grade` takes, and what the grader's isolation costs over bare pytest.

    python bench/grade_latency.py [--kata pipe] [--runs 5]

Three timings of the reference solution, each the wall time of a whole command
as a learner would run it (interpreter start included), repeated and summarised:

- `kata grade <kata> --solution --no-perf`
- `kata grade <kata> --solution` (with the perf tasks)
- bare pytest: the same suite, plugin and pytest arguments run by
  `python -m pytest` directly, without the grader's supervisor, sandbox, time
  limits and sweeps. grade --no-perf minus bare is the grader's overhead.

Targets (issue "Foundation"): --no-perf <= 2 s, with perf <= 6 s, overhead <= 0.5 s.
"""

from __future__ import annotations

import argparse
import os
import secrets
import select
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.catalog import load_kata  # noqa: E402
from grader.channel import EventReceiver  # noqa: E402
from grader.protocol import Handover, RunFolder, SandboxConfig, new_key  # noqa: E402


def timed(
    argv: list[str],
    env: dict | None = None,
    receiver: EventReceiver | None = None,
    check: bool = True,
    pass_fds: tuple[int, ...] = (),
) -> float:
    """Wall time of one command; `receiver` is drained meanwhile (the plugin's events would fill it).
    `check=False` for bare pytest: a test that needs the sandbox (its subreaper) may fail there."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT, pass_fds=pass_fds
    )
    while proc.poll() is None:
        if receiver is not None:
            select.select([receiver], [], [], 0.01)
            receiver.drain()
        else:
            proc.wait()
    elapsed = time.perf_counter() - started
    if check and proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.read().decode()[-500:]}")
    proc.stderr.close()
    return elapsed


BARE = (
    "import sys; from grader.protocol import Handover; from grader.sandbox import run_pytest; "
    "sys.exit(run_pytest(Handover.read(int(sys.argv[1]))))"
)


def bare_pytest(kata_id: str) -> float:
    """The suite under the grader's plugin, run by plain pytest: no supervisor, no limits, no sweep."""
    kata = load_kata(kata_id)
    token = secrets.token_hex(4)
    folder = RunFolder.make(token)
    key = new_key()
    receiver = EventReceiver(folder.events, key)
    config = SandboxConfig(
        kata=kata_id,
        impl=str(kata.solution_path),
        token=token,
        run_dir=str(folder.root),
        suite_dir=str(kata.suite_dir),
        memory_limit_mb=kata.memory_limit_mb,
        session=1,
        perf=False,
    )
    handover = Handover(config, key).write()
    env = dict(os.environ, KATA_RUN_TOKEN=token, PYTHONPATH=str(ROOT))
    try:
        argv = [sys.executable, "-c", BARE, str(handover)]
        return timed(argv, env=env, receiver=receiver, check=False, pass_fds=(handover,))
    finally:
        os.close(handover)
        receiver.close()
        shutil.rmtree(folder.root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kata", default="pipe")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    kata_cmd = [sys.executable, "-m", "kata.cli", "grade", args.kata, "--solution"]
    rows = {
        f"kata grade {args.kata} --solution --no-perf": lambda: timed([*kata_cmd, "--no-perf"]),
        f"kata grade {args.kata} --solution": lambda: timed(kata_cmd),
        "bare pytest, same suite, no perf": lambda: bare_pytest(args.kata),
        "kata --help": lambda: timed([sys.executable, "-m", "kata.cli", "--help"]),
    }
    samples = {name: [] for name in rows}
    for _ in range(args.runs):  # interleaved, so a burst of load hits every row alike
        for name, run in rows.items():
            samples[name].append(run())
    width = max(map(len, rows))
    print(f"{'command':<{width}}  {'median':>8}  {'min':>8}  {'max':>8}   ({args.runs} runs, {os.cpu_count()} cores)")
    for name, values in samples.items():
        print(f"{name:<{width}}  {statistics.median(values):>7.2f}s  {min(values):>7.2f}s  {max(values):>7.2f}s")
    overhead = statistics.median(samples[f"kata grade {args.kata} --solution --no-perf"]) - statistics.median(
        samples["bare pytest, same suite, no perf"]
    )
    print(f"\ngrader overhead over bare pytest (median): {overhead:+.2f}s")


if __name__ == "__main__":
    main()
