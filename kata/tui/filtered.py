"""A list with a filter box above it (the Katas and Browse screens): typing narrows the
rows, Enter opens the highlighted one; Esc clears the filter, then moves to the list,
where the app's one-letter keys work again; `/` goes back to the filter."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Input

from kata.tui.base import AppScreen


class FilteredList(AppScreen[None]):
    BINDINGS = [
        Binding("escape", "clear", "Clear the filter, then the list"),
        Binding("down", "focus_table", "List", show=False),
        Binding("slash", "filter", "Back to the filter", show=False),
    ]
    PLACEHOLDER = ""  # what the filter box says while empty

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder=f"{self.PLACEHOLDER} · Enter opens · ↓ or Esc: the list", id="filter")
        yield DataTable(cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True)

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one(DataTable)

    def show(self, text: str) -> None:
        """Fill the table with the rows that match `text`."""
        raise NotImplementedError

    def open(self, key: str) -> None:
        """Open the row with this key."""
        raise NotImplementedError

    def on_screen_resume(self) -> None:
        self.show(self.query_one(Input).value)
        self.query_one(Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.show(event.value)

    def on_input_submitted(self) -> None:
        table = self.table
        if table.row_count:
            self.open(str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.open(str(event.row_key.value))

    def action_clear(self) -> None:
        box = self.query_one(Input)
        if box.value:
            box.value = ""
            box.focus()
        else:
            self.table.focus()

    def action_filter(self) -> None:
        self.query_one(Input).focus()

    def action_focus_table(self) -> None:
        self.table.focus()
