"""The kernel IPC objects a program can leave behind, as one model: their kinds, how
they are named, where Linux lists them, how to tell that one still exists and how
to remove it. Hygiene (what a run left), the creation ledger (what a run made) and
the quiz's code runner all read objects through this module.

Kinds and their handle (what removing them needs):

    posix-shm, posix-sem, posix-mq   the POSIX name, "/x"   (/dev/shm/x, /dev/shm/sem.x, /dev/mqueue/x)
    sysv-shm, sysv-sem, sysv-msg     the System V id        (/proc/sysvipc/{shm,sem,msg})
    fifo, socket                     the file's path

Standard library only, except `remove` (and a queue lookup when /dev/mqueue is not
mounted), which import posix_ipc / sysv_ipc when they are needed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

POSIX_SHM_DIR = Path("/dev/shm")
POSIX_MQ_DIR = Path("/dev/mqueue")
POSIX_KINDS = ("posix-shm", "posix-sem", "posix-mq")
SYSV_TABLES = {"sysv-shm": "/proc/sysvipc/shm", "sysv-sem": "/proc/sysvipc/sem", "sysv-msg": "/proc/sysvipc/msg"}
SPECIAL_KINDS = ("fifo", "socket")
KINDS = (*POSIX_KINDS, *SYSV_TABLES, *SPECIAL_KINDS)
_SYSV_ID_COLUMN = {"sysv-shm": "shmid", "sysv-sem": "semid", "sysv-msg": "msqid"}


@dataclass(frozen=True)
class IpcObject:
    kind: str  # one of KINDS
    name: str  # POSIX name ("/x"), "key 0x... (id N)", or a path: what a learner recognises
    handle: str | int  # what `remove` needs: POSIX name, System V id, path
    key: int | None = None  # System V only
    created: float | None = field(default=None, compare=False)  # System V only: ctime, whole seconds
    uid: int | None = field(default=None, compare=False)  # System V only: the owner


def posix_path(kind: str, name: str) -> Path:
    """Where Linux shows a POSIX object of this kind and name."""
    base = name.lstrip("/")
    if kind == "posix-shm":
        return POSIX_SHM_DIR / base
    if kind == "posix-sem":
        return POSIX_SHM_DIR / f"sem.{base}"
    if kind == "posix-mq":
        return POSIX_MQ_DIR / base
    raise ValueError(f"not a POSIX kind: {kind}")


def mqueue_visible() -> bool:
    """POSIX message queues can be listed only where the mqueue filesystem is mounted."""
    return os.path.ismount(POSIX_MQ_DIR)


def posix_objects(match: Callable[[str], bool]) -> list[IpcObject]:
    """POSIX shm segments, named semaphores and message queues whose name (without its
    leading "/") satisfies `match`."""
    found = []
    for entry in _listdir(POSIX_SHM_DIR):
        if entry.startswith("sem."):
            if match(entry[4:]):
                found.append(IpcObject("posix-sem", "/" + entry[4:], "/" + entry[4:]))
        elif match(entry):
            found.append(IpcObject("posix-shm", "/" + entry, "/" + entry))
    for entry in _listdir(POSIX_MQ_DIR):
        if match(entry):
            found.append(IpcObject("posix-mq", "/" + entry, "/" + entry))
    return found


def sysv_objects(keys: Iterable[int] | None = None) -> list[IpcObject]:
    """System V objects (shm, sem, msg) of the machine, from /proc/sysvipc; only those
    whose key is one of `keys` when given."""
    wanted = None if keys is None else set(keys)
    if wanted is not None and not wanted:
        return []
    found = []
    for kind, table in SYSV_TABLES.items():
        try:
            lines = Path(table).read_text().splitlines()
        except OSError:
            continue
        header = lines[0].split()
        key_col, id_col = header.index("key"), header.index(_SYSV_ID_COLUMN[kind])
        ctime_col = header.index("ctime") if "ctime" in header else None
        uid_col = header.index("uid")
        for line in lines[1:]:
            cols = line.split()
            if len(cols) <= max(key_col, id_col):
                continue
            key, ident = int(cols[key_col]), int(cols[id_col])
            if wanted is not None and key not in wanted:
                continue
            created = float(cols[ctime_col]) if ctime_col is not None and len(cols) > ctime_col else None
            uid = int(cols[uid_col]) if len(cols) > uid_col else None
            found.append(IpcObject(kind, f"key {key:#x} (id {ident})", ident, key, created, uid))
    return found


def special_kind(path: str | os.PathLike[str]) -> str | None:
    """ "fifo" or "socket" for such a file (not following a link), else None."""
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
            kind = special_kind(path)
            if kind:
                found.append(IpcObject(kind, path, path))
    return found


def owner(obj: IpcObject) -> int | None:
    """The uid that owns the object; None when that cannot be read (it is gone, or it is a POSIX
    queue and /dev/mqueue is not mounted)."""
    if obj.kind in SYSV_TABLES:
        return obj.uid
    try:
        return os.lstat(posix_path(obj.kind, obj.name) if obj.kind in POSIX_KINDS else obj.name).st_uid
    except OSError:
        return None


def posix_exists(kind: str, name: str) -> bool:
    if kind != "posix-mq" or mqueue_visible():
        return posix_path(kind, name).exists()
    import posix_ipc  # no /dev/mqueue to look in: ask the kernel

    try:
        posix_ipc.MessageQueue(name).close()
    except posix_ipc.ExistentialError:
        return False
    return True


def remove(obj: IpcObject) -> None:
    """Remove one object; already gone is fine."""
    import posix_ipc
    import sysv_ipc

    removers: dict[str, Callable[[Any], None]] = {
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


def _listdir(path: Path) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []
