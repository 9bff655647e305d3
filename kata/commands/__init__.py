"""One module per group of `kata` verbs; each exposes `register(subparsers)`.

Modules here must import only argparse-level things at import time so that
`kata --help` stays fast; heavy imports go inside the handlers.

The progress store, for every verb: a verb that records opens it with
`ProgressStore.open()` (a store that cannot be written stops it, one line, before
it does anything); a verb that only reads uses `readable_store()`, which works from
what can be read and says what is wrong in one warning line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kata.progress import ProgressStore


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
