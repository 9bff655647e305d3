"""`kata quiz`: the quiz line by line on stdin/stdout (the plain face of kata.quiz.session).

Scriptable: numbered choices, one answer per line, `?` for "don't know", `q` to
stop; end of input also stops, cleanly, with the summary. `:undo` takes the last
answer back and asks it again; `:right` counts a typed answer graded wrong as right
(after the last question, one more line is read when that is possible). Every answer is
recorded as soon as it is given. `KATA_NOW=<ISO time>` pretends the session
starts then (see `clock_from_env`). Until the TUI exists, `--plain` is also
what runs without it.
"""

from __future__ import annotations

import argparse
import random
import sys
import textwrap
from typing import TYPE_CHECKING, TextIO

from kata.errors import UserError

if TYPE_CHECKING:
    from kata.quiz.mock import MockInterview
    from kata.quiz.session import Asked, Feedback, QuizSession, Summary

QUIT_WORDS = frozenset({"q", "quit", "exit"})
DONT_KNOW = "?"
UNDO = ":undo"
RIGHT = ":right"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "quiz",
        help="answer questions: spaced repetition, topic drills, mistakes, a mock interview",
        description="practice: due questions first, then new ones (default); drill: one topic (--topic); "
        "mistakes: what you answered wrong lately; mock: a timed mock interview, then a kata.",
    )
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
    parser.add_argument("--plain", action="store_true", help="line by line on stdin/stdout")
    parser.set_defaults(func=_quiz)


def _quiz(args: argparse.Namespace) -> int:
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
            self.say(f"Nothing to ask: {session.idle_reason()}.")
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
            feedback = self._answer(session)
            if feedback is None:
                return
            self.show_feedback(feedback)
        if session.time_up:
            self.say("Time is up.")
        elif session.can_override:
            self.say(f"({RIGHT} counts it right, {UNDO} takes it back; Enter goes on)")
            line = self.read()
            if line in (RIGHT, UNDO):
                self._correct(session, line)
                if line == UNDO:
                    self.ask_all(session)

    def _answer(self, session: QuizSession) -> Feedback | None:
        from kata.quiz.checking import AnswerFormatError

        while True:
            line = self.read()
            if line is None or line.lower() in QUIT_WORDS:
                return None
            if line in (UNDO, RIGHT):
                self._correct(session, line)
                continue
            if line == DONT_KNOW:
                return session.dont_know()
            try:
                return session.answer_text(line)
            except AnswerFormatError as err:
                self.say(f"  ({err})")

    def _correct(self, session: QuizSession, word: str) -> None:
        """`:undo` or `:right` on the last answer."""
        if word == UNDO and session.can_undo:
            self.say("Taken back; again:")
            self.show(session.undo())
        elif word == RIGHT and session.can_override:
            session.override()
            self.say("Counted right, as you said.")
        else:
            self.say(
                "  (nothing to undo)" if word == UNDO else "  (only a typed answer graded wrong can be counted right)"
            )

    def show(self, asked: Asked) -> None:
        q = asked.question
        clock = f" · {_minutes(asked.time_left)} left" if asked.time_left is not None else ""
        self.say(f"\n[{asked.number}/{asked.total}] {q.topic} · {_KIND_LABEL[q.kind]}{clock}")
        self.say(q.prompt)
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
        if v.correct:
            self.say("Right.")
        else:
            self.say("Wrong. The answer:")
            self.say(textwrap.indent(v.expected, "  "))
        self.say(textwrap.fill(f"Why: {v.explain}", width=88))
        self.say(f"(back for review {feedback.due:%Y-%m-%d %H:%M} UTC)")

    def print_summary(self, summary: Summary) -> None:
        self.say(
            f"\nSummary: {summary.correct}/{summary.answered} right"
            f"{f' ({summary.accuracy:.0%})' if summary.answered else ''}"
            f" of {summary.planned} planned, in {_minutes(summary.seconds)}."
        )
        for topic, score in sorted(summary.topics.items()):
            self.say(f"  {topic:<16} {score.correct}/{score.answered}")
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
}


def _minutes(seconds: float | None) -> str:
    seconds = round(seconds or 0)
    return f"{seconds // 60}:{seconds % 60:02d} min"


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= 70 else line[:67] + "..."
