"""Reference solution of the `semaphore` kata: POSIX named and System V semaphores."""

from __future__ import annotations

import os
import time
from contextlib import contextmanager

import posix_ipc
import sysv_ipc


def locked_increments(path: str, processes: int, iterations: int, name: str) -> int:
    # O_CREX: a name left behind by someone else must not be silently reused.
    sem = posix_ipc.Semaphore(name, posix_ipc.O_CREX, mode=0o600, initial_value=1)
    pids = []
    try:
        for _ in range(processes):
            pid = os.fork()
            if pid == 0:
                status = 1
                try:
                    _increment(path, iterations, sem)
                    status = 0
                finally:
                    os._exit(status)
            pids.append(pid)
    finally:
        codes = [_reap(pid) for pid in pids]  # reap every child, even when a fork failed
        sem.unlink()  # the name goes now; the children are gone, nobody needs it
        sem.close()
    if any(codes):
        raise ChildProcessError(f"a worker failed with exit status {max(codes)}")
    with open(path, "rb") as f:
        return int(f.read())


def _increment(path: str, iterations: int, sem: posix_ipc.Semaphore) -> None:
    fd = os.open(path, os.O_RDWR)
    try:
        for _ in range(iterations):
            sem.acquire()
            try:  # the whole read-modify-write is the critical section
                value = int(os.pread(fd, 32, 0))
                os.pwrite(fd, b"%d" % (value + 1), 0)  # the value only grows: no truncate needed
            finally:
                sem.release()
    finally:
        os.close(fd)


def _reap(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


class Pool:
    """At most `slots` holders at once, across every process that opens `name`."""

    def __init__(self, name: str, slots: int):
        if slots < 1:
            raise ValueError("a pool needs at least one slot")
        self.name = name
        self.slots = slots
        try:  # create it with the full count...
            self._sem = posix_ipc.Semaphore(name, posix_ipc.O_CREX, mode=0o600, initial_value=slots)
        except posix_ipc.ExistentialError:  # ...or join the pool another process created
            self._sem = posix_ipc.Semaphore(name)

    def acquire(self, timeout: float | None = None) -> None:
        try:
            self._sem.acquire(timeout)
        except posix_ipc.BusyError:
            raise TimeoutError(f"no free slot in {self.name} within {timeout} s") from None

    def release(self) -> None:
        self._sem.release()

    @contextmanager
    def slot(self, timeout: float | None = None):
        self.acquire(timeout)
        try:
            yield self
        finally:
            self.release()

    def close(self) -> None:
        self._sem.close()

    def unlink(self) -> None:
        posix_ipc.unlink_semaphore(self.name)


class RobustLock:
    """A System V semaphore used as a lock; SEM_UNDO releases it when its holder dies."""

    def __init__(self, key: int):
        self.key = key
        try:
            self._sem = sysv_ipc.Semaphore(key, sysv_ipc.IPC_CREX, mode=0o600, initial_value=1)
        except sysv_ipc.ExistentialError:
            self._sem = sysv_ipc.Semaphore(key)
        self._sem.undo = True  # the kernel records each semop and reverts it at exit

    def acquire(self, timeout: float | None = None) -> None:
        if timeout is None:
            self._sem.block = True
            self._sem.acquire()
            return
        if sysv_ipc.SEMAPHORE_TIMEOUT_SUPPORTED:
            self._sem.block = True
            try:
                self._sem.acquire(timeout)
                return
            except sysv_ipc.BusyError:
                raise TimeoutError(f"lock {self.key:#x} still held after {timeout} s") from None
        # No semtimedop in this build: try with IPC_NOWAIT, back off, until the deadline.
        deadline = time.monotonic() + timeout
        pause = 0.0002
        self._sem.block = False
        while True:
            try:
                self._sem.acquire()
                return
            except sysv_ipc.BusyError:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"lock {self.key:#x} still held after {timeout} s") from None
                time.sleep(min(pause, left))
                pause = min(pause * 2, 0.01)

    def release(self) -> None:
        self._sem.release()

    def remove(self) -> None:
        self._sem.remove()
