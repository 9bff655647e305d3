"""Reference solution of the `file-lock` kata: fcntl record locks (classic and OFD), a table of
counters updated by unrelated processes and threads, and a pid file that refuses a second instance."""

from __future__ import annotations

import errno
import fcntl
import os
import struct

RECORD_SIZE = 16  # one record of the table: a decimal number right-aligned in 15 bytes, then b"\n"

# struct flock on Linux (x86-64, aarch64): short l_type, short l_whence, off_t l_start, off_t l_len,
# pid_t l_pid, padded to 32 bytes. l_pid must be 0 for an OFD lock.
_FLOCK = "hhqqi4x"


class RecordLock:
    """A lock on the bytes [start, start + length) of the open file `fd` (length 0: to the end of
    the file, however far it grows). Classic locks (F_SETLK) belong to the process; OFD locks
    (F_OFD_SETLK, `ofd=True`) belong to the open file description behind `fd`."""

    def __init__(self, fd: int, start: int = 0, length: int = 0, *, ofd: bool = False):
        self.fd = fd
        self.start = start
        self.length = length
        self.ofd = ofd
        self._try, self._wait = (fcntl.F_OFD_SETLK, fcntl.F_OFD_SETLKW) if ofd else (fcntl.F_SETLK, fcntl.F_SETLKW)

    def _fcntl(self, command: int, kind: int) -> None:
        fcntl.fcntl(self.fd, command, struct.pack(_FLOCK, kind, os.SEEK_SET, self.start, self.length, 0))

    def acquire(self, *, shared: bool = False, blocking: bool = True) -> bool:
        """Take the lock, or convert the one held (shared <-> exclusive) in one step: the kernel
        replaces the lock type atomically, so an upgrade never lets a writer in between."""
        kind = fcntl.F_RDLCK if shared else fcntl.F_WRLCK
        if blocking:
            # F_SETLKW sleeps in the kernel until the range is free. A classic lock that would
            # close a cycle of waiters fails with EDEADLK: it goes out to the caller, who must
            # give something up (retrying would only meet the same cycle again).
            self._fcntl(self._wait, kind)
            return True
        try:
            self._fcntl(self._try, kind)
        except OSError as err:
            if err.errno in (errno.EACCES, errno.EAGAIN):  # held by someone else (both are allowed)
                return False
            raise
        return True

    def release(self) -> None:
        self._fcntl(self._try, fcntl.F_UNLCK)

    def __enter__(self) -> RecordLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def add(path: str, index: int, amount: int) -> int:
    """Add `amount` to record `index` of the table at `path`; return the new value."""
    start = index * RECORD_SIZE
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        # OFD, not classic: a classic lock is the process's, so two threads of one process would
        # both "hold" it and lose updates. Only this record's bytes: writers of other records go on.
        with RecordLock(fd, start, RECORD_SIZE, ofd=True):
            record = os.pread(fd, RECORD_SIZE, start)
            if len(record) != RECORD_SIZE:
                raise IndexError(f"record {index} is past the end of {path}")
            value = int(record) + amount
            os.pwrite(fd, _record(value), start)
            return value
    finally:
        os.close(fd)


def _record(value: int) -> bytes:
    record = b"%15d\n" % value
    if len(record) != RECORD_SIZE:
        raise OverflowError(f"{value} does not fit in a record of {RECORD_SIZE} bytes")
    return record


def total(path: str) -> int:
    """The sum of every record, read under a shared lock on the whole file: a consistent snapshot
    (no writer in the middle of a record), while other readers read too."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        lock = RecordLock(fd, 0, 0, ofd=True)
        lock.acquire(shared=True)
        try:
            size = os.fstat(fd).st_size
            data = os.pread(fd, size, 0)
        finally:
            lock.release()
    finally:
        os.close(fd)
    return sum(int(data[at : at + RECORD_SIZE]) for at in range(0, len(data), RECORD_SIZE))


class AlreadyRunning(Exception):
    """Another live process holds the pid file; `pid` is what it wrote there (None if unreadable)."""

    def __init__(self, path: str, pid: int | None):
        super().__init__(f"{path} is held by pid {pid}")
        self.path = path
        self.pid = pid


class PidFile:
    """A pid file guarded by flock: the lock, not the file's existence, says an instance runs."""

    def __init__(self, path: str):
        self.path = path
        self._fd: int | None = None

    def claim(self) -> None:
        while True:
            # No O_TRUNC: a second instance must not wipe the running one's pid before it learns
            # that it is the second. Truncate only once the lock is ours.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                # flock, not fcntl: closing any other fd of the file (running_pid() in this very
                # process) would drop a classic record lock; a lock on the open file description stays.
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = _read_pid(fd)
                os.close(fd)
                raise AlreadyRunning(self.path, pid) from None
            if _same_file(fd, self.path):
                break
            os.close(fd)  # the holder released (unlinked) it between our open and our lock: again
        os.ftruncate(fd, 0)
        os.pwrite(fd, b"%d\n" % os.getpid(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        os.unlink(self.path)  # still locked: nobody can claim the name between the unlink and the close
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> PidFile:
        self.claim()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def running_pid(path: str) -> int | None:
    """The pid in the pid file when a process holds its lock; None when there is no file or
    nobody holds it (a stale file left by a crash)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # a new open file description: conflicts even here
        except BlockingIOError:
            return _read_pid(fd)
        return None  # nobody holds it; our shared lock goes with the close
    finally:
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0))
    except ValueError:
        return None  # empty or torn: the holder is between its truncate and its write


def _same_file(fd: int, path: str) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False
