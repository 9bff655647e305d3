"""Reference solution of the `pipe` kata: anonymous pipes between related processes."""

from __future__ import annotations

import hashlib
import os
import select
from collections.abc import Callable

CHUNK = 1 << 16  # the default pipe capacity: one read empties a full pipe


def work(task: bytes) -> bytes:
    """What a worker computes for one task (given by the spec; do not change)."""
    return hashlib.sha256(task).digest() + task[::-1]


def child_to_parent(payload: bytes) -> bytes:
    read_end, write_end = os.pipe()

    def child() -> None:
        os.close(read_end)
        _write_all(write_end, payload)

    pid = _fork(child)
    os.close(write_end)  # or read() never sees EOF: we would hold a write end ourselves
    try:
        data = _read_all(read_end)
    finally:
        os.close(read_end)
    _reap(pid)
    return data


def round_trip_digest(payload: bytes) -> str:
    to_child_r, to_child_w = os.pipe()
    to_parent_r, to_parent_w = os.pipe()

    def child() -> None:
        os.close(to_child_w)
        os.close(to_parent_r)
        request = _read_all(to_child_r)
        _write_all(to_parent_w, hashlib.sha256(request).hexdigest().encode())

    pid = _fork(child)
    os.close(to_child_r)
    os.close(to_parent_w)
    try:
        _write_all(to_child_w, payload)
        os.close(to_child_w)  # EOF for the child: its request is complete
        to_child_w = -1
        answer = _read_all(to_parent_r)
    finally:
        for fd in (to_child_w, to_parent_r):
            if fd >= 0:
                os.close(fd)
    _reap(pid)
    return answer.decode()


def gather(tasks: list[bytes], workers: int) -> list[bytes]:
    if not tasks:
        return []
    workers = max(1, min(workers, len(tasks)))
    streams: dict[int, tuple[int, list[bytes]]] = {}  # read fd -> (worker index, chunks)
    outputs: dict[int, bytes] = {}  # worker index -> everything it wrote
    pids = []
    for index in range(workers):
        read_end, write_end = os.pipe()
        pid = _fork(_gather_worker, read_end, write_end, list(streams), tasks[index::workers])
        os.close(write_end)
        streams[read_end] = (index, [])
        pids.append(pid)
    try:
        while streams:  # read every worker as data arrives: none stays blocked on a full pipe
            ready, _, _ = select.select(list(streams), [], [])
            for fd in ready:
                chunk = os.read(fd, CHUNK)
                if chunk:
                    streams[fd][1].append(chunk)
                else:
                    index, chunks = streams.pop(fd)
                    os.close(fd)
                    outputs[index] = b"".join(chunks)
    finally:
        for fd in streams:
            os.close(fd)
        for pid in pids:
            _reap(pid)
    results: list[bytes] = [b""] * len(tasks)
    for index, blob in outputs.items():
        for position, result in zip(range(index, len(tasks), workers), _frames(blob), strict=False):
            results[position] = result
    return results


def _gather_worker(read_end: int, write_end: int, siblings: list[int], tasks: list[bytes]) -> None:
    os.close(read_end)
    for other in siblings:  # the read ends of the workers forked before us were inherited: not ours
        os.close(other)
    for task in tasks:
        result = work(task)
        _write_all(write_end, len(result).to_bytes(8, "big") + result)


def _fork(child: Callable[..., None], *args: object) -> int:
    """Run `child(*args)` in a new process and return its pid. The child always ends here, in os._exit
    (status 0 if `child` returned, 1 if it raised): it must never return into its caller's code, nor run the
    parent's `finally` blocks and atexit handlers a second time."""
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            child(*args)
            status = 0
        finally:
            os._exit(status)
    return pid


def _frames(blob: bytes):
    view, offset = memoryview(blob), 0
    while offset < len(blob):
        size = int.from_bytes(view[offset : offset + 8], "big")
        yield bytes(view[offset + 8 : offset + 8 + size])
        offset += 8 + size


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, CHUNK):
        chunks.append(chunk)
    return b"".join(chunks)


def _reap(pid: int) -> None:
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise ChildProcessError(f"child {pid} failed with status {os.waitstatus_to_exitcode(status)}")
