"""A read-only, syntax-highlighted view of a file (the reference solution)."""

from __future__ import annotations

from rich.syntax import Syntax
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static


def highlighted(code: str) -> Syntax:
    """Python with line numbers; the theme falls back to plain text under NO_COLOR."""
    return Syntax(code, "python", line_numbers=True, word_wrap=True, theme="ansi_dark")


class CodeScreen(Screen):
    BINDINGS = [Binding("escape", "dismiss", "Back")]

    def __init__(self, title: str, code: str):
        super().__init__()
        self.heading = title
        self.code = code

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self.heading, classes="heading")
        with VerticalScroll():
            yield Static(highlighted(self.code))
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()
