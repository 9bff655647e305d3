"""`kata progress export|reset` and `kata stats`: look at, save or clear what you recorded.

A reset asks first (unless --yes) and keeps a backup copy of the store either way,
so nothing the learner recorded is lost by one keystroke.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kata.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    progress = subparsers.add_parser(
        "progress",
        help="export or reset your recorded progress",
        description="Your progress store: $KATA_HOME/progress.db.",
    )
    verbs = progress.add_subparsers(dest="verb", metavar="<verb>", required=True)
    export = verbs.add_parser("export", help="print everything recorded as JSON")
    export.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    export.set_defaults(func=_export)
    reset = verbs.add_parser("reset", help="forget all progress (asks first; a backup is kept)")
    reset.add_argument("--yes", action="store_true", help="do not ask")
    reset.set_defaults(func=_reset)

    stats = subparsers.add_parser("stats", help="your mastery per topic, reviews per day, katas passed")
    stats.add_argument("--json", action="store_true", help="print as JSON")
    stats.set_defaults(func=_stats)


def _export(args: argparse.Namespace) -> int:
    from kata.progress import ProgressStore

    with ProgressStore.open() as store:
        text = json.dumps(store.export(), indent=2)
    if args.output:
        target = Path(args.output)
        if target.exists():
            raise UserError(f"{target} already exists; it was not overwritten (choose another name)")
        try:
            target.write_text(text + "\n", encoding="utf-8")
        except OSError as err:
            raise UserError(f"cannot write {target}: {err.strerror}") from None
    else:
        print(text)
    return 0


def _reset(args: argparse.Namespace) -> int:
    from kata.progress import ProgressStore

    with ProgressStore.open() as store:
        counts = store.counts()
        summary = ", ".join(f"{n} {name}" for name, n in counts.items() if n) or "nothing yet"
        if not args.yes:
            print(f"This forgets everything in {store.path} ({summary}).")
            print("Type 'yes' to reset: ", end="", flush=True)
            reply = sys.stdin.readline() if sys.stdin is not None else ""
            if reply.strip().lower() not in ("y", "yes"):
                print("\nNot reset; nothing was deleted.")
                return 1
        backup = store.reset(backup=True)
    print(f"Progress reset. The old store is kept at {backup}.")
    return 0


def _stats(args: argparse.Namespace) -> int:
    from kata.quiz.mastery import progress_stats, render_stats

    data = progress_stats()
    print(json.dumps(data, indent=2) if args.json else render_stats(data))
    return 0
