"""`kata grade`: run the hidden suite against your file and print what it teaches.

Exit status: 0 pass, 1 fail, 2 error (missing or broken file, unknown kata,
bad usage). With --all, the worst of the katas graded. Only a grade of the
learner's own workspace file is an attempt, recorded in the progress store (and
refused, before grading, when the store cannot be written); `--impl` on a scratch
file and `--solution` are graded and shown, never recorded, so neither unlocks
`kata solution`. A grade of some tasks (`--task`) or some tests (`-k`) is
recorded as partial: it does not count as a pass.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from kata.commands import Subparsers, add_verb, add_workspace_option
from kata.errors import UserError

if TYPE_CHECKING:
    from grader.catalog import KataDef
    from grader.runner import GradeEvent


def register(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    parser = add_verb(subparsers, "grade", _grade)
    parser.add_argument("kata", nargs="?", help="kata id (see `kata list`)")
    parser.add_argument(
        "--all", action="store_true", help="grade every kata you started (with --solution: every reference)"
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--impl", metavar="FILE", help="grade this file instead of your workspace file (not recorded)")
    source.add_argument("--solution", action="store_true", help="grade the reference solution")
    add_workspace_option(parser)
    parser.add_argument("--task", type=int, action="append", metavar="N", help="grade only task N (repeatable)")
    parser.add_argument(
        "-k",
        dest="tests",
        action="append",
        metavar="NAME",
        help="run only the tests whose name holds NAME (repeatable)",
    )
    parser.add_argument("--no-perf", action="store_true", help="skip the timed performance tasks")
    parser.add_argument("--json", action="store_true", help="print the result as JSON (schema in grader/report.py)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show full output and details of failing tests")


def _grade(args: argparse.Namespace) -> int:
    """grade your implementation of a kata

    Run the hidden suite of KATA against your workspace file (or --impl FILE). Exit 0 pass, 1 fail, 2 error.
    """
    if args.all == bool(args.kata):
        raise UserError("name one kata (`kata grade pipe`) or use --all")
    if args.all and (args.impl or args.tests):
        raise UserError("--impl and -k are about one kata: name it, not --all")
    from grader.catalog import all_katas
    from kata.catalog import find_kata
    from kata.paths import workspace_file

    katas = all_katas() if args.all else [find_kata(args.kata)]
    codes, not_started = [], []
    for kata in katas:
        mine = workspace_file(kata.id, args.workspace)
        if args.solution:
            path, record = kata.solution_path, False
        elif args.impl:
            path = Path(args.impl)
            if not path.exists():
                raise UserError(f"{path}: no such file")
            record = path.resolve() == mine.resolve()
        else:
            path, record = mine, True
            if args.all and not path.exists():
                not_started.append(kata.id)
                continue
        codes.append(_grade_one(kata, path, args, record=record))
    if not codes:
        raise UserError("no kata started yet: `kata list`, then `kata start <kata>`")
    if not_started:
        print(f"Not graded, not started: {', '.join(not_started)}.")
    return 2 if 2 in codes else max(codes)


def _grade_one(kata: KataDef, path: Path, args: argparse.Namespace, *, record: bool) -> int:
    from grader import grade
    from grader.report import render_text
    from kata.progress import ProgressStore
    from kata.testnames import select_tests

    tests = select_tests(kata, args.tests) if args.tests else None
    store = ProgressStore.open() if record else None  # a store that cannot record stops us before grading
    try:
        result = grade(
            kata.id,
            path,
            perf=not args.no_perf,
            tasks=args.task,
            tests=tests,
            on_event=_progress_line if _interactive() and not args.json else None,
        )
        _clear_progress_line()
        if args.json:
            print(result.to_json())
        elif result.status == "error":
            print(f"kata: {result.message}", file=sys.stderr)  # one line, like every other error
        else:
            print(render_text(result, verbose=args.verbose, width=_report_width()))
            if args.impl and not record:
                print("(not recorded: --impl grades a scratch file; your record counts your workspace file)\n")
        if store is not None and result.status != "error":
            store.record_attempt(result, complete=False if tests else None)
    finally:
        if store is not None:
            store.close()
    return int(result.exit_code)


def _interactive() -> bool:
    return sys.stderr.isatty()


def _report_width() -> int:
    """The terminal's columns (or $COLUMNS), kept between 60 and 120 for lines that read well;
    the report's own width when the output goes to a file or a pipe."""
    from grader.report import REPORT_WIDTH

    return min(120, max(60, shutil.get_terminal_size((REPORT_WIDTH, 24)).columns))


def _progress_line(event: GradeEvent) -> None:
    """One self-overwriting line on a terminal: which test is running now."""
    from grader.runner import TestFinished, TestStarted

    if isinstance(event, TestStarted):
        text = f"running {event.name} ..."
    elif isinstance(event, TestFinished):
        text = f"{event.result.status:>7} {event.result.name}"
    else:
        return
    sys.stderr.write("\r\x1b[2K" + text[:100])
    sys.stderr.flush()


def _clear_progress_line() -> None:
    if _interactive():
        sys.stderr.write("\r\x1b[2K")
        sys.stderr.flush()
