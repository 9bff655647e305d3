"""`kata progress export|reset|repair` and `kata stats`: look at, save, clear or mend what you recorded.

A reset asks first (unless --yes) and keeps a backup copy of the store either way,
so nothing the learner recorded is lost by one keystroke. Export and stats only
read, so they work on a damaged or read-only store too (from what can be read);
repair asks, keeps the damaged file as it is, and rebuilds the store from what
could be read (kata.salvage).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kata.commands import Subparsers, add_verb, readable_store
from kata.errors import UserError
from kata.wording import plural

NOUNS = {  # what a table of the store holds, in words (`plural` adds the s)
    "attempts": "attempt",
    "hints": "hint",
    "reviews": "answer",
    "cards": "scheduled question",
    "mocks": "mock interview",
    "corrections": "correction",
}

PROGRESS_HELP = """export, reset or repair your recorded progress

Your progress store: $KATA_HOME/progress.db."""


def register(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    progress = add_verb(subparsers, "progress", None, PROGRESS_HELP)
    verbs = progress.add_subparsers(dest="verb", metavar="<verb>", required=True)
    export = add_verb(verbs, "export", _export)
    export.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    reset = add_verb(verbs, "reset", _reset)
    reset.add_argument("--yes", action="store_true", help="do not ask")
    repair = add_verb(verbs, "repair", _repair)
    repair.add_argument("--yes", action="store_true", help="do not ask")

    stats = add_verb(subparsers, "stats", _stats)
    stats.add_argument("--json", action="store_true", help="print as JSON")


def describe_counts(counts: dict[str, int], empty: str = "nothing yet") -> str:
    """`1 attempt, 3 answers` (the tables with something in them), or `empty`."""
    words = [plural(n, NOUNS[name]) if name in NOUNS else f"{n} {name}" for name, n in counts.items() if n]
    return ", ".join(words) or empty


def _export(args: argparse.Namespace) -> int:
    """print everything recorded as JSON (from a damaged store: what can be read)"""
    with readable_store() as store:
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


def _confirm(question: str, yes: bool) -> bool:
    if yes:
        return True
    print(f"{question} Type 'yes' to go ahead: ", end="", flush=True)
    reply = sys.stdin.readline() if sys.stdin is not None else ""
    return reply.strip().lower() in ("y", "yes")


def _reset(args: argparse.Namespace) -> int:
    """forget all progress (asks first; a backup is kept)"""
    from kata.progress import ProgressStore

    with ProgressStore.open() as store:
        summary = describe_counts(store.counts())
        if not _confirm(f"This forgets everything in {store.path} ({summary}).", args.yes):
            print("\nNot reset; nothing was deleted.")
            return 1
        backup = store.reset(backup=True)
    print(f"Progress reset. The old store is kept at {backup}.")
    return 0


def _repair(args: argparse.Namespace) -> int:
    """rebuild a damaged store from what can be read (asks first; the damaged file is kept)"""
    from kata.paths import progress_db
    from kata.salvage import diagnose, rebuild

    diagnosis = diagnose(progress_db())
    path = diagnosis.path
    if diagnosis.problem is None:
        state = f"it holds {describe_counts(diagnosis.counts)}" if path.exists() else "there is none yet"
        print(f"Nothing to repair: the progress store {path} is healthy ({state}).")
        return 0
    if not diagnosis.repairable:
        raise diagnosis.problem  # newer, read-only, busy: a repair would not help, or cannot write
    print(diagnosis.problem.what()[0].upper() + diagnosis.problem.what()[1:] + ".")
    print(f"What can be read: {describe_counts(diagnosis.counts, empty='nothing')}.")
    if diagnosis.found.unreadable:
        print("What could not be read:")
        for line in diagnosis.found.unreadable:
            print(f"  {line}")
    question = (
        f"Repair keeps the file as it is (renamed, next to it) and puts a new store "
        f"holding what could be read at {path}."
    )
    if not _confirm(question, args.yes):
        print("\nNot repaired; nothing was changed.")
        return 1
    kept = rebuild(diagnosis)
    print(f"Repaired. The file as it was is kept at {kept}.")
    return 0


def _stats(args: argparse.Namespace) -> int:
    """your mastery per topic, reviews per day, katas passed"""
    from kata.quiz.mastery import progress_stats, render_stats

    with readable_store() as store:
        data = progress_stats(store)
    print(json.dumps(data, indent=2) if args.json else render_stats(data))
    return 0
