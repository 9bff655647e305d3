"""Quiz screen: one question at a time from `kata.quiz.session`, all by keyboard.

One behaviour for every kind of question: you pick (digits, up/down, t/f for true
or false; space marks a choice of a multi; [ ] move the picked item of an order;
typing fills a text box), then Enter answers. Enter with nothing picked answers
nothing, so a second Enter after an explanation cannot answer the next question.
ctrl+d gives up ("don't know") and ctrl+z takes the last answer back, in every
kind, text box included (in a design answer's editor ctrl+z is the editor's);
after a typed answer graded wrong, r counts it right. A design question is
written, revealed (ctrl+r) and ticked in its own panel (kata.tui.design).
While a question or its explanation is on screen the app's letter keys (and q)
are the quiz's: Esc stops the session, ctrl+q quits.

How each kind is answered lives in one place, `ANSWERS` (kind -> `Answer`
subclass): what the keys do, what is drawn, the answer handed to the session,
and an optional widget to answer in (the text box).

A mock interview adds a countdown, then its kata: the spec on screen, s starts it,
e edits it, g grades it on the Grade screen (tests as they finish, c cancels),
and the scorecard ends with the full report. All logic stays in the session.
"""

from __future__ import annotations

import random
import textwrap
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Footer, Header, Input, Markdown, Static, TextArea

from kata.errors import UserError
from kata.paths import workspace_file
from kata.quiz.checking import Shown
from kata.quiz.session import duration
from kata.tui.base import AppScreen
from kata.tui.code import highlighted

if TYPE_CHECKING:
    from grader.report import Result
    from kata.quiz.mock import MockInterview
    from kata.quiz.session import Asked, Feedback, QuizSession, Summary
    from kata.tui.design import DesignPanel


# --- how each kind of question is answered --------------------------------------------------


class Answer:
    """How one kind of question is answered: the keys it takes (screen actions among
    pick, step, mark, move, truth), what is drawn, and the answer for the session."""

    label = ""
    actions: frozenset[str] = frozenset()
    hint = "Pick an answer first (a digit or up/down), then Enter."
    enter_answers = True  # False: the kind's own widget answers (a design panel)

    def __init__(self, shown: Shown):
        self.shown = shown
        self.cursor: int | None = None  # the picked row; None until the learner picks

    @property
    def choices(self) -> tuple[str, ...]:
        return self.shown.choices

    def widget(self) -> Widget | None:
        """A widget to answer in, mounted under the choices and focused (None: keys only)."""
        return None

    def pick(self, row: int) -> None:
        if row < len(self.choices):
            self.cursor = row

    def step(self, delta: int) -> None:
        """Move the pick; the first move picks the first row (down) or the last (up)."""
        if self.cursor is None:
            self.cursor = 0 if delta > 0 else len(self.choices) - 1
        else:
            self.cursor = (self.cursor + delta) % len(self.choices)

    def mark(self) -> None:
        pass

    def move(self, delta: int) -> None:
        pass

    def truth(self, value: bool) -> None:
        pass

    def response(self) -> Any | None:
        """The answer in the session's structured shape, or None when nothing is picked yet."""
        return self.cursor

    def rows(self) -> list[int]:
        """Choice indices in the order drawn."""
        return list(range(len(self.choices)))

    def box(self, index: int) -> str:
        return ""

    def render_row(self, row: int, active: bool) -> RenderableType:
        """Choice `row` as drawn, a long one wrapping under its own text; marked when picked
        (and, while answering, `active`, highlighted)."""
        index = self.rows()[row]
        here = row == self.cursor
        grid = Table.grid(padding=(0, 1, 0, 0))
        grid.add_column(no_wrap=True)
        grid.add_column(ratio=1)
        grid.add_row(
            Text(f"{'›' if here else ' '} {self.box(index)}{row + 1}.", style="bold" if here else ""),
            Text(self.choices[index], style="reverse" if here and active else ""),
        )
        return grid


class ChoiceAnswer(Answer):
    """One answer among the choices (also `code`: what does this program do)."""

    label = "one answer"
    actions = frozenset({"pick", "step"})


