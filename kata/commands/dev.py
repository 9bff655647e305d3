"""`kata dev check|new`: a kata author's tools (docs/authoring-katas.md).

`kata dev check [KATA]` validates a kata end to end and prints one line per item;
exit 0 when every item is ok, 1 when one is not, 2 for bad usage (an unknown
kata). `kata dev new ID` scaffolds a kata whose TODOs `kata dev check ID` lists.
"""

from __future__ import annotations

import argparse

from kata.commands import Subparsers, add_verb
from kata.errors import UserError

_MARK = {True: "ok", False: "FAIL", None: "skip"}


def register(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    dev = add_verb(subparsers, "dev", None, "tools for kata authors: check a kata, scaffold a new one")
    verbs = dev.add_subparsers(dest="dev_command", metavar="<verb>", required=True)

    check = add_verb(verbs, "check", _check)
    check.add_argument("kata", nargs="?", help="kata id (default: every kata)")
    check.add_argument("--no-mutants", action="store_true", help="skip grading the mutants (the slow part)")
    check.add_argument("-v", "--verbose", action="store_true", help="print the grade report under a failing check")

    new = add_verb(verbs, "new", _new)
    new.add_argument("id", help="the new kata's id: lowercase words joined by dashes")


def _check(args: argparse.Namespace) -> int:
    """validate a kata end to end

    Validate KATA (every kata when none is named): kata.yaml, spec, starter, hints, the suite collects with task
    markers, the reference passes, the starter fails every task with 'not implemented', every declared mutant is
    rejected as declared, every perf mutant passes every test but the perf task's (slow, yet correct). Exit 0 all
    ok, 1 a check failed, 2 bad usage.
    """
    import os

    from grader.authoring import check_kata
    from grader.catalog import kata_ids
    from grader.integrity import EDITING_ENV
    from grader.locations import exercises_dir

    os.environ.setdefault(EDITING_ENV, "1")  # an author grades the suite being written, edits and all

    if args.kata and not (exercises_dir() / args.kata).is_dir():
        raise UserError(f"unknown kata {args.kata!r}; known katas: {', '.join(kata_ids())}")
    failed = 0
    for kata_id in [args.kata] if args.kata else kata_ids():
        print(f"kata {kata_id}")
        for check in check_kata(kata_id, with_mutants=not args.no_mutants):
            print(f"  {_MARK[check.ok]:<4}  {check.item:<14} {check.detail}", flush=True)
            if check.ok is False:
                failed += 1
                if args.verbose and check.report:
                    print("".join(f"        | {line}\n" for line in check.report.splitlines()), end="")
    print(f"\n{failed} check{'s' if failed != 1 else ''} failed" if failed else "\nevery check passed")
    return 1 if failed else 0


def _new(args: argparse.Namespace) -> int:
    """scaffold a new kata (then `kata dev check ID` lists what is missing)

    Create kata.yaml, README.md, starter.py and hints.yaml in kata/exercises/ID, a suite with one task-marked test,
    a solution stub and an empty mutants.yaml, each with TODOs. Needs a clone.
    """
    from grader.authoring import ScaffoldError, scaffold

    try:
        written = scaffold(args.id)
    except ScaffoldError as err:
        raise UserError(str(err)) from None
    for path in written:
        print(f"wrote {path}")
    print(f"\nNext: fill in the TODOs, then `kata dev check {args.id}` lists what is still missing.")
    return 0
