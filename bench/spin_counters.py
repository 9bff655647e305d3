"""What the kernel's counters show for a spinning thread among busy processes, the figures
behind check_no_spin (grader/testing.py; docs/decisions.md, "A spin is told ...").

    python bench/spin_counters.py [--busy 4 12 30] [--windows 15]

For each count of busy processes, this thread spins (a loop on time.monotonic()) through
`--windows` windows of 0.3 s and prints the median of each counter check_no_spin reads:
CPU time, time queued for a CPU, wake-ups (voluntary switches), preemptions. A spinner
never sleeps, so it leaves a CPU only when preempted: its preemptions stay above zero
however crowded the machine, which is what tells it from a sleeper woken to a crowded
machine (queued as long, never preempted).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader.testing import Usage, Watch

WINDOW = 0.3


def start_busy(count: int) -> list[int]:
    """`count` child processes that spin until killed."""
    pids = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            while True:
                pass
        pids.append(pid)
    return pids


def spin_windows(windows: int) -> list[Usage]:
    usages = []
    for _ in range(windows):
        with Watch() as watch:
            end = time.monotonic() + WINDOW
            while time.monotonic() < end:
                pass
        usages.append(watch.usage)
    return usages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, nargs="+", default=[4, 12, 30])
    parser.add_argument("--windows", type=int, default=15)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; medians over {args.windows} windows")
    print(f"{'busy':>5} {'elapsed':>8} {'cpu':>6} {'queued':>7} {'wake-ups':>9} {'preempted':>10}")
    for count in args.busy:
        pids = start_busy(count)
        try:
            time.sleep(0.5)  # let the scheduler spread them
            usages = spin_windows(args.windows)
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)

        def median(field: str, usages: list[Usage] = usages) -> float:
            return statistics.median(getattr(u, field) for u in usages)

        print(
            f"{count:>5} {median('elapsed'):>8.3f} {median('cpu'):>6.3f} {median('queued'):>7.3f} "
            f"{median('wakeups'):>9.0f} {median('preempted'):>10.0f}"
        )


if __name__ == "__main__":
    main()