class TrueFalseAnswer(ChoiceAnswer):
    label = "true or false (t / f)"
    actions = frozenset({"pick", "step", "truth"})
    hint = "Pick true or false first (t / f, or a digit), then Enter."

    def truth(self, value: bool) -> None:
        self.cursor = 0 if value else 1

    def response(self) -> Any | None:
        return None if self.cursor is None else self.cursor == 0


class MultiAnswer(Answer):
    label = "all that apply (digits or space mark)"
    actions = frozenset({"pick", "step", "mark"})
    hint = "Mark at least one choice first (a digit, or space on the highlighted one), then Enter."

    def __init__(self, shown: Shown):
        super().__init__(shown)
        self.marked: set[int] = set()

    def pick(self, row: int) -> None:
        if row < len(self.choices):
            self.cursor = row
            self.marked ^= {row}

    def mark(self) -> None:
        if self.cursor is not None:
            self.marked ^= {self.cursor}

    def response(self) -> Any | None:
        return set(self.marked) or None

    def box(self, index: int) -> str:
        return "[x] " if index in self.marked else "[ ] "


class OrderAnswer(Answer):
    label = "put in order (pick an item, [ ] move it)"
    actions = frozenset({"pick", "step", "move"})
    hint = "Pick an item first (a digit or up/down) and move it with [ ]; Enter answers."

    def __init__(self, shown: Shown):
        super().__init__(shown)
        self.arrangement = list(range(len(shown.choices)))

    def move(self, delta: int) -> None:
        if self.cursor is None:
            return
        target = self.cursor + delta
        if 0 <= target < len(self.arrangement):
            a = self.arrangement
            a[self.cursor], a[target] = a[target], a[self.cursor]
            self.cursor = target

    def response(self) -> Any | None:
        return None if self.cursor is None else list(self.arrangement)

    def rows(self) -> list[int]:
        return list(self.arrangement)


class TypedAnswer(Answer):
    label = "short answer (type, Enter)"
    hint = "Type your answer first, then Enter (ctrl+d if you don't know)."

    def __init__(self, shown: Shown):
        super().__init__(shown)
        self.box_widget = Input(placeholder="your answer, then Enter")

    def widget(self) -> Widget | None:
        return self.box_widget

    def response(self) -> Any | None:
        return self.box_widget.value.strip() or None

    def rows(self) -> list[int]:
        return []  # nothing to pick: the text box is the answer


class DesignPad(Answer):
    """An open design question: the panel (kata.tui.design) takes the writing, the reveal
    and the ticks, and answers itself (DesignPanel.Answered); the screen hands that on."""

    label = "open question (write; ctrl+r reveals; tick)"
    hint = "Write (or think), ctrl+r reveals the model answer, tick what you covered, then Enter."
    enter_answers = False

    def __init__(self, shown: Shown):
        super().__init__(shown)
        from kata.tui.design import DesignPanel

        self.panel = DesignPanel(shown.question)

    def widget(self) -> Widget | None:
        return self.panel

    def rows(self) -> list[int]:
        return []

    def response(self) -> Any | None:
        return None  # the panel posts the answer once the learner has ticked


ANSWERS: dict[str, type[Answer]] = {
    "choice": ChoiceAnswer,
    "code": ChoiceAnswer,
    "truefalse": TrueFalseAnswer,
    "multi": MultiAnswer,
    "order": OrderAnswer,
    "short": TypedAnswer,
    "design": DesignPad,
}


# --- the screen ---------------------------------------------------------------------------


