"""`kata quiz`: the quiz line by line on stdin/stdout (the plain face of kata.quiz.session).

Scriptable: numbered choices, one answer per line, `?` for "don't know", `q` to
stop; end of input also stops, cleanly, with the summary. Every answer is
recorded as soon as it is given. `:undo` takes the last answer back and asks it
again; `:right` counts a typed answer graded wrong as right (after the last
question, one more line is read when that is possible). A design question is
answered in two steps: write (or think) your answer, an empty line reveals the
model answer, its wrong turns and its rubric; then type the numbers of the key
points you covered. `KATA_NOW=<ISO time>` pretends the session
starts then (see `clock_from_env`). The app's quiz (`u` in `kata`) is the same
session in the TUI.
"""

from __future__ import annotations

import argparse
import random
import sys
import textwrap
from typing import TYPE_CHECKING, TextIO

from kata.commands import Subparsers, add_verb
from kata.errors import UserError

if TYPE_CHECKING:
    from kata.quiz.bank import Question
    from kata.quiz.mock import MockInterview
    from kata.quiz.session import Asked, Feedback, QuizSession, Summary

QUIT_WORDS = frozenset({"q", "quit", "exit"})
DONT_KNOW = "?"
UNDO = ":undo"
RIGHT = ":right"
AGAIN = "again"  # what _answer says when the last answer was taken back


