"""Finding and removing what a test or a run left behind: processes, fds and IPC objects.

Used three times: by the pytest plugin after every test (findings become failed
checks with the object's name), by the runner right after a test it stopped (a
timeout) or lost (a crash), whose cleanup never ran, and by the runner's final
sweep (anything that escaped).

Attribution (docs/architecture.md, "Hygiene"): every process of a run carries
KATA_RUN_TOKEN in its environment (found even after `setsid` and a double
fork), every POSIX name handed to the learner starts with `kata_<token>_<n>_`
(n: the test's ordinal), every System V key is recorded, FIFOs and socket files
live under the test's scratch folder (scratch/<n>), and the creation ledger
(grader/ledger.py) names whatever was created under names of the learner's own,
with the test, the process and whether the suite or the learner made it. So an
object is blamed on the test that made it, never on the next one, and an object
the suite made is removed without blaming anyone.
"""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from grader import ipc_objects, ledger, proctree
from grader.ipc_objects import IpcObject
from grader.report import HygieneFinding

TOKEN_ENV = "KATA_RUN_TOKEN"

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
KIND_NOUNS = {
    "posix-shm": "POSIX shared memory segment",
    "posix-sem": "POSIX named semaphore",
    "posix-mq": "POSIX message queue",
    "sysv-shm": "System V shared memory segment",
    "sysv-sem": "System V semaphore set",
    "sysv-msg": "System V message queue",
    "fifo": "FIFO",
    "socket": "socket file",
}
STOPPED_ADVICE = (
    "{what} {name} was still there when the test was stopped, before its cleanup could run; the grader "
    "removed it. Not a leak by itself: once the test ends normally, its cleanup must remove it"
)
MQUEUE_NOTICE = (
    "/dev/mqueue is not mounted, so leaked POSIX message queues cannot be found "
    "(an administrator can mount it: sudo mount -t mqueue none /dev/mqueue)"
)


# --- the processes of a run ------------------------------------------------------------


def run_processes(token: str, exclude: Iterable[int] = ()) -> list[int]:
    """Every live process whose environment carries this run's token."""
    return proctree.marked(TOKEN_ENV, token, exclude)


def kill_run(token: str, exclude: Iterable[int] = ()) -> set[int]:
    """Kill every process of the run (but `exclude`); the pids killed, some maybe ours to reap."""
    spared = set(exclude)
    return proctree.kill_all(
        lambda: run_processes(token, spared), still_ours=lambda pid: proctree.environ_value(pid, TOKEN_ENV) == token
    )


# --- after one test, in the test process -------------------------------------------------


def leftover_children(test: str) -> list[HygieneFinding]:
    """Children (and re-parented orphans: the test process is a subreaper) still there,
    as findings; then they are killed and reaped."""
    left = proctree.descendants(os.getpid())
    findings = []
    for pid in left:
        st = proctree.stat(pid)
        if st is None:
            continue
        if st.zombie:
            message = (
                f"child {pid} exited but was never waited for (a zombie): call os.waitpid() on every child you fork"
            )
            findings.append(HygieneFinding("zombie", f"pid {pid}", message, test))
        else:
            message = (
                f"process {pid} ({proctree.command_line(pid)}) is still running after the test: every child "
                "must have exited and been reaped when the function returns (or after close())"
            )
            findings.append(HygieneFinding("process", f"pid {pid}", message, test))
    if left:
        mine = set(left)
        proctree.kill_all(lambda: [pid for pid in proctree.descendants(os.getpid()) if pid in mine])
        proctree.reap(left)
    return findings


