"""Reference solution of the `shm-ring` kata: a ring buffer in POSIX shared memory that is
fast because of its design and survives a process killed anywhere in it.

- Two counters are the truth: `head` (messages ever put) and `tail` (messages ever taken).
  They only grow; slot = counter % slots; the ring holds head - tail messages. Each is
  advanced by one 8-byte store *after* the slot is written (put) or read (get): a process
  that dies before that store has changed nothing anyone can see.
- One lock per side: producers share a lock for `head`, consumers another for `tail`, so a
  producer never waits for a consumer (and the other way round). Each is a robust,
  process-shared pthread mutex in the segment (ctypes): taking it free costs no system
  call (a futex), and when its holder dies the kernel hands it to the next taker with
  EOWNERDEAD.
- Two POSIX semaphores are doorbells, not counts: a producer rings `data` after each
  commit, a consumer rings `room`. A process that finds nothing to do sleeps on its bell
  (holding its side's lock: only the other side rings it) and looks at the counters again
  when woken. Before it looks it drains the bell, so tokens never pile up.
- A batch (`put_many`, `get_many`) is one lock, one commit and one ring for many messages.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import time

import posix_ipc

MAGIC = 0x32474E4952  # "RING2", little-endian
# Header: 8-byte words. Each counter and each lock has its own cache line, so the producer
# side and the consumer side never write the same line.
MAGIC_WORD, SLOTS_WORD, SLOT_SIZE_WORD = 0, 1, 2
HEAD_WORD, TAIL_WORD = 64 // 8, 128 // 8
PRODUCERS_LOCK, CONSUMERS_LOCK = 192, 256  # byte offsets; 64 bytes each (glibc's mutex is 40)
HEADER_SIZE = 320  # slots follow: [u32 length][data ... slot_size], every slot 8-byte aligned
LENGTH_SIZE = 4

# pthread from Python. Calls that may sleep go through CDLL, which releases the GIL while
# they wait; calls that never sleep go through PyDLL, which keeps it (a cheaper call).
_libc = ctypes.CDLL(None)
_libc_nowait = ctypes.PyDLL(None)
_trylock = _libc_nowait.pthread_mutex_trylock
_unlock = _libc_nowait.pthread_mutex_unlock
_unlock.restype = None  # never fails for the holder; skip converting a result
_consistent = _libc_nowait.pthread_mutex_consistent
_lock = _libc.pthread_mutex_lock
_timedlock = _libc.pthread_mutex_timedlock
PTHREAD_PROCESS_SHARED = 1
PTHREAD_MUTEX_ROBUST = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def _stride(slot_size: int) -> int:
    return (LENGTH_SIZE + slot_size + 7) & ~7


def _address(mapping: mmap.mmap) -> int:
    """The address of the mapping, without keeping a ctypes view of it (mmap.close would refuse)."""
    anchor = ctypes.c_char.from_buffer(mapping)
    address = ctypes.addressof(anchor)
    del anchor
    return address


def _init_mutex(address: int) -> None:
    attr = ctypes.create_string_buffer(64)  # pthread_mutexattr_t (4 bytes on glibc)
    _libc.pthread_mutexattr_init(attr)
    _libc.pthread_mutexattr_setpshared(attr, PTHREAD_PROCESS_SHARED)
    _libc.pthread_mutexattr_setrobust(attr, PTHREAD_MUTEX_ROBUST)
    rc = _libc.pthread_mutex_init(ctypes.c_void_p(address), attr)
    _libc.pthread_mutexattr_destroy(attr)
    if rc:
        raise OSError(rc, f"pthread_mutex_init: {os.strerror(rc)}")


class RingBuffer:
    _head_seen = 0  # a consumer's last look at `head`: it only grows, so an old look is a safe bet
    _tail_seen = 0  # a producer's last look at `tail`

    def __init__(self, name: str, shm: posix_ipc.SharedMemory, data_bell, room_bell) -> None:
        self.name = name
        self._data_bell, self._room_bell = data_bell, room_bell
        self._map = mmap.mmap(shm.fd, shm.size)
        shm.close_fd()  # the mapping keeps its own reference
        self._view = memoryview(self._map)
        self._words = self._view[:HEADER_SIZE].cast("Q")  # aligned 8-byte loads and stores
        self._lengths = self._view.cast("I")
        if self._words[MAGIC_WORD] != MAGIC:
            self.close()
            raise ValueError(f"{name} is not a ring buffer")
        self.slots, self.slot_size = self._words[SLOTS_WORD], self._words[SLOT_SIZE_WORD]
        self._stride = _stride(self.slot_size)
        base = _address(self._map)
        self._producers = ctypes.c_void_p(base + PRODUCERS_LOCK)
        self._consumers = ctypes.c_void_p(base + CONSUMERS_LOCK)

    # --- creation ------------------------------------------------------------------------------

    @classmethod
    def create(cls, name: str, slots: int, slot_size: int) -> RingBuffer:
        if slots < 1 or slot_size < 0:
            raise ValueError("slots must be >= 1 and slot_size >= 0")
        created = []
        try:
            # the bells first: a segment that exists is a complete ring for attach()
            data_bell = posix_ipc.Semaphore(name + ".data", posix_ipc.O_CREX, 0o600, 0)
            created.append(data_bell.unlink)
            room_bell = posix_ipc.Semaphore(name + ".room", posix_ipc.O_CREX, 0o600, 0)
            created.append(room_bell.unlink)
            size = HEADER_SIZE + slots * _stride(slot_size)
            shm = posix_ipc.SharedMemory(name, posix_ipc.O_CREX, 0o600, size)
            created.append(shm.unlink)
            with mmap.mmap(shm.fd, size) as mapping:  # initialised before anyone can attach
                words = memoryview(mapping)[:HEADER_SIZE].cast("Q")
                words[SLOTS_WORD], words[SLOT_SIZE_WORD] = slots, slot_size
                base = _address(mapping)
                _init_mutex(base + PRODUCERS_LOCK)
                _init_mutex(base + CONSUMERS_LOCK)
                words[MAGIC_WORD] = MAGIC
                words.release()
            return cls(name, shm, data_bell, room_bell)
        except posix_ipc.ExistentialError as err:
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
            data_bell = posix_ipc.Semaphore(name + ".data")
            room_bell = posix_ipc.Semaphore(name + ".room")
        except posix_ipc.ExistentialError as err:
            raise FileNotFoundError(f"no ring named {name}") from err
        return cls(name, shm, data_bell, room_bell)

    # --- the locks -----------------------------------------------------------------------------

    def _take(self, mutex: ctypes.c_void_p, timeout: float | None, side: str) -> float | None:
        """Take a side's lock; return the deadline of the call (None: none; 0: never wait).
        Free, the lock costs one user-space compare-and-swap and no system call."""
        deadline = timeout if not timeout else time.monotonic() + timeout
        rc = _trylock(mutex)
        if rc:
            self._wait_for_lock(mutex, rc, deadline, side)
        return deadline

    def _wait_for_lock(self, mutex: ctypes.c_void_p, rc: int, deadline: float | None, side: str) -> None:
        """The slow path: `rc` is what pthread_mutex_trylock said (EBUSY or EOWNERDEAD)."""
        if rc == errno.EBUSY and deadline != 0:
            if deadline is None:
                rc = _lock(mutex)
            else:
                wall = time.time() + _remaining(deadline)  # timedlock wants a CLOCK_REALTIME instant
                rc = _timedlock(mutex, ctypes.byref(_Timespec(int(wall), int(wall % 1 * 1e9))))
        if rc == 0:
            return
        if rc == errno.EOWNERDEAD:
            # Its holder died inside put/get and the lock is ours. The counters are right (each
            # is one store, made after the slot copy); the dead one may not have rung: ring both.
            _consistent(mutex)
            self._data_bell.release()
            self._room_bell.release()
            return
        if rc in (errno.EBUSY, errno.ETIMEDOUT):
            raise TimeoutError(f"another {side} holds the {side}s' lock")
        raise OSError(rc, f"pthread_mutex_lock: {os.strerror(rc)}")

    # --- waiting: the counters decide, the bells only wake --------------------------------------

    def _look_at_head(self) -> int:
        for _ in range(self._data_bell.value):  # drain first: what was rung before is in `head` now
            self._data_bell.acquire(0)  # consumers alone take from this bell, under their lock
        self._head_seen = self._words[HEAD_WORD]
        return self._head_seen

    def _look_at_tail(self) -> int:
        for _ in range(self._room_bell.value):
            self._room_bell.acquire(0)
        self._tail_seen = self._words[TAIL_WORD]
        return self._tail_seen

    def _wait_for_data(self, tail: int, deadline: float | None) -> None:
        while self._look_at_head() <= tail:
            _sleep_on(self._data_bell, deadline, "the ring is empty")

    def _wait_for_room(self, head: int, deadline: float | None) -> None:
        while head - self._look_at_tail() >= self.slots:
            _sleep_on(self._room_bell, deadline, "the ring is full")

    # --- put / get -------------------------------------------------------------------------------

    def put(self, data: bytes, timeout: float | None = None) -> None:
        size = len(data)
        if size > self.slot_size:
            raise ValueError(f"message of {size} bytes does not fit a slot of {self.slot_size}")
        deadline = self._take(self._producers, timeout, "producer")
        try:
            head = self._words[HEAD_WORD]
            if head - self._tail_seen >= self.slots:  # full, as far as we last looked
                self._wait_for_room(head, deadline)
            offset = HEADER_SIZE + head % self.slots * self._stride
            self._lengths[offset >> 2] = size
            self._view[offset + LENGTH_SIZE : offset + LENGTH_SIZE + size] = data  # the one copy
            self._words[HEAD_WORD] = head + 1  # commit: from now on a consumer may take it
            self._data_bell.release()
        finally:
            _unlock(self._producers)

    def get(self, timeout: float | None = None) -> bytes:
        deadline = self._take(self._consumers, timeout, "consumer")
        try:
            tail = self._words[TAIL_WORD]
            if self._head_seen <= tail:  # empty, as far as we last looked
                self._wait_for_data(tail, deadline)
            offset = HEADER_SIZE + tail % self.slots * self._stride + LENGTH_SIZE
            data = self._map[offset : offset + self._lengths[(offset >> 2) - 1]]  # the one copy
            self._words[TAIL_WORD] = tail + 1  # commit: from now on a producer may reuse the slot
            self._room_bell.release()
            return data
        finally:
            _unlock(self._consumers)

    def put_many(self, messages, timeout: float | None = None) -> int:
        for data in messages:
            if len(data) > self.slot_size:
                raise ValueError(f"message of {len(data)} bytes does not fit a slot of {self.slot_size}")
        deadline = self._take(self._producers, timeout, "producer")
        done, total = 0, len(messages)
        try:
            view, lengths, slots, stride = self._view, self._lengths, self.slots, self._stride
            while done < total:
                head = self._words[HEAD_WORD]
                if head - self._tail_seen + total - done > slots:  # not all fit, as far as we last looked
                    self._look_at_tail()
                if head - self._tail_seen >= slots:  # none fits
                    try:
                        self._wait_for_room(head, deadline)
                    except TimeoutError:
                        if done:
                            break  # like socket.send: say how many went in
                        raise
                count = min(slots - (head - self._tail_seen), total - done)
                for index in range(head, head + count):
                    data = messages[done]
                    done += 1
                    offset = HEADER_SIZE + index % slots * stride
                    lengths[offset >> 2] = len(data)
                    view[offset + LENGTH_SIZE : offset + LENGTH_SIZE + len(data)] = data
                self._words[HEAD_WORD] = head + count  # one commit for the whole chunk
                self._data_bell.release()  # and one ring
        finally:
            _unlock(self._producers)
        return done

    def get_many(self, max_count: int, timeout: float | None = None) -> list[bytes]:
        if max_count < 1:
            raise ValueError("max_count must be >= 1")
        deadline = self._take(self._consumers, timeout, "consumer")
        try:
            tail = self._words[TAIL_WORD]
            if self._head_seen - tail < max_count:  # fewer than asked, as far as we last looked
                self._look_at_head()
            if self._head_seen <= tail:
                self._wait_for_data(tail, deadline)
            count = min(max_count, self._head_seen - tail)
            mapping, lengths, slots, stride = self._map, self._lengths, self.slots, self._stride
            out = []
            for index in range(tail, tail + count):
                offset = HEADER_SIZE + index % slots * stride + LENGTH_SIZE
                out.append(mapping[offset : offset + lengths[(offset >> 2) - 1]])
            self._words[TAIL_WORD] = tail + count  # one commit
            self._room_bell.release()  # and one ring
            return out
        finally:
            _unlock(self._consumers)

    # --- teardown --------------------------------------------------------------------------------

    def close(self) -> None:
        if self._map is None:
            return
        for view in (self._lengths, self._words, self._view):
            view.release()
        self._map.close()
        self._map = None
        self._data_bell.close()
        self._room_bell.close()

    def unlink(self) -> None:
        for remove in (
            lambda: posix_ipc.unlink_shared_memory(self.name),
            lambda: posix_ipc.unlink_semaphore(self.name + ".data"),
            lambda: posix_ipc.unlink_semaphore(self.name + ".room"),
        ):
            try:
                remove()
            except posix_ipc.ExistentialError:
                pass

    def __enter__(self) -> RingBuffer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _remaining(deadline: float) -> float:
    return 0.0 if deadline == 0 else max(0.0, deadline - time.monotonic())


def _sleep_on(bell: posix_ipc.Semaphore, deadline: float | None, why: str) -> None:
    """Sleep in the kernel until the other side rings (sem_timedwait): no CPU while waiting."""
    try:
        bell.acquire(None if deadline is None else _remaining(deadline))
    except posix_ipc.BusyError:
        raise TimeoutError(why) from None
