"""The exceptions that end the learner's threads and forked children, kept for the report.

Python prints an exception that ends a thread to a stderr the learner may never
read, and prints nothing at all for a forked child that ends with os._exit() in a
`finally:` or `except:` clause, the usual way a child ends: the child's KeyError
becomes "child 812 failed with status 1", or a reply that never comes. So in every
process of a run that loads the learner's file, `install` replaces
`threading.excepthook` and `os._exit`: an exception that ends a thread, or one being
handled when a process ends with os._exit(), is appended (one JSON line) to the
run's log, with the test running then, the process and thread, and the frames in
the learner's file. Nothing is printed: a suite thread's traceback is never shown
as if it were the learner's. The plugin shows the exceptions of a test that fails,
the runner those of a test that times out or crashes (grader/explain.py words them).
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import NoReturn

from grader import jsonlog
from grader.ledger import current_test

OBSERVED_ENV = "KATA_OBSERVED"
MAX_FRAMES = 8
_installed = False


@dataclass(frozen=True)
class Observed:
    """One exception that ended a thread, or was being handled when a process called os._exit()."""

    test: int  # the ordinal of the test running then; 0: outside any test
    pid: int
    thread: str  # the thread's name; "" when the process ended with os._exit()
    status: int | None  # os._exit()'s status; None for a thread
    error: str  # the exception's type name, qualified unless built in (observed.error_name)
    errno: int | None  # an OSError's errno: set when a system call raised it, None when code did
    text: str  # its first line
    where: str  # "impl.py:24 in worker": the innermost frame of the learner's file, else the innermost frame
    frames: tuple[str, ...]  # the traceback's frames, outermost first, the grader's own left out
    by_learner: bool  # a frame of the learner's file is in its traceback


def install_from_env(impl_path: str) -> None:
    path = os.environ.get(OBSERVED_ENV)
    if path:
        install(path, impl_path)


def install(path: str, impl_path: str) -> None:
    """Record, into `path`, what ends this process's threads and its os._exit() calls (once)."""
    global _installed
    if _installed:
        return
    _installed = True
    recorder = _Recorder(path, impl_path)
    threading.excepthook = recorder.thread_ended
    os._exit = recorder.exit


def read(path: str | os.PathLike[str], test: int) -> list[Observed]:
    """What was recorded during test `test` (a malformed line is skipped)."""
    found = []
    for data in jsonlog.records(path):
        try:
            entry = Observed(**(data | {"frames": tuple(data.get("frames", ()))}))
        except TypeError:
            continue
        if entry.test == test:
            found.append(entry)
    return found


class _Recorder:
    def __init__(self, path: str, impl_path: str) -> None:
        self.path = path
        self.impl_path = impl_path
        self.real_exit = os._exit

    def thread_ended(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit or args.exc_value is None:
            return
        name = args.thread.name if args.thread is not None else "a thread"
        self._record(args.exc_value, args.exc_traceback, thread=name, status=None)

    def exit(self, status: int) -> NoReturn:
        exc = sys.exc_info()[1]
        if exc is not None:
            self._record(exc, exc.__traceback__, thread="", status=status)
        self.real_exit(status)

    def _record(self, exc: BaseException, tb: TracebackType | None, thread: str, status: int | None) -> None:
        try:
            frames = [f for f in traceback.extract_tb(tb) if not internal_frame(f.filename)]
            mine = [f for f in frames if f.filename == self.impl_path]
            innermost = (mine or frames)[-1:] if frames else []
            entry = Observed(
                test=current_test(),
                pid=os.getpid(),
                thread=thread,
                status=status,
                error=error_name(exc),
                errno=exc.errno if isinstance(exc, OSError) else None,
                text=(str(exc).splitlines() or [""])[0][:300],
                where=self._label(innermost[0]) if innermost else "",
                frames=tuple(self._label(f) for f in frames[-MAX_FRAMES:]),
                by_learner=bool(mine),
            )
            jsonlog.append(self.path, asdict(entry))
        except Exception:  # the learner's process is ending: never stand in its way
            pass

    def _label(self, frame: traceback.FrameSummary) -> str:
        name = os.path.basename(frame.filename)
        line = f"{name}:{frame.lineno} in {frame.name}"
        if frame.filename == self.impl_path and frame.line:
            line += f": {frame.line.strip()}"
        return line


_INTERNAL = ("/_pytest/", "/pluggy/", "/grader/", "<frozen ", "/threading.py")


def error_name(exc: BaseException) -> str:
    """'KeyError', 'struct.error', 'posix_ipc.ExistentialError': qualified unless built in."""
    kind = type(exc)
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"


def internal_frame(filename: str) -> bool:
    """The grader's, pytest's and threading's own frames, which tell the learner nothing
    (the suites' frames stay: grader/suites/ is where the suite observed something)."""
    return "/grader/suites/" not in filename and any(part in filename for part in _INTERNAL)
