"""Hidden suite of the `file-lock` kata. Hygiene (zombies, fds, escaped children) is checked by
the grader after every test; these tests check behaviour and say why it is wrong when it is.

The suite takes its own locks with plain fcntl (an OFD lock in the test process, classic locks in
a `Rival` child), and asks the learner's RecordLock, from the test process, a thread or a forked
child, what it gets."""

from __future__ import annotations

import errno
import fcntl
import functools
import os
import select
import signal
import struct
import subprocess
import threading
from pathlib import Path

import pytest

from grader.perf import Elapsed, clock
from grader.testing import (
    check_no_spin,
    end_helper,
    expect,
    expect_raises,
    fail,
    fork_helper,
    lock_requests_waiting,
    run_in_child,
    stand_in,
    task,
    wait_until,
    watch_for,
)

RECORD = 16
FLOCK = "hhqqi4x"  # struct flock on Linux x86-64/aarch64


def make_table(scratch: Path, values: list[int], name: str = "table") -> str:
    path = scratch / name
    path.write_bytes(b"".join(b"%15d\n" % value for value in values))
    return str(path)


def table_values(path: str) -> list[int]:
    data = Path(path).read_bytes()
    return [int(data[at : at + RECORD]) for at in range(0, len(data), RECORD)]


def plain_lock(fd: int, command: int, kind: int, start: int = 0, length: int = 0) -> None:
    """The suite's own fcntl lock (never the learner's code)."""
    fcntl.fcntl(fd, command, struct.pack(FLOCK, kind, os.SEEK_SET, start, length, 0))


def try_lock(lock, **how) -> object:
    """lock.acquire(blocking=False, **how) -> True/False, or what it raised (a string: it pickles)."""
    try:
        return lock.acquire(blocking=False, **how)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def check_try(got: object, expected: bool, what: str, why: str) -> None:
    if isinstance(got, str):
        fail(
            f"{what}: acquire(blocking=False) raised {got}. It returns False when another owner holds a "
            "conflicting lock: F_SETLK (and F_OFD_SETLK) fail with EAGAIN or EACCES then, catch those two "
            "(BlockingIOError, PermissionError) and return False; let any other error out"
        )
    expect(got is expected, f"{what}: acquire(blocking=False) returned {got!r}, expected {expected}. {why}")


def in_child(impl, body, what: str):
    """body(fd) in a forked child, with a fresh fd of its own on the table, or the inherited one."""
    return run_in_child(body, impl, what)


class Rival:
    """A child of the suite that takes classic locks with plain fcntl F_SETLKW, one step after the
    other, says `got <n>` after each, then holds them until it is killed."""

    def __init__(self, path: str, steps: list[tuple[int, int, int]]):
        self._says, says_w = os.pipe()
        self.pid = fork_helper(lambda: self._run(path, steps, says_w))
        os.close(says_w)
        self._heard = b""

    @staticmethod
    def _run(path: str, steps: list[tuple[int, int, int]], says_w: int) -> None:
        fd = os.open(path, os.O_RDWR)
        for number, (kind, start, length) in enumerate(steps):
            plain_lock(fd, fcntl.F_SETLKW, kind, start, length)
            os.write(says_w, b"got %d\n" % number)
        signal.pause()  # holds its locks until the suite kills it

    def said(self, line: str, timeout: float) -> bool:
        """Whether it said `line` (waiting at most `timeout` seconds for it)."""
        while line.encode() not in self._heard.split(b"\n"):
            ready, _, _ = select.select([self._says], [], [], timeout)
            chunk = os.read(self._says, 100) if ready else b""
            if not chunk:
                return False
            self._heard += chunk
        return True

    def waiting(self) -> bool:
        """Whether it sleeps in F_SETLKW for a lock (a `->` line of /proc/locks is a blocked request)."""
        with open("/proc/locks") as f:
            return any(line.split()[1] == "->" and str(self.pid) in line.split()[5:6] for line in f)

    def end(self) -> None:
        """Kill it (its locks go) and reap it; again is harmless."""
        end_helper(self.pid)
        if self._says >= 0:
            os.close(self._says)
            self._says = -1


class InThread:
    """A call in a thread of the test process, so that a call that never returns cannot hang the test."""

    def __init__(self, call):
        self.outcome: tuple[str, object] | None = None
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self.thread.start()
        self.started.wait(5)

    def _run(self, call) -> None:
        self.started.set()
        try:
            self.outcome = ("returned", call())
        except BaseException as exc:
            self.outcome = ("raised", exc)

    def result(self) -> object:
        """What the call returned; what it raised is raised again (a NotImplementedError says so)."""
        how, value = self.outcome
        if how == "raised":
            raise value
        return value

    def finished(self, timeout: float) -> bool:
        self.thread.join(timeout)
        return not self.thread.is_alive()


