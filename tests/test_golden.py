"""Every golden case (tests/golden/<case>/) graded again gives its pinned result.

When the grader's answer changes on purpose, `python -m tests.golden --update`
rewrites the expected results; the diff is the change to review."""

from __future__ import annotations

import difflib

import pytest
from golden import case_names, dump, expected, run_case


@pytest.mark.parametrize("case", case_names())
def test_golden_result(case):
    old, new = dump(expected(case)), dump(run_case(case))
    diff = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), "expected", "got"))
    assert not diff, (
        f"tests/golden/{case}: the result changed. If on purpose: python -m tests.golden --update {case}, "
        f"then review the diff.\n{diff}"
    )
