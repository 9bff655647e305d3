"""The baseline process: where a perf test's same-run baseline is measured, away from the
learner's code (docs/decisions.md, "Honest verdicts").

The sandbox supervisor forks it when the test process first asks for a baseline round
(grader/sandbox.py), so it never imported the learner's file and runs in an interpreter
the learner's code never touched: patching `time.perf_counter` or `os.read` in the test
process changes nothing here. Its clock is bound when this module is imported, in the
supervisor, before anything of the learner's runs.

A request names a function defined at the top of a module of the kata's suite (its
module and name, as `functools.partial(function, *args)` or the function itself gives
them; a process that asks for anything else gets an error) and its arguments, which
must be plain data (bytes, str, numbers, None, and tuples, lists and dicts of them):
requests are unpickled without any class, so they cannot carry code. The suite's
modules are loaded here from the very bytes whose sha256 the runner took when the grade
began (`SuiteFinder`): a suite rewritten since gets an error, never a slower baseline.
The reply is the seconds one call took, by this process's clock, or the `seconds` of
what the call returned when it timed itself (grader.perf's Elapsed).

The test process's end is `BaselineClient`; the process serves until that end closes. It
is fenced like the test process (grader/fence.py), and dies with the supervisor.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import io
import os
import pickle
import socket
import struct
import sys
import time
import types
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

clock = time.perf_counter  # bound here, in the supervisor, before the learner's file is imported anywhere
GRADER_MODULES = ("grader.testing", "grader.perf")  # where a baseline may live besides the suite
_LENGTH = struct.Struct("!I")


class BaselineError(RuntimeError):
    """The baseline could not be measured: the message says why, for the report."""


# --- the test process's end -------------------------------------------------------------------


class BaselineClient:
    """Asks the baseline process to time one call of a baseline."""

    def __init__(self, sock: socket.socket):
        self._sock = sock

    def seconds(self, baseline: Callable[[], object]) -> float:
        """Seconds one call of `baseline` took in the baseline process."""
        fn, args, kwargs = _unwrap(baseline)
        return self.run(fn.__module__, fn.__qualname__, tuple(args), dict(kwargs))

    def run(self, module: str, name: str, args: tuple[object, ...], kwargs: dict[str, object]) -> float:
        """Seconds one call of `module.name(*args, **kwargs)` took in the baseline process."""
        try:
            _send(self._sock, ("run", module, name, args, kwargs))
            reply = _receive(self._sock)
        except OSError:
            reply = None
        if reply is None:
            raise BaselineError("the baseline process is gone (killed?): the baseline could not be measured")
        if not (isinstance(reply, tuple) and len(reply) == 2 and reply[0] == "ok" and isinstance(reply[1], float)):
            raise BaselineError(
                f"the baseline could not be measured: {reply[-1] if isinstance(reply, tuple) else reply}"
            )
        return reply[1]


# --- what the `perf` fixture hands grader.perf ---------------------------------------------------

CLIENT: BaselineClient | None = None  # the test process's end, set by the plugin
_PLAIN = (bytes, bytearray, str, int, float, bool, type(None))


def elsewhere(baseline: Callable[[], object]) -> Callable[[], object]:
    """`baseline`, to be run and timed in the baseline process when it can run there (a function
    defined at the top of a module, with plain arguments); else `baseline` itself, run in the
    test process as before (grader.perf refuses such baselines from the suites)."""
    fn, args, kwargs = _unwrap(baseline)
    module, name = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if CLIENT is None or not isinstance(module, str) or "." in name or "<" in name:
        return baseline
    if getattr(sys.modules.get(module), name, None) is not fn or not _plain((args, kwargs)):
        return baseline
    return functools.partial(measured_elsewhere, module, name, tuple(args), dict(kwargs))


def measured_elsewhere(module: str, name: str, args: tuple[object, ...], kwargs: dict[str, object]) -> object:
    """One round of a baseline run in the baseline process: its seconds there, as grader.perf's
    Elapsed (a round that timed itself), so that no clock of the test process is trusted."""
    assert CLIENT is not None, "elsewhere() hands this out only with a client"
    seconds = CLIENT.run(module, name, args, kwargs)
    from grader import perf

    elapsed: Any = getattr(perf, "Elapsed", None)
    return elapsed(seconds) if elapsed is not None else seconds


def _plain(value: object) -> bool:
    if isinstance(value, _PLAIN):
        return True
    if isinstance(value, tuple | list):
        return all(_plain(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _plain(item) for key, item in value.items())
    return False


def _unwrap(baseline: Callable[[], object]) -> tuple[Callable[..., object], Sequence[object], dict[str, Any]]:
    if isinstance(baseline, functools.partial):
        return baseline.func, baseline.args, baseline.keywords
    return baseline, (), {}


# --- the baseline process -----------------------------------------------------------------------


def serve(sock: socket.socket, suite_dir: str, held: dict[str, str]) -> None:
    """Answer requests on `sock` until the test process closes its end."""
    finder = SuiteFinder(suite_dir, held)
    sys.meta_path.insert(0, finder)
    while (request := _receive(sock)) is not None:
        try:
            reply: tuple[str, object] = ("ok", _run(request, finder))
        except Exception as err:  # the reason goes back to the test, which fails with it
            reply = ("error", f"{type(err).__name__}: {err}")
        try:
            _send(sock, reply)
        except OSError:
            return


def _run(request: object, finder: SuiteFinder) -> float:
    if not (isinstance(request, tuple) and len(request) == 5 and request[0] == "run"):
        raise BaselineError(f"not a request: {request!r:.80}")
    _, module_name, name, args, kwargs = request
    fn = _resolve(str(module_name), str(name), finder)
    start = clock()
    outcome = fn(*args, **kwargs)
    elapsed = clock() - start
    own = getattr(outcome, "seconds", None)  # the call timed its own measured part
    return max(float(own) if isinstance(own, int | float) else elapsed, 1e-9)


def _resolve(module_name: str, name: str, finder: SuiteFinder) -> Callable[..., object]:
    """A function defined at the top of a suite module (or of the grader's helpers for suites):
    nothing else can be called here, whatever the request says."""
    if module_name not in GRADER_MODULES and not finder.holds(module_name):
        raise BaselineError(f"{module_name} is not a module of the suite")
    found = getattr(importlib.import_module(module_name), name, None)
    if not isinstance(found, types.FunctionType) or found.__module__ != module_name or found.__qualname__ != name:
        raise BaselineError(f"{module_name}.{name} is not a function defined at the top of {module_name}")
    return found


class SuiteFinder(importlib.abc.MetaPathFinder):
    """Top-level modules of the suite's folder, loaded from bytes checked against their sha256
    (taken when the grade began), so that what runs here is the suite the runner checked."""

    def __init__(self, suite_dir: str, held: dict[str, str]):
        self.suite_dir = suite_dir
        self.held = held

    def holds(self, fullname: str) -> bool:
        return "." not in fullname and self._file(fullname) in self.held

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not self.holds(fullname):
            return None
        file = self._file(fullname)
        return importlib.util.spec_from_loader(fullname, _CheckedLoader(file, self.held[file]), origin=file)

    def _file(self, fullname: str) -> str:
        return os.path.join(self.suite_dir, f"{fullname}.py")


class _CheckedLoader(importlib.abc.Loader):
    def __init__(self, file: str, sha256: str):
        self.file = file
        self.sha256 = sha256

    def exec_module(self, module: ModuleType) -> None:
        with open(self.file, "rb") as f:
            source = f.read()
        if hashlib.sha256(source).hexdigest() != self.sha256:
            raise BaselineError(f"{os.path.basename(self.file)} was changed while this grade ran")
        module.__file__ = self.file
        exec(compile(source, self.file, "exec", dont_inherit=True), module.__dict__)


# --- the wire: length-prefixed pickles of plain data ------------------------------------------


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"only plain data crosses to the baseline process, not {module}.{name}")


def _send(sock: socket.socket, message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_LENGTH.pack(len(data)) + data)


def _receive(sock: socket.socket) -> object | None:
    """The next message, or None when the other end has closed."""
    head = _exactly(sock, _LENGTH.size)
    if head is None:
        return None
    body = _exactly(sock, _LENGTH.unpack(head)[0])
    if body is None:
        return None
    try:
        message: object = _PlainUnpickler(io.BytesIO(body)).load()
        return message
    except (pickle.UnpicklingError, EOFError, ValueError) as err:
        return ("error", str(err))


def _exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)
