"""`kata grade`: run the hidden suite against your file and print what it teaches.

Exit status: 0 pass, 1 fail, 2 error (missing or broken file, unknown kata,
bad usage). With --all, the worst of the katas graded. Attempts on the
learner's own file are recorded in the progress store; grading the reference
(`--solution`) is not, so it never unlocks `kata solution`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kata.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "grade",
        help="grade your implementation of a kata",
        description="Run the hidden suite of KATA against your workspace file (or --impl FILE). "
        "Exit 0 pass, 1 fail, 2 error.",
    )
    parser.add_argument("kata", nargs="?", help="kata id (see `kata list`)")
    parser.add_argument(
        "--all", action="store_true", help="grade every kata you started (with --solution: every reference)"
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--impl", metavar="FILE", help="grade this file instead of your workspace file")
    source.add_argument("--solution", action="store_true", help="grade the reference solution")
    parser.add_argument("--workspace", metavar="DIR", help="your workspace folder (default: $KATA_HOME/workspace)")
    parser.add_argument("--task", type=int, action="append", metavar="N", help="grade only task N (repeatable)")
    parser.add_argument("--no-perf", action="store_true", help="skip the timed performance tasks")
    parser.add_argument("--json", action="store_true", help="print the result as JSON (schema in grader/report.py)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show full output and details of failing tests")
    parser.set_defaults(func=_grade)


def _grade(args: argparse.Namespace) -> int:
    if args.all == bool(args.kata):
        raise UserError("name one kata (`kata grade pipe`) or use --all")
    if args.all and args.impl:
        raise UserError("--impl grades one file: name its kata, not --all")
    from grader.catalog import all_katas, load_kata
    from kata.paths import workspace_file

    katas = all_katas() if args.all else [load_kata(args.kata)]
    codes = []
    for kata in katas:
        if args.solution:
            path = kata.solution_path
        elif args.impl:
            path = Path(args.impl)
        else:
            path = workspace_file(kata.id, args.workspace)
            if args.all and not path.exists():
                print(f"kata {kata.id}: not started (`kata start {kata.id}`)\n")
                continue
        codes.append(_grade_one(kata, path, args))
    if not codes:
        raise UserError("no kata started yet: `kata list`, then `kata start <kata>`")
    return 2 if 2 in codes else max(codes)


def _grade_one(kata, path: Path, args: argparse.Namespace) -> int:
    from grader import grade
    from grader.report import render_text
    from kata.progress import ProgressStore

    record = not args.solution
    store = ProgressStore.open() if record else None  # a damaged store stops us before grading
    try:
        result = grade(
            kata.id,
            path,
            perf=not args.no_perf,
            tasks=args.task,
            on_event=_progress_line if _interactive() and not args.json else None,
        )
        _clear_progress_line()
        if args.json:
            print(result.to_json())
        elif result.status == "error":
            print(f"kata: {result.message}", file=sys.stderr)  # one line, like every other error
        else:
            print(render_text(result, verbose=args.verbose))
        if store is not None and result.status != "error":
            store.record_attempt(result)
    finally:
        if store is not None:
            store.close()
    return result.exit_code


def _interactive() -> bool:
    return sys.stderr.isatty()


def _progress_line(event) -> None:
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
