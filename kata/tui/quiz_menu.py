"""Quiz menu: choose practice, mistakes, a mock interview or a one-topic drill, or
browse the bank (b)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, OptionList, Static
from textual.widgets.option_list import Option

from kata.errors import UserError
from kata.tui.base import AppScreen

FIXED = [
    Option("Practice: due questions first, then new ones", id="practice"),
    Option("Mistakes: what you answered wrong lately", id="mistakes"),
    Option("Mock interview: 10 questions in 20 minutes, then a kata", id="mock"),
    Option("Browse the bank: find questions by topic, tag and state (b)", id="browse"),
]


class QuizMenuScreen(AppScreen[None]):
    BINDINGS = [Binding("b", "browse", "Browse the bank")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(
            "Enter chooses. In a question: pick, then Enter answers; ctrl+d: don't know.",
            classes="heading",
        )
        yield OptionList(*FIXED, id="modes")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        from kata.quiz.bank import load_bank

        options = self.query_one(OptionList)
        try:
            topics = load_bank().topics
        except UserError as err:
            self.notify(str(err), severity="error", timeout=10)
            return
        options.add_options(Option(f"Drill: {t.title}", id=f"drill:{t.id}") for t in topics)

    def on_screen_resume(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        from kata.tui.quiz import QuizScreen

        mode, _, topic = (event.option.id or "").partition(":")
        if mode == "browse":
            self.action_browse()
        else:
            self.app.push_screen(QuizScreen(mode, topic or None))

    def action_browse(self) -> None:
        from kata.tui.browse import BrowseScreen

        self.app.push_screen(BrowseScreen())
