"""Is shared memory "the fastest IPC"? The reference ring against the other mechanisms.

    python bench/ring.py [--seconds 0.3] [--rounds 5] [--variant ring_spins_instead_of_ringing]
    python bench/ring.py --discrimination [--rounds 20] [--busy 2]

Throughput (default): one producer process sends length-prefixed messages of 64 B,
4 KiB and 64 KiB to one consumer process through the reference `shm-ring` solution
(one message per put/get, and in batches of 64 with put_many/get_many), a pipe and
a socketpair (framed: 4-byte length + data, received one message at a time like
`get()`), a POSIX message queue, and, as the ceiling, the raw copy of the same bytes
in and out of a shared mapping with no synchronisation, in one process and (the ceiling for
any two processes: what the machine moves between two CPUs) between a producer and a consumer
that spin on two counters. Each figure is the median of
`--rounds` measurements taken in turn in one run, so only ratios matter. Then the
issue's targets are checked: ring / pipe >= 1 at 64 B, >= 2 at 4 KiB, >= 4 at 64 KiB,
ring >= 0.5 x the raw copy at 64 KiB, batched 64 B >= 3 x a pipe.

--discrimination: grades the kata's perf task `--rounds` times, with `--busy`
processes spinning beside it, for the reference and for every slow mutant
(`perf: true` rows of tests/mutants/shm-ring/mutants.yaml), plus the slow designs
whose perf the suite does not judge (SLOW_BUT_NOT_PERF_GRADED below). Prints, per implementation
and metric, how many grades passed, the median ratio and its margin to the threshold.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import importlib.util
import mmap
import os
import secrets
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import posix_ipc

from grader.testing import fork_helper

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SIZES = {"64 B": 64, "4 KiB": 4096, "64 KiB": 65536}
LENGTH = struct.Struct("=I")
BATCH = 64
PIPE_BUFFER = 65536  # Linux's default pipe capacity


def ring_slots(size: int) -> int:
    """As many slots as a pipe's buffer holds messages of `size`, and at least two batches."""
    return max(2 * BATCH, PIPE_BUFFER // (4 + size))


def load_ring(path: Path = ROOT / "solutions" / "shm_ring.py", name: str = "shm_ring_reference"):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.RingBuffer


def variant_file(name: str, folder: Path) -> Path:
    """folder/<name>/shm_ring.py: the reference with bench/<name>.diff (or the shm-ring mutant
    <name>'s diff) applied, a design to measure or grade beside it."""
    sys.path.insert(0, str(ROOT))
    from grader.mutants import apply_diff

    diff = BENCH / f"{name}.diff"
    if not diff.exists():
        diff = ROOT / "tests" / "mutants" / "shm-ring" / f"{name}.diff"
    path = folder / name / "shm_ring.py"
    path.parent.mkdir()
    path.write_text(apply_diff((ROOT / "solutions" / "shm_ring.py").read_text(), diff.read_text(), str(diff)))
    return path


def read_exactly(read, size: int) -> bytes:
    data = read(size)
    while len(data) < size:
        more = read(size - len(data))
        if not more:
            raise EOFError
        data += more
    return data


def through_ring(ring, msg: bytes, count: int) -> None:
    pid = fork_helper(lambda: [ring.put(msg) for _ in range(count)])
    for _ in range(count):
        ring.get()
    os.waitpid(pid, 0)


def through_ring_batched(ring, msg: bytes, count: int) -> None:
    batch = [msg] * BATCH
    pid = fork_helper(lambda: [ring.put_many(batch) for _ in range(count // BATCH)])
    got = 0
    while got < count // BATCH * BATCH:
        got += len(ring.get_many(BATCH))
    os.waitpid(pid, 0)


def through_pipe(msg: bytes, count: int) -> None:
    r, w = os.pipe()
    frame = LENGTH.pack(len(msg)) + msg
    pid = fork_helper(lambda: (os.close(r), [os.write(w, frame) for _ in range(count)]))
    os.close(w)
    for _ in range(count):
        (size,) = LENGTH.unpack(read_exactly(lambda n: os.read(r, n), 4))
        read_exactly(lambda n: os.read(r, n), size)
    os.close(r)
    os.waitpid(pid, 0)


def through_socketpair(msg: bytes, count: int) -> None:
    a, b = socket.socketpair()
    frame = LENGTH.pack(len(msg)) + msg
    pid = fork_helper(lambda: (a.close(), [b.sendall(frame) for _ in range(count)]))
    b.close()
    for _ in range(count):
        (size,) = LENGTH.unpack(read_exactly(a.recv, 4))
        read_exactly(a.recv, size)
    a.close()
    os.waitpid(pid, 0)


def through_mqueue(msg: bytes, count: int) -> None:
    queue = posix_ipc.MessageQueue(
        f"/kata_bench_{secrets.token_hex(4)}", posix_ipc.O_CREX, 0o600, max_messages=10, max_message_size=len(msg)
    )
    try:
        pid = fork_helper(lambda: [queue.send(msg) for _ in range(count)])
        for _ in range(count):
            queue.receive()
        os.waitpid(pid, 0)
    finally:
        queue.close()
        queue.unlink()


def raw_copy(mapping: mmap.mmap, msg: bytes, count: int) -> None:
    """The ceiling: the copies alone, into and out of a shared mapping, in one process."""
    view, size = memoryview(mapping), len(msg)
    slots = len(mapping) // size
    for i in range(count):
        offset = (i % slots) * size
        view[offset : offset + size] = msg
        bytes(view[offset : offset + size])
    view.release()


COUNTERS = 128  # bytes before the slots of raw_copy_between: `head` at 0 and `tail` at 64, a cache line each


def raw_copy_between(mapping: mmap.mmap, msg: bytes, count: int) -> None:
    """The two-process ceiling: the same two copies by a producer and a consumer process, through a
    shared mapping, each waiting for the other by spinning on two counters (no lock, no bell, no system
    call). What this machine can move from one CPU to another; the ring cannot beat it. Plain stores
    suffice on x86 (stores are not reordered with stores, nor loads with loads); this is a bench, not a
    design to copy."""
    size = len(msg)
    slots = (len(mapping) - COUNTERS) // size
    words = memoryview(mapping)[:COUNTERS].cast("Q")
    words[0] = words[8] = 0  # head, tail

    def produce() -> None:
        view = memoryview(mapping)
        for head in range(count):
            while head - words[8] >= slots:
                pass
            offset = COUNTERS + head % slots * size
            view[offset : offset + size] = msg
            words[0] = head + 1

    pid = fork_helper(produce)
    for tail in range(count):
        while words[0] <= tail:
            pass
        offset = COUNTERS + tail % slots * size
        mapping[offset : offset + size]
        words[8] = tail + 1
    os.waitpid(pid, 0)
    words.release()


def make_ring(stack: ExitStack, ring_class, size: int):
    """A ring for messages of `size`, closed and removed by `stack`."""
    ring = ring_class.create(f"/kata_bench_{secrets.token_hex(4)}", ring_slots(size), size)
    stack.callback(ring.unlink)
    stack.callback(ring.close)
    return ring


def mechanisms(stack: ExitStack, size: int, variants: dict[str, type]) -> dict[str, Callable[[bytes, int], None]]:
    """name -> transfer(msg, count) for messages of `size`. The rings and the mapping are made once
    here and reused by every measurement (warm, like a ring in use), and removed by `stack`."""
    ring = make_ring(stack, RingBuffer, size)
    mapping = stack.enter_context(mmap.mmap(-1, ring_slots(size) * size))
    shared = stack.enter_context(mmap.mmap(-1, COUNTERS + ring_slots(size) * size))  # MAP_SHARED: forks see it
    out = {
        "shm ring, put/get": functools.partial(through_ring, ring),
        f"shm ring, batches of {BATCH}": functools.partial(through_ring_batched, ring),
        "pipe": through_pipe,
        "socketpair": through_socketpair,
        "POSIX mq": through_mqueue,
        "raw copy, 1 process": functools.partial(raw_copy, mapping),
        "raw copy, 2 processes": functools.partial(raw_copy_between, shared),
    }
    if not mq_fits(size):
        del out["POSIX mq"]
    for name, ring_class in variants.items():
        out[f"{name}, put/get"] = functools.partial(through_ring, make_ring(stack, ring_class, size))
    return out


MECHANISMS = [
    "shm ring, put/get",
    f"shm ring, batches of {BATCH}",
    "pipe",
    "socketpair",
    "POSIX mq",
    "raw copy, 1 process",
    "raw copy, 2 processes",
]
TARGETS = [  # (what, mechanism, baseline, size label, at least)
    ("ring / pipe, 64 B", "shm ring, put/get", "pipe", "64 B", 1.0),
    ("ring / pipe, 4 KiB", "shm ring, put/get", "pipe", "4 KiB", 2.0),
    ("ring / pipe, 64 KiB", "shm ring, put/get", "pipe", "64 KiB", 4.0),
    ("ring / raw copy, 64 KiB", "shm ring, put/get", "raw copy, 1 process", "64 KiB", 0.5),
    (f"batches of {BATCH} / pipe, 64 B", f"shm ring, batches of {BATCH}", "pipe", "64 B", 3.0),
]


def mq_fits(size: int) -> bool:
    try:
        return size <= int(Path("/proc/sys/fs/mqueue/msgsize_max").read_text())
    except OSError:
        return size <= 8192


def sized_count(transfer, msg: bytes, seconds: float) -> int:
    """A message count that makes one measurement of `transfer` last about `seconds`."""
    count = 256
    while True:
        started = time.perf_counter()
        transfer(msg, count)
        elapsed = time.perf_counter() - started
        if elapsed >= seconds / 4 or count >= 1 << 22:
            return max(1, int(count * seconds / elapsed) // BATCH) * BATCH
        count *= 4


def throughput(seconds: float, rounds: int, variants: dict[str, type]) -> dict[tuple[str, str], float]:
    """Messages/s per (mechanism, size): the median of `rounds` measurements taken in turn."""
    rates: dict[tuple[str, str], list[float]] = {}
    for label, size in SIZES.items():
        msg = os.urandom(size)
        with ExitStack() as stack:
            transfers = mechanisms(stack, size, variants)
            plan = {name: sized_count(transfer, msg, seconds) for name, transfer in transfers.items()}
            for _ in range(rounds):
                for name, count in plan.items():
                    started = time.perf_counter()
                    transfers[name](msg, count)
                    rates.setdefault((name, label), []).append(count / (time.perf_counter() - started))
    return {key: statistics.median(values) for key, values in rates.items()}


def print_throughput(seconds: float, rounds: int, variant_names: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="kata-ring-variants-") as folder:
        variants = {name: load_ring(variant_file(name, Path(folder)), name) for name in variant_names}
        rates = throughput(seconds, rounds, variants)
    model = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((line.split(":", 1)[1].strip() for line in model.splitlines() if line.startswith("Model name")), "?")
    print(
        f"{datetime.date.today()}, {os.cpu_count()} x {model}, load average {os.getloadavg()[0]:.1f}; "
        f"medians of {rounds} rounds\n"
    )
    variant_rows = [f"{name}, put/get" for name in variant_names]
    rows = MECHANISMS + variant_rows
    width = max(map(len, rows))
    print(f"| {'mechanism':<{width}} |" + "".join(f" {label:>23} |" for label in SIZES))
    print(f"|{'-' * (width + 2)}|" + "".join(f"{'-' * 24}:|" for _ in SIZES))
    for name in rows:
        cells = []
        for label, size in SIZES.items():
            rate = rates.get((name, label))
            cells.append("n/a" if rate is None else f"{rate:>11,.0f}/s {rate * size / 1e6:>6,.0f} MB/s")
        print(f"| {name:<{width}} |" + "".join(f" {cell:>23} |" for cell in cells))
    print("\n| target | measured | at least | met |\n|---|---:|---:|---|")
    for what, mechanism, baseline, label, least in TARGETS:
        ratio = rates[(mechanism, label)] / rates[(baseline, label)]
        print(f"| {what} | {ratio:.2f}x | {least:.1f}x | {'yes' if ratio >= least else 'NO'} |")
    rings = ["shm ring, put/get", *variant_rows]
    for baseline, form in (("pipe", "{:.2f}x"), ("raw copy, 2 processes", "{:.0%}")):
        print(f"\n| against {baseline} |" + "".join(f" {label} |" for label in SIZES))
        print("|---|" + "---:|" * len(SIZES))
        for name in rings + (["pipe"] if baseline != "pipe" else []):
            ratios = [rates[(name, label)] / rates[(baseline, label)] for label in SIZES]
            print(f"| {name} |" + "".join(f" {form.format(ratio)} |" for ratio in ratios))


# --- discrimination: does the kata's perf task tell the reference from slow rings? ---------------

# Slow designs measured here whose perf the test suite does not judge: their ratio stays too
# close to the reference's on a busy machine for a verdict that holds 20 times out of 20.
# A diff in tests/mutants/shm-ring (the suite rejects it for another reason) or in bench/.
SLOW_BUT_NOT_PERF_GRADED = [
    "one_sysv_lock_for_both_sides",  # a global lock around the copies (task 3 rejects it deterministically)
    "ring_extra_copy",  # one more copy of every message (length + data concatenated)
    # put_many/get_many as a loop of put/get: about half the reference's batch rate, and a pipe's
    # per-message rate moves with the machine (1.5x a pipe idle on one box, 0.46x loaded, 1.06x in CI:
    # 1.8x, 0.54x and 1.25x the batch threshold of 0.85x a pipe)
    "ring_batch_as_a_loop",
    # every wait a 1 ms sleep instead of a semaphore: the wake-up test rejects it first; it shows that
    # the round-trip floor (0.05x, lowered 2026-12-02) still fails a poller (0.01x)
    "ring_waits_in_sleeps",
]


def candidates(folder: Path) -> list[tuple[str, Path]]:
    """(label, file) for the reference, every slow mutant, and the slow designs perf does not grade."""
    sys.path.insert(0, str(ROOT))
    from grader.catalog import load_kata
    from grader.mutants import declared_mutants

    slow = [(m.name, m.name) for m in declared_mutants("shm-ring") if m.perf]
    slow += [(f"{name} (not perf-graded)", name) for name in SLOW_BUT_NOT_PERF_GRADED]
    return [("reference", load_kata("shm-ring").solution_path)] + [
        (label, variant_file(name, folder)) for label, name in slow
    ]


def discrimination(rounds: int, busy: int) -> None:
    from grade_all import busy_neighbours

    from grader import grade
    from grader.catalog import load_kata

    kata = load_kata("shm-ring")
    perf_tasks = [task.id for task in kata.tasks if task.perf]
    thresholds = {metric.name: metric.threshold for metric in kata.perf}
    print(
        f"{datetime.date.today()}, {os.cpu_count()} cores, {busy} busy loops beside, load average "
        f"{os.getloadavg()[0]:.1f}; the perf task graded {rounds} times per implementation\n"
    )
    print("| implementation | perf task passed | metric | median ratio | threshold | median / threshold |")
    print("|---|---:|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="kata-ring-bench-") as folder, busy_neighbours(busy):
        for label, path in candidates(Path(folder)):
            passed, ratios = 0, {}
            for _ in range(rounds):
                result = grade("shm-ring", path, perf=True, tasks=perf_tasks)
                passed += result.status == "pass"
                for figure in result.perf:
                    ratios.setdefault(figure.name, []).append(figure.ratio)
            for name, values in ratios.items():
                median = statistics.median(values)
                print(
                    f"| {label} | {passed}/{rounds} | {name} | {median:.3f} | {thresholds[name]} | "
                    f"{median / thresholds[name]:.2f} |",
                    flush=True,
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.3, help="length of one measurement")
    parser.add_argument("--rounds", type=int, help="measurements per figure (5), or grades (20)")
    parser.add_argument("--discrimination", action="store_true", help="grade the perf task of slow rings")
    parser.add_argument("--busy", type=int, default=2, help="busy loops beside --discrimination")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="also measure the reference with bench/NAME.diff (or a shm-ring mutant) applied; repeatable",
    )
    args = parser.parse_args()
    if args.discrimination:
        home = tempfile.TemporaryDirectory(prefix="kata-bench-home-")  # a store of its own, gone at exit
        os.environ.setdefault("KATA_HOME", home.name)
        discrimination(args.rounds or 20, args.busy)
    else:
        print_throughput(args.seconds, args.rounds or 5, args.variant)


RingBuffer = load_ring()

if __name__ == "__main__":
    main()
