"""`kata` with no command: the Textual TUI (kata.tui).

The progress store is opened before Textual starts, so a damaged store ends
as the CLI's one-line error (exit 2) instead of a broken screen. Textual is
imported here, lazily, to keep every other verb fast.
"""
from __future__ import annotations


def open_app() -> int:
    from kata.progress import ProgressStore

    with ProgressStore.open() as store:
        from kata.tui.app import KataApp

        app = KataApp(store)
        app.run()
        app.jobs.stop_all()  # however the app ended, no grading run outlives it
    return app.return_code or 0