# --- task 1: RecordLock ------------------------------------------------------------------------

LOCK_HINT = (
    "a RecordLock call blocked: acquire(blocking=False) must never wait (F_SETLK, or F_OFD_SETLK: they fail "
    "at once with EAGAIN or EACCES on a conflict), and release() must unlock the same range (F_UNLCK)"
)


@task(1, on_timeout=LOCK_HINT)
@pytest.mark.parametrize("ofd", [False, True], ids=["classic", "ofd"])
def test_exclusive_and_shared_between_processes(impl, scratch, ofd):
    path = make_table(scratch, [0] * 4)
    kind = "an OFD lock" if ofd else "a classic lock"

    def child_tries(start: int, length: int, shared: bool):
        def body():
            fd = os.open(path, os.O_RDWR)
            try:
                lock = impl.RecordLock(fd, start, length, ofd=ofd)
                got = try_lock(lock, shared=shared)
                if got is True:
                    lock.release()
                return got
            finally:
                os.close(fd)

        return in_child(impl, body, "a RecordLock in another process")

    fd = os.open(path, os.O_RDWR)
    try:
        lock = impl.RecordLock(fd, 0, 32, ofd=ofd)
        check_try(try_lock(lock, shared=True), True, f"{kind} on a free range, shared", "Nobody holds it.")
        check_try(
            child_tries(0, 32, shared=True),
            True,
            "another process asked for a shared lock while this one held a shared lock on the same bytes",
            "Readers share: F_RDLCK locks never conflict with each other.",
        )
        check_try(
            child_tries(16, 16, shared=False),
            False,
            "another process asked for an exclusive lock on bytes 16-31 while this one held a shared lock on 0-31",
            "An exclusive lock (F_WRLCK) conflicts with any lock held on an overlapping range: shared=False "
            "must ask for F_WRLCK, shared=True for F_RDLCK, over [start, start + length).",
        )
        check_try(
            child_tries(32, 32, shared=False),
            True,
            "another process asked for an exclusive lock on bytes 32-63 while this one held 0-31",
            "Locks cover byte ranges: l_start=start, l_len=length, with l_whence=SEEK_SET; ranges that do not "
            "overlap never conflict.",
        )
        check_try(
            try_lock(lock),
            True,
            f"{kind}: shared, then exclusive on the same range (an upgrade), with no other holder",
            "A second acquire on the same RecordLock converts the lock the owner holds to the new type.",
        )
        check_try(
            child_tries(0, 16, shared=True),
            False,
            "another process asked for a shared lock while this one had upgraded its lock to exclusive",
            "After acquire(shared=False) the range is locked F_WRLCK: no reader gets in.",
        )
        lock.release()
        check_try(
            child_tries(0, 0, shared=False),
            True,
            "another process asked for an exclusive lock on the whole file after release()",
            "release() unlocks the range (l_type=F_UNLCK with F_SETLK or F_OFD_SETLK).",
        )
    finally:
        os.close(fd)
    read_only = os.open(path, os.O_RDONLY)
    try:
        expect_raises(
            OSError,
            lambda: impl.RecordLock(read_only, ofd=ofd).acquire(blocking=False),
            f"{kind}: an exclusive acquire(blocking=False) on an fd open read-only (fcntl fails with EBADF)",
            "Only EAGAIN and EACCES mean that another owner holds the lock: return False for those two only. An "
            "exclusive lock needs an fd open for writing, and that error (like any other) must reach the caller",
        )
    finally:
        os.close(read_only)


