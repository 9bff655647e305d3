"""What kind of host this is, in the costs this project leans on, so that figures taken on
different days can be compared: the same kind of VM is sometimes a faster host, sometimes a
slower one, and a slower page fault or fork moves every grade and every ring figure.

    python bench/host.py

Prints the CPU (family, model, MHz), the load average, and the median of 5 measurements of:
a Python function call, a page fault (a fresh 16 MiB anonymous mapping touched page by
page), and a fork of this process plus its child's exit and reaping.
"""

from __future__ import annotations

import datetime
import mmap
import os
import statistics
import time
from collections.abc import Callable

ROUNDS = 5
CALLS = 1_000_000
PAGES = 4096  # 16 MiB of 4 KiB pages
FORKS = 100


def cpu() -> str:
    fields: dict[str, str] = {}
    with open("/proc/cpuinfo") as info:
        for line in info:
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    return (
        f"{os.cpu_count()} x {fields.get('model name', '?')}, family {fields.get('cpu family', '?')} "
        f"model {fields.get('model', '?')}, {fields.get('cpu MHz', '?')} MHz"
    )


def _call(value: int) -> int:
    return value + 1


def per_call() -> float:
    start = time.perf_counter()
    for index in range(CALLS):
        _call(index)
    return (time.perf_counter() - start) / CALLS


def per_page_fault() -> float:
    mapping = mmap.mmap(-1, PAGES * mmap.PAGESIZE)
    try:
        start = time.perf_counter()
        for page in range(PAGES):
            mapping[page * mmap.PAGESIZE] = 1
        return (time.perf_counter() - start) / PAGES
    finally:
        mapping.close()


def per_fork() -> float:
    start = time.perf_counter()
    for _ in range(FORKS):
        child = os.fork()
        if child == 0:
            os._exit(0)
        os.waitpid(child, 0)
    return (time.perf_counter() - start) / FORKS


def median_of(measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(ROUNDS))


def main() -> None:
    load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"{datetime.date.today()}, {cpu()}, load average {load}; medians of {ROUNDS}")
    print(f"a Python function call: {median_of(per_call) * 1e9:.0f} ns")
    print(f"a page fault (16 MiB touched page by page): {median_of(per_page_fault) * 1e6:.2f} us")
    print(f"a fork, exit and reap of this process: {median_of(per_fork) * 1e6:.0f} us")


if __name__ == "__main__":
    main()
