"""Stats: mastery per topic as bars, answers per day as a chart, kata history
(with each kata's perf across attempts as sparklines) and mock interviews, all
from `kata.quiz.mastery.progress_stats`."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Footer, Header, Static

from kata.errors import UserError
from kata.quiz.mastery import kata_history, progress_stats
from kata.tui.bars import bar, history_chart
from kata.tui.base import AppScreen

DAYS = 14


def mastery_chart(topics: dict[str, dict[str, Any]]) -> Text:
    out = Text("Mastery per topic (questions you would recall now)\n", style="bold underline")
    for tid, row in topics.items():
        out.append(f"{tid:<15} ")
        out.append_text(bar(row["mastery"], 24, style="green"))
        out.append(f" {row['mastered']:>3}/{row['questions']:<3} ({row['answered']} answered)\n")
    return out


def reviews_chart(per_day: dict[str, int], today: date) -> Text:
    """The last DAYS days as vertical-ish rows: one bar per day, zero days included."""
    out = Text(f"\nAnswers per day (last {DAYS} days)\n", style="bold underline")
    days = [(today - timedelta(days=n)).isoformat() for n in range(DAYS - 1, -1, -1)]
    top = max([per_day.get(d, 0) for d in days] + [1])
    for day in days:
        n = per_day.get(day, 0)
        out.append(f"{day[5:]}  ")
        out.append_text(bar(n / top, 40, style="cyan"))
        out.append(f" {n}\n")
    return out


def history(data: dict[str, Any]) -> Text:
    out = Text("\nKatas\n", style="bold underline")
    for row in data["katas"]:
        out.append(f"{row['id']:<15} {row['status']}{kata_history(row)}\n")
        out.append_text(history_chart(row.get("perf", [])))
    if data["mocks"]:
        out.append("\nMock interviews (latest first)\n", style="bold underline")
        for m in data["mocks"]:
            out.append(f"{m['at'][:16].replace('T', ' ')}  {m['score']:.0%}  kata {m['kata']}: {m['kata_status']}\n")
    return out


class StatsScreen(AppScreen[None]):
    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="stats"):
            yield Static(id="stats-body")
        yield Footer(compact=True)

    def on_screen_resume(self) -> None:
        body = self.query_one("#stats-body", Static)
        try:
            data = progress_stats(self.app.store, clock=self.app.clock)
        except UserError as err:
            body.update(Text(f"Stats are unavailable: {err}"))
            return
        body.update(
            Text.assemble(
                mastery_chart(data["topics"]),
                reviews_chart(data["reviews_per_day"], self.app.clock().date()),
                history(data),
            )
        )
        self.query_one(VerticalScroll).focus()
