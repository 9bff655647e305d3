"""`kata`: the command line. Thin: parse, call the library, print.

Exit codes: 0 success / pass, 1 fail, 2 error or bad usage. Every expected
problem (unknown kata, missing file, damaged store, malformed data) is a
`UserError` or the grader's `CatalogError` and ends as one line on stderr,
never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import NoReturn

from grader.catalog import CatalogError
from kata.errors import UserError

# Each module registers its verbs; keep their top-level imports light.
COMMAND_MODULES = (
    "kata.commands.katas",
    "kata.commands.grade",
    "kata.commands.questions",
    "kata.commands.progress",
    "kata.commands.quiz",
    "kata.commands.watch",
    "kata.commands.next",
    "kata.commands.dev",
)


class Parser(argparse.ArgumentParser):
    """argparse, with bad usage in one line (no usage block) and "did you mean" for a
    mistyped verb or choice. Sub-parsers are made of the same class."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message} (`{self.prog} --help` shows the usage)", file=sys.stderr)
        sys.exit(2)

    def _check_value(self, action: argparse.Action, value: object) -> None:
        choices = action.choices
        if choices is not None and value not in choices:
            from kata.wording import did_you_mean

            names = [str(c) for c in choices]
            what = action.option_strings[0] if action.option_strings else str(action.metavar or action.dest).strip("<>")
            raise argparse.ArgumentError(
                None, f"unknown {what} {value!r};{did_you_mean(str(value), names)} choose from {', '.join(names)}"
            )


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="kata",
        description="Interview prep for Unix IPC: quiz, katas and a grader. Run with no arguments to open the app.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="<command>")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def _interrupt(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


@contextlib.contextmanager
def hangup_and_term_interrupt() -> Iterator[None]:
    """Closing the terminal (SIGHUP) or `kill` (SIGTERM) stops kata as Ctrl+C does, so that a grade in
    progress cleans up: by default both end the process at once, leaving the learner's IPC objects and
    the run folder behind. A signal someone chose to ignore (nohup) stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGHUP, signal.SIGTERM)}
    for sig, handler in previous.items():
        if handler is signal.SIG_DFL:
            signal.signal(sig, _interrupt)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    with hangup_and_term_interrupt():
        return run(args)


def run(args: argparse.Namespace) -> int:
    """The verb's handler (or the app), with every expected failure as one line and an exit code."""
    handler = getattr(args, "func", None)
    try:
        if handler is None:
            from kata.commands.app import open_app

            return open_app()
        return int(handler(args) or 0)
    except (UserError, CatalogError) as err:  # a bad kata id or kata file is the learner's input too
        print(f"kata: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kata: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
