"""A design question in the TUI quiz: write, reveal, tick.

The learner writes (or thinks through) an answer in a text box, ctrl+r reveals
the model answer, its common wrong turns and its rubric; digits or space tick
the key points the answer covered, Enter hands the ticks (and the text) to the
quiz as a `DesignAnswer`. The quiz screen mounts one `DesignPanel` per design
question and submits what `DesignPanel.Answered` carries; the ticks set the
FSRS rating (kata.quiz.scheduler.design_rating).
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static, TextArea

from kata.quiz.bank import Question
from kata.quiz.design import DesignAnswer

WRITE_HINT = "Write your answer (or think it through); ctrl+r reveals the model answer."
TICK_HINT = (
    "Which key points did your answer cover? Digits or space tick, up/down move, Enter answers; "
    "pageup/pagedown scroll to the model answer below."
)


class DesignPanel(Vertical, can_focus=True):
    """One design question's answer area; posts `Answered` once the learner has ticked."""

    DEFAULT_CSS = """
    DesignPanel { height: auto; }
    DesignPanel #design-notes { height: 8; }
    DesignPanel #design-rubric, DesignPanel #design-model { height: auto; margin-top: 1; }
    """

    BINDINGS = [
        Binding("ctrl+r", "reveal", "Reveal"),
        *(Binding(str(n), f"tick({n - 1})", show=False) for n in range(1, 10)),
        Binding("up", "cursor(-1)", show=False),
        Binding("down", "cursor(1)", show=False),
        Binding("space", "tick_cursor", "Tick", show=False),
        Binding("enter", "answer", "Answer"),
    ]

    class Answered(Message):
        def __init__(self, answer: DesignAnswer):
            super().__init__()
            self.answer = answer

    def __init__(self, question: Question):
        super().__init__(id="design")
        self.question = question
        self.stage = "write"  # write -> tick -> answered
        self.covered: set[int] = set()
        self.cursor = 0

    def compose(self) -> ComposeResult:
        yield Static(WRITE_HINT, id="design-hint")
        yield TextArea(id="design-notes", soft_wrap=True, show_line_numbers=False)
        yield Static(id="design-rubric")
        yield Static(id="design-model")

    def on_mount(self) -> None:
        self.query_one("#design-notes", TextArea).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Reveal while writing; tick and answer after the reveal; nothing once answered."""
        if action == "reveal":
            return self.stage == "write"
        return self.stage == "tick"

    def action_reveal(self) -> None:
        self.stage = "tick"
        notes = self.query_one("#design-notes", TextArea)
        notes.read_only = True
        notes.styles.height = "auto"  # only as tall as what was written: the key points come next
        self.query_one("#design-hint", Static).update(TICK_HINT)
        self.query_one("#design-model", Static).update(model_text(self.question))
        self.render_rubric()
        self.focus()
        self.refresh_bindings()
        self.call_after_refresh(self.query_one("#design-rubric").scroll_visible, animate=False)

    def action_tick(self, index: int) -> None:
        if index < len(self.question.rubric):
            self.covered ^= {index}
            self.cursor = index
            self.render_rubric()

    def action_tick_cursor(self) -> None:
        self.action_tick(self.cursor)

    def action_cursor(self, step: int) -> None:
        self.cursor = (self.cursor + step) % len(self.question.rubric)
        self.render_rubric()

    def action_answer(self) -> None:
        self.stage = "answered"
        self.render_rubric()
        self.refresh_bindings()
        notes = self.query_one("#design-notes", TextArea).text
        self.post_message(self.Answered(DesignAnswer(frozenset(self.covered), notes)))

    def render_rubric(self) -> None:
        """One row per key point, text wrapped under itself (a hanging indent)."""
        rows = Table.grid(padding=(0, 1))
        rows.add_column(no_wrap=True)
        rows.add_column(ratio=1)
        for n, point in enumerate(self.question.rubric):
            here = self.stage == "tick" and n == self.cursor
            if self.stage == "answered":
                ticked = n in self.covered
                mark = Text("✓" if ticked else "✗", style="green" if ticked else "red")
                text = Text(f"{n + 1}. {point.point}\n", style="")
                text.append(f"why: {point.why}", style="dim")
            else:
                mark = Text(("› " if here else "  ") + ("[x]" if n in self.covered else "[ ]"), style="bold")
                text = Text(f"{n + 1}. {point.point}", style="reverse" if here else "")
            rows.add_row(mark, text)
        self.query_one("#design-rubric", Static).update(Group(Text("Key points", style="bold"), rows))


def model_text(question: Question) -> Text:
    out = Text("Model answer\n", style="bold")
    out.append(question.model.strip() + "\n\n")
    out.append("Common wrong turns\n", style="bold")
    for turn in question.wrong_turns:
        out.append(f"- {turn}\n")
    return out
