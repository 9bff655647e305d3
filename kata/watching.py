"""Saves of one file, as an iterator: what `kata watch` and the TUI's
auto-grade toggle both listen to. It lives apart from both so the TUI does not
import a CLI verb and the CLI does not import Textual."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path


def saves(path: Path, stop: threading.Event, on_ready: Callable[[], None] | None = None) -> Iterator[None]:
    """Once per save of `path`, until `stop` is set; `on_ready()` once the
    watcher is live (a save before that would go unseen). The folder is
    watched, not the file: many editors save by writing a new file and renaming it."""
    from watchfiles import Change, watch

    target = path.resolve()
    ready = on_ready
    for changes in watch(path.parent, stop_event=stop, rust_timeout=200, yield_on_timeout=True):
        if ready is not None:
            ready()
            ready = None
        if any(Path(p).resolve() == target and change != Change.deleted for change, p in changes):
            yield
