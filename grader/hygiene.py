"""Finding and removing what a run left behind: processes, fds and IPC objects.

Used twice: by the pytest plugin after every test (findings become failed
checks with the object's name) and by the runner's final sweep (anything that
escaped, e.g. after a timeout or a crashed test process).

Attribution: every process of a run carries KATA_RUN_TOKEN in its environment
(found even after `setsid` and a double fork), every POSIX name handed to the
learner starts with `kata_<token>`, every System V key is recorded, FIFOs
and socket files live under the run's scratch folder, and the creation ledger
(grader/ledger.py) names whatever the learner created under names of its own.
"""

from __future__ import annotations

import os
import signal
import stat
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from grader import ledger
from grader.report import HygieneFinding

TOKEN_ENV = "KATA_RUN_TOKEN"
POSIX_SHM_DIR = Path("/dev/shm")
POSIX_MQ_DIR = Path("/dev/mqueue")
SYSV_TABLES = {"sysv-shm": "/proc/sysvipc/shm", "sysv-sem": "/proc/sysvipc/sem", "sysv-msg": "/proc/sysvipc/msg"}
_SYSV_ID_COLUMN = {"sysv-shm": "shmid", "sysv-sem": "semid", "sysv-msg": "msqid"}

LEAK_ADVICE = {
    "posix-shm": "POSIX shared memory segment {name} was never unlinked: call unlink() "
    "(shm_unlink) when done; it stays in /dev/shm until removed or reboot",
    "posix-sem": "POSIX named semaphore {name} was never unlinked: call unlink() (sem_unlink); "
    "it stays in /dev/shm/sem.* and the next O_CREAT|O_EXCL with this name fails",
    "posix-mq": "POSIX message queue {name} was never unlinked: call unlink() (mq_unlink); it stays in /dev/mqueue",
    "sysv-shm": "System V shared memory segment {name} was never removed: call remove() "
    "(shmctl IPC_RMID); System V objects outlive every process (see `ipcs -m`)",
    "sysv-sem": "System V semaphore set {name} was never removed: call remove() "
    "(semctl IPC_RMID); System V objects outlive every process (see `ipcs -s`)",
    "sysv-msg": "System V message queue {name} was never removed: call remove() "
    "(msgctl IPC_RMID); System V objects outlive every process (see `ipcs -q`)",
    "fifo": "FIFO {name} was never removed: os.unlink() it when the server closes",
    "socket": "socket file {name} was never removed: unlink it when the server stops",
}


# --- processes ----------------------------------------------------------------


def run_processes(token: str, exclude: set[int] = frozenset()) -> list[psutil.Process]:
    """Every live process whose environment carries this run's token."""
    found = []
    for proc in psutil.process_iter():
        if proc.pid in exclude or proc.pid == os.getpid():
            continue
        try:
            if proc.environ().get(TOKEN_ENV) == token:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            continue
    return found


def kill_all(procs_fn, rounds: int = 50) -> set[int]:
    """SIGSTOP then SIGKILL whatever `procs_fn()` returns until it returns nothing.

    Stopping first freezes a fork storm so that no new child appears between the
    scan and the kill; scanning again catches children forked before the stop.
    Returns the pids killed (for reap_own_children: orphans may be ours to reap).
    """
    killed: set[int] = set()
    for _ in range(rounds):
        procs = [p for p in procs_fn() if _alive(p)]
        if not procs:
            break
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for proc in procs:
                try:
                    proc.send_signal(sig)
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
        killed.update(p.pid for p in procs)
        psutil.wait_procs(procs, timeout=0.2)
    return killed


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def reap_own_children(pids) -> None:
    """waitpid the given pids that are (now) our children: this process is a child
    subreaper, so orphans of a run land here instead of becoming lasting zombies."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass


def set_child_subreaper() -> None:
    """prctl(PR_SET_CHILD_SUBREAPER): orphaned descendants are re-parented to us."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_CHILD_SUBREAPER = 36
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def describe_process(proc: psutil.Process) -> str:
    try:
        cmd = " ".join(proc.cmdline()) or proc.name()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        cmd = "?"
    return cmd if len(cmd) <= 80 else cmd[:77] + "..."


# --- file descriptors -----------------------------------------------------------


def fd_snapshot(pid: int | str = "self") -> dict[int, str]:
    """fd -> what it points to ("pipe:[1234]", "socket:[99]", a path)."""
    base = f"/proc/{pid}/fd"
    fds = {}
    for name in os.listdir(base):
        try:
            fds[int(name)] = os.readlink(f"{base}/{name}")
        except OSError:
            continue
    return fds


def new_fds(before: dict[int, str], after: dict[int, str]) -> dict[int, str]:
    return {fd: target for fd, target in after.items() if before.get(fd) != target}


# --- IPC objects ------------------------------------------------------------------


