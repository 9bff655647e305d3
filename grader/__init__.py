"""The grading engine: runs a kata's hidden pytest suite against a learner's file.

    from grader import grade
    result = grade("pipe", "my_pipe.py")          # -> grader.report.Result
    for event in grade_iter("pipe", path): ...    # TestStarted / TestFinished / GradeFinished

Attributes are imported lazily so that suites and helper processes that only
need `grader.testing` or `grader.loader` start fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the lazy attributes are, for type checkers
    from grader.report import Result
    from grader.runner import GradeFinished, TestFinished, TestStarted, grade, grade_iter

__all__ = ["GradeFinished", "Result", "TestFinished", "TestStarted", "grade", "grade_iter"]


def __getattr__(name: str) -> Any:
    if name in ("grade", "grade_iter", "GradeFinished", "TestFinished", "TestStarted"):
        from grader import runner

        return getattr(runner, name)
    if name == "Result":
        from grader.report import Result

        return Result
    raise AttributeError(name)
