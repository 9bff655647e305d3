"""The app in a real terminal (a pty) that goes away, or is told to stop: it quits as q does.

kata once outlived its terminal: Textual's writer thread died on the closed terminal's first
failed write and the app's thread then waited forever to queue one more (kata/tui/terminal.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# As a terminal starts kata: SIGHUP and SIGTERM at their defaults, whatever ran this suite (nohup
# ignores SIGHUP, and an ignored signal stays ignored across exec and in the app).
START = (
    "import signal, sys; from kata.cli import main; "
    "[signal.signal(sig, signal.SIG_DFL) for sig in (signal.SIGHUP, signal.SIGTERM)]; "
    "sys.exit(main([]))"
)
DRAWN = b"q quit"  # Home's key line: the first screen is up
BOUND = 60.0  # seconds: a hang, not a measurement


class Terminal:
    """A pty whose other end runs `kata` (the app), optionally as its controlling terminal."""

    def __init__(self, home: Path, controlling: bool):
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        env = {**os.environ, "KATA_HOME": str(home), "TERM": "xterm-256color"}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", START],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
            preexec_fn=(lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0)) if controlling else None,
        )
        os.close(slave)
        self.screen = b""

    def wait_for(self, text: bytes) -> None:
        deadline = time.monotonic() + BOUND
        while text not in self.screen:
            assert time.monotonic() < deadline, f"{text!r} never drawn; the screen so far:\n{self.screen[-2000:]!r}"
            if select.select([self.master], [], [], 0.5)[0]:
                self.screen += os.read(self.master, 65536)

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def close(self) -> None:
        if self.master >= 0:
            os.close(self.master)
            self.master = -1

    def ended(self) -> int | None:
        """The app's exit status once it ended (within BOUND), None if it is still there."""
        try:
            return self.proc.wait(timeout=BOUND)
        except subprocess.TimeoutExpired:
            return None


@contextlib.contextmanager
def app_in_terminal(tmp_path: Path, controlling: bool = True) -> Iterator[Terminal]:
    terminal = Terminal(tmp_path / "home", controlling)
    try:
        terminal.wait_for(DRAWN)
        yield terminal
    finally:
        terminal.close()
        if terminal.proc.poll() is None:
            os.killpg(terminal.proc.pid, signal.SIGKILL)
        terminal.proc.wait()


@pytest.mark.parametrize("controlling", [True, False], ids=["its-SIGHUP", "failed-writes-only"])
def test_closing_the_terminal_ends_the_app(tmp_path, controlling):
    """Told by the terminal's SIGHUP (the app leads the terminal's session), or, where no signal comes
    (not its controlling terminal), by the failed writes of the filter's blinking cursor. A text field
    is focused, as under `make run` when the app outlived its terminal."""
    with app_in_terminal(tmp_path, controlling) as terminal:
        terminal.type(b"k")
        terminal.wait_for(b"type to filter")
        terminal.close()
        status = terminal.ended()
        assert status is not None, "kata is still running after its terminal closed"
        assert status == 128 + signal.SIGHUP


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_kill_ends_the_app_and_gives_the_terminal_back(tmp_path, sig):
    with app_in_terminal(tmp_path) as terminal:
        terminal.proc.send_signal(sig)
        terminal.wait_for(b"\x1b[?1049l")  # the alternate screen left: the terminal as it was
        assert terminal.ended() == 128 + sig
