"""Is shared memory "the fastest IPC"? The reference ring against the other mechanisms.

    python bench/ring.py [--seconds 0.5]

For 64 B, 4 KiB and 64 KiB messages, one producer process sends messages to one
consumer process through: the reference `shm-ring` solution, a pipe and a
socketpair (both framed: 4-byte length + data, received one message at a time
like `get()`), a POSIX message queue, and, as the ceiling, the raw copy of the
same bytes in and out of a shared-memory mapping with no synchronisation at all.
All in one run on one machine, so only the comparisons matter. Prints messages/s
and MB/s per mechanism, best of 3 rounds.
"""

from __future__ import annotations

import argparse
import importlib.util
import mmap
import os
import secrets
import socket
import struct
import time
from pathlib import Path

import posix_ipc

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"64 B": 64, "4 KiB": 4096, "64 KiB": 65536}
LENGTH = struct.Struct("=I")


def load_ring():
    spec = importlib.util.spec_from_file_location("shm_ring_reference", ROOT / "solutions" / "shm_ring.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.RingBuffer


def in_child(produce) -> int:
    """Fork a producer that runs `produce()` and exits; return its pid."""
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            produce()
            status = 0
        finally:
            os._exit(status)
    return pid


def read_exactly(read, size: int) -> bytes:
    data = read(size)
    while len(data) < size:
        more = read(size - len(data))
        if not more:
            raise EOFError
        data += more
    return data


def through_ring(msg: bytes, count: int) -> None:
    ring = RingBuffer.create(f"/kata_bench_{secrets.token_hex(4)}", 64, len(msg))
    try:
        pid = in_child(lambda: [ring.put(msg) for _ in range(count)])
        for _ in range(count):
            ring.get()
        os.waitpid(pid, 0)
    finally:
        ring.close()
        ring.unlink()


def through_pipe(msg: bytes, count: int) -> None:
    r, w = os.pipe()
    frame = LENGTH.pack(len(msg)) + msg
    pid = in_child(lambda: (os.close(r), [os.write(w, frame) for _ in range(count)]))
    os.close(w)
    for _ in range(count):
        (size,) = LENGTH.unpack(read_exactly(lambda n: os.read(r, n), 4))
        read_exactly(lambda n: os.read(r, n), size)
    os.close(r)
    os.waitpid(pid, 0)


def through_socketpair(msg: bytes, count: int) -> None:
    a, b = socket.socketpair()
    frame = LENGTH.pack(len(msg)) + msg
    pid = in_child(lambda: (a.close(), [b.sendall(frame) for _ in range(count)]))
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
        pid = in_child(lambda: [queue.send(msg) for _ in range(count)])
        for _ in range(count):
            queue.receive()
        os.waitpid(pid, 0)
    finally:
        queue.close()
        queue.unlink()


def raw_copy(msg: bytes, count: int) -> None:
    """The ceiling: the copies alone, into and out of a shared mapping, in one process."""
    with mmap.mmap(-1, 64 * len(msg)) as mapping:
        view, size = memoryview(mapping), len(msg)
        for i in range(count):
            offset = (i % 64) * size
            view[offset : offset + size] = msg
            bytes(view[offset : offset + size])
        view.release()


MECHANISMS = {
    "shm ring (reference)": through_ring,
    "pipe": through_pipe,
    "socketpair": through_socketpair,
    "POSIX mq": through_mqueue,
    "raw shm copy (ceiling)": raw_copy,
}


def mq_fits(size: int) -> bool:
    try:
        return size <= int(Path("/proc/sys/fs/mqueue/msgsize_max").read_text())
    except OSError:
        return size <= 8192


def rate(transfer, msg: bytes, seconds: float) -> float:
    """Messages per second, best of 3 rounds, each sized to last about `seconds`."""
    count = 200
    while True:
        started = time.perf_counter()
        transfer(msg, count)
        elapsed = time.perf_counter() - started
        if elapsed >= seconds / 4 or count >= 1 << 22:
            break
        count *= 4
    count = max(1, int(count * seconds / elapsed))
    best = 0.0
    for _ in range(3):
        started = time.perf_counter()
        transfer(msg, count)
        best = max(best, count / (time.perf_counter() - started))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="length of one measured round")
    args = parser.parse_args()
    width = max(map(len, MECHANISMS))
    print(f"{'mechanism':<{width}}" + "".join(f"  {label:>22}" for label in SIZES))
    for name, transfer in MECHANISMS.items():
        cells = []
        for size in SIZES.values():
            if transfer is through_mqueue and not mq_fits(size):
                cells.append("n/a (over msgsize_max)")
                continue
            per_s = rate(transfer, os.urandom(size), args.seconds)
            cells.append(f"{per_s:>9,.0f}/s {per_s * size / 1e6:>7,.0f} MB/s")
        print(f"{name:<{width}}" + "".join(f"  {cell:>22}" for cell in cells), flush=True)


RingBuffer = load_ring()

if __name__ == "__main__":
    main()