def register(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    parser = add_verb(subparsers, "quiz", _quiz)
    parser.add_argument(
        "--topic", metavar="T", help="only this topic (`kata questions stats` lists them); alone it means --mode drill"
    )
    parser.add_argument(
        "--mode", choices=("practice", "drill", "mistakes", "mock"), help="default: practice, or drill with --topic"
    )
    parser.add_argument("--count", type=int, metavar="N", help="ask at most N questions (default 20; mock 10)")
    parser.add_argument("--minutes", type=float, metavar="M", help="mock interview time limit (default 20)")
    parser.add_argument("--seed", type=int, help="fix the order of shuffled choices (for scripts)")
    parser.add_argument("--no-shuffle", action="store_true", help="show choices in the bank's order")


def _quiz(args: argparse.Namespace) -> int:
    """answer questions: spaced repetition, topic drills, mistakes, a mock interview

    practice: due questions first, then new ones (default); drill: one topic (--topic); mistakes: what you answered
    wrong lately; mock: a timed mock interview, then a kata.
    """
    from kata.progress import ProgressStore
    from kata.quiz.session import clock_from_env, start_session

    mode = args.mode or ("drill" if args.topic else "practice")
    if args.minutes is not None and mode != "mock":
        raise UserError("--minutes is for the mock interview (--mode mock)")
    clock = clock_from_env()
    rng = None if args.no_shuffle else random.Random(args.seed)
    face = PlainFace(sys.stdin, sys.stdout)
    with ProgressStore.open() as store:
        if mode == "mock":
            from kata.quiz.mock import DEFAULT_COUNT, DEFAULT_TIME_LIMIT, MockInterview

            minutes = args.minutes if args.minutes is not None else DEFAULT_TIME_LIMIT / 60
            mock = MockInterview.start(
                store,
                count=args.count or DEFAULT_COUNT,
                time_limit=minutes * 60,
                clock=clock,
                rng=rng or random.Random(),
                topic=args.topic,
            )
            return face.run_mock(mock)
        session = start_session(store, mode=mode, topic=args.topic, count=args.count, clock=clock, rng=rng)
        return face.run(session)


class PlainFace:
    """Renders a session as text and reads answers; all logic stays in the session."""

    def __init__(self, stdin: TextIO, stdout: TextIO):
        self.stdin = stdin
        self.out = stdout

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def read(self, prompt: str = "> ") -> str | None:
        """One line, or None at end of input."""
        self.out.write(prompt)
        self.out.flush()
        line = self.stdin.readline()
        if not line:
            self.say()
            return None
        return line.strip()

    # --- a session ---------------------------------------------------------------------

    def run(self, session: QuizSession, *, title: str | None = None) -> int:
        if session.idle_reason():
            self.say(
                f"Nothing to ask: {session.idle_reason()}; try a drill (--topic T) or your mistakes (--mode mistakes)."
            )
            return 0
        self.say(
            title
            or f"Quiz ({session.mode}): {len(session.plan)} questions. "
            "Type the number(s) of your answer, ? if you don't know, :undo to take an answer back, q to stop."
        )
        self.ask_all(session)
        self.print_summary(session.stop())
        return 0

    def ask_all(self, session: QuizSession) -> None:
        """Ask until the plan is done, time is up, `q` or end of input."""
        while (asked := session.next()) is not None:
            self.show(asked)
            feedback = self._answer(session, asked)
            if feedback is None:
                return
            if isinstance(feedback, str):  # taken back: the question comes again
                continue
            self.show_feedback(feedback)
        if session.time_up:
            self.say("Time is up.")
        elif session.can_override:
            self.say(f"({RIGHT} counts it right, {UNDO} takes it back; Enter goes on)")
            line = self.read()
            if line in (RIGHT, UNDO) and self._correct(session, line):
                self.ask_all(session)

    def _answer(self, session: QuizSession, asked: Asked) -> Feedback | str | None:
        """The feedback of an answer, AGAIN when the last answer was taken back (ask
        whatever is current again), None to stop."""
        from kata.quiz.checking import AnswerFormatError, parse_answer
        from kata.quiz.design import DesignAnswer

        design = asked.question.kind == "design"
        notes: str | None = ""
        if design:
            notes = self._draft()
            if notes is None or notes.lower() in QUIT_WORDS or notes == DONT_KNOW:
                return _stop_or_give_up(session, notes)
            self.reveal(asked.question)
        while True:
            line = self.read()
            if line is None or line.lower() in QUIT_WORDS or line == DONT_KNOW:
                return _stop_or_give_up(session, line)
            if line in (UNDO, RIGHT):
                if self._correct(session, line):
                    return AGAIN
                continue
            try:
                if design:
                    return session.answer(DesignAnswer(parse_answer(asked.shown, line).covered, notes or ""))
                return session.answer_text(line)
            except AnswerFormatError as err:
                self.say(f"  ({err})")

    def _draft(self) -> str | None:
        """The learner's written answer: lines up to an empty one (None at end of input)."""
        self.say("Write your answer (or think it through); an empty line reveals the model answer.")
        lines: list[str] = []
        while (line := self.read("| " if lines else "> ")) is not None:
            if not line:
                return "\n".join(lines)
            if not lines and (line == DONT_KNOW or line.lower() in QUIT_WORDS):
                return line
            lines.append(line)
        return None

    def reveal(self, q: Question) -> None:
        """The model answer and its wrong turns, then the rubric to tick."""
        self.show_model(q)
        self.say("Key points (which did your answer cover?):")
        for n, p in enumerate(q.rubric, 1):
            self.say(textwrap.fill(p.point, width=88, initial_indent=f"  {n}. ", subsequent_indent="     "))
        self.say(f"Type the numbers you covered, e.g. `1 3`, or 0 for none (1-{len(q.rubric)}).")

    def show_model(self, q: Question) -> None:
        self.say("\nModel answer:")
        for paragraph in q.model.split("\n\n"):
            self.say(textwrap.fill(paragraph, width=88, initial_indent="  ", subsequent_indent="  "))
        self.say("Common wrong turns:")
        for turn in q.wrong_turns:
            self.say(textwrap.fill(turn, width=88, initial_indent="  - ", subsequent_indent="    "))

    def _correct(self, session: QuizSession, word: str) -> bool:
        """`:undo` or `:right` on the last answer; True when an answer was taken back."""
        if word == UNDO and session.can_undo:
            session.undo()
            self.say("Taken back; again:")
            return True
        if word == RIGHT and session.can_override:
            session.override()
            self.say("Counted right, as you said.")
        else:
            self.say(
                "  (nothing to undo)" if word == UNDO else "  (only a typed answer graded wrong can be counted right)"
            )
        return False

    def show(self, asked: Asked) -> None:
        q = asked.question
        clock = f" · {_minutes(asked.time_left)} left" if asked.time_left is not None else ""
        self.say(f"\n[{asked.number}/{asked.total}] {q.topic} · {_KIND_LABEL[q.kind]}{clock}")
        self.say("\n\n".join(textwrap.fill(p, width=88) for p in q.prompt.split("\n\n")))
        if q.code:
            self.say()
            self.say(textwrap.indent(q.code.rstrip("\n"), "    "))
        for n, choice in enumerate(asked.choices, 1):
            lines = choice.splitlines() or [""]
            self.say(f"  {n}. {lines[0]}")
            for more in lines[1:]:
                self.say(f"     {more}")

    def show_feedback(self, feedback: Feedback) -> None:
        v = feedback.verdict
        if feedback.question.kind == "design":
            import fsrs

            if v.given == "(don't know)":
                self.show_model(feedback.question)
            else:
                self.say(v.given)
            self.say(f"Rating: {fsrs.Rating(feedback.rating).name} (from the share of key points covered)")
        elif v.correct:
            self.say("Right.")
        else:
            self.say("Wrong. The answer:")
            self.say(textwrap.indent(v.expected, "  "))
        self.say(textwrap.fill(f"Why: {v.explain}", width=88))
        self.say(f"(back for review {feedback.due:%Y-%m-%d %H:%M} UTC)")

    def print_summary(self, summary: Summary) -> None:
        self.say(f"\nSummary: {summary.score}.")
        for line in summary.topic_lines():
            self.say(line)
        if summary.wrong:
            self.say("To review:")
            for q in summary.wrong:
                self.say(f"  {q.id}: {_first_line(q.prompt)}")

    # --- the mock interview ------------------------------------------------------------------

    def run_mock(self, mock: MockInterview) -> int:
        quiz = mock.quiz
        self.say(
            f"Mock interview: {len(quiz.plan)} questions in {_minutes(quiz.time_limit)}, "
            f"then the kata `{mock.kata}`. ? if you don't know, q to stop answering."
        )
        self.ask_all(mock.quiz)
        self._kata_part(mock)
        result = mock.finish()
        self.print_summary(result.summary)
        self.say(
            f"Kata {result.kata.kata}: {result.kata.status}"
            + (f", {result.kata.tasks_passed}/{result.kata.tasks_total} tasks" if result.kata.tasks_total else "")
        )
        self.say(f"Score: {result.score:.0%}")
        for topic, row in sorted(result.topics.items()):
            self.say(f"  {topic:<16} {row['correct']}/{row['asked']}")
        if result.to_review:
            self.say("Review these topics: " + ", ".join(result.to_review) + " (`kata quiz --mode drill --topic T`)")
        return 0

    def _kata_part(self, mock: MockInterview) -> None:
        from kata.paths import workspace_file

        path = workspace_file(mock.kata)
        self.say(
            f"\nNow the kata `{mock.kata}`: implement it in {path} (`kata start {mock.kata}`, `kata show {mock.kata}`)."
        )
        self.say("Press Enter to grade it, or type s to skip.")
        line = self.read()
        if line is None or line.lower() in QUIT_WORDS | {"s", "skip"}:
            mock.skip_kata()
            return
        if not path.exists():
            self.say(f"{path} does not exist: the kata counts as skipped.")
            mock.skip_kata()
            return
        self.say("Grading ...")
        outcome = mock.grade_kata(path)
        if outcome.message:
            self.say(outcome.message)


_KIND_LABEL = {
    "choice": "one answer",
    "multi": "all that apply",
    "truefalse": "true or false",
    "short": "short answer",
    "order": "put in order",
    "code": "what does this program do?",
    "design": "design question (open answer)",
}


def _stop_or_give_up(session: QuizSession, line: str | None) -> Feedback | None:
    """`?` gives up on the question (its feedback); end of input or a quit word stops (None)."""
    return session.dont_know() if line == DONT_KNOW else None


def _minutes(seconds: float | None) -> str:
    from kata.quiz.session import duration

    return f"{duration(seconds)} min"


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= 70 else line[:67] + "..."
