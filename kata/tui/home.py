"""Home: what to do today. Questions due, what to do next (kata.next_step: the
kata, with the cursor on it, and the quiz), the katas and their state, the latest
grades and the streak; one key to every other screen.

Home is the first frame, so the question bank (a few hundred ms of YAML) is
read in a worker once the screen is drawn, and the due line follows."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker, WorkerState

from kata.errors import UserError
from kata.next_step import Step, next_kata, next_quiz
from kata.progress import ProgressStore
from kata.tui.base import AppScreen
from kata.tui.katas import KATA_COLUMNS, fill_kata_table, kata_rows

if TYPE_CHECKING:
    from kata.quiz.bank import Bank


def due_line(store: ProgressStore, bank: Bank | UserError, now: datetime) -> str:
    """What is due at `now`; `bank` is the loaded bank or why it could not be loaded."""
    from kata.quiz.scheduler import Scheduler

    if isinstance(bank, UserError):
        return f"The quiz is unavailable: {bank}"
    scheduler = Scheduler(store, clock=lambda: now)
    due = len(scheduler.due(bank.questions, now))
    unseen = len(scheduler.unseen(bank.questions))
    left = scheduler.new_left_today(now)
    why = ""
    if not unseen:
        why = " (every question met once)"
    elif not left:
        why = f" (new ones come {scheduler.new_per_day} a day; today's are done)"
    return f"Quiz: {due} due today, {min(left, unseen)} new{why}"


def streak(store: ProgressStore, today: date) -> int:
    """Days in a row, up to today or yesterday, with an answer or a grade."""
    days = {date.fromisoformat(d) for d in store.reviews_per_day()}
    days |= {a.at.date() for a in store.attempts()}
    day = today
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
        f"  {a.at:%m-%d %H:%M}  {a.kata:<14} {a.status.upper():<4} "
        + (f"{a.tasks_passed}/{a.tasks_total} tasks" if a.complete else "some tests only")
        for a in attempts
    )


class HomeScreen(AppScreen[None]):
    HELP = "Up/down and Enter open a kata."

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="due")
        yield Static(id="next")
        yield Static("u quiz · k katas · t stats · Enter opens a kata · ? help · q quit", classes="heading")
        yield DataTable(id="home-katas", cursor_type="row")
        yield Static(id="grades")
        yield Footer(compact=True)

    def __init__(self) -> None:
        super().__init__()
        self.bank: Bank | UserError | None = None  # read once, by the worker
        self.kata_step = Step("", "")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*KATA_COLUMNS)
        self.show_due("Quiz: counting what is due ...")
        self.call_after_refresh(self.load_bank)  # after the first frame: the parse holds the GIL

    def on_screen_resume(self) -> None:
        store = self.app.store
        if self.bank is not None:
            self.show_due(due_line(store, self.bank, self.app.clock()))
        table = self.query_one(DataTable)
        fill_kata_table(table, kata_rows(store, self.app.katas))
        self.kata_step = next_kata(store, self.app.katas)
        if self.kata_step.kata is not None:
            table.move_cursor(row=table.get_row_index(self.kata_step.kata))
        self.show_next()
        self.query_one("#grades", Static).update(last_grades(store))
        table.focus()

    def show_next(self) -> None:
        """The next kata (the table's cursor is on it) and, once the bank is read, the next quiz."""
        kata = f"kata {self.kata_step.kata}" if self.kata_step.kata else self.kata_step.text
        quiz = ""
        if self.bank is not None and not isinstance(self.bank, UserError):
            quiz = f" · quiz: {next_quiz(self.app.store, self.bank, self.app.clock(), kata=self.kata_step.kata).text}"
        self.query_one("#next", Static).update(f"Next: {kata}{quiz}")

    @work(thread=True, exclusive=True, group="bank")
    def load_bank(self) -> Bank | UserError:
        from kata.quiz.bank import load_bank

        try:
            return load_bank()
        except UserError as err:
            return err

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "bank" and event.state == WorkerState.SUCCESS:
            bank = event.worker.result
            assert bank is not None  # load_bank returned the bank, or why it could not
            self.bank = bank
            self.show_due(due_line(self.app.store, bank, self.app.clock()))
            self.show_next()

    def show_due(self, quiz: str) -> None:
        days = streak(self.app.store, self.app.clock().date())
        self.query_one("#due", Static).update(f"{quiz}  ·  streak: {days} day{'s' if days != 1 else ''}")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.app.open_kata(str(event.row_key.value))
