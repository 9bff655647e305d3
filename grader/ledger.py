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
from pathlib import Path

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


def entries(path: str | os.PathLike) -> list[dict]:
    """Every object recorded so far (a torn last line is skipped)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return found


def clear(path: str | os.PathLike) -> None:
    """Forget what was recorded (after a sweep removed it), keeping the file."""
    try:
        os.truncate(path, 0)
    except OSError:
        pass


class _Recorder:
    def __init__(self, path: str):
        self.path = path

    def record(self, kind: str, handle, name: str) -> None:
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

    def audit(self, event: str, args: tuple) -> None:
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


def posix_path(kind: str, name: str) -> Path:
    """Where Linux shows a POSIX object of this kind and name."""
    base = name.lstrip("/")
    return {
        "posix-shm": Path("/dev/shm") / base,
        "posix-sem": Path("/dev/shm") / f"sem.{base}",
        "posix-mq": Path("/dev/mqueue") / base,
    }[kind]


def _wrap_posix_ipc(recorder: _Recorder) -> None:
    try:
        import posix_ipc
    except ImportError:
        return
    for attr, kind in (("SharedMemory", "posix-shm"), ("Semaphore", "posix-sem"), ("MessageQueue", "posix-mq")):
        base = getattr(posix_ipc, attr)

        def __init__(self, name, flags=0, *args, _base=base, _kind=kind, **kwargs):
            existed = name is not None and posix_path(_kind, name).exists()
            _base.__init__(self, name, flags, *args, **kwargs)
            if flags & posix_ipc.O_CREAT and not existed:
                recorder.record(_kind, self.name, self.name)

        setattr(
            posix_ipc,
            attr,
            type(attr, (base,), {"__init__": __init__, "__module__": "posix_ipc", "__doc__": base.__doc__}),
        )


def _wrap_sysv_ipc(recorder: _Recorder) -> None:
    try:
        import sysv_ipc
    except ImportError:
        return
    for attr, kind in (("SharedMemory", "sysv-shm"), ("Semaphore", "sysv-sem"), ("MessageQueue", "sysv-msg")):
        base = getattr(sysv_ipc, attr)

        def __init__(self, key, flags=0, *args, _base=base, _kind=kind, **kwargs):
            created = key is None or key == sysv_ipc.IPC_PRIVATE or flags & sysv_ipc.IPC_CREX == sysv_ipc.IPC_CREX
            if not created and flags & sysv_ipc.IPC_CREAT:
                created = not _sysv_key_exists(_kind, key)
            _base.__init__(self, key, flags, *args, **kwargs)
            if created:
                recorder.record(_kind, self.id, f"key {self.key:#x} (id {self.id})")

        setattr(
            sysv_ipc,
            attr,
            type(attr, (base,), {"__init__": __init__, "__module__": "sysv_ipc", "__doc__": base.__doc__}),
        )


def _sysv_key_exists(kind: str, key: int) -> bool:
    from grader.hygiene import sysv_objects

    return any(obj.kind == kind for obj in sysv_objects([key]))


def _wrap_posixshmem(recorder: _Recorder) -> None:
    try:
        import _posixshmem
    except ImportError:
        return
    original = _posixshmem.shm_open

    def shm_open(path, flags, mode=0o777):
        existed = posix_path("posix-shm", path).exists()
        fd = original(path, flags, mode)
        if flags & os.O_CREAT and not existed:
            recorder.record("posix-shm", path, path)
        return fd

    _posixshmem.shm_open = shm_open


def _wrap_mkfifo(recorder: _Recorder) -> None:
    original = os.mkfifo

    def mkfifo(path, mode=0o666, *, dir_fd=None):
        original(path, mode, dir_fd=dir_fd)
        if dir_fd is None:
            full = os.path.abspath(os.fsdecode(path))
            recorder.record("fifo", full, full)

    mkfifo.__doc__ = original.__doc__
    os.mkfifo = mkfifo
