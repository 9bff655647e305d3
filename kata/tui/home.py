"""Home: what to do today. Questions due, the katas and their state, the
latest grades and the streak; one key to every other screen."""
from __future__ import annotations

from datetime import date, timedelta

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from kata.errors import UserError
from kata.progress import ProgressStore, utcnow
from kata.tui.katas import KATA_COLUMNS, fill_kata_table, kata_rows


def due_line(store: ProgressStore) -> str:
    from kata.quiz.bank import load_bank
    from kata.quiz.scheduler import Scheduler

    try:
        bank = load_bank()
    except UserError as err:
        return f"The quiz is unavailable: {err}"
    scheduler = Scheduler(store)
    now = utcnow()
    due = len(scheduler.due(bank.questions, now))
    new = min(scheduler.new_left_today(now), len(scheduler.unseen(bank.questions)))
    return f"Quiz: {due} due today, {new} new"


def streak(store: ProgressStore, today: date | None = None) -> int:
    """Days in a row, up to today or yesterday, with an answer or a grade."""
    days = {date.fromisoformat(d) for d in store.reviews_per_day()}
    days |= {a.at.date() for a in store.attempts()}
    day = today or utcnow().date()
    if day not in days:
        day -= timedelta(days=1)
    count = 0
    while day in days:
        count += 1
        day -= timedelta(days=1)
    return count


def last_grades(store: ProgressStore, limit: int = 4) -> str:
    attempts = store.attempts(limit=limit)
    if not attempts:
        return "No grades yet: open a kata (k), Start it, edit, then Grade."
    return "Last grades:\n" + "\n".join(
        f"  {a.at:%m-%d %H:%M}  {a.kata:<14} {a.status.upper():<4} {a.tasks_passed}/{a.tasks_total} tasks"
        for a in attempts)


class HomeScreen(Screen):
    HELP = "Up/down and Enter open a kata."

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="due")
        yield Static("u quiz · k katas · t stats · Enter opens a kata · ? help · q quit", classes="heading")
        yield DataTable(id="home-katas", cursor_type="row")
        yield Static(id="grades")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*KATA_COLUMNS)

    def on_screen_resume(self) -> None:
        store = self.app.store
        days = streak(store)
        self.query_one("#due", Static).update(
            f"{due_line(store)}  ·  streak: {days} day{'s' if days != 1 else ''}")
        fill_kata_table(self.query_one(DataTable), kata_rows(store))
        self.query_one("#grades", Static).update(last_grades(store))
        self.query_one(DataTable).focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.app.open_kata(event.row_key.value)