@task(1, on_timeout=LOCK_HINT)
@pytest.mark.parametrize("ofd", [False, True], ids=["classic", "ofd"])
def test_blocking_acquire_sleeps_until_release(impl, scratch, ofd):
    path = make_table(scratch, [0] * 2)
    held = os.open(path, os.O_RDWR)
    fd = os.open(path, os.O_RDWR)
    try:
        plain_lock(held, fcntl.F_OFD_SETLK, fcntl.F_WRLCK)  # the suite's lock: conflicts with both kinds
        lock = impl.RecordLock(fd, 0, RECORD, ofd=ofd)
        call = InThread(lock.acquire)
        usage = watch_for(0.3, os.getpid(), call.thread.native_id)
        if call.finished(0):
            fail(
                f"acquire() returned {call.result()!r} while another owner held an exclusive lock on the whole "
                "file: a blocking acquire waits until the range is free (F_SETLKW, F_OFD_SETLKW)"
            )
        plain_lock(held, fcntl.F_OFD_SETLK, fcntl.F_UNLCK)
        expect(call.finished(5), "acquire() did not return within 5 s after the other owner released its lock")
        how, value = call.outcome
        if how == "raised":
            fail(f"acquire() raised {type(value).__name__}: {value} after the other owner released its lock")
        expect(value is True, f"a blocking acquire() returned {value!r} once it had the lock, expected True")
        check_no_spin(
            "acquire() while another owner held the lock",
            usage,
            "F_SETLKW (or F_OFD_SETLKW) sleeps in the kernel until the range is free; never loop on F_SETLK",
        )
        lock.release()
    finally:
        os.close(fd)
        os.close(held)


# --- task 2: who owns a lock ---------------------------------------------------------------------------

OWNER_HINT = (
    "a blocking acquire never returned: classic locks (F_SETLKW) must let EDEADLK out; the suite's other "
    "process waits for a lock this process holds"
)


@task(2, on_timeout=OWNER_HINT)
def test_classic_lock_belongs_to_the_process(impl, scratch):
    path = make_table(scratch, [0] * 2)
    fd = os.open(path, os.O_RDWR)
    try:
        lock = impl.RecordLock(fd)
        check_try(try_lock(lock), True, "a classic lock on a free file", "Nobody holds it.")
        check_try(
            in_child(impl, lambda: try_lock(impl.RecordLock(fd)), "a RecordLock in a forked child"),
            False,
            "a child forked while the parent held a classic lock asked for it on the fd it inherited",
            "A classic record lock (F_SETLK) is owned by the process and is not inherited by fork(): the child "
            "is another owner and conflicts. Only RecordLock(..., ofd=True) uses F_OFD_SETLK.",
        )
        second = os.open(path, os.O_RDWR)
        try:
            check_try(
                try_lock(impl.RecordLock(second)),
                True,
                "the process that holds a classic lock asked for it again through a second fd of the same file",
                "Classic locks belong to the process, whatever fd it uses: it cannot conflict with itself. "
                "Only RecordLock(..., ofd=True) uses F_OFD_SETLK, which belongs to the open file description.",
            )
        finally:
            os.close(second)  # and this drops every classic lock of the process on the file
        check_try(
            in_child(impl, lambda: try_lock(impl.RecordLock(os.open(path, os.O_RDWR))), "a RecordLock in a child"),
            True,
            "another process asked for the lock after the holder had closed a second fd of the file",
            "Closing ANY fd of a file drops all the process's classic locks on it.",
        )
    finally:
        os.close(fd)


@task(2, on_timeout=OWNER_HINT)
def test_ofd_lock_belongs_to_the_open_file_description(impl, scratch):
    path = make_table(scratch, [0] * 2)
    fd = os.open(path, os.O_RDWR)
    try:
        lock = impl.RecordLock(fd, ofd=True)
        check_try(try_lock(lock), True, "an OFD lock on a free file", "Nobody holds it.")
        second = os.open(path, os.O_RDWR)
        try:
            check_try(
                try_lock(impl.RecordLock(second, ofd=True)),
                False,
                "an OFD lock asked through a second open() of the file, in the process that holds one",
                "An OFD lock (F_OFD_SETLK, ofd=True) belongs to the open file description: each open() makes a "
                "new one, which conflicts even in the same process (and thread).",
            )
        finally:
            os.close(second)
        check_try(
            in_child(impl, lambda: try_lock(impl.RecordLock(os.open(path, os.O_RDWR))), "a RecordLock in a child"),
            False,
            "another process asked for the lock after the OFD lock's holder had closed a second fd of the file",
            "An OFD lock stays until its own open file description is closed: use F_OFD_SETLK for ofd=True.",
        )
        check_try(
            in_child(impl, lambda: try_lock(impl.RecordLock(fd, ofd=True)), "a RecordLock in a forked child"),
            True,
            "a child forked while the parent held an OFD lock asked for it on the fd it inherited",
            "The inherited fd shares the parent's open file description, and the OFD lock belongs to it: "
            "the child already holds it.",
        )
    finally:
        os.close(fd)


def start_rival(path: str, steps: list[tuple[int, int, int]]) -> Rival:
    rival = Rival(path, steps)
    if not rival.said(f"got {len(steps) - 2}", 5):
        rival.end()
        fail("the suite's other process could not take its first lock: was the file left locked?")
    wait_until(rival.waiting, 5, "the suite's other process never started waiting for the lock this one holds")
    return rival


