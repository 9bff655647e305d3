"""Hidden suite of the `event-loop` kata (docs/authoring-katas.md, "The suite")."""

from __future__ import annotations

import pytest

from grader.testing import expect


@pytest.mark.task(1)
def test_solve_returns_its_input(impl):
    got = impl.solve(b"TODO")
    expect(got == b"TODO", f"`solve` returned {got!r}: TODO what was expected, what happened, the concept")
