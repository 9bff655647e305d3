"""The `file-lock` kata: fcntl record locks (classic and OFD), flock, and a pid file.

Read the spec first: `kata start file-lock` printed where it is, or `kata show file-lock`.
Run `kata grade file-lock` after each step; every task is graded on its own.
You need only the standard library (fcntl, os, struct, errno).
"""

from __future__ import annotations

RECORD_SIZE = 16  # one record of the table: b"%15d\n" % value


class RecordLock:
    """A lock on the bytes [start, start + length) of the open file `fd` (length 0: to the
    end of the file). Classic fcntl locks (F_SETLK, F_SETLKW) belong to the process; with
    `ofd=True`, OFD locks (F_OFD_SETLK, F_OFD_SETLKW) belong to the open file description."""

    def __init__(self, fd: int, start: int = 0, length: int = 0, *, ofd: bool = False):
        raise NotImplementedError

    def acquire(self, *, shared: bool = False, blocking: bool = True) -> bool:
        """Take a shared (F_RDLCK) or exclusive (F_WRLCK) lock, or convert the one held.
        Blocking: sleep until the range is free, return True; a classic lock that would
        deadlock raises the OSError with errno EDEADLK. Not blocking: return False at once
        when another owner holds a conflicting lock."""
        raise NotImplementedError

    def release(self) -> None:
        """Unlock the range (F_UNLCK)."""
        raise NotImplementedError

    def __enter__(self) -> RecordLock:
        """acquire() an exclusive lock, blocking."""
        raise NotImplementedError

    def __exit__(self, *exc: object) -> None:
        raise NotImplementedError


def add(path: str, index: int, amount: int) -> int:
    """Add `amount` to record `index` of the table at `path` and return its new value,
    under an exclusive OFD lock on that record only, on an fd opened for this call.
    Safe between unrelated processes and between threads of one process."""
    raise NotImplementedError


def total(path: str) -> int:
    """The sum of every record of the table, read under a shared lock on the whole file."""
    raise NotImplementedError


class AlreadyRunning(Exception):
    """Raised by PidFile.claim() when another process holds the pid file."""

    def __init__(self, path: str, pid: int | None):
        raise NotImplementedError


class PidFile:
    """A pid file guarded by an exclusive flock: one instance at a time."""

    def __init__(self, path: str):
        raise NotImplementedError

    def claim(self) -> None:
        """Open or create the file (0644, no O_TRUNC), flock it LOCK_EX | LOCK_NB, then write
        this process's pid (b"%d\\n"); keep the fd open. AlreadyRunning(path, pid) when held."""
        raise NotImplementedError

    def release(self) -> None:
        """Remove the pid file and close its fd (which drops the lock)."""
        raise NotImplementedError

    def __enter__(self) -> PidFile:
        raise NotImplementedError

    def __exit__(self, *exc: object) -> None:
        raise NotImplementedError


def running_pid(path: str) -> int | None:
    """The pid in the pid file when a process (this one included) holds its lock; None when
    the file is missing or nobody holds it."""
    raise NotImplementedError
