"""A grade's lease on its run folder, and the sweep, by the next grade, of runs whose grade was killed.

A grade stopped by a signal it can handle clears its run itself (`clear_run`, from the runner's
cleanup). One killed outright (SIGKILL, the OOM killer, a closed container) cannot: its run folder
and the IPC objects the learner's code made would stay until reboot. So every grade holds a lease
for its whole life, an exclusive flock on its run folder's `lock` file, and before a grade starts,
`sweep_dead_runs` clears each run folder of the user whose lease it can take: that run's grade is
gone, however it ended.

Why this tells a dead grade from a live one without a race (docs/architecture.md, "Processes of
a grade"):
- The kernel drops a flock when the last descriptor of its open file goes, however its holder
  dies; a pid in a file could have been recycled.
- A flock belongs to the open file, not to the process: a grade in another thread of the same
  process (the app, the project's tests) opens the file anew and is refused. (A POSIX record lock
  would be granted to the same process, and dropped by any close of the file in it.)
- No other process holds a lease: its descriptor is close-on-exec (the sandbox is exec'd) and is
  closed in a child forked by the runner's process (`os.register_at_fork`).
- The lock file appears already locked: it is written and locked under another name, then renamed
  into place; a folder with no lock file (being made, or made by a grader without leases) is left
  alone.
- A sweep that takes a lease checks that the file is still that folder's lock: a grade that ended
  removed it, so each run is swept once, by one grade.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass

from grader import hygiene, proctree, protocol
from grader.ipc_objects import POSIX_KINDS, SYSV_TABLES, IpcObject, posix_path
from grader.protocol import RunFolder
from grader.report import HygieneFinding, counted

RUN_NAME = re.compile(r"kata-([0-9a-f]{8})-[^/]+")  # RunFolder.make: kata-<token>-<random>
NAMED_OBJECTS = 3  # objects a notice names; the rest are counted

_held: set[int] = set()  # the lease descriptors of this process, closed in a forked child
_forking = threading.Lock()  # a fork never comes between a lease's descriptor and its entry in _held


def _close_leases_in_child() -> None:
    try:
        for fd in _held:
            with contextlib.suppress(OSError):
                os.close(fd)  # the parent's lease stays: a flock goes only with the open file's last descriptor
        _held.clear()
    finally:
        _forking.release()


os.register_at_fork(before=_forking.acquire, after_in_parent=_forking.release, after_in_child=_close_leases_in_child)


class Lease:
    """A grade's hold on its run folder (`take`), or the hold a sweep takes on a dead run's (`claim`)."""

    def __init__(self, fd: int):
        self._fd: int | None = fd

    @classmethod
    def take(cls, folder: RunFolder) -> Lease:
        """The lease of a new run: its lock file, locked, holding this process's pid."""
        making = folder.root / ".lock"
        with _forking:
            fd = os.open(making, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
            _held.add(fd)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.rename(making, folder.lock)
        return cls(fd)

    @classmethod
    def claim(cls, folder: RunFolder) -> Lease | None:
        """The lease of a run whose grade is gone; None while it lives (or when it is no leased run)."""
        with _forking:
            try:
                fd = os.open(folder.lock, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
            except OSError:
                return None  # being made, or made by a grader without leases
            _held.add(fd)
        lease = cls(fd)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.stat(folder.lock).st_ino == os.fstat(fd).st_ino:
                return lease
        except OSError:  # held: its grade lives; or its lock is gone: its grade ended and cleared it
            pass
        lease.release()
        return None

    def holder(self) -> int:
        """The pid of the grade that took the lease (0 if unreadable)."""
        assert self._fd is not None
        text = os.pread(self._fd, 32, 0).decode(errors="replace").strip()
        return int(text) if text.isdigit() else 0

    def release(self) -> None:
        with _forking:
            if self._fd is not None:
                _held.discard(self._fd)
                os.close(self._fd)
                self._fd = None


@dataclass
class Cleared:
    """What clearing a run removed."""

    processes: set[int]
    objects: list[IpcObject]
    findings: list[HygieneFinding]  # the objects the learner's code made, each named with its test


def clear_run(token: str, folder: RunFolder, test_name: Callable[[int], str]) -> Cleared:
    """Kill every process of the run, remove its IPC objects (by its token, System V keys, scratch
    folder and ledger), then its folder: what a grade does when it ends, and what the next one does
    for a grade that was killed."""
    killed = hygiene.kill_run(token)
    proctree.reap(killed)
    try:
        keys = [int(k) for k in folder.keys.read_text().split()]
    except (OSError, ValueError):
        keys = []
    found = hygiene.find_ipc(token, folder.scratch, keys=keys, ledger_path=folder.ledger)
    findings = hygiene.remove_ipc(found, test_name)
    shutil.rmtree(folder.root, ignore_errors=True)
    return Cleared(killed, [left.obj for left in found], findings)


def sweep_dead_runs() -> list[str]:
    """Clear the run folders of this user whose grade is gone; a notice that says what was
    removed (none when nothing was)."""
    parent = protocol.standing_parent()
    if parent is None:
        return []  # no lasting folder: each run went to a fresh one, where nothing can be found
    swept: list[tuple[int, Cleared]] = []
    for entry in sorted(os.scandir(parent), key=lambda e: e.name):
        match = RUN_NAME.fullmatch(entry.name)
        if match is None or not entry.is_dir(follow_symlinks=False):
            continue
        folder = RunFolder(parent / entry.name)
        lease = Lease.claim(folder)
        if lease is None:
            continue
        try:
            swept.append((lease.holder(), clear_run(match.group(1), folder, lambda ordinal: "")))
        finally:
            lease.release()
    return [notice(swept)] if swept else []


def notice(swept: list[tuple[int, Cleared]]) -> str:
    """One line on the runs swept: whose they were, and what of them was removed."""
    pids = ", ".join(str(pid) for pid, _ in swept)
    processes = sum(len(cleared.processes) for _, cleared in swept)
    objects = [where(obj) for _, cleared in swept for obj in cleared.objects]
    parts = [counted(processes, "process", "processes")] if processes else []
    if objects:
        named = ", ".join(objects[:NAMED_OBJECTS]) + (", ..." if len(objects) > NAMED_OBJECTS else "")
        parts.append(f"{counted(len(objects), 'IPC object', 'IPC objects')} ({named})")
    if len(swept) == 1:
        whose, folders = f"an earlier grade that was killed (pid {pids})", "its run folder"
    else:
        whose, folders = f"{len(swept)} earlier grades that were killed (pids {pids})", "their run folders"
    what = f"{', '.join(parts)} and {folders}" if parts else folders
    return f"cleaned up after {whose}: {what}"


def where(obj: IpcObject) -> str:
    """An object as a learner finds it: its path, or its System V kind and key (`ipcs`)."""
    if obj.kind in POSIX_KINDS:
        return str(posix_path(obj.kind, obj.name))
    if obj.kind in SYSV_TABLES:
        return f"{hygiene.KIND_NOUNS[obj.kind]} {obj.name}"
    return obj.name
