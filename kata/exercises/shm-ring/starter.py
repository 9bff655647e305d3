"""The `shm-ring` kata: a ring buffer in shared memory, guarded by semaphores.

Read the spec first (`kata show shm-ring`): the layout, the three semaphores, the rules.
Run `kata grade shm-ring` after each step; every task is graded on its own.
You need: mmap, struct, posix_ipc (segment, `empty`, `full`) and sysv_ipc (the lock).
"""

from __future__ import annotations

import zlib


def ring_key(name: str) -> int:
    """The System V key of ring `name`'s lock (given: the grader finds a leaked lock by it).

    Use it if your lock is a System V semaphore (task 5 wants one); do not change it.
    """
    return (zlib.crc32(name.encode()) & 0x7FFFFFFF) or 1


class RingBuffer:
    """A bounded FIFO of messages (bytes of 0..slot_size) shared by unrelated processes.

    Everything the ring creates is named after `name`: the segment is `name`, the POSIX
    semaphores `name + <suffix>` (e.g. name + ".empty"), a System V lock uses `ring_key(name)`.
    """

    def __init__(self, *args, **kwargs) -> None:
        raise NotImplementedError

    @classmethod
    def create(cls, name: str, slots: int, slot_size: int) -> RingBuffer:
        """Create the segment and the semaphores and initialise them (empty = slots, full = 0,
        lock = 1, head = tail = 0). FileExistsError if a ring named `name` exists."""
        raise NotImplementedError

    @classmethod
    def attach(cls, name: str) -> RingBuffer:
        """Open an existing ring from any process, changing nothing.
        FileNotFoundError if there is none."""
        raise NotImplementedError

    def put(self, data: bytes, timeout: float | None = None) -> None:
        """Append one message; block while the ring is full. ValueError if len(data) > slot_size.
        TimeoutError after `timeout` seconds (None: wait forever; 0: never wait, not even for the lock)."""
        raise NotImplementedError

    def get(self, timeout: float | None = None) -> bytes:
        """Remove and return the oldest message; block while the ring is empty.
        TimeoutError after `timeout` seconds (None: wait forever; 0: never wait, not even for the lock)."""
        raise NotImplementedError

    def close(self) -> None:
        """Detach this process (unmap, close handles). The ring stays for the others."""
        raise NotImplementedError

    def unlink(self) -> None:
        """Remove the segment and every semaphore of the ring (call it once, when everybody is done)."""
        raise NotImplementedError