def check_edeadlk(call: InThread, rival: Rival, what: str, upgrade: bool) -> None:
    if not call.finished(3):
        slipped = upgrade and rival.said("got 1", 0)
        rival.end()  # its locks go: the learner's acquire can return now
        call.finished(5)
        if slipped:
            fail(
                f"{what}: the other process got its exclusive lock while this one was upgrading. acquire() released "
                "the shared lock before asking for the exclusive one, and let a writer in between. Asking F_SETLKW "
                "for F_WRLCK over a range you hold F_RDLCK converts the lock in place, atomically (here it meets "
                "EDEADLK instead: the other reader waits to upgrade too)"
            )
        fail(
            f"{what} waited for 3 s, although each process waited for the other: a deadlock. The kernel "
            "refuses a classic F_SETLKW that would close such a cycle with EDEADLK; acquire() must let that "
            "OSError out, never retry it or poll with F_SETLK (which never reports a deadlock)."
        )
    how, value = call.outcome
    if how == "returned":
        fail(
            f"{what} returned {value!r}: the kernel refused it with EDEADLK (each process waited for the "
            "other), and acquire() must raise that OSError, not report it as a lock held by someone else"
        )
    expect(
        isinstance(value, OSError) and value.errno == errno.EDEADLK,
        f"{what} raised {type(value).__name__}: {value}; expected the OSError with errno EDEADLK that F_SETLKW "
        "fails with when waiting would deadlock",
    )


class Standoff:
    """A table, an fd of this process on it, and the suite's Rival once started; leaving ends them all."""

    def __init__(self, scratch: Path):
        self.path = make_table(scratch, [0] * 2)
        self.fd = os.open(self.path, os.O_RDWR)
        self.rival: Rival | None = None

    def start_rival(self, steps: list[tuple[int, int, int]]) -> Rival:
        self.rival = start_rival(self.path, steps)
        return self.rival

    def __enter__(self) -> Standoff:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.rival is not None:
            self.rival.end()
        os.close(self.fd)


@task(2, on_timeout=OWNER_HINT)
def test_deadlock_raises_edeadlk(impl, scratch):
    with Standoff(scratch) as scene:
        first = impl.RecordLock(scene.fd, 0, RECORD)
        check_try(try_lock(first), True, "a classic lock on record 0 of a free file", "Nobody holds it.")
        # the rival holds record 1, then waits for record 0
        rival = scene.start_rival([(fcntl.F_WRLCK, RECORD, RECORD), (fcntl.F_WRLCK, 0, RECORD)])
        second = impl.RecordLock(scene.fd, RECORD, RECORD)
        check_edeadlk(
            InThread(second.acquire), rival, "acquire() of record 1, held by a process that waits for record 0", False
        )
        first.release()
        expect(rival.said("got 1", 5), "the other process never got record 0 after release()")


@task(2, on_timeout=OWNER_HINT)
def test_upgrade_keeps_the_shared_lock(impl, scratch):
    with Standoff(scratch) as scene:
        lock = impl.RecordLock(scene.fd)
        check_try(try_lock(lock, shared=True), True, "a shared classic lock on a free file", "Nobody holds it.")
        # the rival shares the file too, then asks to upgrade: it waits for this process's shared lock
        rival = scene.start_rival([(fcntl.F_RDLCK, 0, 0), (fcntl.F_WRLCK, 0, 0)])
        check_edeadlk(
            InThread(lock.acquire),
            rival,
            "an upgrade (shared to exclusive) while another reader waits to upgrade too",
            True,
        )
        expect(
            not rival.said("got 1", 0.1),
            "the other process got its exclusive lock although this one still held its shared lock: after "
            "EDEADLK the caller keeps the lock it had; acquire() must not release it",
        )
        lock.release()
        expect(rival.said("got 1", 5), "the other process never got its exclusive lock after release()")


# --- task 3: a table of counters ------------------------------------------------------------------------

TABLE_HINT = (
    "add() or total() waited forever: the lock must be released when the update is done (a `with` "
    "or try/finally), and total() takes a shared lock, which waits only for writers"
)
LOST = (
    "lost updates: two updates read the same value and both wrote value+amount. The exclusive lock must cover the "
    "whole read-modify-write of the record"
)


