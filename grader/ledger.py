"""The creation ledger: every IPC object the learner's code creates, whatever its name.

Names handed out by the `names` fixture carry the run's prefix, but a learner
may invent their own ("/myshm", key 1234, /tmp/server.sock). So before the
learner's module is loaded, `install` wraps the ways Python creates kernel IPC
objects (posix_ipc and sysv_ipc constructors, `_posixshmem.shm_open` under
multiprocessing.shared_memory, `os.mkfifo`, and `socket.bind` of a Unix path
through an audit hook) and appends one JSON line per object created to the
run's ledger file. Forked children inherit the wrappers; `python -c` processes
install them through `load_impl`. The hygiene sweep removes exactly what the
ledger names and still exists, so it never touches another run's objects.
An object that existed before the call is not recorded: opening is not creating.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from grader import ipc_objects
from grader.ipc_objects import IpcObject, posix_path

LEDGER_ENV = "KATA_LEDGER"
_installed = False


def install_from_env() -> None:
    path = os.environ.get(LEDGER_ENV)
    if path:
        install(path)


def install(path: str) -> None:
    """Wrap the IPC constructors of this process (once) to record into `path`."""
    global _installed
    if _installed:
        return
    _installed = True
    recorder = _Recorder(path)
    _wrap_posix_ipc(recorder)
    _wrap_sysv_ipc(recorder)
    _wrap_posixshmem(recorder)
    _wrap_mkfifo(recorder)
    sys.addaudithook(recorder.audit)


def entries(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every object recorded so far (a torn last line is skipped)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            found.append(entry)
    return found


def surviving_objects(path: str | os.PathLike[str]) -> list[IpcObject]:
    """The objects the ledger names that still exist (the same object: a System V id
    now used by another key is not ours)."""
    sysv = {(obj.kind, obj.handle): obj for obj in ipc_objects.sysv_objects()}
    found = []
    for entry in entries(path):
        kind, handle, name = entry.get("kind"), entry.get("handle"), entry.get("name")
        if not isinstance(kind, str) or not isinstance(handle, str | int):
            continue
        if kind in ipc_objects.SYSV_TABLES:
            obj = sysv.get((kind, handle))
            if obj is not None and obj.name == name:
                found.append(obj)
        elif not isinstance(handle, str):
            continue
        elif kind in ipc_objects.SPECIAL_KINDS:
            if ipc_objects.special_kind(handle) == kind:
                found.append(IpcObject(kind, handle, handle))
        elif kind in ipc_objects.POSIX_KINDS and ipc_objects.posix_exists(kind, handle):
            found.append(IpcObject(kind, handle, handle))
    return found


def clear(path: str | os.PathLike[str]) -> None:
    """Forget what was recorded (after a sweep removed it), keeping the file."""
    try:
        os.truncate(path, 0)
    except OSError:
        pass


class _Recorder:
    def __init__(self, path: str):
        self.path = path

    def record(self, kind: str, handle: str | int, name: str) -> None:
        line = json.dumps({"kind": kind, "handle": handle, "name": name}) + "\n"
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError:
            return
        try:
            os.write(fd, line.encode())  # one short O_APPEND write: atomic between processes
        except OSError:
            pass
        finally:
            os.close(fd)

    def audit(self, event: str, args: tuple[Any, ...]) -> None:
        if event != "socket.bind":
            return
        sock, address = args
        if getattr(sock, "family", None) != socket.AF_UNIX:
            return
        if isinstance(address, bytes):
            address = os.fsdecode(address)
        if not isinstance(address, str) or not address or address.startswith("\0"):
            return  # abstract namespace: nothing on disk
        path = os.path.abspath(address)
        if not os.path.lexists(path):
            self.record("socket", path, path)


_CLASSES = ("SharedMemory", "Semaphore", "MessageQueue")


def _record_constructors(
    module: ModuleType,
    kinds: tuple[str, str, str],
    first_param: str,
    recorder: _Recorder,
    creates: Callable[[str, Any, int], bool],
    identity: Callable[[Any], tuple[str | int, str]],
) -> None:
    """Replace the shm, semaphore and queue classes of `module` (called as (first_param,
    flags, ...)) by subclasses that record each object they create, of the matching kind:
    `creates(kind, first, flags)` is asked before the call (afterwards the object exists
    either way), `identity(obj)` gives (handle, name)."""
    for attr, kind in zip(_CLASSES, kinds, strict=True):
        base = getattr(module, attr)

        def __init__(self: Any, *args: Any, _base: Any = base, _kind: str = kind, **kwargs: Any) -> None:
            first = args[0] if args else kwargs.get(first_param)
            flags = args[1] if len(args) > 1 else kwargs.get("flags", 0)
            creating = creates(_kind, first, flags)
            _base.__init__(self, *args, **kwargs)
            if creating:
                recorder.record(_kind, *identity(self))

        namespace = {"__init__": __init__, "__module__": module.__name__, "__doc__": base.__doc__}
        setattr(module, attr, type(attr, (base,), namespace))


def _wrap_posix_ipc(recorder: _Recorder) -> None:
    try:
        import posix_ipc
    except ImportError:
        return

    def creates(kind: str, name: str | None, flags: int) -> bool:
        return bool(flags & posix_ipc.O_CREAT) and not (name is not None and posix_path(kind, name).exists())

    kinds = ("posix-shm", "posix-sem", "posix-mq")
    _record_constructors(posix_ipc, kinds, "name", recorder, creates, lambda obj: (obj.name, obj.name))


def _wrap_sysv_ipc(recorder: _Recorder) -> None:
    try:
        import sysv_ipc
    except ImportError:
        return

    def creates(kind: str, key: int | None, flags: int) -> bool:
        if key is None or key == sysv_ipc.IPC_PRIVATE or flags & sysv_ipc.IPC_CREX == sysv_ipc.IPC_CREX:
            return True
        return bool(flags & sysv_ipc.IPC_CREAT) and not any(obj.kind == kind for obj in ipc_objects.sysv_objects([key]))

    kinds = ("sysv-shm", "sysv-sem", "sysv-msg")
    _record_constructors(
        sysv_ipc, kinds, "key", recorder, creates, lambda obj: (obj.id, f"key {obj.key:#x} (id {obj.id})")
    )


def _wrap_posixshmem(recorder: _Recorder) -> None:
    try:
        import _posixshmem
    except ImportError:
        return
    original = _posixshmem.shm_open

    def shm_open(path: str, flags: int, mode: int = 0o777) -> int:
        existed = posix_path("posix-shm", path).exists()
        fd: int = original(path, flags, mode)
        if flags & os.O_CREAT and not existed:
            recorder.record("posix-shm", path, path)
        return fd

    _posixshmem.shm_open = shm_open


def _wrap_mkfifo(recorder: _Recorder) -> None:
    original = os.mkfifo

    def mkfifo(
        path: str | bytes | os.PathLike[str] | os.PathLike[bytes], mode: int = 0o666, *, dir_fd: int | None = None
    ) -> None:
        original(path, mode, dir_fd=dir_fd)
        if dir_fd is None:
            full = os.path.abspath(os.fsdecode(path))
            recorder.record("fifo", full, full)

    mkfifo.__doc__ = original.__doc__
    os.mkfifo = mkfifo
