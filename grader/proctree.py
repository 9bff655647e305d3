"""Process-tree control for a sandbox: become a subreaper, find a run's processes,
kill them all, reap them. Standard library only (Linux /proc, prctl, pidfds), so
that the quiz's code runner can use it as cheaply as the grader.

Why each piece (docs/architecture.md, "Processes of a grade"):
- A child subreaper (`prctl(PR_SET_CHILD_SUBREAPER)`) gets the orphans of its
  subtree instead of PID 1, which in a container may never reap them; the
  orphans can then be killed and reaped here. If prctl fails, the guarantee is
  gone, so `become_subreaper` raises rather than carrying on.
- Processes are found by a scan of /proc (their parent, group, or a marker in
  their environment that survives `setsid` and double forks), never by a
  process group alone.
- Killing is SIGSTOP then SIGKILL, in rounds until a scan finds nothing: a
  stopped fork storm cannot add children between the scan and the kill. Signals
  go through a pidfd opened before the process is checked again, so a recycled
  pid is never signalled.
"""

from __future__ import annotations

import ctypes
import errno
import os
import select
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
KILL_ROUNDS = 50
EXIT_WAIT = 0.2  # seconds a round waits for killed processes to die


class SubreaperError(OSError):
    """The kernel refused a process-control setting the sandbox needs (prctl)."""


def _prctl(option: int, value: int, name: str, consequence: str) -> None:
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except AttributeError:
        raise SubreaperError(errno.ENOSYS, "prctl() is not available: the sandbox needs Linux") from None
    if prctl(option, value, 0, 0, 0) != 0:
        code = ctypes.get_errno()
        raise SubreaperError(code, f"prctl({name}) failed ({os.strerror(code)}): {consequence}")


def become_subreaper() -> None:
    """Make orphaned descendants of this process its children (so it can reap them).

    Raises SubreaperError with a one-line reason when the kernel refuses: a
    sandbox that cannot reap its orphans would leave zombies and escapees.
    """
    _prctl(PR_SET_CHILD_SUBREAPER, 1, "PR_SET_CHILD_SUBREAPER", "orphans could not be reaped")


def die_with_parent(parent: int) -> None:
    """Have the kernel SIGKILL this process the moment `parent` (its parent now) dies, so
    that it is never re-parented to a process above: the sandbox's test process, whose
    learner code might go on signalling whoever its parent becomes. Called right after
    fork; if the parent died before the prctl took effect, this process exits at once."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, "PR_SET_PDEATHSIG", "the test process could outlive its supervisor")
    if os.getppid() != parent:
        os._exit(PARENT_GONE)


PARENT_GONE = 75  # the exit status of a process whose parent died before die_with_parent took hold


# --- reading /proc ------------------------------------------------------------------


@dataclass(frozen=True)
class ProcStat:
    pid: int
    state: str  # R, S, D, Z, T, ...
    ppid: int
    pgrp: int

    @property
    def zombie(self) -> bool:
        return self.state == "Z"


def stat(pid: int) -> ProcStat | None:
    """The process's state, parent and group, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = data[data.rfind(")") + 2 :].split()  # the command name, in parentheses, may hold spaces
    try:
        return ProcStat(pid, fields[0], int(fields[1]), int(fields[2]))
    except (IndexError, ValueError):
        return None


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def snapshot() -> list[ProcStat]:
    """Every process of the machine that is still there while we look."""
    return [st for st in map(stat, all_pids()) if st is not None]


def alive(pid: int) -> bool:
    """It exists and is not a zombie."""
    st = stat(pid)
    return st is not None and not st.zombie


def children(pid: int) -> list[int]:
    return [st.pid for st in snapshot() if st.ppid == pid]


def descendants(root: int) -> list[int]:
    """Every process below `root` (children first), zombies included."""
    by_parent: dict[int, list[int]] = {}
    for st in snapshot():
        by_parent.setdefault(st.ppid, []).append(st.pid)
    found: list[int] = []
    todo = [root]
    while todo:
        for child in by_parent.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def group_members(pgid: int) -> list[int]:
    return [st.pid for st in snapshot() if st.pgrp == pgid]


def environ_value(pid: int, name: str) -> str | None:
    """The value of one variable in a process's environment (None: unset or unreadable)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            data = f.read()
    except OSError:  # gone, or another user's process
        return None
    prefix = name.encode() + b"="
    for entry in data.split(b"\0"):
        if entry.startswith(prefix):
            return entry[len(prefix) :].decode(errors="replace")
    return None


def marked(name: str, value: str, exclude: Iterable[int] = ()) -> list[int]:
    """Live processes whose environment holds name=value (this process excluded)."""
    skip = {os.getpid(), *exclude}
    return [pid for pid in all_pids() if pid not in skip and environ_value(pid, name) == value]


def command_line(pid: int, width: int = 80) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        cmd = ""
    cmd = cmd or "?"
    return cmd if len(cmd) <= width else cmd[: width - 3] + "..."


# --- killing and reaping --------------------------------------------------------------


def kill_all(
    scan: Callable[[], Iterable[int]],
    still_ours: Callable[[int], bool] | None = None,
    rounds: int = KILL_ROUNDS,
) -> set[int]:
    """SIGSTOP then SIGKILL whatever `scan()` returns until it returns no live process.

    `still_ours(pid)`, when given, is checked again once a pidfd holds the process,
    so that a pid recycled since the scan is left alone. Returns the pids killed
    (some may be ours to reap: see `reap`).
    """
    killed: set[int] = set()
    for _ in range(rounds):
        held = _hold([pid for pid in scan() if alive(pid)], still_ours)
        if not held:
            break
        try:
            for sig in (signal.SIGSTOP, signal.SIGKILL):
                for pid, fd in held.items():
                    _send(pid, fd, sig)
            killed.update(held)
            _wait_exited([fd for fd in held.values() if fd is not None], EXIT_WAIT)
        finally:
            for fd in held.values():
                if fd is not None:
                    os.close(fd)
    return killed


def _hold(pids: list[int], still_ours: Callable[[int], bool] | None) -> dict[int, int | None]:
    """pid -> a pidfd on it, for each pid that is (still) ours; None when no pidfd could be
    opened (no fd left, an old kernel): that one is signalled by its pid."""
    held: dict[int, int | None] = {}
    for pid in pids:
        fd: int | None
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:  # gone already
            continue
        except OSError:
            fd = None
        if still_ours is None or still_ours(pid):
            held[pid] = fd
        elif fd is not None:
            os.close(fd)
    return held


def _send(pid: int, pidfd: int | None, sig: int) -> None:
    try:
        if pidfd is not None:
            try:
                signal.pidfd_send_signal(pidfd, sig)
                return
            except OSError as err:
                if err.errno != errno.ENOSYS:  # refused under grader/fence.py: by pid, then
                    raise
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_exited(pidfds: list[int], timeout: float) -> None:
    """A pidfd turns readable when its process has exited (a zombie counts). poll, not
    select: a fork storm's pidfds go past select's 1024."""
    poller = select.poll()
    for fd in pidfds:
        poller.register(fd, select.POLLIN)
    pending = set(pidfds)
    deadline = time.monotonic() + timeout
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        for fd, _event in poller.poll(left * 1000):
            poller.unregister(fd)
            pending.discard(fd)


def reap(pids: Iterable[int]) -> None:
    """waitpid each pid that is (now) a child of this process; others are ignored."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass


def reap_any() -> list[tuple[int, int]]:
    """Reap every child that has ended: (pid, status) of each."""
    reaped: list[tuple[int, int]] = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped.append((pid, status))
