"""Turning what went wrong in a test into a message that teaches, in the learner's terms."""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass
from types import TracebackType

import pytest

from grader.report import HygieneFinding

PARENT_KILLED = (
    "the parent of the caller's process (pid {parent}, the grader's supervisor) was killed during this "
    "test: the implementation signalled os.getppid() (or killed it) from the caller's process. Only a "
    "forked child may signal its parent; in the caller, the parent is whoever called your function."
)
INTERRUPTED = (
    "the test did not run to its end: {what} was raised while it ran and stopped it. A test passes only "
    "when it runs to its end."
)
HYGIENE_LISTED = 5


@dataclass(frozen=True)
class Verdict:
    """A test's status with its message and details (a traceback or more context)."""

    status: str
    message: str = ""
    details: str = ""


PASSED = Verdict("pass")


def exception(exc: BaseException, tb: TracebackType | None, impl_path: str, memory_limit_mb: int) -> tuple[str, str]:
    """(message, details): what went wrong, in the learner's terms."""
    if isinstance(exc, pytest.fail.Exception):
        return str(exc.msg), ""
    frames = traceback.extract_tb(tb)
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
    if mine:
        where = mine[-1]
        return (
            f"`{where.name}` raised {type(exc).__name__}{': ' + text if text else ''} ({base}:{where.lineno})",
            details,
        )
    return f"{type(exc).__name__}{': ' + text if text else ''}", details


def left_behind(findings: list[HygieneFinding]) -> str:
    lines = [f"{f.kind} {f.name}: {f.message}" for f in findings[:HYGIENE_LISTED]]
    if len(findings) > HYGIENE_LISTED:
        lines.append(f"... and {len(findings) - HYGIENE_LISTED} more")
    return "the test passed, but left things behind:\n" + "\n".join(lines)
