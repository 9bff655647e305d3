"""Read-only views of code: a syntax-highlighted file (the reference solution), and
the learner's file next to the reference (kata.sidebyside), line by line."""

from __future__ import annotations

from collections.abc import Callable

from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Footer, Header, Static

from kata.sidebyside import diff_rows
from kata.tui.base import AppScreen

ROW_STYLE = {"equal": "", "replace": "yellow", "delete": "red", "insert": "green"}


def highlighted(code: str) -> Syntax:
    """Python with line numbers; the theme falls back to plain text under NO_COLOR."""
    return Syntax(code, "python", line_numbers=True, word_wrap=True, theme="ansi_dark")


class CodeScreen(AppScreen[None]):
    BINDINGS = [
        Binding("d", "diff", "Side by side with your file"),
        Binding("escape", "dismiss", "Back"),
    ]

    def __init__(self, title: str, code: str, *, diff: Callable[[], None] | None = None):
        """`diff`: opens the learner's file next to this one (d), when there is one."""
        super().__init__()
        self.heading = title
        self.code = code
        self.open_diff = diff

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return action != "diff" or self.open_diff is not None

    def action_diff(self) -> None:
        if self.open_diff is not None:
            self.open_diff()

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self.heading, classes="heading")
        with VerticalScroll():
            yield Static(self.body())
        yield Footer(compact=True)

    def body(self) -> Syntax | Table:
        return highlighted(self.code)

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()


class DiffScreen(CodeScreen):
    """Two columns that wrap long lines in place: `|` differs, `<` only yours, `>` only the reference."""

    def __init__(self, title: str, mine: str, reference: str):
        super().__init__(title, mine)
        self.rows = diff_rows(mine, reference)

    def body(self) -> Table:
        table = Table(box=None, padding=(0, 1), expand=True, show_edge=False)
        table.add_column("your file", ratio=1, overflow="fold")
        table.add_column("", width=1)
        table.add_column("reference", ratio=1, overflow="fold")
        for row in self.rows:
            style = ROW_STYLE[row.tag]
            table.add_row(Text(row.left or "", style=style), row.mark, Text(row.right or "", style=style))
        return table

    def plain_text(self) -> str:
        return "\n".join(f"{row.left or ''} {row.mark} {row.right or ''}" for row in self.rows)