@task(3, on_timeout=TABLE_HINT)
def test_add_updates_one_record(impl, scratch):
    path = make_table(scratch, [7, 0, -3, 100])
    got = [impl.add(path, 1, 5), impl.add(path, 1, 2), impl.add(path, 2, -10), impl.add(path, 3, 0)]
    expect(got == [5, 7, -13, 100], f"add() returned {got}, expected [5, 7, -13, 100]: the record's new value")
    data = Path(path).read_bytes()
    expected = b"".join(b"%15d\n" % value for value in [7, 7, -13, 100])
    expect(
        data == expected,
        f"after the adds the table holds {data!r}, expected {expected!r}: each record is the value right-aligned "
        f"in 15 bytes and a newline (b'%15d\\n'), written back at offset index * {RECORD}",
    )
    expect(impl.total(path) == 101, f"total() returned {impl.total(path)}, expected 101: the sum of every record")


def finished_or_blocked(call: InThread, path: str, what: str) -> bool:
    """Whether `call` finished (True) or sleeps waiting for a lock on `path` (False), by the kernel's answer."""
    wait_until(
        lambda: call.finished(0) or lock_requests_waiting(path), 3, f"{what} neither returned nor waited for a lock"
    )
    return call.finished(0)


@task(3, on_timeout=TABLE_HINT)
def test_add_locks_only_its_record(impl, scratch):
    path = make_table(scratch, [0, 0])
    held = os.open(path, os.O_RDWR)
    try:  # another writer in the middle of an update of record 1
        plain_lock(held, fcntl.F_OFD_SETLK, fcntl.F_WRLCK, RECORD, RECORD)
        call = InThread(lambda: impl.add(path, 0, 1))
        if not finished_or_blocked(call, path, "add() of record 0"):
            plain_lock(held, fcntl.F_OFD_SETLK, fcntl.F_UNLCK, RECORD, RECORD)
            call.finished(5)
            fail(
                "add() of record 0 waited while another writer held record 1: lock only the record's 16 bytes "
                f"(start = index * {RECORD}, length {RECORD}), not the whole file: writers of other records must "
                "go on"
            )
        expect(call.result() == 1, f"add(path, 0, 1) on a record holding 0 returned {call.result()!r}")
    finally:
        os.close(held)


@task(3, on_timeout=TABLE_HINT)
def test_add_that_raises_closes_its_fd(impl, scratch):
    path = make_table(scratch, [0, 0])
    try:  # past the end of the table: IndexError in the reference (the exception itself is not graded)
        impl.add(path, 10_000, 1)
    except NotImplementedError:
        raise
    except Exception:
        pass
    # the grader's hygiene check names the fd, if add() left it open on the way out


@task(3, on_timeout=TABLE_HINT)
def test_add_exact_between_threads(impl, scratch):
    path = make_table(scratch, [0, 0, 0])
    held = os.open(path, os.O_RDWR)
    try:  # this thread is in the middle of an update of record 1, under a classic lock
        plain_lock(held, fcntl.F_SETLK, fcntl.F_WRLCK, RECORD, RECORD)
        call = InThread(lambda: impl.add(path, 1, 1))
        if call.finished(0.2):
            call.result()
            fail(
                "add() updated record 1 at once, from a thread, while another thread of the same process held a "
                'classic lock on it. A classic fcntl lock belongs to the process, so every thread of it "holds" '
                "it at once: use an OFD lock (F_OFD_SETLKW) on the fd that add() opened for itself, which "
                "conflicts with any other open file description"
            )
        plain_lock(held, fcntl.F_SETLK, fcntl.F_UNLCK, RECORD, RECORD)
        expect(call.finished(5), "add() did not return within 5 s after the other thread released record 1")
        expect(call.result() == 1, f"add(path, 1, 1) on a record holding 0 returned {call.result()!r}")
    finally:
        os.close(held)
    adders = [InThread(lambda: [impl.add(path, 1, 1) for _ in range(200)]) for _ in range(4)]
    for adder in adders:
        expect(adder.finished(30), "a thread calling add() did not finish its 200 adds in 30 s")
        adder.result()
    values = table_values(path)
    expect(values[0] == 0 and values[2] == 0, f"records 0 and 2 changed ({values}): add() writes only its record")
    if values[1] < 801:
        fail(
            f"1 add, then 4 threads of one process adding 1 to record 1 200 times each: it holds {values[1]}, not "
            f"801: {LOST}. "
            'A classic fcntl lock belongs to the process, so every thread of it "holds" it at once: use an OFD '
            "lock (F_OFD_SETLKW), which belongs to the fd that add() opened for itself"
        )
    expect(values[1] == 801, f"record 1 holds {values[1]} after 801 additions of 1")


