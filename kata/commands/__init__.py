"""One module per group of `kata` verbs; each exposes `register(subparsers)`, which
declares every verb with `add_verb` (the handler's docstring is the verb's help).

Modules here must import only argparse-level things at import time so that
`kata --help` stays fast; heavy imports go inside the handlers.

The progress store, for every verb: a verb that records opens it with
`ProgressStore.open()` (a store that cannot be written stops it, one line, before
it does anything); a verb that only reads uses `readable_store()`, which works from
what can be read and says what is wrong in one warning line.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kata.progress import ProgressStore

Subparsers = argparse._SubParsersAction  # what `register` receives: where a module adds its verbs
Handler = Callable[[argparse.Namespace], int]  # a verb's body: the parsed arguments in, the exit status out


def add_verb(
    subparsers: Subparsers[argparse.ArgumentParser], name: str, handler: Handler | None, about: str | None = None
) -> argparse.ArgumentParser:
    """Declare one verb, like click does: `handler` is what `kata` calls with the parsed arguments, and its
    docstring is the verb's help (its first paragraph the line in the list of verbs, the rest the text that
    heads the verb's own --help). A group of sub-verbs has no handler: `about` gives its help the same way.
    The caller adds the verb's arguments to the parser returned."""
    summary, _, description = inspect.cleandoc(about or inspect.getdoc(handler) or "").partition("\n\n")
    parser = subparsers.add_parser(name, help=summary, description=description or None)
    if handler is not None:
        parser.set_defaults(func=handler)
    return parser


@contextmanager
def readable_store() -> Iterator[ProgressStore]:
    """The progress store for reading, with a one-line warning on stderr when it is not healthy."""
    from kata.progress import ProgressStore

    with ProgressStore.open_readable() as store:
        if store.problem:
            print(f"kata: warning: {store.problem}", file=sys.stderr)
        yield store


def add_workspace_option(parser: argparse.ArgumentParser) -> None:
    """`--workspace DIR`, for the verbs that find your file of a kata in your workspace."""
    parser.add_argument("--workspace", metavar="DIR", help="your workspace folder (default: $KATA_HOME/workspace)")
