"""What a test's code raised that pytest does not count as a failure, in the learner's terms.

pytest treats a skip, an expected failure (xfail), `pytest.exit()`, `KeyboardInterrupt`
and the other BaseExceptions that are not Exceptions as outcomes (skipped, the end
of the session), not as failures. Raised by the learner's code, on purpose or by
accident (a SIGINT that reaches the caller's process), they would turn a test that
never did its work into a skip, or read as a pass. The plugin turns each one into a
failure with the message made here: what was raised and where.
"""

from __future__ import annotations

import os
import traceback
import unittest
from types import TracebackType

import pytest

IN_SUITE = "while the grader's code ran (after your code returned)"


def stops_a_test(exc: BaseException) -> bool:
    """True for what would end a test without failing it: anything that is not an Exception
    (pytest.fail's own Failed excepted: that is a failure), pytest.exit() and unittest's SkipTest."""
    if isinstance(exc, pytest.xfail.Exception | pytest.exit.Exception | unittest.SkipTest):
        return True
    if isinstance(exc, pytest.fail.Exception):
        return False
    return not isinstance(exc, Exception)


def from_the_test(tb: TracebackType | None, suite_dir: str, impl_path: str) -> TracebackType | None:
    """`tb` from the first frame of the suite or of the learner's file on: pytest's and
    pluggy's own frames above it say nothing to the learner."""
    start = tb
    while start is not None:
        file = start.tb_frame.f_code.co_filename
        if file == impl_path or file.startswith(suite_dir + os.sep):
            return start
        start = start.tb_next
    return tb


def where(tb: TracebackType | None, impl_path: str) -> str:
    """ "at impl.py:41 in child_to_parent" (the innermost frame of the learner's file), or
    where else it was raised."""
    mine = [frame for frame in traceback.extract_tb(tb) if frame.filename == impl_path]
    if mine:
        return f"at {os.path.basename(impl_path)}:{mine[-1].lineno} in {mine[-1].name}"
    return IN_SUITE if tb is not None else "outside any test"


def name(exc: BaseException) -> str:
    """The name a learner knows it by: pytest.skip(), KeyboardInterrupt, ..."""
    outcomes: tuple[tuple[str, type[BaseException]], ...] = (
        ("pytest.xfail()", pytest.xfail.Exception),  # first: its exception is a kind of failure
        ("pytest.skip()", pytest.skip.Exception),
        ("pytest.exit()", pytest.exit.Exception),
    )
    for called, outcome in outcomes:
        if isinstance(exc, outcome):
            return called
    if isinstance(exc, unittest.SkipTest):
        return "unittest.SkipTest"
    return type(exc).__name__


def message(exc: BaseException, tb: TracebackType | None, impl_path: str) -> str:
    """Why the test failed: what was raised, where, and what to do about it."""
    at = where(tb, impl_path)
    text = str(getattr(exc, "msg", None) or exc).strip().splitlines()
    said = f" ({text[0]})" if text else ""
    if isinstance(exc, KeyboardInterrupt):
        return (
            f"KeyboardInterrupt was raised {at}: a SIGINT reached the test process (the caller's), whose default "
            "handler raises KeyboardInterrupt. Signal the child you forked, not the caller, and install a SIGINT "
            "handler in the child only."
        )
    if isinstance(exc, SystemExit):
        return (
            f"the implementation called sys.exit() in the caller's process ({at}): only a forked child may end "
            "itself, and it must use os._exit()."
        )
    if isinstance(exc, pytest.exit.Exception):
        return (
            f"your code called pytest.exit(){said} {at}: it would end the whole grading session. A test passes "
            "only when it runs to its end."
        )
    if isinstance(exc, pytest.skip.Exception | pytest.xfail.Exception | unittest.SkipTest):
        return (
            f"your code raised {name(exc)}{said} {at}: the grader never skips a test or expects it to fail; "
            "a test passes only when it runs to its end."
        )
    if isinstance(exc, GeneratorExit):
        return (
            f"GeneratorExit escaped {at}: it is how Python closes a generator and must never leave one "
            "(nor be raised by hand). A test passes only when it runs to its end."
        )
    return (
        f"your code raised {type(exc).__name__}{said} {at}, a BaseException that is not an Exception: a test "
        "passes only when it runs to its end and returns."
    )
