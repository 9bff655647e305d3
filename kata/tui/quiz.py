"""Quiz screen: one question at a time from `kata.quiz.session`, all by keyboard.

Digits pick a choice (choice, code, true/false answer at once; multi toggles),
space toggles the highlighted choice, shift+up/down or [ ] move an item of an
`order` question, Enter answers, d gives up ("don't know"); a short answer is
typed in a text box. The explanation follows every answer; Enter goes on.
A mock interview adds a countdown, then its kata (graded in a worker) and the
scorecard. All logic stays in the session; this module only renders and reads keys.
"""

from __future__ import annotations

import random

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static

from kata.errors import UserError
from kata.paths import workspace_file
from kata.tui.code import highlighted
from kata.tui.jobs import Job

KIND_LABEL = {
    "choice": "one answer",
    "multi": "all that apply (space toggles, Enter answers)",
    "truefalse": "true or false (t / f)",
    "short": "short answer (type, Enter)",
    "order": "put in order (shift+up/down or [ ] move, Enter answers)",
    "code": "what does this program do?",
    "design": "design question (write, ctrl+r reveals, tick what you covered)",
}
ANSWER_AT_ONCE = frozenset({"choice", "code", "truefalse"})


def minutes(seconds: float | None) -> str:
    seconds = round(seconds or 0)
    return f"{seconds // 60}:{seconds % 60:02d}"


