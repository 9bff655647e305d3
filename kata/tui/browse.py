"""Browse the question bank: every question with its state for you, narrowed as you
type (words, or topic:, tag:, kind:, state: filters, see kata.quiz.browse); Enter
opens one, whose answer shows only on request (a). Browsing records nothing.
"""

from __future__ import annotations

import textwrap

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Footer, Header, Input, Static

from kata.errors import UserError
from kata.quiz.bank import Bank, Question, load_bank
from kata.quiz.browse import question_states, search
from kata.tui.base import AppScreen
from kata.tui.code import highlighted
from kata.tui.filtered import FilteredList

STATE_WIDTH, KIND_WIDTH = len("mastered"), len("truefalse")


class BrowseScreen(FilteredList):
    HELP = (
        "Type words to find questions (in the id, prompt, topic and tags), or filters: topic:pipes, "
        "tag:eof, kind:short, state:new|due|learning|mastered. Enter opens the highlighted question."
    )
    PLACEHOLDER = "words, topic:, tag:, kind:, state:"

    def on_mount(self) -> None:
        table = self.table
        table.add_column("state", width=STATE_WIDTH)
        table.add_column("kind", width=KIND_WIDTH)
        used = STATE_WIDTH + KIND_WIDTH + 2 * table.cell_padding * 3 + 2  # and a scrollbar
        table.add_column("question", width=max(20, self.app.size.width - used))
        self.states: dict[str, str] = {}
        try:
            self.bank: Bank | None = load_bank()
        except UserError as err:
            self.bank = None
            self.notify(str(err), severity="error", timeout=10)

    def on_screen_resume(self) -> None:
        if self.bank is not None:
            self.states = question_states(self.app.store, self.bank, self.app.clock())
        super().on_screen_resume()

    def show(self, text: str) -> None:
        table = self.table
        table.clear()
        if self.bank is None:
            return
        box = self.query_one(Input)
        try:
            found = search(self.bank.questions, self.states, text)
        except UserError as err:
            box.border_subtitle = str(err)
            return
        box.border_subtitle = f"{len(found)} of {len(self.bank.questions)}"
        for q in found:
            table.add_row(self.states[q.id], q.kind, Text(q.prompt.strip().splitlines()[0]), key=q.id, height=None)

    def open(self, key: str) -> None:
        assert self.bank is not None
        self.app.push_screen(QuestionScreen(self.bank.question(key), self.states[key]))


class QuestionScreen(AppScreen[None]):
    BINDINGS = [
        Binding("a", "answer", "Show the answer"),
        Binding("escape", "dismiss", "Back"),
    ]

    def __init__(self, question: Question, state: str):
        super().__init__()
        self.question = question
        self.state = state
        self.revealed = False

    def compose(self) -> ComposeResult:
        yield Header()
        q = self.question
        tags = f" · tags: {', '.join(q.tags)}" if q.tags else ""
        yield Static(
            f"{q.id} · {q.topic} · {q.kind} · difficulty {q.difficulty} · {self.state}{tags}", classes="heading"
        )
        with VerticalScroll(id="question-view"):
            yield Static(id="question-body")
            yield Static(id="question-code")
            yield Static(id="question-answer")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        q = self.question
        body = Text(q.prompt.strip() + "\n")
        for n, choice in enumerate(q.choices, 1):
            body.append(f"\n{n}. {choice}")
        self.query_one("#question-body", Static).update(body)
        code = self.query_one("#question-code", Static)
        code.display = bool(q.code)
        if q.code:
            code.update(highlighted(q.code.rstrip("\n")))
        self.query_one(VerticalScroll).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action == "answer" and self.revealed)

    def action_answer(self) -> None:
        q = self.question
        answer = Text("\nThe answer:\n", style="bold")
        answer.append(textwrap.indent(q.answer_text(), "  ") + "\n", style="")  # several lines for multi and order
        answer.append(f"\nWhy: {q.explain.strip()}\n\nSource: {q.source}")
        self.query_one("#question-answer", Static).update(answer)
        self.revealed = True
        self.refresh_bindings()