class QuizScreen(AppScreen[None]):
    HELP = (
        "Pick, then Enter answers, for every kind: digits or up/down pick a choice, t / f pick true or false, "
        "space marks a choice of a multi, [ ] (or shift+up/down) move the picked item of an order, a short "
        "answer is typed. ctrl+d: don't know; ctrl+z: take the last answer back; r: count a typed answer "
        "graded wrong as right. Enter goes on after the explanation; Esc stops. PageUp/PageDown scroll."
    )
    BINDINGS = [
        *(Binding(str(n), f"pick({n - 1})", show=False) for n in range(1, 10)),
        # before the scrolling of the focused question area; off (the area scrolls) after an answer
        Binding("up", "step(-1)", show=False, priority=True),
        Binding("down", "step(1)", show=False, priority=True),
        Binding("space", "mark", show=False),
        Binding("shift+up,left_square_bracket", "move(-1)", show=False),
        Binding("shift+down,right_square_bracket", "move(1)", show=False),
        Binding("t", "truth(True)", show=False),
        Binding("f", "truth(False)", show=False),
        Binding("enter", "answer", "Answer"),
        Binding("enter", "next", "Next"),
        Binding("enter", "close", "Back"),
        Binding("ctrl+d", "dont_know", "Don't know", priority=True),
        Binding("ctrl+z", "undo", "Undo", priority=True),
        Binding("r", "count_right", "Count it right"),
        Binding("s", "start_kata", "Start"),
        Binding("e", "edit_kata", "Edit"),
        Binding("g", "grade_kata", "Grade"),
        Binding("escape", "stop", "Stop"),
        Binding("escape", "skip_kata", "Skip kata"),
        Binding("escape", "close", show=False),
    ]

    def __init__(
        self,
        mode: str,
        topic: str | None = None,
        *,
        session: QuizSession | None = None,
        mock: MockInterview | None = None,
    ):
        """`session` (a planned QuizSession) or `mock` (a MockInterview): fixed plans for tests."""
        super().__init__()
        self.mode = mode
        self.topic = topic
        self.mock = mock
        self.session = session if mock is None else mock.quiz
        self.asked: Asked | None = None
        self.feedback: Feedback | None = None
        self.pad: Answer | None = None
        self.choice_rows: list[Static] = []  # the first len(pad.rows()) show the choices, in the order drawn
        self._stage = "question"

    @property
    def quiz(self) -> QuizSession:
        assert self.session is not None, "begin() plans the session before any question"
        return self.session

    @property
    def interview(self) -> MockInterview:
        assert self.mock is not None, "only a mock interview has a kata part"
        return self.mock

    @property
    def stage(self) -> str:
        """question, feedback, kata (the mock's coding part), done."""
        return self._stage

    @stage.setter
    def stage(self, value: str) -> None:
        self._stage = value
        self.refresh_bindings()  # the footer shows the keys of this stage

    @property
    def captures_keys(self) -> bool:
        """The app's letter keys are the quiz's while a question or its explanation is on screen."""
        return self.stage in ("question", "feedback")

    @property
    def keeps_place(self) -> bool:
        """A session in progress stays when the learner hops to another section."""
        return self.stage != "done"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Each key works at its stage only; off, it is out of the footer."""
        question = self.stage == "question" and self.pad is not None
        if action in ("pick", "step", "mark", "move", "truth"):
            return question and self.pad is not None and action in self.pad.actions
        stages = {
            "answer": question and self.pad is not None and self.pad.enter_answers,
            "dont_know": question,
            "next": self.stage == "feedback",
            "close": self.stage == "done",
            # in a text editor (a design answer) ctrl+z is the editor's own undo
            "undo": self.captures_keys
            and self.session is not None
            and self.session.can_undo
            and not isinstance(self.focused, TextArea),
            "count_right": self.stage == "feedback" and self.session is not None and self.session.can_override,
            "start_kata": self.stage == "kata",
            "edit_kata": self.stage == "kata",
            "grade_kata": self.stage == "kata",
            "stop": self.captures_keys,
            "skip_kata": self.stage == "kata",
        }
        return stages.get(action, True)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="quiz-progress")
        with VerticalScroll(id="question"):
            yield Static(id="prompt")
            yield Static(id="code")
            yield Vertical(id="choices")
            yield Vertical(id="answer-box")
            yield Static(id="feedback")
            yield Markdown(id="spec")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#spec").display = False
        # the feedback's place is known once the answer is laid out, and the after-refresh callback of
        # show_feedback may run before that layout (on a busy machine it did): each new height places it again
        self.watch(self.query_one("#question", VerticalScroll), "virtual_size", self.on_question_resized, init=False)
        try:
            self.begin()
        except UserError as err:
            self.end_with(Text(f"Nothing to ask: {err}"))
            return
        if self.mock is not None:
            self.set_interval(1.0, self.tick)
        self.ask_next()

    def begin(self) -> None:
        if self.session is not None:
            return
        store = self.app.store
        if self.mode == "mock":
            from kata.quiz.mock import MockInterview

            self.mock = MockInterview.start(store, clock=self.app.clock, rng=random.Random())
            self.session = self.mock.quiz
        else:
            from kata.quiz.session import start_session

            self.session = start_session(
                store, mode=self.mode, topic=self.topic, clock=self.app.clock, rng=random.Random()
            )
            if self.session.idle_reason():
                raise UserError(
                    f"{self.session.idle_reason()}; choose another session in the menu (a Drill asks any topic)"
                )

    # --- asking ----------------------------------------------------------------------

    def ask_next(self) -> None:
        self.show_question(self.quiz.next())

    def show_question(self, asked: Asked | None) -> None:
        self.asked = asked
        self.feedback = None
        if asked is None:
            self.after_questions()
            return
        q = asked.question
        self.pad = ANSWERS[q.kind](asked.shown)
        self.stage = "question"
        self.query_one("#prompt", Static).update(Text(q.prompt.strip()))
        code = self.query_one("#code", Static)
        code.display = bool(q.code)
        if q.code:
            code.update(highlighted(q.code.rstrip("\n")))
        self.query_one("#feedback", Static).update("")
        self.show_rows(len(self.pad.rows()))
        box = self.query_one("#answer-box", Vertical)
        box.remove_children()
        widget = self.pad.widget()
        if widget is not None:
            box.mount(widget)
            widget.focus()
        else:
            self.query_one("#question").focus()
        self.render_choices()
        self.show_progress()
        self.query_one("#question", VerticalScroll).scroll_home(animate=False)

    def show_progress(self) -> None:
        if self.asked is None or self.pad is None:
            return
        q = self.asked.question
        clock = f" · {duration(self.quiz.time_left)} left" if self.quiz.time_limit else ""
        self.query_one("#quiz-progress", Static).update(
            f"[{self.asked.number}/{self.asked.total}] {q.topic} · {self.pad.label}{clock}"
        )

    def show_rows(self, count: int) -> None:
        """`count` rows for choices: widgets are kept from question to question (mounting new
        ones costs a layout per keypress), the ones not needed hidden."""
        choices = self.query_one("#choices", Vertical)
        while len(self.choice_rows) < count:
            self.choice_rows.append(Static())
            choices.mount(self.choice_rows[-1])
        for row, widget in enumerate(self.choice_rows):
            widget.display = row < count
        choices.display = count > 0

    def render_choices(self) -> None:
        """Redraw the choices, the picked one scrolled into view (long code pushes them down)."""
        if self.pad is None:
            return
        for row in range(len(self.pad.rows())):
            self.choice_rows[row].update(self.pad.render_row(row, active=self.stage == "question"))
        if self.pad.cursor is not None and self.pad.cursor < len(self.pad.rows()):
            picked = self.choice_rows[self.pad.cursor]
            self.call_after_refresh(self.query_one("#question", VerticalScroll).scroll_to_widget, picked, animate=False)

    def tick(self) -> None:
        self.show_progress()
        if self.quiz.time_up and self.stage == "question":
            self.notify("Time is up.")
            self.after_questions()

    # --- answering ---------------------------------------------------------------------

    def action_pick(self, row: int) -> None:
        self._pad_does(lambda pad: pad.pick(row))

    def action_step(self, delta: int) -> None:
        self._pad_does(lambda pad: pad.step(delta))

    def action_mark(self) -> None:
        self._pad_does(lambda pad: pad.mark())

    def action_move(self, delta: int) -> None:
        self._pad_does(lambda pad: pad.move(delta))

    def action_truth(self, value: bool) -> None:
        self._pad_does(lambda pad: pad.truth(value))

    def _pad_does(self, change: Callable[[Answer], None]) -> None:
        if self.stage == "question" and self.pad is not None:
            change(self.pad)
            self.render_choices()

    def action_answer(self) -> None:
        if self.stage != "question" or self.pad is None:
            return
        response = self.pad.response()
        if response is None:
            self.notify(self.pad.hint, severity="warning")
            return
        self.show_feedback(self.quiz.answer(response))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_answer()

    def on_design_panel_answered(self, message: DesignPanel.Answered) -> None:
        if self.stage == "question" and isinstance(self.pad, DesignPad):
            self.show_feedback(self.quiz.answer(message.answer))

    def action_next(self) -> None:
        if self.stage == "feedback":
            self.ask_next()

    def action_dont_know(self) -> None:
        if self.stage == "question":
            self.show_feedback(self.quiz.dont_know())

    def action_undo(self) -> None:
        if self.session is not None and self.quiz.can_undo:
            self.show_question(self.quiz.undo())
            self.notify("Answer taken back: it is not recorded. Answer again.")

    def action_count_right(self) -> None:
        if self.stage == "feedback" and self.quiz.can_override:
            self.show_feedback(self.quiz.override())

    def show_feedback(self, feedback: Feedback) -> None:
        self.feedback = feedback
        self.stage = "feedback"
        v = feedback.verdict
        out = Text()
        if feedback.overridden:
            out.append("Counted right, as you said ", style="bold green")
            out.append(f"(your answer: {v.given}; the bank's: {v.expected})\n")
        elif v.correct:
            out.append("Right.\n", style="bold green")
        else:
            out.append("Wrong. ", style="bold red")
        if feedback.question.kind == "design":  # the panel above has the model answer and marks each point
            covered = v.given.splitlines()[0]  # "Covered 2 of 4 key points."; the missed ones follow
            out.append(
                covered + (" The missed ones are marked ✗ above, with why they matter.\n" if v.partial < 1 else "\n")
            )
        elif not v.correct and not feedback.overridden:
            if v.given and v.given != "(don't know)":
                out.append(f"You said: {v.given}\n")
            out.append("The answer:\n" + textwrap.indent(v.expected, "  ") + "\n")  # several lines for multi and order
        out.append(f"\nWhy: {v.explain.strip()}\n")
        keys = "Enter: next question · ctrl+z: take it back"
        if self.quiz.can_override:
            keys += " · r: count it right"
        out.append(f"\n(back for review {feedback.due:%Y-%m-%d})\n{keys}", style="dim")  # the keys fit one line
        self.query_one("#feedback", Static).update(out)
        self.render_choices()
        if not isinstance(self.pad, DesignPad):  # the design panel stays: it shows the model answer
            self.query_one("#answer-box", Vertical).remove_children()
        self.query_one("#question").focus()
        # after the layout: the feedback and re-rendered choices change the height to scroll
        self.call_after_refresh(self.show_verdict)

    def show_verdict(self) -> None:
        """Scroll to the end of the feedback, but never past its first line, the verdict: a
        design answer that missed most key points lists them all, taller than the view."""
        view = self.query_one("#question", VerticalScroll)
        verdict = self.query_one("#feedback", Static).virtual_region.y
        view.scroll_to(y=min(view.max_scroll_y, verdict), animate=False)

    def on_question_resized(self) -> None:
        """The question area's content changed height: while the feedback shows, its verdict is placed
        by the new layout (a design answer's key points grow their why lines after the answer)."""
        if self.stage == "feedback":
            self.show_verdict()

    # --- the end ----------------------------------------------------------------------

    def action_stop(self) -> None:
        if self.captures_keys:
            self.after_questions()

    def action_close(self) -> None:
        self.dismiss()

    def after_questions(self) -> None:
        if self.mock is None:
            self.end_with(summary_text(self.quiz.stop()))
            return
        self.quiz.stop()
        self.clear_question()
        self.stage = "kata"
        kata = self.interview.kata
        from grader.catalog import load_kata

        self.query_one("#quiz-progress", Static).update(f"Mock interview: now the kata `{kata}`")
        self.query_one("#prompt", Static).update(
            Text(
                f"Implement it in {workspace_file(kata).name} in your workspace: s starts it from the starter, "
                "e edits it, g grades it (c cancels); Esc skips it. The spec:"
            )
        )
        spec = self.query_one("#spec", Markdown)
        spec.display = True
        spec.update(load_kata(kata).spec_path.read_text(encoding="utf-8"))
        self.query_one("#question", VerticalScroll).scroll_home(animate=False)

    def action_start_kata(self) -> None:
        from grader.catalog import load_kata
        from kata.workspace import WorkExists, start_kata

        try:
            started = start_kata(load_kata(self.interview.kata))
        except WorkExists:
            self.notify(f"{workspace_file(self.interview.kata).name} is already started: e edits it, g grades it.")
            return
        except UserError as err:
            self.notify(str(err), severity="error")
            return
        self.notify(f"Started: e edits {started.path.name}, g grades it.")

    def action_edit_kata(self) -> None:
        from kata.tui.kata import edit_file

        path = workspace_file(self.interview.kata)
        if not path.exists():
            self.notify("Start the kata first (s).", severity="warning")
            return
        edit_file(self, path)

    def action_grade_kata(self) -> None:
        from kata.tui.grade import GradeScreen

        path = workspace_file(self.interview.kata)
        if not path.exists():
            self.notify("Start the kata first (s).", severity="warning")
            return
        self.app.push_screen(GradeScreen(self.interview.kata, path), callback=self.kata_graded)

    def kata_graded(self, result: Result | None) -> None:
        """Back from the Grade screen: its result is the kata's (None: cancelled, grade again)."""
        if result is None:
            self.notify("Not graded: g grades it again, Esc skips it.")
            return
        self.interview.graded(result)
        self.scorecard()

    def action_skip_kata(self) -> None:
        if self.stage == "kata":
            self.interview.skip_kata()
            self.scorecard()

    def scorecard(self) -> None:
        from grader.report import render_text

        result = self.interview.finish()
        out = Text("Mock interview scorecard\n\n", style="bold underline")
        out.append(f"Score: {result.score:.0%}\n", style="bold")
        out.append(
            f"Questions: {len(result.summary.right)}/{len(self.quiz.plan)} right"
            f"{' (time ran out)' if result.summary.time_up else ''}\n"
        )
        kata = result.kata
        tasks = f", {kata.tasks_passed}/{kata.tasks_total} tasks" if kata.tasks_total else ""
        out.append(f"Kata {kata.kata}: {kata.status}{tasks}\n\n")
        for topic, row in sorted(result.topics.items()):
            out.append(f"  {topic:<16} {row['correct']}/{row['asked']}\n")
        if result.to_review:
            out.append("\nReview these topics: " + ", ".join(result.to_review) + "\n")
        if self.interview.result is not None:
            out.append("\nThe kata's report\n\n", style="bold underline")
            out.append(render_text(self.interview.result, width=self.report_width()))
        self.end_with(out)

    def report_width(self) -> int:
        """The columns the kata's report may take: the prompt's, less the scrollbar the report brings
        (Rich would wrap a longer line to column 0, losing its indent)."""
        from grader.report import REPORT_WIDTH

        prompt = self.query_one("#prompt", Static).size.width
        if not prompt:
            return REPORT_WIDTH
        return max(40, prompt - self.query_one("#question", VerticalScroll).styles.scrollbar_size_vertical)

    def clear_question(self) -> None:
        for name in ("#code", "#feedback"):
            self.query_one(name, Static).update("")
        self.show_rows(0)
        self.query_one("#code").display = False
        self.query_one("#spec").display = False
        self.query_one("#answer-box", Vertical).remove_children()
        self.pad = None
        self.query_one("#question").focus()

    def end_with(self, text: Text) -> None:
        self.clear_question()
        self.stage = "done"
        self.query_one("#quiz-progress", Static).update("Session over: Enter goes back")
        self.query_one("#prompt", Static).update(text)
        self.query_one("#question", VerticalScroll).scroll_home(animate=False)


def summary_text(summary: Summary) -> Text:
    out = Text("Summary\n\n", style="bold underline")
    out.append(f"{summary.score}\n\n")
    for line in summary.topic_lines():
        out.append(f"{line}\n")
    if summary.wrong:
        out.append("\nTo review:\n")
        for q in summary.wrong:
            first = q.prompt.strip().splitlines()[0]
            out.append(f"  - {first if len(first) <= 72 else first[:69] + '...'}\n")
    return out