@dataclass(frozen=True)
class IpcObject:
    kind: str
    name: str  # POSIX name ("/x"), "key 0x... (id N)", or a path
    handle: object  # what remove() needs: POSIX name, System V id, path
    key: int | None = None  # System V only

    def finding(self, test: str = "") -> HygieneFinding:
        return HygieneFinding(
            kind=self.kind, name=self.name, message=LEAK_ADVICE[self.kind].format(name=self.name), test=test
        )


def mqueue_visible() -> bool:
    return os.path.ismount(POSIX_MQ_DIR)


def posix_objects(prefix: str) -> list[IpcObject]:
    """POSIX shm segments, named semaphores and message queues whose name starts with prefix."""
    found = []
    for entry in _listdir(POSIX_SHM_DIR):
        if entry.startswith("sem.") and entry[4:].startswith(prefix):
            found.append(IpcObject("posix-sem", "/" + entry[4:], "/" + entry[4:]))
        elif entry.startswith(prefix):
            found.append(IpcObject("posix-shm", "/" + entry, "/" + entry))
    for entry in _listdir(POSIX_MQ_DIR):
        if entry.startswith(prefix):
            found.append(IpcObject("posix-mq", "/" + entry, "/" + entry))
    return found


def sysv_objects(keys) -> list[IpcObject]:
    """System V objects (shm, sem, msg) whose key is one of `keys`."""
    keys = set(keys)
    return [obj for obj in all_sysv_objects() if obj.key in keys] if keys else []


def all_sysv_objects() -> list[IpcObject]:
    """Every System V object of the machine, from /proc/sysvipc."""
    found = []
    for kind, table in SYSV_TABLES.items():
        try:
            lines = Path(table).read_text().splitlines()
        except OSError:
            continue
        header = lines[0].split()
        key_col, id_col = header.index("key"), header.index(_SYSV_ID_COLUMN[kind])
        for line in lines[1:]:
            cols = line.split()
            key, ident = int(cols[key_col]), int(cols[id_col])
            found.append(IpcObject(kind, f"key {key:#x} (id {ident})", ident, key))
    return found


def ledger_objects(path) -> list[IpcObject]:
    """The objects the run's creation ledger names that still exist (see grader/ledger.py)."""
    sysv = {(obj.kind, obj.handle): obj for obj in all_sysv_objects()}
    found = []
    for entry in ledger.entries(path):
        kind, handle, name = entry.get("kind"), entry.get("handle"), entry.get("name")
        if kind in _SYSV_ID_COLUMN:
            obj = sysv.get((kind, handle))
            if obj is not None and obj.name == name:  # same id and key: not a recycled id
                found.append(obj)
        elif kind in ("fifo", "socket"):
            if _special_kind(handle) == kind:
                found.append(IpcObject(kind, handle, handle))
        elif kind in LEAK_ADVICE and _posix_exists(kind, handle):
            found.append(IpcObject(kind, handle, handle))
    return found


def _posix_exists(kind: str, name: str) -> bool:
    if kind != "posix-mq" or mqueue_visible():
        return ledger.posix_path(kind, name).exists()
    import posix_ipc

    try:
        posix_ipc.MessageQueue(name).close()
    except posix_ipc.ExistentialError:
        return False
    return True


def _special_kind(path: str) -> str | None:
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None
    return "fifo" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else None


def special_files(root: Path) -> list[IpcObject]:
    """FIFOs and socket files anywhere under root."""
    found = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            kind = _special_kind(path)
            if kind:
                found.append(IpcObject(kind, path, path))
    return found


def remove(obj: IpcObject) -> None:
    """Remove one leaked object; already gone is fine."""
    import posix_ipc
    import sysv_ipc

    removers = {
        "posix-shm": posix_ipc.unlink_shared_memory,
        "posix-sem": posix_ipc.unlink_semaphore,
        "posix-mq": posix_ipc.unlink_message_queue,
        "sysv-shm": sysv_ipc.remove_shared_memory,
        "sysv-sem": sysv_ipc.remove_semaphore,
        "sysv-msg": sysv_ipc.remove_message_queue,
        "fifo": os.unlink,
        "socket": os.unlink,
    }
    try:
        removers[obj.kind](obj.handle)
    except (FileNotFoundError, posix_ipc.ExistentialError, sysv_ipc.ExistentialError):
        pass


def sweep_ipc(prefix: str, keys, roots, test: str = "", ledger_path=None) -> list[HygieneFinding]:
    """Find every IPC object of a test (or a run), report it and remove it."""
    objects = posix_objects(prefix) + sysv_objects(keys)
    for root in roots:
        objects += special_files(Path(root))
    if ledger_path is not None:
        objects += ledger_objects(ledger_path)
        ledger.clear(ledger_path)
    findings = []
    for obj in {(o.kind, o.handle): o for o in objects}.values():
        findings.append(obj.finding(test))
        remove(obj)
    return findings


def _listdir(path: Path) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def wait_gone(procs_fn, timeout: float) -> bool:
    """Wait until procs_fn() returns no live process (zombies reaped by their parent)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not procs_fn():
            return True
        time.sleep(0.02)
    return not procs_fn()