ADDER = """
print("ready", flush=True)
sys.stdin.readline()  # the starting line: every process adds at the same time
for step in range({count}):
    impl.add({path!r}, step % 2 * 2, 1)
"""


DROPPED_LOCK = (
    "Beware: closing ANY fd of the file (a second open() to read it, Path.read_bytes()) drops every classic lock "
    "the process holds on it"
)


def writes_with_the_record_unlocked(impl, monkeypatch: pytest.MonkeyPatch, path: str, index: int) -> list[str]:
    """add(path, index, 1) once, its os.write and os.pwrite calls watched: at each, the suite tries an OFD lock of
    its own on the record, which conflicts with any lock of the learner's on it (classic or OFD, even in this
    process). The calls that found the record unlocked: a race that load may hide, caught every time."""
    probe = os.open(path, os.O_RDWR)  # closed only after add() returned: a close drops this process's classic locks
    unlocked: list[str] = []

    def checked(name: str, real):
        def call(*args, **kwargs):
            try:
                plain_lock(probe, fcntl.F_OFD_SETLK, fcntl.F_WRLCK, index * RECORD, RECORD)
            except OSError:
                pass  # the learner holds a lock on the record, as it should
            else:
                plain_lock(probe, fcntl.F_OFD_SETLK, fcntl.F_UNLCK, index * RECORD, RECORD)
                unlocked.append(name)
            return real(*args, **kwargs)

        return call

    try:
        stand_in(impl, monkeypatch, os, write=checked("os.write", os.write), pwrite=checked("os.pwrite", os.pwrite))
        impl.add(path, index, 1)
    finally:
        monkeypatch.undo()
        os.close(probe)
    return unlocked


@task(3, on_timeout=TABLE_HINT)
def test_add_exact_between_unrelated_processes(impl, scratch, python_processes, monkeypatch):
    unlocked = writes_with_the_record_unlocked(impl, monkeypatch, make_table(scratch, [0], name="watched"), 0)
    if unlocked:
        fail(
            f"add() wrote the record ({unlocked[0]}) while no lock was held on it, so another process can update it "
            f"in between: {LOST}, and stay held until the write is done. {DROPPED_LOCK}"
        )
    path = make_table(scratch, [0, 0, 0])
    count = 600
    procs = [python_processes.start(ADDER.format(path=path, count=count), stdin=subprocess.PIPE) for _ in range(2)]
    for proc in procs:
        if proc.stdout.readline() != b"ready\n":
            proc.kill()
            fail(f"another process could not import the file: {proc.communicate()[1].decode()[-600:]}")
    for proc in procs:
        proc.stdin.write(b"go\n")
        proc.stdin.flush()
    for step in range(count):
        impl.add(path, step % 2 * 2, 1)
    for proc in procs:
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            fail("the other processes did not finish their adds in 30 s: does add() release its lock?")
        expect(proc.returncode == 0, f"another process calling add() failed: {err.decode()[-600:]}")
    values = table_values(path)
    expect(values[1] == 0, f"record 1 holds {values[1]}: nobody added to it; add() writes only its own record")
    each = 3 * count // 2
    if values[0] != each or values[2] != each:
        fail(
            f"3 processes each added 1 {count // 2} times to record 0 and to record 2: they hold {values[0]} and "
            f"{values[2]}, not {each}: {LOST}, and stay held until the write is done. {DROPPED_LOCK}"
        )


@task(3, on_timeout=TABLE_HINT)
def test_total_waits_for_writers_and_shares_with_readers(impl, scratch):
    path = make_table(scratch, [1, 2, 3])
    held = os.open(path, os.O_RDWR)
    try:
        plain_lock(held, fcntl.F_OFD_SETLK, fcntl.F_WRLCK, RECORD, RECORD)  # a writer in the middle of record 1
        call = InThread(lambda: impl.total(path))
        usage = watch_for(0.3, os.getpid(), call.thread.native_id)
        if call.finished(0):
            fail(
                f"total() returned {call.result()!r} while a writer held an exclusive lock on record 1: it read "
                "a record in the middle of an update. Take a shared lock (F_RDLCK) over the whole file first"
            )
        os.pwrite(held, b"%15d\n" % 20, RECORD)
        plain_lock(held, fcntl.F_OFD_SETLK, fcntl.F_UNLCK, RECORD, RECORD)
        expect(call.finished(5), "total() did not return within 5 s after the writer released its lock")
        got = call.result()
        expect(got == 24, f"total() returned {got!r}, expected 24 (1 + 20 + 3)")
        check_no_spin("total() while a writer held a record", usage, "a blocking shared lock, F_OFD_SETLKW")
        plain_lock(held, fcntl.F_OFD_SETLK, fcntl.F_RDLCK)  # a reader of the whole file
        call = InThread(lambda: impl.total(path))
        if not call.finished(3):
            plain_lock(held, fcntl.F_OFD_SETLK, fcntl.F_UNLCK)
            call.finished(5)
            fail(
                "total() waited while another reader held a shared lock on the file: it asked for an exclusive "
                "lock. A reader takes a shared one (F_RDLCK): readers never wait for each other, only for writers"
            )
        got = call.result()
        expect(got == 24, f"total() returned {got!r}, expected 24")
    finally:
        os.close(held)