def escapes(escapes_dir: Path, test: str) -> list[HygieneFinding]:
    """Children that left the learner's function instead of ending (grader/loader.py records them)."""
    findings = []
    for path in sorted(escapes_dir.glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        finally:
            path.unlink(missing_ok=True)
        message = (
            f"a forked child (pid {record['pid']}, parent {record['ppid']}) {record['how']} from "
            f"`{record['function']}` instead of ending with os._exit(): it would go on running the "
            "caller's code. End every child with os._exit(status), in a try/finally."
        )
        findings.append(HygieneFinding("escape", f"pid {record['pid']}", message, test))
    return findings


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


def open_fds(before: dict[int, str], test: str) -> list[HygieneFinding]:
    """Fds opened since `before` (a snapshot) and still open; unreferenced files close first."""
    gc.collect()
    findings = []
    for fd, target in fd_snapshot().items():
        if before.get(fd) == target:
            continue
        message = (
            f"fd {fd} ({target}) was opened during the test and is still open: close every fd you "
            "create once you are done with it (after a fork, in each process that does not use it: "
            "a parent too, once the child has its copy)"
        )
        findings.append(HygieneFinding("fd", str(fd), message, test))
    return findings


# --- IPC objects ---------------------------------------------------------------------


@dataclass(frozen=True)
class Leftover:
    """An IPC object of the run that still exists, and who made it."""

    obj: IpcObject
    test: int = 0  # the ordinal of the test that made it; 0: not known (or outside any test)
    pid: int = 0  # the process that made it, when the ledger knows
    by_suite: bool = False  # the suite's own code made it: never the learner's leak


def find_ipc(
    token: str, scratch: Path, *, test: int = 0, keys: Iterable[int] = (), ledger_path: Path | None = None
) -> list[Leftover]:
    """The IPC objects of a run (of one test, when `test` is its ordinal) that still exist:
    POSIX names with the run's (the test's) prefix, System V `keys`, FIFOs and sockets
    under the scratch folder (the test's own), what the creation ledger names; each
    attributed to the test that made it, from the ledger, else its name or folder. Only this
    user's: a System V key the run was handed may since be another user's object."""
    prefix = f"kata_{token}_{test}_" if test else f"kata_{token}_"
    objects = ipc_objects.posix_objects(lambda name: name.startswith(prefix)) + ipc_objects.sysv_objects(keys)
    objects += ipc_objects.special_files(scratch / str(test) if test else scratch)
    made: dict[tuple[str, str | int], ledger.Entry] = {}  # (kind, handle) -> the ledger's latest entry for it
    if ledger_path is not None:
        for obj, entry in ledger.surviving_objects(ledger_path, test or None):
            objects.append(obj)
            made[(obj.kind, obj.handle)] = entry
    found = []
    mine = (None, os.geteuid())  # None: its owner cannot be read (gone, or a queue without /dev/mqueue)
    for obj in {(o.kind, o.handle): o for o in objects}.values():
        if ipc_objects.owner(obj) not in mine:
            continue
        maker = made.get((obj.kind, obj.handle))
        if maker is not None:
            found.append(Leftover(obj, maker.test, maker.pid, by_suite=not maker.by_learner))
        else:
            found.append(Leftover(obj, test or _test_of(obj, token, scratch)))
    return found


def _test_of(obj: IpcObject, token: str, scratch: Path) -> int:
    """The ordinal in an object's name (kata_<token>_<n>_...) or folder (scratch/<n>/...); 0: none."""
    name = obj.name.lstrip("/")
    if name.startswith(f"kata_{token}_"):
        number = name[len(f"kata_{token}_") :].split("_", 1)[0]
        return int(number) if number.isdigit() else 0
    if obj.kind in ipc_objects.SPECIAL_KINDS:
        try:
            number = Path(obj.name).relative_to(scratch).parts[0]
        except (ValueError, IndexError):
            return 0
        return int(number) if number.isdigit() else 0
    return 0


def remove_ipc(
    found: list[Leftover], test_name: Callable[[int], str], *, stopped: bool = False
) -> list[HygieneFinding]:
    """Remove every leftover; each the learner's code made is a finding of the test that made
    it (`test_name(ordinal)`; "" for the run). `stopped`: the test was stopped (a timeout, a
    crash) before its cleanup could run, which its findings say instead of calling them leaks."""
    findings = []
    for left in found:
        ipc_objects.remove(left.obj)
        if left.by_suite:
            continue  # the suite's own object, left by a test that was stopped: not the learner's
        findings.append(leak(left.obj, test_name(left.test), left.pid, stopped=stopped))
    return findings


def leak(obj: IpcObject, test: str = "", pid: int = 0, *, stopped: bool = False) -> HygieneFinding:
    if stopped:
        message = STOPPED_ADVICE.format(what=KIND_NOUNS[obj.kind], name=obj.name)
    else:
        message = LEAK_ADVICE[obj.kind].format(name=obj.name)
    return HygieneFinding(kind=obj.kind, name=obj.name, message=message, test=test, pid=pid)


def notices() -> list[str]:
    """What the hygiene checks could not see on this machine."""
    return [] if ipc_objects.mqueue_visible() else [MQUEUE_NOTICE]
