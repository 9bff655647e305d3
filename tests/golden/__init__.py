"""Golden results: the grader's whole `--json` answer for one edge case each, pinned.

A case is a folder here: `impl.py` (the file graded), `case.yaml` (`why`, `kata`,
the selection: `tests`, `tasks`, `perf`, and `impl` when the file is another
case's) and `expected.json`, the result
normalised so that it holds from run to run and machine to machine: pids, the
run's token and folder, paths, durations, perf figures, inode numbers, kernel
wait channels and the suites' line numbers are replaced by placeholders; of a
failed perf figure's profile only the top place is kept.

    python -m tests.golden            compare every case (exit 1 and a diff when one differs)
    python -m tests.golden --update   write expected.json again; review `git diff tests/golden`

tests/test_golden.py compares every case in the test suite.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from grader import grade
from grader.integrity import EDITING_ENV

os.environ.setdefault(EDITING_ENV, "1")  # the cases grade the working tree's grader, edits included

CASES = Path(__file__).resolve().parent
ROOT = CASES.parent.parent

Rule = tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]


def case_names() -> list[str]:
    return sorted(p.name for p in CASES.iterdir() if (p / "case.yaml").is_file())


def run_case(name: str) -> dict[str, Any]:
    """Grade the case's file as its case.yaml says; the result, normalised."""
    folder = CASES / name
    case = yaml.safe_load((folder / "case.yaml").read_text())
    impl = (folder / case.get("impl", "impl.py")).resolve()
    result = grade(case["kata"], impl, perf=case.get("perf", True), tasks=case.get("tasks"), tests=case.get("tests"))
    return normalise(result.to_dict(), impl)


def expected(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CASES / name / "expected.json").read_text())
    return data


def write_expected(name: str, result: dict[str, Any]) -> None:
    (CASES / name / "expected.json").write_text(dump(result))


def dump(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --- normalisation -------------------------------------------------------------------


def _rules(impl: Path) -> list[Rule]:
    """Text rules, applied in order to every string of the result."""
    return [
        (re.compile(re.escape(str(impl))), "<impl>"),
        (re.compile(re.escape(sys.executable)), "<python>"),
        (re.compile(re.escape(str(ROOT))), "<root>"),
        (re.compile(r"/[\w./-]*/kata-[0-9a-f]{8}-\w+"), "<run>"),  # the run's folder
        (re.compile(r"kata_[0-9a-f]{8}_"), "kata_<token>_"),  # the run's IPC names
        (re.compile(r"\bpid \d+"), "pid <pid>"),
        (re.compile(r"\bpids \d+(, \d+)*"), "pids <pids>"),
        (re.compile(r"\b(parent|child|child of) \d+"), r"\1 <pid>"),
        (re.compile(r"(pipe|socket|anon_inode):\[\d+\]"), r"\1:[<inode>]"),
        (re.compile(r"\b(pipe|socket|inode) \d+"), r"\1 <inode>"),  # in the wait-for graph's words
        (re.compile(r"\((python[\d.]*)\)"), "(python)"),  # a process's name: the interpreter's file name
        (re.compile(r"stopped after [\d.]+ s"), "stopped after <n> s"),  # a deadlock stopped before its limit
        (re.compile(r"\(kernel: [^)]*\)"), "(kernel: <wchan>)"),  # the wait channel's name varies by kernel
        (re.compile(r'File "<root>/grader/suites/([^"]+)", line \d+'), r'File "<suites>/\1", line <n>'),
        (re.compile(r'File "(?!<impl>)[^"]*/([^"/]+)", line \d+'), r'File "<lib>/\1", line <n>'),
        (re.compile(r"^<root>/grader/suites/(\S+):\d+ in ", re.M), r"<suites>/\1:<n> in "),  # stack frames
        (re.compile(r"^/\S*/([^/\s:]+):\d+ in ", re.M), r"<lib>/\1:<n> in "),
        # The sandbox's command line (`python -I ... grader/_boot.py ...`) is cut at 80 characters, where
        # depends on the length of the checkout's path: all of it is one placeholder.
        (re.compile(r"^<python> -I\b.*"), "<python> <isolated> <boot> <path> <fd>"),
        # Perf figures in a "too slow" message: the ratio and the rates vary from run to run.
        (
            re.compile(r"reached [\d,.]+ (\S+), [\d.]+x the same-run baseline of [\d,.]+"),
            r"reached <n> \1, <n>x the same-run baseline of <n>",
        ),
    ]


def normalise(result: dict[str, Any], impl: Path) -> dict[str, Any]:
    rules = _rules(impl)
    result = _map_strings(result, lambda text: _apply(rules, text))
    result["duration"] = 0.0
    for test in result["tests"]:
        stopped_early = bool(test["diagnosis"] and test["diagnosis"]["stopped_early"])
        if test["status"] != "timeout" or stopped_early:  # a timeout's duration is the test's limit: stable
            test["duration"] = 0.0
        for proc in test["blocked"]:
            proc["pid"] = 0
        if test["diagnosis"]:
            test["diagnosis"]["pids"] = [0 for _ in test["diagnosis"]["pids"]]
    for finding in result["hygiene"]:
        finding["pid"] = "<pid>" if finding["pid"] else 0  # known or not
    for figure in result["perf"]:
        figure.update(value=0.0, baseline=0.0, ratio=0.0)
        # A failed figure's profile: its top place is the case's point; shares, times and the places after it
        # vary with the machine.
        figure["hotspots"] = [dict(spot, share=0.0, seconds=0.0) for spot in figure["hotspots"][:1]]
        figure["profiled"] = re.sub(r"one round of [\d.]+ s", "one round of <n> s", figure["profiled"])
    return result


def _apply(rules: list[Rule], text: str) -> str:
    for pattern, replacement in rules:
        text = pattern.sub(replacement, text)
    return text


def _map_strings(value: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [_map_strings(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: _map_strings(v, fn) for k, v in value.items()}
    return value