@task(3, on_timeout=TABLE_HINT)
def test_total_waits_for_a_classic_writer_of_its_own_process(impl, scratch):
    path = make_table(scratch, [1, 2, 3])
    held = os.open(path, os.O_RDWR)
    call: InThread | None = None
    try:  # this thread is in the middle of an update of record 1, under a classic lock
        plain_lock(held, fcntl.F_SETLK, fcntl.F_WRLCK, RECORD, RECORD)
        call = InThread(lambda: impl.total(path))
        if finished_or_blocked(call, path, "total() while another thread held record 1"):
            fail(
                f"total() returned {call.result()!r} from a thread while another thread of the same process held a "
                "classic write lock on record 1: it read a record in the middle of an update. A classic lock "
                "belongs to the process, so total()'s classic lock does not conflict with that thread's, and its "
                "unlock over the whole file even drops it. Take total()'s shared lock as an OFD lock "
                "(F_OFD_SETLKW): it waits for every other lock, classic ones of its own process included"
            )
        os.pwrite(held, b"%15d\n" % 20, RECORD)
        plain_lock(held, fcntl.F_SETLK, fcntl.F_UNLCK, RECORD, RECORD)
        expect(call.finished(5), "total() did not return within 5 s after the writer released its lock")
        expect(call.result() == 24, f"total() returned {call.result()!r}, expected 24 (1 + 20 + 3)")
    finally:
        os.close(held)  # and, if total() still waits, it gets its lock now
        if call is not None:
            call.finished(5)


# --- task 4: a pid file --------------------------------------------------------------------------------

PID_HINT = "a PidFile call blocked: claim() never waits for the lock (LOCK_NB): a held pid file is AlreadyRunning"

SECOND_INSTANCE = """
try:
    impl.PidFile({path!r}).claim()
    print("claimed", flush=True)
except impl.AlreadyRunning as exc:
    print("refused", exc.pid, flush=True)
"""


@task(4, on_timeout=PID_HINT)
def test_pidfile_refuses_a_second_instance(impl, scratch, python_processes):
    path = str(scratch / "app.pid")
    pidfile = impl.PidFile(path)
    pidfile.claim()
    try:
        content = Path(path).read_bytes()
        expect(content == b"%d\n" % os.getpid(), f"the pid file holds {content!r}, expected this process's pid")
        seen = impl.running_pid(path)
        expect(
            seen == os.getpid(),
            f"running_pid() in the process that holds the pid file returned {seen!r}, expected its pid: test the "
            "lock from a new open() of the file with flock(LOCK_SH | LOCK_NB). (A classic fcntl lock cannot be "
            "seen by its own process, and closing any fd of the file drops it; and flock and fcntl locks do not "
            "see each other, so F_GETLK or F_OFD_GETLK never sees a flock: use flock both to hold and to test.)",
        )
        out = python_processes.run(SECOND_INSTANCE.format(path=path), 10, "a second instance").stdout.decode()
        if out.startswith("claimed"):
            fail(
                "a second instance claimed the pid file while the first one held it. When the first had just "
                "called running_pid(): closing ANY fd of a file drops every classic fcntl lock the process "
                "holds on it. flock() (or an OFD lock) belongs to the open file description and stays."
            )
        content = Path(path).read_bytes()
        expect(
            content == b"%d\n" % os.getpid(),
            f"after a refused second instance the pid file holds {content!r}: the second instance wiped it. Open "
            "without O_TRUNC, and truncate only once the lock is yours",
        )
        expect(
            out.split() == ["refused", str(os.getpid())],
            f"a second instance printed {out!r}, expected AlreadyRunning with .pid = {os.getpid()}, the pid read "
            "from the file",
        )
    finally:
        pidfile.release()
    expect(not os.path.exists(path), "release() must remove the pid file")
    expect(impl.running_pid(path) is None, "running_pid() of a missing pid file must return None")


