"""Turning what went wrong in a test into a message that teaches, in the learner's terms."""

from __future__ import annotations

import builtins
import os
import traceback
from dataclasses import dataclass
from types import TracebackType

from grader.observed import Observed, error_name, internal_frame
from grader.report import HygieneFinding

INTERRUPTED = (
    "the test did not run to its end: {what} was raised while it ran and stopped it. A test passes only "
    "when it runs to its end."
)
HYGIENE_LISTED = 5
OBSERVED_LISTED = 3

# The concept behind an exception a system call raised, by the exception's type name, qualified
# when it is not a built-in one (posix_ipc and sysv_ipc name theirs alike: their bare name).
CONCEPTS = {
    "BrokenPipeError": "a write into a pipe or socket whose every reader has closed it (EPIPE)",
    "ConnectionResetError": "the other end closed the connection with data still unread, or died (a reset)",
    "ConnectionRefusedError": "nobody listens at that address (ECONNREFUSED): bind and listen before clients connect",
    "BlockingIOError": "a non-blocking call had nothing to do right now (EAGAIN): wait until it can, or block",
    "InterruptedError": "a system call interrupted by a signal (EINTR)",
    "ChildProcessError": "no such child to wait for (ECHILD): already reaped, or not a child of this process",
    "FileExistsError": "the name is taken (EEXIST): an exclusive create of something that already exists",
    "PermissionError": "permission denied: check the object's mode (0600) and who created it",
    "ExistentialError": "the IPC object does not exist (or, created exclusively, already does)",
    "BusyError": "a timed or non-blocking IPC call found the object busy: the wait ran out",
    "TimeoutError": "a timed wait ran out before the other side acted",
    "EOFError": "the other side closed before a whole message arrived",
    "struct.error": "bytes that do not match the expected layout: a frame read at the wrong boundary or cut short",
    "UnicodeDecodeError": "bytes that are not valid text: a message cut short or mixed with another",
}


@dataclass(frozen=True)
class Verdict:
    """A test's status with its message and details (a traceback or more context)."""

    status: str
    message: str = ""
    details: str = ""


PASSED = Verdict("pass")


def exception(exc: BaseException, tb: TracebackType | None, impl_path: str, memory_limit_mb: int) -> tuple[str, str]:
    """(message, details): what went wrong, in the learner's terms."""
    import pytest  # here: the runner words timeouts with this module without loading pytest

    if isinstance(exc, pytest.fail.Exception):
        return str(exc.msg), ""
    frames = [f for f in traceback.extract_tb(tb) if not internal_frame(f.filename)]
    mine = [f for f in frames if f.filename == impl_path]
    details = "".join(traceback.format_list(frames[-12:])) + "".join(traceback.format_exception_only(type(exc), exc))
    base = os.path.basename(impl_path)
    if isinstance(exc, NotImplementedError) and mine:
        return (
            f"`{mine[-1].name}` is not implemented yet (it raises NotImplementedError): "
            "write it as the spec describes.",
            "",
        )
    if isinstance(exc, MemoryError):
        return (
            f"hit the memory limit ({memory_limit_mb} MiB): something allocates without bound, "
            "e.g. reading everything into memory or a list that never stops growing."
        ), details
    if isinstance(exc, SystemExit):
        return (
            "the implementation called sys.exit() in the caller's process: only a forked child may end "
            "itself, and it must use os._exit()."
        ), details
    text = str(exc).splitlines()[0] if str(exc) else ""
    concept = concept_of(error_name(exc), exc.errno if isinstance(exc, OSError) else None)
    if mine:
        where = mine[-1]
        message = f"`{where.name}` raised {type(exc).__name__}{': ' + text if text else ''} ({base}:{where.lineno})"
        return message + (f": {concept}" if concept else ""), details
    suite = [f for f in frames if "/grader/suites/" in f.filename]
    if suite:  # raised in the suite's own code: what the suite observed of the learner's code, not their traceback
        where = suite[-1]
        observed = f"the suite's check ({os.path.basename(where.filename)}:{where.lineno} in {where.name}) got "
        return observed + f"{type(exc).__name__}{': ' + text if text else ''}" + (
            f": {concept}" if concept else ""
        ), details
    return f"{type(exc).__name__}{': ' + text if text else ''}" + (f": {concept}" if concept else ""), details


def left_behind(findings: list[HygieneFinding]) -> str:
    lines = [f"{f.kind} {f.name}: {f.message}" for f in findings[:HYGIENE_LISTED]]
    if len(findings) > HYGIENE_LISTED:
        lines.append(f"... and {len(findings) - HYGIENE_LISTED} more")
    return "the test passed, but left things behind:\n" + "\n".join(lines)


def concept_of(error: str, errno: int | None = None) -> str:
    """The concept behind an exception, by its (qualified) type name; "" for a plain bug, and for
    an OSError that code raised itself (no errno): that is not what a system call said."""
    builtin = getattr(builtins, error, None)
    if isinstance(builtin, type) and issubclass(builtin, OSError) and errno is None:
        return ""
    return CONCEPTS.get(error) or CONCEPTS.get(error.rsplit(".", 1)[-1], "")


def observed(entries: list[Observed], test_pid: int) -> tuple[str, str]:
    """(message, details) for the exceptions that ended threads or children during a test:
    a line each (a few), then their frames in the learner's file."""
    if not entries:
        return "", ""
    lines = [_observed_line(entry, test_pid) for entry in entries[:OBSERVED_LISTED]]
    if len(entries) > OBSERVED_LISTED:
        lines.append(f"... and {len(entries) - OBSERVED_LISTED} more")
    details = []
    for entry in entries:
        if entry.by_learner:
            details.append(f"{_subject(entry, test_pid)}: {entry.error}{': ' + entry.text if entry.text else ''}")
            details.extend(f"  {frame}" for frame in entry.frames)
    return "Seen during this test:\n" + "\n".join(lines), "\n".join(details)


def _subject(entry: Observed, test_pid: int) -> str:
    if entry.thread:
        return f"a thread of yours ({entry.thread}, pid {entry.pid})" if entry.by_learner else "a thread of the suite"
    return "the caller's process" if entry.pid == test_pid else f"child {entry.pid}"


def _observed_line(entry: Observed, test_pid: int) -> str:
    """'child 812 ended with os._exit(1) while handling KeyError: 'x', raised at impl.py:24 in worker'."""
    what = f"{entry.error}{': ' + entry.text if entry.text else ''}"
    concept = concept_of(entry.error, entry.errno)
    where = f", raised at {entry.where}" if entry.where else ""
    if entry.thread and not entry.by_learner:  # the suite's own thread: what it observed, not its traceback
        line = f"a thread of the suite ({entry.thread}) observed {what}"
    elif entry.thread:
        line = f"{_subject(entry, test_pid)} died of {what}{where}"
    else:
        line = f"{_subject(entry, test_pid)} ended with os._exit({entry.status}) while handling {what}{where}"
    return line + (f": {concept}" if concept else "")
