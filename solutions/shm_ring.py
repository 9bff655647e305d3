"""Reference solution of the `shm-ring` kata: a ring buffer in POSIX shared memory,
guarded by the classic three semaphores (empty, full, mutex).

- `empty` (POSIX, counting, starts at `slots`): free slots. `put` takes one, `get` gives one back.
- `full`  (POSIX, counting, starts at 0): messages ready. `put` gives one, `get` takes one.
- mutex   (System V, binary, starts at 1, every operation with SEM_UNDO): guards head,
  tail and the slot copies. SEM_UNDO makes the kernel give it back when its holder dies.
"""

from __future__ import annotations

import mmap
import struct
import zlib

import posix_ipc
import sysv_ipc

MAGIC = b"RNG1"
HEADER = struct.Struct("=4sIIIQQ")  # magic, slots, slot_size, reserved, head, tail
HEADER_SIZE = 64  # header padded to a cache line; slots follow
HEAD_OFFSET, TAIL_OFFSET = 16, 24
INDEX = struct.Struct("=Q")
LENGTH = struct.Struct("=I")  # the length prefix of every slot


def ring_key(name: str) -> int:
    """The System V key of ring `name`'s lock (given by the spec: the grader knows it)."""
    return (zlib.crc32(name.encode()) & 0x7FFFFFFF) or 1


class RingBuffer:
    def __init__(self, name: str, shm: posix_ipc.SharedMemory, empty, full, mutex) -> None:
        self.name = name
        self._map = mmap.mmap(shm.fd, shm.size)
        shm.close_fd()  # the mapping keeps its own reference
        magic, self.slots, self.slot_size, _, _, _ = HEADER.unpack_from(self._map, 0)
        if magic != MAGIC:
            self._map.close()
            raise ValueError(f"{name} is not a ring buffer")
        self._stride = LENGTH.size + self.slot_size
        self._view = memoryview(self._map)
        self._empty, self._full, self._mutex = empty, full, mutex
        self._mutex.undo = True  # the kernel releases the lock if this process dies holding it

    # --- creation ------------------------------------------------------------------

    @classmethod
    def create(cls, name: str, slots: int, slot_size: int) -> RingBuffer:
        if slots < 1 or slot_size < 0:
            raise ValueError("slots must be >= 1 and slot_size >= 0")
        created = []
        try:
            # semaphores first: a segment that exists is a complete ring for attach()
            mutex = sysv_ipc.Semaphore(ring_key(name), sysv_ipc.IPC_CREX, 0o600, 1)
            created.append(mutex.remove)
            empty = posix_ipc.Semaphore(name + ".empty", posix_ipc.O_CREX, 0o600, slots)
            created.append(empty.unlink)
            full = posix_ipc.Semaphore(name + ".full", posix_ipc.O_CREX, 0o600, 0)
            created.append(full.unlink)
            size = HEADER_SIZE + slots * (LENGTH.size + slot_size)
            shm = posix_ipc.SharedMemory(name, posix_ipc.O_CREX, 0o600, size)
            created.append(shm.unlink)
            with mmap.mmap(shm.fd, size) as m:  # header written before anyone can attach
                HEADER.pack_into(m, 0, MAGIC, slots, slot_size, 0, 0, 0)
            return cls(name, shm, empty, full, mutex)
        except (posix_ipc.ExistentialError, sysv_ipc.ExistentialError) as err:
            for undo in reversed(created):
                undo()
            raise FileExistsError(f"a ring (or one of its semaphores) named {name} exists") from err
        except BaseException:
            for undo in reversed(created):
                undo()
            raise

    @classmethod
    def attach(cls, name: str) -> RingBuffer:
        # open what exists, never initialise: another process may be using the ring right now
        try:
            shm = posix_ipc.SharedMemory(name)
            empty = posix_ipc.Semaphore(name + ".empty")
            full = posix_ipc.Semaphore(name + ".full")
            mutex = sysv_ipc.Semaphore(ring_key(name))
        except (posix_ipc.ExistentialError, sysv_ipc.ExistentialError) as err:
            raise FileNotFoundError(f"no ring named {name}") from err
        return cls(name, shm, empty, full, mutex)

    # --- the lock ----------------------------------------------------------------------

    def _lock(self, wait: bool) -> None:
        if wait:
            self._mutex.acquire()  # held by others only for one copy
            return
        self._mutex.block = False
        try:
            self._mutex.acquire()
        except sysv_ipc.BusyError:
            raise TimeoutError("the ring's lock is taken") from None
        finally:
            self._mutex.block = True

    def _unlock(self) -> None:
        self._mutex.release()

    # --- put / get -------------------------------------------------------------------------

    def put(self, data: bytes, timeout: float | None = None) -> None:
        size = len(data)
        if size > self.slot_size:
            raise ValueError(f"message of {size} bytes does not fit a slot of {self.slot_size}")
        _acquire(self._empty, timeout, "the ring is full")
        try:
            self._lock(timeout != 0)
        except BaseException:
            self._empty.release()  # give the slot back: we did not use it
            raise
        try:
            head = INDEX.unpack_from(self._map, HEAD_OFFSET)[0]
            offset = HEADER_SIZE + head * self._stride
            LENGTH.pack_into(self._map, offset, size)
            self._view[offset + LENGTH.size : offset + LENGTH.size + size] = data
            INDEX.pack_into(self._map, HEAD_OFFSET, (head + 1) % self.slots)
        finally:
            self._unlock()
        self._full.release()  # only now, with length and data in place, may a consumer see it

    def get(self, timeout: float | None = None) -> bytes:
        _acquire(self._full, timeout, "the ring is empty")
        try:
            self._lock(timeout != 0)
        except BaseException:
            self._full.release()  # the message stays for someone else
            raise
        try:
            tail = INDEX.unpack_from(self._map, TAIL_OFFSET)[0]
            offset = HEADER_SIZE + tail * self._stride
            size = LENGTH.unpack_from(self._map, offset)[0]
            data = self._map[offset + LENGTH.size : offset + LENGTH.size + size]
            INDEX.pack_into(self._map, TAIL_OFFSET, (tail + 1) % self.slots)
        finally:
            self._unlock()
        self._empty.release()
        return data

    # --- teardown ------------------------------------------------------------------------------

    def close(self) -> None:
        if self._map is None:
            return
        self._view.release()
        self._map.close()
        self._map = None
        self._empty.close()
        self._full.close()

    def unlink(self) -> None:
        for remove in (
            lambda: posix_ipc.unlink_shared_memory(self.name),
            lambda: posix_ipc.unlink_semaphore(self.name + ".empty"),
            lambda: posix_ipc.unlink_semaphore(self.name + ".full"),
            lambda: sysv_ipc.remove_semaphore(sysv_ipc.Semaphore(ring_key(self.name)).id),
        ):
            try:
                remove()
            except (posix_ipc.ExistentialError, sysv_ipc.ExistentialError):
                pass

    def __enter__(self) -> RingBuffer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _acquire(sem: posix_ipc.Semaphore, timeout: float | None, why: str) -> None:
    """Block in the kernel (sem_wait / sem_timedwait): no CPU is used while waiting."""
    try:
        sem.acquire(timeout)
    except posix_ipc.BusyError:
        raise TimeoutError(why) from None
