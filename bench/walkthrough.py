"""A scripted walk through the app in a real terminal: tmux at 80x24.

    python bench/walkthrough.py [--out screens.txt] [--keep]

It opens `kata` with a fresh $KATA_HOME and goes where a learner goes: Home, help,
the command palette, Katas, a Kata (a hint, Start), its Grade (and a re-run of one
test), back Home and to the Katas list, a practice quiz until every kind of
question has been answered (a wrong answer taken back with ctrl+z, a double Enter,
a "don't know", a typed answer counted right with r), a mock interview (its
design question written, revealed and ticked) with its kata graded on the Grade
screen, Stats, and quits. Every screen is captured
(tmux capture-pane) and checked for whole words where text used to be cut off;
at the end the progress store must hold exactly the answers, hints, grades,
corrections and mock interview the walk gave, nothing more.

Not run by the test suite (it takes about a minute and needs tmux); exit status 0
when every check holds, 1 otherwise, with the problems listed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader.catalog import all_katas  # noqa: E402
from grader.integrity import EDITING_ENV  # noqa: E402
from kata.quiz.bank import Question, load_bank  # noqa: E402

WIDTH, HEIGHT = 80, 24
EVERY_KIND = {"choice", "truefalse", "multi", "order", "short", "code"}
PROGRESS = re.compile(r"^\s*\[\d+/\d+\] ")  # the quiz's progress line
SCROLLBAR = re.compile(r"\s*[▁▂▃▄▅▆▇█]+\s*$")  # a scrollbar's thumb at the end of a line
TABLE_HEADER = re.compile(r"status +test +task +time[\s▁▂▃▄▅▆▇█]*$", re.M)  # the Grade table, its last column whole
CLOCK = re.compile(r"\d+:\d\d left")  # a mock interview's countdown
REPORT_TOTALS = re.compile(r"^ (?:(?:PASS|FAIL): \d+/\d+ tasks|ERROR: )", re.M)  # a grade report's last line
CHOICE_LINE = re.compile(r"^\s*›?\s*(?:\[[ x]\]\s*)?(\d+)\.\s(.*)$")


def squash(text: str) -> str:
    return " ".join(text.split())


class Terminal:
    """One tmux session running the app; keys in, screens out."""

    def __init__(self, name: str, command: list[str], env: dict[str, str]):
        self.name = name
        exports = " ".join(f"{k}={v}" for k, v in env.items())
        shell = f"cd {ROOT} && env {exports} {' '.join(command)}; sleep 30"
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", name, "-x", str(WIDTH), "-y", str(HEIGHT), shell], check=True
        )

    def keys(self, *keys: str) -> None:
        for key in keys:
            subprocess.run(["tmux", "send-keys", "-t", self.name, key], check=True)
            time.sleep(0.15)

    def type(self, text: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, "-l", "--", text], check=True)
        time.sleep(0.2)

    def screen(self) -> str:
        return subprocess.run(
            ["tmux", "capture-pane", "-t", self.name, "-p"], check=True, capture_output=True, text=True
        ).stdout

    def wait_until(self, done: Callable[[str], bool], timeout: float = 20.0) -> str:
        """The screen once `done(screen)` holds (or when `timeout` is up)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if done(text) or time.monotonic() > deadline:
                return text
            time.sleep(0.2)

    def wait_for(self, *needles: str | re.Pattern[str], timeout: float = 20.0) -> str:
        """The screen once every needle shows on it (or when `timeout` is up)."""
        return self.wait_until(lambda text: all(shows(text, n) for n in needles), timeout)

    def escape(self, done: Callable[[str], bool]) -> str:
        """Esc, and the screen once it shows what Esc did, before any other key: terminal key sequences
        begin with Esc, so a busy app that reads Esc and the next key at once takes them for one alt+key
        and the Esc is lost (the help stayed open under the palette, and every later screen was wrong)."""
        self.keys("Escape")
        return self.wait_until(done)

    def still(self, quiet: float = 0.5, timeout: float = 10.0) -> str:
        """The screen once it has not changed for `quiet` seconds (the clock of a mock aside):
        Home and End scroll with an animation, and a screen caught during one shows neither end."""
        deadline = time.monotonic() + timeout
        text, since = self.screen(), time.monotonic()
        while time.monotonic() - since < quiet and time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.screen()
            if CLOCK.sub("", now) != CLOCK.sub("", text):
                since = time.monotonic()
            text = now
        return text

    def settle(self, timeout: float = 10.0) -> str:
        """The screen once no pop-up covers it (a pop-up hides what is under its right half)."""
        deadline = time.monotonic() + timeout
        text = self.screen()
        while "▌" in text and time.monotonic() < deadline:
            time.sleep(0.3)
            text = self.screen()
        return text

    def exited(self, timeout: float = 20.0) -> bool:
        """Whether the app has ended (the pane runs the `sleep` that keeps it open) within `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            shown = subprocess.run(
                ["tmux", "display-message", "-p", "-t", self.name, "#{pane_current_command}"],
                capture_output=True,
                text=True,
            )
            if shown.stdout.strip() == "sleep":
                return True
            time.sleep(0.2)
        return False

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], check=False, capture_output=True)


@dataclass
class Walk:
    term: Terminal
    transcript: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    checks: int = 0

    def check(self, ok: bool, what: str) -> None:
        self.checks += 1
        if not ok:
            self.problems.append(what)

    def shot(self, name: str, *expected: str | re.Pattern[str], timeout: float = 20.0) -> str:
        """Wait until every expected text shows (whole, words not cut off), keep the screen, check it."""
        text = self.term.wait_for(*expected, timeout=timeout)
        self.transcript.append(f"===== {name} =====\n{text}")
        print(f"  {name}", file=sys.stderr, flush=True)
        for needle in expected:
            self.check(shows(text, needle), f"{name}: {getattr(needle, 'pattern', needle)!r} not shown whole")
        self.check("Traceback" not in text, f"{name}: a traceback")
        progress = next((line for line in text.splitlines() if PROGRESS.search(line)), "")
        self.check(not progress or "·" not in progress[-3:], f"{name}: the progress line is cut: {progress!r}")
        self.check(
            not progress
            or progress.rstrip().endswith((")", "left", "answer", "?", "one answer"))
            or len(progress) < 78,
            f"{name}: the progress line is cut: {progress!r}",
        )
        footer = text.rstrip("\n").splitlines()[-1] if text.strip() else ""
        left = footer.split("▏")[0].rstrip()
        self.check(not re.search(r"\s\S{1,3}$", left), f"{name}: the footer ends in a cut word: {left!r}")
        return text


def shows(text: str, needle: str | re.Pattern[str]) -> bool:
    """`needle` on the screen; a plain string may wrap across lines."""
    if isinstance(needle, re.Pattern):
        return bool(needle.search(text))
    popup = " ".join(line.split("▌", 1)[1] for line in text.splitlines() if "▌" in line)  # a pop-up's own lines
    return needle in text or squash(needle) in squash(text) or squash(needle) in squash(popup)


# --- answering a question as shown -----------------------------------------------------------------


def shown_question(text: str, questions: list[Question]) -> tuple[Question | None, dict[int, str]]:
    """The question on screen (its prompt, and its choices: many code questions share a
    prompt) and the choices as numbered on screen (first line of each)."""
    choices: dict[int, str] = {}
    current, indent = None, 0
    for line in (SCROLLBAR.sub("", line) for line in text.splitlines()):
        found = CHOICE_LINE.match(line.split("▌")[0])
        if found:
            current, indent = int(found.group(1)), found.start(2)
            choices[current] = found.group(2).strip()
        elif current is not None and line[:indent].strip() == "" and line[indent:].strip():
            choices[current] += "\n" + line[indent:].split("▌")[0].strip()  # a choice's next line
        else:
            current = None
    flat = squash(text)

    def fits(q: Question) -> int:
        full = [squash(c) for c in (("True", "False") if q.kind == "truefalse" else q.choices)]
        return sum(any(f.startswith(squash(shown)) for f in full) for shown in choices.values() if shown)

    candidates = [q for q in questions if squash(q.prompt)[:60] in flat]
    return max(candidates, key=lambda q: (fits(q), len(q.prompt)), default=None), choices


def number_of(choice: str, choices: dict[int, str]) -> str:
    """The number a choice is shown with (the longest match: choices may share a first line)."""
    want = squash(choice)
    matching = [(len(text), number) for number, text in choices.items() if text and want.startswith(squash(text))]
    if not matching:
        raise LookupError(f"choice {choice!r} not on screen: {choices}")
    return str(max(matching)[1])


def answer_keys(q: Question, choices: dict[int, str], right: bool) -> list[str]:
    """The keys that answer `q` (right or wrong) as shown, ending with Enter."""
    if q.kind == "truefalse":
        return ["t" if (q.truth == right) else "f", "Enter"]
    if q.kind in ("choice", "code"):
        picks = [q.choices[i] for i in range(len(q.choices)) if (i in q.correct) == right]
        return [number_of(picks[0], choices), "Enter"]
    if q.kind == "multi":
        picks = [
            q.choices[i] for i in (q.correct if right else [i for i in range(len(q.choices)) if i not in q.correct][:1])
        ]
        return [*(number_of(p, choices) for p in picks), "Enter"]
    if q.kind == "order":
        if not right:
            return ["1", "Enter"]
        keys, current = [], list(range(len(q.choices)))
        for place, item in enumerate(q.correct):
            row = current.index(item)
            keys += [str(row + 1)] + ["["] * (row - place)
            current.insert(place, current.pop(row))
        return [*keys, "Enter"]
    raise ValueError(q.kind)


def walk(home: Path) -> Walk:
    questions = list(load_bank().questions)
    env = {"KATA_HOME": str(home), "EDITOR": "true", "TERM": "xterm-256color", "COLORTERM": "truecolor"}
    env[EDITING_ENV] = os.environ.get(EDITING_ENV, "1")  # the walk runs the clone: uncommitted edits may grade
    term = Terminal(f"kata-walk-{os.getpid()}", [sys.executable, "-m", "kata.cli"], env)
    w = Walk(term)
    expected: list[tuple[str, bool, bool]] = []  # (question, correct, overridden) of each answer kept
    try:
        steps(w, term, questions, expected)
    except Exception as err:  # the walk stops; what it saw so far is kept and reported
        w.problems.append(f"the walk stopped: {type(err).__name__}: {err}")
    finally:
        term.close()
    verify_record(w, home, expected)
    return w


def steps(w: Walk, term: Terminal, questions: list[Question], expected: list[tuple[str, bool, bool]]) -> None:
    w.shot("home", "due today", "Next: kata pipe", "? Help", "q Quit")
    term.keys("?")
    w.shot("help", "App keys", "Esc closes this help.")
    term.escape(lambda text: not shows(text, "Esc closes this help."))
    term.keys("C-p")
    term.wait_for("🔎")  # the palette is open: what is typed goes to its search box, not to Home's keys
    term.type("kata fifo")
    w.shot("palette", "Kata fifo: Named pipes (FIFOs)")
    term.escape(lambda text: "🔎" not in text)
    term.keys("k")
    text = w.shot("katas", "mechanism")
    listed = [k for k in all_katas() if re.search(rf"^ {re.escape(k.id)} ", text, re.M)]
    w.check(len(listed) >= 10, f"katas: only {len(listed)} rows fit at 80x24")
    for kata in listed[:-1]:  # the rows on screen (the list scrolls; the last may be cut by the edge), whole
        w.check(shows(text, kata.mechanism), f"katas: {kata.mechanism!r} not shown whole")
    term.type("pipe")
    term.keys("Enter")
    w.shot("kata pipe", "auto-grade off", "s Start", "a Auto-grade", "? Help", "q Quit")
    term.keys("n", "s")
    w.shot("kata pipe started", "Hint 1/", "Started: e edits pipe.py, g grades it.")
    term.keys("g")
    text = w.shot(
        "grade pipe", re.compile(r"FAIL \d+/\d+ tasks"), TABLE_HEADER, "g Grade again", "r Re-run this test", timeout=90
    )
    w.check("c Cancel" not in text.splitlines()[-1], "grade: c Cancel stays after the run")
    term.keys("Down", "r")
    w.shot("grade pipe, one test re-run", "re-run:", "g grades everything", timeout=60)
    term.escape(lambda text: "g Grade again" not in text)
    term.keys("h")
    w.shot("home again", "Last grades", "Next: kata pipe")
    term.keys("k")
    text = w.shot("katas again", "mechanism")
    w.check("auto-grade" not in text, "k shows the kata last opened, not the Katas list")
    term.escape(lambda text: shows(text, "↓ or Esc: the list"))  # the filter cleared: its placeholder shows
    term.escape(lambda text: "? Help" in text)  # out of the filter, in the list: the app's keys work (footer)
    term.keys("u")
    w.shot("quiz menu", "Practice", "Browse the bank")
    term.keys("Enter")
    practice(w, term, questions, expected)
    term.keys("Escape")
    w.shot("quiz summary", "Summary", "Session over: Enter goes back", "⏎ Back")
    term.keys("Enter", "Down", "Down", "Enter")  # the mock interview
    mock(w, term, questions, expected)
    text = w.shot("mock kata", "The spec:", "s starts it", "g grades it")
    kata = re.search(r"now the kata `([\w-]+)`", text)
    if kata and kata.group(1) != "pipe":
        term.keys("s")
    term.keys("g")
    w.shot("mock kata graded", re.compile(r"(PASS|FAIL|ERROR) \d"), TABLE_HEADER, "g Grade again", timeout=120)
    term.keys("Escape")
    w.shot("mock scorecard", "Mock interview scorecard", re.compile(r"Kata [\w-]+: \w+"), "⏎ Back")
    term.keys("End")  # the kata's report comes after a line per topic: below the view when the mock asked many
    w.shot("mock scorecard, the end", REPORT_TOTALS, "⏎ Back")
    term.keys("Enter", "t")
    w.shot("stats", "Mastery per topic")
    term.keys("End")
    w.shot("stats, the end", "Katas", "Mock interviews (latest first)")
    term.keys("q")
    w.check(term.exited(), "q did not quit the app")
    w.check("Traceback" not in term.screen(), "a traceback after quitting")


def mock(w: Walk, term: Terminal, questions: list[Question], expected: list[tuple[str, bool, bool]]) -> None:
    """Give up on each question up to the design question a mixed mock ends with; write,
    reveal (ctrl+r) and tick one key point of that one."""
    for n in range(1, 13):
        w.shot(f"mock question {n}", "left", "Don't know")
        q, _choices = read_question(term, questions)
        if q is not None and q.kind == "design":
            break
        term.keys("C-d")
        if q is not None:
            expected.append((q.id, False, False))
        term.wait_for("⏎ Next")
        term.keys("Enter")
    else:
        w.check(False, "mock: no design question")
        return
    term.type("A ring in shared memory, a semaphore per side.")
    term.keys("C-r")
    w.shot("design answer revealed", "Key points", "1. ", "⏎ Answer")  # the panel has the keys: it ticks
    term.keys("1", "Enter")
    # the app shows the feedback's first line, the verdict, even when the missed points fill the view
    text = w.shot("design verdict", re.compile(r"(Right|Wrong)\. Covered \d+ of \d+ key points"), "⏎ Next")
    expected.append((q.id, "Right." in text, False))
    term.keys("Enter")


def practice(w: Walk, term: Terminal, questions: list[Question], expected: list[tuple[str, bool, bool]]) -> None:
    """Answer until every kind was met: a slip taken back (ctrl+z) first, a "don't know"
    third, a double Enter after the fourth, the first typed answer counted right (r)."""
    seen: set[str] = set()
    overridden = False
    n = 0
    while not seen >= EVERY_KIND and n < 20:
        n += 1
        w.shot(f"question {n}", "Don't know")
        q, choices = read_question(term, questions)
        if q is None:
            w.check(False, f"question {n}: not found in the bank")
            term.keys("C-d")
            term.wait_for("⏎ Next")
            term.keys("Enter")
            continue
        seen.add(q.kind)
        if n == 1:
            answer(term, q, choices, right=False)
            w.shot("a slip", "^z Undo", "⏎ Next")
            term.keys("C-z")
            w.shot("taken back", "Don't know")
            again, choices = read_question(term, questions)
            w.check(again == q, "undo: the same question is not asked again")
        if n == 3:
            term.keys("C-d")
            w.shot("don't know", "Wrong.", "⏎ Next")
            expected.append((q.id, False, False))
        elif q.kind == "short" and not overridden:
            answer(term, q, choices, right=False)
            w.shot("a typed answer graded wrong", "Wrong. You said: a synonym", "r Count it right")
            term.keys("r")
            w.shot("counted right", "Counted right, as you said")
            overridden = True
            expected.append((q.id, True, True))
        else:
            answer(term, q, choices, right=True)
            text = w.shot(f"answer {n}", re.compile(r"Right\.|Wrong\."), "⏎ Next")
            expected.append((q.id, "Right." in text, False))
        term.wait_for("⏎ Next")
        if n == 4:  # Enter pressed twice: the next question must stay unanswered
            term.keys("Enter", "Enter")
            w.shot("after a double Enter", "first", "Don't know")  # the pop-up: pick (or type) first
        else:
            term.keys("Enter")
    w.check(seen >= EVERY_KIND, f"kinds seen: {sorted(seen)}")


def read_question(term: Terminal, questions: list[Question]) -> tuple[Question | None, dict[int, str]]:
    """The question on screen and all its choices: long code pushes them down, so the
    area is scrolled to its end (End) to read them, then back (Home)."""
    top = term.settle()
    term.keys("End")
    term.still()
    bottom = term.settle()
    term.keys("Home")
    q, choices = shown_question(top, questions)
    q_end, more = shown_question(bottom, questions)
    return q or q_end, {**choices, **{n: t for n, t in more.items() if len(t) >= len(choices.get(n, ""))}}


def answer(term: Terminal, q: Question, choices: dict[int, str], *, right: bool) -> None:
    if q.kind == "short":
        term.type(q.accepted[0] if right else "a synonym")
        term.keys("Enter")
    else:
        term.keys(*answer_keys(q, choices, right=right))


def verify_record(w: Walk, home: Path, expected: list[tuple[str, bool, bool]]) -> None:
    """The store holds what the walk did: those answers, one hint, the grades, two corrections, one mock."""
    from kata.progress import ProgressStore

    with ProgressStore.open_readable(home / "progress.db") as store:
        reviews = [(r.question, r.correct, r.overridden) for r in reversed(store.reviews())]
        w.check(reviews == expected, f"answers recorded {reviews} != given {expected}")
        w.check(store.hints_revealed("pipe") == 1, "hints: not exactly the one asked for")
        pipe = store.attempts("pipe")
        w.check(sum(a.complete for a in pipe) >= 1 and sum(not a.complete for a in pipe) == 1, "pipe attempts")
        w.check(len(store.attempts()) == len(pipe) + (0 if pipe and len(pipe) == 3 else 1), "attempts in all")
        kinds = [c["kind"] for c in store.export()["corrections"]]
        w.check(kinds == ["undo", "override"], f"corrections: {kinds}")
        w.check(len(store.mocks()) == 1, "one mock interview")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write every captured screen to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary KATA_HOME")
    args = parser.parse_args()
    if not shutil.which("tmux"):
        print("walkthrough: needs tmux", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped (timeout): the tmux session still goes
    home = Path(tempfile.mkdtemp(prefix="kata-walk-"))
    try:
        w = walk(home)
        if args.out is not None:
            args.out.write_text("\n".join(w.transcript) + "\n")
    finally:
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    shots = sum(1 for s in w.transcript if s.startswith("====="))
    print(f"walk-through at {WIDTH}x{HEIGHT}: {shots} screens, {w.checks} checks, {len(w.problems)} problems")
    for problem in w.problems:
        print(f"  PROBLEM: {problem}")
    return 1 if w.problems else 0


if __name__ == "__main__":
    sys.exit(main())
