"""Reference solution of the `shared-memory` kata: POSIX and System V shared memory."""

from __future__ import annotations

import collections
import mmap
import os

import posix_ipc
import sysv_ipc

HEADER = 8  # bytes of the length header at the start of a published segment
COUNT = 8  # bytes of one counter in the histogram's result region


def count_bytes(shard) -> list[int]:
    """How many times each byte value 0..255 occurs in `shard` (given: do not change)."""
    counts = collections.Counter(shard)
    return [counts[value] for value in range(256)]


# --- task 1: POSIX shared memory, by name ------------------------------------------


def publish(name: str, data: bytes) -> None:
    try:
        shm = posix_ipc.SharedMemory(name, posix_ipc.O_CREX, mode=0o600, size=HEADER + len(data))
    except posix_ipc.ExistentialError:
        raise FileExistsError(f"shared memory {name} already exists") from None
    try:
        with mmap.mmap(shm.fd, shm.size) as mm:
            mm[:HEADER] = len(data).to_bytes(HEADER, "little")
            view = memoryview(mm)
            try:
                view[HEADER : HEADER + len(data)] = data  # one copy, straight into the segment
            finally:
                view.release()  # or mm.close() raises BufferError
    finally:
        shm.close_fd()  # the mapping stays valid without the fd (mmap holds its own dup)


def fetch(name: str) -> bytes:
    try:
        shm = posix_ipc.SharedMemory(name)
    except posix_ipc.ExistentialError:
        raise FileNotFoundError(f"no shared memory named {name}") from None
    try:
        size = shm.size
        if size < HEADER:
            raise ValueError(f"{name} is {size} bytes: too small for the length header")
        with mmap.mmap(shm.fd, size, prot=mmap.PROT_READ) as mm:
            length = int.from_bytes(mm[:HEADER], "little")
            if length > size - HEADER:
                raise ValueError(f"{name}: header says {length} bytes but the segment holds {size - HEADER}")
            return mm[HEADER : HEADER + length]
    finally:
        shm.close_fd()


def unlink(name: str) -> None:
    try:
        posix_ipc.unlink_shared_memory(name)
    except posix_ipc.ExistentialError:
        raise FileNotFoundError(f"no shared memory named {name}") from None


# --- task 2: System V shared memory, by key -------------------------------------------


class Board:
    """A System V shared memory segment of `size` bytes, created for `key`."""

    def __init__(self, key: int, size: int, *, _shm: sysv_ipc.SharedMemory | None = None):
        if _shm is None:
            if size <= 0:
                raise ValueError("size must be positive")
            try:
                # the kernel zero-fills a new segment; sysv_ipc then fills it with init_character,
                # a space unless told otherwise
                _shm = sysv_ipc.SharedMemory(key, sysv_ipc.IPC_CREX, mode=0o600, size=size, init_character=b"\0")
            except sysv_ipc.ExistentialError:
                raise FileExistsError(f"System V shared memory with key {key:#x} already exists") from None
        self.key = key
        self._shm = _shm
        self.size = _shm.size

    @classmethod
    def attach(cls, key: int) -> Board:
        try:
            shm = sysv_ipc.SharedMemory(key)
        except sysv_ipc.ExistentialError:
            raise FileNotFoundError(f"no System V shared memory with key {key:#x}") from None
        return cls(key, shm.size, _shm=shm)

    def _check(self, offset: int, n: int) -> None:
        if offset < 0 or n < 0 or offset + n > self.size:
            raise ValueError(f"[{offset}, {offset + n}) is outside the {self.size}-byte board")

    def write(self, offset: int, data: bytes) -> None:
        self._check(offset, len(data))
        if data:
            self._shm.write(data, offset)

    def read(self, offset: int, n: int) -> bytes:
        self._check(offset, n)
        if n == 0:
            return b""  # sysv_ipc's read(0) means "to the end of the segment"
        return self._shm.read(n, offset)

    def detach(self) -> None:
        if self._shm.attached:
            self._shm.detach()

    def remove(self) -> None:
        self._shm.remove()  # IPC_RMID: the key is free now, the memory goes with the last detach
        self.detach()


# --- task 3: a histogram computed by workers over shared memory -------------------------


def histogram(data: bytes, workers: int) -> list[int]:
    if not data:
        return [0] * 256
    workers = max(1, min(workers, len(data)))
    # MAP_SHARED | MAP_ANONYMOUS: inherited by fork, shared, nameless (nothing to unlink)
    shared = mmap.mmap(-1, len(data))
    results = mmap.mmap(-1, workers * 256 * COUNT)
    view = memoryview(shared)
    pids = []
    try:
        view[:] = data  # the data is placed once; the workers read it in place
        step = -(-len(data) // workers)
        for index in range(workers):
            pid = os.fork()
            if pid == 0:
                status = 1
                try:
                    counts = count_bytes(view[index * step : (index + 1) * step])
                    region = index * 256 * COUNT
                    results[region : region + 256 * COUNT] = b"".join(c.to_bytes(COUNT, "little") for c in counts)
                    status = 0
                finally:
                    os._exit(status)
            pids.append(pid)
    finally:
        failed = []
        for pid in pids:
            _, status = os.waitpid(pid, 0)
            if os.waitstatus_to_exitcode(status) != 0:
                failed.append(pid)
        view.release()
        shared.close()
    try:
        if failed:
            raise ChildProcessError(f"histogram workers {failed} failed")
        totals = [0] * 256
        for index in range(workers):
            region = index * 256 * COUNT
            for value in range(256):
                start = region + value * COUNT
                totals[value] += int.from_bytes(results[start : start + COUNT], "little")
        return totals
    finally:
        results.close()
