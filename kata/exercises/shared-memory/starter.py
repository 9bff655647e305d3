"""The `shared-memory` kata: POSIX and System V shared memory.

Read the spec first: `kata start shared-memory` printed where it is, or `kata show shared-memory`.
Run `kata grade shared-memory` after each step; every task is graded on its own.
You need the standard library (os, mmap, collections) plus posix_ipc and sysv_ipc.
"""

from __future__ import annotations

import collections


def count_bytes(shard) -> list[int]:
    """How many times each byte value 0..255 occurs in `shard` (bytes, memoryview or
    mmap slice). Given: use it in `histogram`'s workers, do not change it."""
    counts = collections.Counter(shard)
    return [counts[value] for value in range(256)]


# --- task 1: POSIX shared memory, found by name ---------------------------------------


def publish(name: str, data: bytes) -> None:
    """Create the POSIX shared memory segment `name` (exclusively, mode 0o600) and
    store in it an 8-byte little-endian length header followed by `data`.

    The segment stays after the call returns (and after this process exits) until
    `unlink(name)`. Raise FileExistsError if `name` already exists.
    """
    raise NotImplementedError


def fetch(name: str) -> bytes:
    """Return exactly the bytes published under `name`, from any process.

    Raise FileNotFoundError if there is no segment `name`. Never creates one.
    """
    raise NotImplementedError


def unlink(name: str) -> None:
    """Remove the name `name` (shm_unlink). Raise FileNotFoundError if it does not exist."""
    raise NotImplementedError


# --- task 2: System V shared memory, found by key -----------------------------------------


class Board:
    """A System V shared memory segment of `size` bytes for the key `key`.

    `Board(key, size)` creates it (exclusively, mode 0o600, zero-filled; FileExistsError
    if the key is taken) and attaches it; `Board.attach(key)` attaches an existing one
    (FileNotFoundError if none). `board.size` is its size in bytes.
    """

    def __init__(self, key: int, size: int):
        raise NotImplementedError

    @classmethod
    def attach(cls, key: int) -> Board:
        """Attach the existing segment of `key` (from any process)."""
        raise NotImplementedError

    def write(self, offset: int, data: bytes) -> None:
        """Copy `data` into the segment at `offset`; ValueError if it does not fit."""
        raise NotImplementedError

    def read(self, offset: int, n: int) -> bytes:
        """Return `n` bytes from `offset`; ValueError if they are not all inside the segment."""
        raise NotImplementedError

    def detach(self) -> None:
        """Unmap the segment from this process; the segment itself stays."""
        raise NotImplementedError

    def remove(self) -> None:
        """Destroy the segment (IPC_RMID) and detach this process from it."""
        raise NotImplementedError


# --- task 3: a histogram computed by workers over shared memory ------------------------------


def histogram(data: bytes, workers: int) -> list[int]:
    """Return the 256 counts of the byte values of `data`, counted by at most
    `workers` forked workers: the data is placed once in shared memory, each worker
    runs `count_bytes` over its own shard and writes its 256 counts into its own
    region of a shared result area; the parent sums the regions. The data never
    travels through a pipe (nor pickle, nor a file).
    """
    raise NotImplementedError
