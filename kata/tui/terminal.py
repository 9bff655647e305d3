"""The app's terminal driver: Textual's own, made to notice that the terminal is gone.

When a terminal closes (its window, `tmux kill-session`, a dropped ssh link) every write
to it fails (EIO) and every read returns "end of file" at once. Textual 8's driver does
not survive that: its writer thread dies on the first failed write, the next thirty writes
fill its queue, and the app's thread then waits forever to queue one more; its input thread
goes on reading the end of file, a quarter of a CPU, for ever. `kata` outlived its terminal
that way (run through `make run`). Here a failed write drops the output from then on and
tells the app (`TerminalGone`), which quits as q does: grades stop and clean up.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import IO, Any

from textual.drivers.linux_driver import LinuxDriver
from textual.message import Message


class TerminalGone(Message):
    """The terminal cannot be written to any more: nothing the app draws reaches anyone."""


class _Terminal:
    """The writer thread's file: writes that fail (the terminal is gone) are dropped, once said."""

    def __init__(self, file: IO[str], gone: Callable[[], None]):
        self._file = file
        self._gone = gone
        self.lost = False

    def write(self, text: str) -> None:
        self._attempt(self._file.write, text)

    def flush(self) -> None:
        self._attempt(self._file.flush)

    def fileno(self) -> int:
        return self._file.fileno()

    def _attempt(self, operation: Callable[..., object], *args: str) -> None:
        if self.lost:
            return
        try:
            operation(*args)
        except OSError:
            self.lost = True
            _output_to_nowhere()
            self._gone()


def _output_to_nowhere() -> None:
    """Point stdout and stderr at /dev/null: what is still buffered for the dead terminal goes nowhere,
    quietly, when Python flushes it at exit (a failed flush there makes the exit status 120)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


class TerminalDriver(LinuxDriver):
    """LinuxDriver whose output survives the terminal's end and reports it to the app."""

    def __init__(self, app: Any, **kwargs: Any):
        super().__init__(app, **kwargs)
        if self._file is not None:  # a file in all LinuxDriver does with it (write, flush, fileno)
            self._file = _Terminal(self._file, lambda: app.post_message(TerminalGone()))  # type: ignore[assignment]
