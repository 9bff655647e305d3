"""How responsive the TUI is: first frame, keypress to next question, frame gaps while grading.

    python bench/tui.py [--runs 5] [--presses 40]

- first frame: a real `kata` process in an 80x24 pseudo-terminal, from spawn until
  the home screen is drawn (its key line), and until its due line is in (the
  question bank is read in a worker); then a bare Textual app drawing one line
  (the floor: interpreter, Textual and a terminal).
- keypress: the pilot (`App.run_test`) in a drill of choice questions; the time
  `Enter` takes, after an answer, until the app is idle with the next question shown;
  the baseline is a key that nothing is bound to.
- frame gap: a 10 ms timer in the app while the pipe reference is graded in the
  worker; the longest delay between two ticks, against the same timer on an idle app.

Goals (issue 10): first frame <= 1 s, keypress <= 50 ms, no gap > 100 ms.
"""
from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import pty
import re
import select
import shutil
import statistics
import struct
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZE = (80, 24)
ESCAPES = re.compile(rb"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")
BARE_APP = "from textual.app import App\nfrom textual.widgets import Static\n" \
           "class Bare(App):\n    def compose(self):\n        yield Static('drawn')\nBare().run()\n"


def first_frame(argv: list[str], markers: list[bytes], env: dict, timeout: float = 30.0) -> list[float]:
    """Seconds from spawning `argv` in an 80x24 pty until each of `markers` is on screen; then ctrl+q."""
    started = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(argv[0], argv, env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))
    seen, drawn = b"", {}
    try:
        while len(drawn) < len(markers) and time.perf_counter() - started < timeout:
            if select.select([fd], [], [], 0.5)[0]:
                seen += os.read(fd, 65536)
                text = ESCAPES.sub(b"", seen)
                drawn.update({m: time.perf_counter() - started for m in markers if m in text and m not in drawn})
        os.write(fd, b"\x11")  # ctrl+q
        while select.select([fd], [], [], 5)[0]:
            os.read(fd, 65536)  # drain until the child closes the terminal
    except OSError:
        pass  # EIO: the child is gone
    finally:
        os.waitpid(pid, 0)
        os.close(fd)
    if len(drawn) < len(markers):
        raise SystemExit(f"{' '.join(argv)}: {markers!r} not all drawn within {timeout:.0f} s")
    return [drawn[m] for m in markers]


async def keypresses(store, presses: int) -> tuple[list[float], list[float]]:
    """(Enter to the next question, an unbound key) in seconds, one per press."""
    from kata.quiz.bank import load_bank
    from kata.quiz.session import QuizSession
    from kata.tui.app import KataApp
    from kata.tui.quiz import QuizScreen

    plan = [q for q in load_bank().questions if q.kind == "choice"][:presses]
    app = KataApp(store)
    nexts, idle = [], []
    async with app.run_test(size=SIZE) as pilot:
        screen = QuizScreen("drill", session=QuizSession(store, plan, mode="drill"))
        await app.push_screen(screen)
        for q in plan[:-1]:
            await pilot.press(str(q.correct[0] + 1))
            for key, into in (("z", idle), ("enter", nexts)):
                started = time.perf_counter()
                await pilot.press(key)
                into.append(time.perf_counter() - started)
            assert screen.stage == "question", "Enter did not bring the next question"
    return nexts, idle


async def frame_gaps(store, grading: bool) -> tuple[float, float, float]:
    """(longest gap, p99 gap, seconds watched) of a 10 ms timer, during a grade of the pipe
    reference or, for the baseline, on an idle app for about as long."""
    from grader.catalog import load_kata
    from kata.tui.app import KataApp
    from kata.tui.grade import GradeScreen

    app = KataApp(store)
    gaps: list[float] = []
    async with app.run_test(size=SIZE) as pilot:
        last = time.perf_counter()

        def tick() -> None:
            nonlocal last
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

        started = time.perf_counter()
        if grading:
            screen = GradeScreen("pipe", load_kata("pipe").solution_path, record=False)
            await app.push_screen(screen)
            timer = app.set_interval(0.01, tick)
            while screen.result is None:
                await asyncio.sleep(0.05)
            if screen.result.status != "pass":
                raise SystemExit(f"the pipe reference did not pass: {screen.result.message}")
        else:
            timer = app.set_interval(0.01, tick)
            await asyncio.sleep(3.0)
        timer.stop()
        await pilot.press("q")
    gaps.sort()
    return gaps[-1], gaps[int(len(gaps) * 0.99)], time.perf_counter() - started


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="launches per first-frame figure")
    parser.add_argument("--presses", type=int, default=40, help="questions in the keypress drill")
    args = parser.parse_args()

    from kata.progress import ProgressStore

    kata = shutil.which("kata", path=str(Path(sys.executable).parent)) or "kata"
    with tempfile.TemporaryDirectory(prefix="bench-tui-") as home:
        env = {**os.environ, "KATA_HOME": home, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
        frame, due = zip(*(first_frame([kata], [b"k katas", b"due today"], env) for _ in range(args.runs)))
        bare = [first_frame([sys.executable, "-c", BARE_APP], [b"drawn"], env)[0] for _ in range(args.runs)]
        os.environ["KATA_HOME"] = home
        with ProgressStore.open() as store:
            nexts, unbound = asyncio.run(keypresses(store, args.presses))
            gap, p99, watched = asyncio.run(frame_gaps(store, grading=True))
            idle_gap, idle_p99, _ = asyncio.run(frame_gaps(store, grading=False))

    rows = [
        ("first frame: kata", ms(statistics.median(frame)), ms(max(frame)), "<= 1000 ms"),
        ("first frame: kata, due line in", ms(statistics.median(due)), ms(max(due)), ""),
        ("first frame: bare Textual app", ms(statistics.median(bare)), ms(max(bare)), "baseline"),
        ("keypress: Enter to next question", ms(statistics.median(nexts)), ms(max(nexts)), "<= 50 ms"),
        ("keypress: unbound key", ms(statistics.median(unbound)), ms(max(unbound)), "baseline"),
        (f"frame gap: grading pipe ({watched:.1f} s), p99", ms(p99), ms(gap), "<= 100 ms"),
        ("frame gap: idle app, p99", ms(idle_p99), ms(idle_gap), "baseline"),
    ]
    print(f"{'measure':<42} {'median/p99':>11} {'max':>11}  goal")
    for name, typical, worst, goal in rows:
        print(f"{name:<42} {typical:>11} {worst:>11}  {goal}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