class QuizScreen(Screen):
    HELP = (
        "Digits pick a choice (multi: digits or space toggle, Enter answers); up/down move; t / f answer "
        "true or false; shift+up/down or [ ] move an item of an order question; type a short answer "
        "and Enter. After each answer Enter goes on."
    )
    BINDINGS = [
        *(Binding(str(n), f"pick({n - 1})", show=False) for n in range(1, 10)),
        Binding("up", "cursor(-1)", show=False),
        Binding("down", "cursor(1)", show=False),
        Binding("space", "toggle", "Toggle", show=False),
        Binding("shift+up,left_square_bracket", "move(-1)", show=False),
        Binding("shift+down,right_square_bracket", "move(1)", show=False),
        Binding("t", "truth(True)", show=False),
        Binding("f", "truth(False)", show=False),
        Binding("enter", "enter", "Answer / next"),
        Binding("d", "dont_know", "Don't know"),
        Binding("g", "grade_kata", "Grade kata"),
        Binding("s", "skip_kata", "Skip kata"),
        Binding("escape", "stop", "Stop"),
    ]

    def __init__(self, mode: str, topic: str | None = None, *, session=None):
        """`session`: an already planned QuizSession (tests use a fixed plan)."""
        super().__init__()
        self.mode = mode
        self.topic = topic
        self.session = session
        self.mock = None
        self.asked = None
        self.feedback = None
        self.cursor = 0
        self.marked: set[int] = set()
        self.arrangement: list[int] = []
        self._stage = "question"
        self.grading: Job | None = None

    @property
    def stage(self) -> str:
        """question, feedback, kata (the mock's coding part), grading, done."""
        return self._stage

    @stage.setter
    def stage(self, value: str) -> None:
        self._stage = value
        self.refresh_bindings()  # the footer shows the keys of this stage

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """Keys that mean something only at some stages are off (and let the app's
        keys, e.g. t = Stats, through) at the others."""
        if action == "truth":
            return self.answering("truefalse")
        if action == "dont_know":
            return self.answering()
        if action == "enter":
            return self.stage in ("question", "feedback", "done")
        if action in ("grade_kata", "skip_kata"):
            return self.stage == "kata"
        return True

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="quiz-progress")
        with VerticalScroll(id="question"):
            yield Static(id="prompt")
            yield Static(id="code")
            yield Static(id="choices")
            yield Static(id="feedback")
        yield Input(id="short", placeholder="your answer, then Enter")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        try:
            self.begin()
        except UserError as err:
            self.end_with(Text(f"Nothing to ask: {err}"))
            return
        if self.mock is not None:
            self.set_interval(1.0, self.tick)
        self.ask_next()

    def begin(self) -> None:
        store = self.app.store
        if self.session is not None:
            return
        if self.mode == "mock":
            from kata.quiz.mock import MockInterview

            self.mock = MockInterview.start(store, clock=self.app.clock, rng=random.Random(), grade=self.grade_file)
            self.session = self.mock.quiz
        else:
            from kata.quiz.session import start_session

            self.session = start_session(
                store, mode=self.mode, topic=self.topic, clock=self.app.clock, rng=random.Random()
            )
            if self.session.idle_reason():
                raise UserError(self.session.idle_reason())

    # --- asking ----------------------------------------------------------------------

    def ask_next(self) -> None:
        self.asked = self.session.next()
        self.feedback = None
        self.query("#design").remove()
        if self.asked is None:
            self.after_questions()
            return
        self.stage = "question"
        self.cursor = 0
        self.marked = set()
        self.arrangement = list(range(len(self.asked.choices)))
        q = self.asked.question
        self.query_one("#prompt", Static).update(Text(q.prompt.strip()))
        code = self.query_one("#code", Static)
        code.display = bool(q.code)
        if q.code:
            code.update(highlighted(q.code.rstrip("\n")))
        self.query_one("#feedback", Static).update("")
        short = self.query_one("#short", Input)
        short.display = q.kind == "short"
        short.value = ""
        if q.kind == "short":
            short.focus()
        else:
            self.query_one("#question").focus()
        if q.kind == "design":
            from kata.tui.design import DesignPanel

            self.query_one("#question").mount(DesignPanel(q), after="#prompt")
        self.render_choices()
        self.show_progress()
        self.query_one("#question", VerticalScroll).scroll_home(animate=False)

    def show_progress(self) -> None:
        if self.asked is None:
            return
        q = self.asked.question
        clock = f" · {minutes(self.session.time_left)} left" if self.session.time_limit else ""
        self.query_one("#quiz-progress", Static).update(
            f"[{self.asked.number}/{self.asked.total}] {q.topic} · {KIND_LABEL[q.kind]}{clock}"
        )

    def render_choices(self) -> None:
        kind = self.asked.question.kind
        choices = self.asked.choices
        order = self.arrangement if kind == "order" else range(len(choices))
        out = Text()
        for row, index in enumerate(order):
            here = row == self.cursor and self.stage == "question" and kind != "short"
            out.append("› " if here else "  ", style="bold")
            if kind == "multi":
                out.append("[x] " if index in self.marked else "[ ] ")
            lines = choices[index].splitlines() or [""]
            out.append(f"{row + 1}. {lines[0]}\n", style="reverse" if here else "")
            for more in lines[1:]:
                out.append(f"      {more}\n")
        self.query_one("#choices", Static).update(out)

    def tick(self) -> None:
        self.show_progress()
        if self.session.time_up and self.stage == "question":
            self.notify("Time is up.")
            self.after_questions()

    # --- answering ---------------------------------------------------------------------

    def answering(self, *kinds: str) -> bool:
        return self.stage == "question" and self.asked is not None and (not kinds or self.asked.question.kind in kinds)

    def action_pick(self, index: int) -> None:
        if not self.answering() or index >= len(self.asked.choices):
            return
        kind = self.asked.question.kind
        if kind in ANSWER_AT_ONCE:
            self.submit(index == 0 if kind == "truefalse" else index)
        elif kind == "multi":
            self.marked ^= {index}
            self.cursor = index
            self.render_choices()
        elif kind == "order":
            self.cursor = index
            self.render_choices()

    def action_cursor(self, step: int) -> None:
        if self.answering("choice", "code", "truefalse", "multi", "order"):
            self.cursor = (self.cursor + step) % len(self.asked.choices)
            self.render_choices()
        else:
            self.query_one("#question", VerticalScroll).scroll_relative(y=step, animate=False)

    def action_toggle(self) -> None:
        if self.answering("multi"):
            self.marked ^= {self.cursor}
            self.render_choices()
        elif self.stage == "feedback":
            self.ask_next()

    def action_move(self, step: int) -> None:
        if not self.answering("order"):
            return
        target = self.cursor + step
        if 0 <= target < len(self.arrangement):
            a = self.arrangement
            a[self.cursor], a[target] = a[target], a[self.cursor]
            self.cursor = target
            self.render_choices()

    def action_truth(self, value: bool) -> None:
        if self.answering("truefalse"):
            self.submit(value)

    def action_enter(self) -> None:
        if self.stage == "feedback":
            self.ask_next()
        elif self.stage == "done":
            self.dismiss()
        elif self.answering():
            kind = self.asked.question.kind
            if kind == "multi":
                self.submit(set(self.marked))
            elif kind == "order":
                self.submit(list(self.arrangement))
            elif kind == "truefalse":
                self.submit(self.cursor == 0)
            elif kind != "short":
                self.submit(self.cursor)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self.answering("short"):
            if event.value.strip():
                self.submit(event.value)
        elif self.stage == "feedback":
            self.ask_next()

    def on_design_panel_answered(self, message) -> None:
        if self.answering("design"):
            self.submit(message.answer)

    def action_dont_know(self) -> None:
        if self.answering():
            self.show_feedback(self.session.dont_know())

    def submit(self, response) -> None:
        self.show_feedback(self.session.answer(response))

    def show_feedback(self, feedback) -> None:
        self.feedback = feedback
        self.stage = "feedback"
        v = feedback.verdict
        out = Text()
        if v.correct:
            out.append("Right.\n", style="bold green")
        else:
            out.append("Wrong. ", style="bold red")
        if feedback.question.kind == "design":  # the model answer is on screen, in the design panel
            out.append(f"{v.given}\n")
        elif not v.correct:
            if v.given and v.given != "(don't know)":
                out.append(f"You said: {v.given}\n")
            out.append(f"The answer: {v.expected}\n")
        out.append(f"\nWhy: {v.explain.strip()}\n")
        out.append(f"\n(back for review {feedback.due:%Y-%m-%d}) Enter: next question", style="dim")
        self.query_one("#feedback", Static).update(out)
        self.render_choices()
        self.query_one("#short", Input).display = False
        self.query_one("#question").focus()
        # after the layout: the feedback and re-rendered choices change the height to scroll
        self.call_after_refresh(self.query_one("#question", VerticalScroll).scroll_end, animate=False)

    # --- the end ----------------------------------------------------------------------

    def action_stop(self) -> None:
        if self.stage in ("question", "feedback") and self.session is not None:
            self.after_questions()
        elif self.stage == "kata":
            self.action_skip_kata()
        elif self.stage != "grading":
            self.dismiss()

    def after_questions(self) -> None:
        if self.mock is None:
            self.end_with(summary_text(self.session.stop()))
            return
        self.session.stop()
        self.stage = "kata"
        self.clear_question()
        path = workspace_file(self.mock.kata)
        self.query_one("#quiz-progress", Static).update(f"Mock interview: the kata `{self.mock.kata}`")
        self.query_one("#prompt", Static).update(
            Text(
                f"Now implement the kata `{self.mock.kata}` in {path}\n"
                f"(open it from Katas, k, to Start and Edit it). Then press g to grade it, or s to skip."
            )
        )

    def action_grade_kata(self) -> None:
        if self.stage != "kata":
            return
        path = workspace_file(self.mock.kata)
        if not path.exists():
            self.notify(f"{path} does not exist yet: start the kata first (Katas, k).", severity="warning")
            return
        self.stage = "grading"
        self.query_one("#prompt", Static).update(f"Grading {self.mock.kata} ...")
        self.grading = self.app.jobs.start()
        self.grade_mock_kata(self.grading)

    @work(thread=True, exclusive=True, group="mock-grade")
    def grade_mock_kata(self, job: Job) -> None:
        with job as stop:
            self.mock.grade_kata(workspace_file(self.mock.kata))
        if not stop.is_set():  # stopped means the app is quitting: no one to show the card to
            self.app.call_from_thread(self.scorecard)

    def grade_file(self, kata_id: str, path):
        """The mock's grader: cancellable, so quitting stops its processes."""
        from grader import grade

        return grade(kata_id, path, cancel=self.grading.stop if self.grading else None)

    def action_skip_kata(self) -> None:
        if self.stage == "kata":
            self.mock.skip_kata()
            self.scorecard()

    def scorecard(self) -> None:
        result = self.mock.finish()
        out = Text("Mock interview scorecard\n\n", style="bold underline")
        out.append(f"Score: {result.score:.0%}\n", style="bold")
        out.append(
            f"Questions: {len(result.summary.right)}/{len(self.session.plan)} right"
            f"{' (time ran out)' if result.summary.time_up else ''}\n"
        )
        kata = result.kata
        tasks = f", {kata.tasks_passed}/{kata.tasks_total} tasks" if kata.tasks_total else ""
        out.append(f"Kata {kata.kata}: {kata.status}{tasks}\n\n")
        for topic, row in sorted(result.topics.items()):
            out.append(f"  {topic:<16} {row['correct']}/{row['asked']}\n")
        if result.to_review:
            out.append("\nReview these topics: " + ", ".join(result.to_review) + "\n")
        self.end_with(out)

    def clear_question(self) -> None:
        for name in ("#code", "#choices", "#feedback"):
            self.query_one(name, Static).update("")
        self.query_one("#code").display = False
        self.query_one("#short").display = False
        self.query_one("#question").focus()

    def end_with(self, text: Text) -> None:
        self.stage = "done"
        self.clear_question()
        self.query_one("#quiz-progress", Static).update("Session over: Enter or Esc goes back")
        self.query_one("#prompt", Static).update(text)


def summary_text(summary) -> Text:
    out = Text("Summary\n\n", style="bold underline")
    rate = f" ({summary.accuracy:.0%})" if summary.answered else ""
    out.append(
        f"{summary.correct}/{summary.answered} right{rate} of {summary.planned} planned, "
        f"in {minutes(summary.seconds)} min\n\n"
    )
    for topic, score in sorted(summary.topics.items()):
        out.append(f"  {topic:<16} {score.correct}/{score.answered}\n")
    if summary.wrong:
        out.append("\nTo review:\n")
        for q in summary.wrong:
            first = q.prompt.strip().splitlines()[0]
            out.append(f"  - {first if len(first) <= 72 else first[:69] + '...'}\n")
    return out
