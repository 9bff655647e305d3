"""The names of a kata's hidden tests, read from the suite's source without running
it: what `kata grade <kata> -k NAME` matches against, and what "did you mean" offers.

Names are the ones the grader reports: a test function's name, or for a test
parametrized with literal `ids=[...]`, `name[id]` per case (pytest's item names).
"""

from __future__ import annotations

import ast

from grader.catalog import KataDef
from kata.errors import UserError
from kata.wording import did_you_mean


def suite_test_names(kata: KataDef) -> list[str]:
    """Every test of the kata's suite, in file order."""
    names: list[str] = []
    for path in sorted(kata.suite_dir.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_"):
                ids = _parametrize_ids(node)
                names += [f"{node.name}[{case}]" for case in ids] if ids else [node.name]
    return names


def select_tests(kata: KataDef, patterns: list[str]) -> list[str]:
    """The tests whose name holds one of `patterns` (like pytest's -k on plain words)."""
    names = suite_test_names(kata)
    chosen: list[str] = []
    for pattern in patterns:
        matching = [n for n in names if pattern in n]
        if not matching:
            raise UserError(
                f"no test of {kata.id} matches {pattern!r};{did_you_mean(pattern, names)} tests: {', '.join(names)}"
            )
        chosen += [n for n in matching if n not in chosen]
    return chosen


def _parametrize_ids(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    for decorator in node.decorator_list:
        if isinstance(decorator, ast.Call) and ast.unparse(decorator.func).endswith("mark.parametrize"):
            for keyword in decorator.keywords:
                if keyword.arg == "ids":
                    return [str(value) for value in ast.literal_eval(keyword.value)]
    return []