HOLDER = """
pidfile = impl.PidFile({path!r})
pidfile.claim()
print("held", flush=True)
sys.stdin.read()
"""


STALE_IS_FREE = "The lock, not the file's existence, says whether an instance runs"


def claim_or_fail(impl, path: str, what: str, why: str):
    """A claimed PidFile, or a failure saying what claim() raised where it had to succeed."""
    pidfile = impl.PidFile(path)
    try:
        pidfile.claim()
    except Exception as exc:
        fail(f"{what} raised {type(exc).__name__}: {exc}. {why}")
    return pidfile


@task(4, on_timeout=PID_HINT)
def test_pidfile_after_a_crash(impl, scratch, python_processes):
    path = str(scratch / "app.pid")
    Path(path).write_bytes(b"999999999\n")  # left by a crash: nobody holds its lock
    expect(impl.running_pid(path) is None, "running_pid() of a pid file that nobody holds must return None")
    pidfile = claim_or_fail(
        impl, path, "claim() of a stale pid file (left by a crash, nobody holds its lock)", STALE_IS_FREE
    )
    expect(Path(path).read_bytes() == b"%d\n" % os.getpid(), "claim() must replace the stale pid with its own")
    pidfile.release()
    holder = python_processes.start(HOLDER.format(path=path), stdin=subprocess.PIPE)
    if holder.stdout.readline() != b"held\n":
        holder.kill()
        fail(f"the holder process could not claim the pid file: {holder.communicate()[1].decode()[-600:]}")
    expect(
        impl.running_pid(path) == holder.pid,
        f"running_pid() must return the holder's pid {holder.pid} while that process holds the flock: a "
        "flock(LOCK_SH | LOCK_NB) through a new open() fails with EWOULDBLOCK then",
    )
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    pidfile = claim_or_fail(
        impl,
        path,
        "the holder was killed with SIGKILL, and claim()",
        "A killed process runs no cleanup, but the kernel drops its locks when it closes its fds at exit: a pid "
        "file guarded by a lock is free again, one guarded by its existence (O_EXCL) stays stuck",
    )
    pidfile.release()


@task(4, on_timeout=PID_HINT)
def test_refused_claim_closes_its_fd(impl, scratch, python_processes):
    path = str(scratch / "app.pid")
    second = impl.PidFile(path)
    holder = python_processes.start(HOLDER.format(path=path), stdin=subprocess.PIPE)
    if holder.stdout.readline() != b"held\n":
        holder.kill()
        fail(f"the holder process could not claim the pid file: {holder.communicate()[1].decode()[-600:]}")
    expect_raises(
        impl.AlreadyRunning,
        second.claim,
        "claim() while another process held the pid file",
        "A held pid file means another instance runs: raise AlreadyRunning(path, pid)",
    )
    # the grader's hygiene check names the fd, if the refused claim() left it open


# --- task 5: performance ---------------------------------------------------------------------------------

TABLE_RECORDS = 4 * 1024 * 1024 // RECORD
UPDATES = 1000


def updated_records(count: int) -> list[int]:
    return [step * 7919 % TABLE_RECORDS for step in range(count)]


def plain_adds(path: str, count: int) -> Elapsed:
    """The baseline: the plainest correct add(), measured in this run on this machine."""
    indexes = updated_records(count)
    start = clock()
    for index in indexes:
        fd = os.open(path, os.O_RDWR)
        at = index * RECORD
        plain_lock(fd, fcntl.F_OFD_SETLKW, fcntl.F_WRLCK, at, RECORD)
        os.pwrite(fd, b"%15d\n" % (int(os.pread(fd, RECORD, at)) + 1), at)
        plain_lock(fd, fcntl.F_OFD_SETLK, fcntl.F_UNLCK, at, RECORD)
        os.close(fd)
    return Elapsed(clock() - start)


def learner_adds(impl, path: str, count: int) -> Elapsed:
    indexes = updated_records(count)
    start = clock()
    for index in indexes:
        impl.add(path, index, 1)
    return Elapsed(clock() - start)


@task(5, on_timeout=TABLE_HINT)
def test_add_throughput(impl, scratch, perf):
    path = make_table(scratch, [0] * TABLE_RECORDS)
    baseline_path = make_table(scratch, [0] * TABLE_RECORDS, "baseline-table")
    perf.check(
        "add_per_s",
        lambda: learner_adds(impl, path, UPDATES),
        functools.partial(plain_adds, baseline_path, UPDATES),
        units=UPDATES,
        causes="the whole table read or written for one record, a lock wait that sleeps instead of blocking, or a nap "
        "after each update",
    )
