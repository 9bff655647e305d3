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

Each entry also says who made the object (docs/architecture.md, "Hygiene"): the
test running then (its ordinal, from $KATA_TEST_ORDINAL, which the plugin sets
and every child inherits), the process, and whether the learner's code made it
(a frame of the learner's file is on the stack) or the suite itself did. A leak
is blamed on the test that made it, never on the next one, and never on the
learner when the suite made it.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from types import FrameType, ModuleType
from typing import Any

from grader import ipc_objects, jsonlog
from grader.ipc_objects import IpcObject, posix_path

LEDGER_ENV = "KATA_LEDGER"
TEST_ENV = "KATA_TEST_ORDINAL"  # the test running now (its ordinal in the suite); unset or 0: none
_installed = False


@dataclass(frozen=True)
class Entry:
    """One object the ledger saw created, and who created it."""

    kind: str
    handle: str | int
    name: str
    test: int = 0  # the ordinal of the test running then; 0: outside any test
    pid: int = 0  # the process that created it
    by_learner: bool = True  # False: the suite's own code made it (no frame of the learner's file)


def install_from_env(impl_path: str = "") -> None:
    path = os.environ.get(LEDGER_ENV)
    if path:
        install(path, impl_path)


def install(path: str, impl_path: str = "") -> None:
    """Wrap the IPC constructors of this process (once) to record into `path`; a creation
    with a frame of `impl_path` on the stack is the learner's."""
    global _installed
    if _installed:
        return
    _installed = True
    recorder = _Recorder(path, impl_path)
    _wrap_posix_ipc(recorder)
    _wrap_sysv_ipc(recorder)
    _wrap_posixshmem(recorder)
    _wrap_mkfifo(recorder)
    sys.addaudithook(recorder.audit)


def entries(path: str | os.PathLike[str]) -> list[Entry]:
    """Every object recorded so far, in the order of creation (a malformed line is skipped)."""
    found = []
    for data in jsonlog.records(path):
        try:
            entry = Entry(**data)
        except TypeError:
            continue
        if (
            isinstance(entry.kind, str)
            and isinstance(entry.handle, str | int)
            and isinstance(entry.name, str)
            and isinstance(entry.test, int)
            and isinstance(entry.pid, int)
            and isinstance(entry.by_learner, bool)
        ):
            found.append(entry)
    return found


def surviving_objects(path: str | os.PathLike[str], test: int | None = None) -> list[tuple[IpcObject, Entry]]:
    """The objects the ledger names (those test `test` made, when given) that still exist, with
    their entries (the same object: a System V id now used by another key is not ours)."""
    sysv = {(obj.kind, obj.handle): obj for obj in ipc_objects.sysv_objects()}
    found = []
    for entry in entries(path):
        if test is not None and entry.test != test:
            continue
        kind, handle = entry.kind, entry.handle
        if kind in ipc_objects.SYSV_TABLES:
            obj = sysv.get((kind, handle))
            if obj is not None and obj.name == entry.name:
                found.append((obj, entry))
        elif not isinstance(handle, str):
            continue
        elif kind in ipc_objects.SPECIAL_KINDS:
            if ipc_objects.special_kind(handle) == kind:
                found.append((IpcObject(kind, handle, handle), entry))
        elif kind in ipc_objects.POSIX_KINDS and ipc_objects.posix_exists(kind, handle):
            found.append((IpcObject(kind, handle, handle), entry))
    return found


def current_test() -> int:
    try:
        return int(os.environ.get(TEST_ENV, "0"))
    except ValueError:
        return 0


class _Recorder:
    def __init__(self, path: str, impl_path: str):
        self.path = path
        self.impl_path = impl_path

    def record(self, kind: str, handle: str | int, name: str) -> None:
        entry = Entry(kind, handle, name, current_test(), os.getpid(), self._called_by_learner())
        jsonlog.append(self.path, asdict(entry))

    def _called_by_learner(self) -> bool:
        """A frame of the learner's file is on the stack (their function, or a thread or child of it).
        Without a known file every creation is the learner's, as before the ledger knew better."""
        if not self.impl_path:
            return True
        frame: FrameType | None = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_filename == self.impl_path:
                return True
            frame = frame.f_back
        return False

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
