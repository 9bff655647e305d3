"""Katas screen: every kata with mechanism, difficulty and the learner's state;
typing filters the list, Enter opens the kata. Esc clears the filter, and on an
empty filter moves to the list, where the app's one-letter keys work again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from grader.catalog import KataDef, kata_ids
from kata.progress import ProgressStore
from kata.tui.filtered import FilteredList
from kata.workspace import kata_state

SCROLLBAR = 2  # a vertical scrollbar's width, kept free so no cell is cut off


@dataclass(frozen=True)
class KataRow:
    kata: KataDef
    state: str  # not started, started, passing
    best_ratio: float | None  # best over the attempts of the attempt's lowest perf ratio


def kata_rows(store: ProgressStore, katas: list[KataDef]) -> list[KataRow]:
    """The catalog with the learner's state, shared by Home and Katas."""
    rows = []
    for kata in katas:
        ratios = [min(p.ratio for p in a.perf) for a in store.attempts(kata.id) if a.perf]
        rows.append(KataRow(kata, kata_state(kata, store.has_passed(kata.id)), max(ratios, default=None)))
    return rows


KATA_COLUMNS = ("kata", "level", "state", "perf")  # Home shows these; Katas adds the mechanism


def fill_kata_table(table: DataTable[Any], rows: list[KataRow]) -> None:
    """One row per kata; a mechanism column, when the table has one, wraps long names in place."""
    table.clear()
    with_mechanism = len(table.columns) > len(KATA_COLUMNS)
    for row in rows:
        ratio = f"{row.best_ratio:.2f}x" if row.best_ratio is not None else ""
        cells: list[str | Text] = [row.kata.id, "*" * row.kata.difficulty, row.state, ratio]
        if with_mechanism:
            cells.append(Text(row.kata.mechanism))
        table.add_row(*cells, key=row.kata.id, height=None if with_mechanism else 1)


def add_kata_columns(table: DataTable[Any], width: int | None = None) -> None:
    """The columns; with `width` (the table's), a mechanism column filling the rest of it."""
    table.add_columns(*KATA_COLUMNS)
    if width is not None:
        widest = {"kata": max(len(k) for k in kata_ids()), "level": 5, "state": len("not started"), "perf": 5}
        used = sum(widest.values()) + 2 * table.cell_padding * (len(widest) + 1) + SCROLLBAR
        table.add_column("mechanism", width=max(16, width - used))


class KatasScreen(FilteredList):
    PLACEHOLDER = "type to filter (id, mechanism, title)"

    def on_mount(self) -> None:
        add_kata_columns(self.table, self.app.size.width)

    def on_screen_resume(self) -> None:
        self.rows = kata_rows(self.app.store, self.app.katas)
        super().on_screen_resume()

    def show(self, text: str) -> None:
        words = text.lower().split()
        shown = [
            r
            for r in self.rows
            if all(w in f"{r.kata.id} {r.kata.mechanism} {r.kata.title} {r.state}".lower() for w in words)
        ]
        fill_kata_table(self.table, shown)

    def open(self, key: str) -> None:
        self.app.open_kata(key)
