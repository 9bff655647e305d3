"""`kata watch <kata>`: re-grade the workspace file on every save, like rustlings' watch.

Each save clears the screen and prints a short report with the next failing
test first, in full, so the learner's eyes stay on one thing at a time.
Saves come from `kata.watching.saves`, which the TUI's auto-grade toggle shares.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from kata.commands import Subparsers, add_verb, add_workspace_option
from kata.errors import UserError
from kata.watching import saves

if TYPE_CHECKING:
    from grader.report import Result

CLEAR = "\x1b[2J\x1b[H"
WIDTH = 78
ALSO_SHOWN = 4  # failing tests named after the first one; `kata grade` lists them all


def register(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    parser = add_verb(subparsers, "watch", _watch)
    parser.add_argument("kata", help="kata id (see `kata list`)")
    add_workspace_option(parser)
    parser.add_argument("--no-perf", action="store_true", help="skip the timed performance tasks")


def short_report(result: Result) -> str:
    """Status line, then the next failing test in full, then the others by name."""
    if result.status == "error":
        return f"ERROR: {result.message}\n"
    from grader.report import totals

    tests = result.tests
    lines = [f"{result.status.upper()}: {totals(result)}"]
    failing = [t for t in tests if t.status != "pass"]
    if failing:
        first, others = failing[0], failing[1:]
        lines += ["", f"Next: {first.name} (task {first.task}) {first.status.upper()}"]
        for line in first.message.splitlines() + [proc.describe() for proc in first.blocked]:
            lines += textwrap.wrap(line, WIDTH, initial_indent="  ", subsequent_indent="  ") or [""]
        if others:
            names = ", ".join(t.name for t in others[:ALSO_SHOWN])
            more = f" and {len(others) - ALSO_SHOWN} more" if len(others) > ALSO_SHOWN else ""
            lines += ["", *textwrap.wrap(f"Also failing: {names}{more}", WIDTH, subsequent_indent="  ")]
    for p in result.perf:
        lines.append(
            f"perf {p.name}: {p.ratio:.2f}x of baseline (needs {p.threshold:.2f}x) {'ok' if p.passed else 'TOO SLOW'}"
        )
    if result.hygiene:
        lines.append(f"hygiene: {len(result.hygiene)} thing(s) left behind (`kata grade` shows them)")
    return "\n".join(lines) + "\n"


def watch_loop(
    kata_id: str,
    path: Path,
    out: TextIO,
    stop: threading.Event,
    *,
    perf: bool = True,
    clear: bool = True,
    record: Callable[[Result], object] | None = None,
) -> None:
    """Grade now, then after each save, until `stop`; `record(result)` stores each attempt."""
    from grader import grade

    def say(text: str) -> None:
        out.write(text)
        out.flush()

    def once() -> None:
        say((CLEAR if clear else "\n") + f"kata watch {kata_id}: grading {path} ...\n")
        result = grade(kata_id, path, perf=perf, cancel=stop)
        if stop.is_set():
            return
        if record is not None and result.status != "error":
            record(result)
        say(short_report(result))

    watching = f"\nWatching {path} for saves (Ctrl+C stops).\n"
    once()
    for _ in saves(path, stop, on_ready=lambda: say(watching)):
        once()
        say(watching)


def _watch(args: argparse.Namespace) -> int:
    """re-grade your file of a kata every time you save it

    Grade KATA now and again on every save of your workspace file (Ctrl+C stops).
    """
    from kata.catalog import find_kata
    from kata.paths import workspace_file
    from kata.progress import ProgressStore

    kata = find_kata(args.kata)
    path = workspace_file(kata.id, args.workspace)
    if not path.exists():
        raise UserError(f"{path} does not exist: `kata start {kata.id}` first")
    stop = threading.Event()
    with ProgressStore.open() as store:
        try:
            watch_loop(
                kata.id,
                path,
                sys.stdout,
                stop,
                perf=not args.no_perf,
                clear=sys.stdout.isatty(),
                record=store.record_attempt,
            )
        except KeyboardInterrupt:
            stop.set()
            print("\nStopped watching.")
    return 0
