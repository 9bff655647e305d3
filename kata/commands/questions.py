"""`kata questions check|stats`: validate and summarise the question bank."""

from __future__ import annotations

import argparse
from pathlib import Path

from kata.commands import Subparsers, add_verb

QUESTIONS_HELP = """check or summarise the question bank

Validate the question bank (`check`) or count its questions (`stats`)."""


def register(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    parser = add_verb(subparsers, "questions", None, QUESTIONS_HELP)
    sub = parser.add_subparsers(dest="questions_command", metavar="<subcommand>")

    check = add_verb(sub, "check", _check)
    check.add_argument("directory", nargs="?", help="a bank directory (default: the shipped bank)")
    check.add_argument(
        "--katas",
        metavar="IDS",
        help="comma-separated kata ids a question may name (default: the kata catalog)",
    )
    check.add_argument(
        "--run",
        action="store_true",
        help="also execute every code question and proof and compare its behaviour with its answer",
    )

    stats = add_verb(sub, "stats", _stats)
    stats.add_argument("directory", nargs="?", help="a bank directory (default: the shipped bank)")
    stats.add_argument("--json", action="store_true", help="print the counts as JSON")

    def _usage(args: argparse.Namespace) -> int:
        parser.print_usage()
        return 2

    parser.set_defaults(func=_usage)


def _directory(args: argparse.Namespace) -> Path | None:

    from kata.errors import UserError

    if args.directory is None:
        return None
    path = Path(args.directory)
    if not path.is_dir():
        raise UserError(f"{args.directory}: not a directory (give a question bank folder)")
    return path


def _check(args: argparse.Namespace) -> int:
    """validate every question and claims.yaml; print file:line: message per problem

    Validate the bank and claims.yaml. Prints every problem as `file:line: message`; exit 0 when clean, 1 when there
    are problems, 2 on bad usage.
    """
    from pathlib import Path

    from kata.quiz.bank import default_directory
    from kata.quiz.lint import check_bank

    directory = _directory(args) or default_directory()
    katas = None
    if args.katas is not None:
        katas = [k.strip() for k in args.katas.split(",") if k.strip()]
    problems = check_bank(directory, kata_ids=katas)
    if args.run:
        from kata.quiz.bank import parse_bank
        from kata.quiz.coderun import run_all

        questions = parse_bank(directory)[0].questions
        programs = [*questions, *(proof for q in questions if (proof := q.proof_as_code()) is not None)]
        problems = sorted(problems + run_all(programs), key=lambda p: (str(p.file), p.line))
    cwd = Path.cwd()
    for problem in problems:
        print(problem.format(cwd))
    if problems:
        print(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {directory}", flush=True)
        return 1
    from kata.quiz.bank import parse_bank

    count = len(parse_bank(directory)[0].questions)
    ran = " (every code question and proof ran as its answer says)" if args.run else ""
    print(f"{count} questions in {directory}: no problems{ran}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    """count questions per topic, kind and difficulty"""
    import json
    import sys

    from kata.quiz.bank import parse_bank
    from kata.quiz.cues import measure
    from kata.quiz.stats import bank_stats, claims_stats, render_stats

    bank, problems = parse_bank(_directory(args))
    stats = bank_stats(bank)
    stats["claims"] = claims_stats(bank.directory)
    cues = measure(bank.questions)
    stats["cues"] = cues.as_dict()
    stats["proofs"] = sum(1 for q in bank.questions if q.proof is not None)
    if args.json:
        print(json.dumps(stats, indent=2))
    else:
        print(render_stats(stats))
        print(f"proofs (programs behind explanations, executed like code questions): {stats['proofs']}")
        print("\n".join(["", *cues.render()]))
    if problems:
        print(
            f"kata: {len(problems)} problem(s) in the bank; broken questions are not counted "
            "(run `kata questions check`)",
            file=sys.stderr,
        )
    return 0
