"""How responsive the TUI is: first frame, keypress to next question, frame gaps while grading.

    python bench/tui.py [--runs 5]

- first frame: a real `kata` process in an 80x24 pseudo-terminal (fresh
  $KATA_HOME), from spawn until the home screen is drawn (its key line), and
  until its due line is in (the question bank is read in a worker).
- keypress: in the same process, a practice session: ctrl+d (don't know, in every
  kind), then `Enter`, timed from writing the key to the terminal until the next
  question's progress line ("[n/20]") is drawn.
- frame gap: a 10 ms timer in the app (`App.run_test`) while the pipe reference
  is graded in the worker; the longest delay between two ticks.

Baselines, same run: a bare Textual app in the same terminal (first frame of one
line; a key that redraws that line), and the 10 ms timer on an idle app.
Goals (issue 10): first frame <= 1 s, keypress <= 50 ms, no frame gap > 100 ms.
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
BARE_APP = """
from textual.app import App
from textual.widgets import Static

class Bare(App):
    presses = 0

    def compose(self):
        yield Static("drawn")

    def on_key(self, event):
        if event.key == "ctrl+q":
            self.exit()
        self.presses += 1
        self.query_one(Static).update(f"key {self.presses} pressed")

Bare().run()
"""


class Terminal:
    """A command in an 80x24 pty; `wait_for` times how long until some text is drawn."""

    def __init__(self, argv: list[str], env: dict):
        self.started = time.perf_counter()
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execvpe(argv[0], argv, env)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))
        self.unread = b""  # output since the last key
        self.argv = argv

    def wait_for(self, text: bytes, timeout: float = 30.0) -> float:
        """Seconds since spawn until `text` was drawn (escape sequences aside)."""
        while text not in ESCAPES.sub(b"", self.unread):
            if time.perf_counter() - self.started > timeout + 30 or not select.select([self.fd], [], [], timeout)[0]:
                raise SystemExit(f"{' '.join(self.argv)}: {text!r} not drawn within {timeout:.0f} s")
            self.unread += os.read(self.fd, 65536)
        return time.perf_counter() - self.started

    def press(self, key: bytes, then: bytes) -> float:
        """Seconds from writing `key` until `then` is drawn."""
        self.unread = b""
        sent = time.perf_counter()
        os.write(self.fd, key)
        return self.wait_for(then) - (sent - self.started)

    def close(self) -> None:
        try:
            os.write(self.fd, b"\x11")  # ctrl+q
            while select.select([self.fd], [], [], 5)[0]:
                os.read(self.fd, 65536)  # drain until the child closes the terminal
        except OSError:
            pass  # EIO: the child is gone
        os.waitpid(self.pid, 0)
        os.close(self.fd)


def kata_run(kata: str, env: dict) -> tuple[float, float, list[float]]:
    """(first frame, due line in, [Enter to next question]) of one launch."""
    term = Terminal([kata], env)
    try:
        frame = term.wait_for(b"k katas")
        due = term.wait_for(b"due today")
        term.press(b"u", b"Mock interview")
        total = 20  # practice on a fresh home: the session's default count
        term.press(b"\r", f"[1/{total}]".encode())
        nexts = []
        for n in range(2, total + 1):
            term.press(b"\x04", b"Wrong.")  # ctrl+d: don't know
            nexts.append(term.press(b"\r", f"[{n}/{total}]".encode()))
        return frame, due, nexts
    finally:
        term.close()


def bare_run(env: dict, presses: int = 20) -> tuple[float, list[float]]:
    """(first frame, [key to redraw]) of the bare Textual app."""
    term = Terminal([sys.executable, "-c", BARE_APP], env)
    try:
        frame = term.wait_for(b"drawn")
        return frame, [term.press(b"x", f"key {n} pressed".encode()) for n in range(1, presses + 1)]
    finally:
        term.close()


async def frame_gaps(store, grading: bool) -> tuple[float, float, float]:
    """(p99 gap, longest gap, seconds watched) of a 10 ms timer, during a grade of the pipe
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
        timer = app.set_interval(0.01, tick)
        if grading:
            screen = GradeScreen("pipe", load_kata("pipe").solution_path, record=False)
            await app.push_screen(screen)
            while screen.result is None:
                await asyncio.sleep(0.05)
            if screen.result.status != "pass":
                raise SystemExit(f"the pipe reference did not pass: {screen.result.message}")
        else:
            await asyncio.sleep(3.0)
        timer.stop()
        watched = time.perf_counter() - started
        await pilot.press("q")
    gaps.sort()
    return gaps[int(len(gaps) * 0.99)], gaps[-1], watched


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="launches of kata and of the bare app")
    args = parser.parse_args()

    from kata.progress import ProgressStore

    kata = shutil.which("kata", path=str(Path(sys.executable).parent)) or "kata"
    frames, dues, nexts, bare_frames, bare_keys = [], [], [], [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="bench-tui-") as home:
            env = {**os.environ, "KATA_HOME": home, "TERM": "xterm-256color"}
            frame, due, presses = kata_run(kata, env)
            frames.append(frame)
            dues.append(due)
            nexts += presses
            frame, presses = bare_run(env)
            bare_frames.append(frame)
            bare_keys += presses
    with tempfile.TemporaryDirectory(prefix="bench-tui-") as home:
        os.environ["KATA_HOME"] = home
        with ProgressStore.open() as store:
            gap_p99, gap, watched = asyncio.run(frame_gaps(store, grading=True))
            idle_p99, idle_gap, _ = asyncio.run(frame_gaps(store, grading=False))

    def spread(values: list[float]) -> tuple[str, str]:
        return ms(statistics.median(values)), ms(max(values))

    rows = [
        ("first frame: kata (home drawn)", *spread(frames), "<= 1000 ms"),
        ("first frame: kata, due line in", *spread(dues), ""),
        ("first frame: bare Textual app", *spread(bare_frames), "baseline"),
        ("keypress: Enter to next question", *spread(nexts), "<= 50 ms"),
        ("keypress: bare app, key to redraw", *spread(bare_keys), "baseline"),
        (f"frame gap: grading pipe ({watched:.1f} s), p99", ms(gap_p99), ms(gap), "<= 100 ms"),
        ("frame gap: idle app, p99", ms(idle_p99), ms(idle_gap), "baseline"),
    ]
    print(f"{'measure':<44} {'median':>10} {'max':>10}  goal")
    for name, typical, worst, goal in rows:
        print(f"{name:<44} {typical:>10} {worst:>10}  {goal}")
    print(f"({args.runs} launches, {len(nexts)} questions; the frame-gap rows show p99 in the median column)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
