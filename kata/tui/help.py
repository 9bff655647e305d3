"""`?`: the keys of the screen underneath and of the whole app, read from their
bindings (plus a screen's `HELP` text) so the help cannot drift from what the keys do."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

ABOUT = (
    "Everywhere: ctrl+p opens the command palette (every screen, every kata); "
    "q or ctrl+q quits and stops any grading run."
)


def keys_table(title: str, bindings: list[Binding]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
    for b in bindings:
        if b.description:
            table.add_row(b.key_display or b.key.replace("question_mark", "?"), b.description)
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def __init__(self, under: Screen[Any]):
        super().__init__()
        self.under = under

    def compose(self) -> ComposeResult:
        screen = type(self.under)
        with VerticalScroll(id="help"):
            # the screen's own keys and those of its bases in the app, not Textual's generic ones
            own = [
                b
                for cls in screen.__mro__
                if cls.__module__.startswith("kata.tui")
                for b in cls.__dict__.get("BINDINGS", [])
            ]
            if own:
                yield Static(keys_table(f"{screen.__name__.removesuffix('Screen')} keys", own))
            if getattr(screen, "HELP", ""):
                yield Static(str(screen.HELP))
            yield Static(keys_table("App keys", [b for b in self.app.BINDINGS if isinstance(b, Binding)]))
            yield Static(ABOUT)
            yield Static("Esc closes this help.")
