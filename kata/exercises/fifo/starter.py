"""The `fifo` kata: a named pipe that unrelated processes write lines into.

Read the spec first: `kata start fifo` printed where it is, or `kata show fifo`.
Run `kata grade fifo` after each step; every task is graded on its own.
Only the standard library is needed (os, select, stat, errno, time).
"""

from __future__ import annotations

import select

PIPE_BUF = select.PIPE_BUF  # 4096 on Linux: a write of at most this many bytes is atomic


class FifoServer:
    """Creates the FIFO at `path` and collects the lines any process writes into it."""

    def __init__(self, path: str):
        """Create the FIFO with mode 0600 (reuse an existing FIFO; raise FileExistsError
        when the path holds anything else) and open it for reading without waiting
        for a writer."""
        raise NotImplementedError

    def receive(self, count: int, timeout: float) -> list[str]:
        """Return the next `count` lines (without their newline) in arrival order;
        fewer only when `timeout` seconds pass first. Lines that arrive beyond `count`
        are kept for the next call."""
        raise NotImplementedError

    def close(self) -> None:
        """Close every fd of the server and remove the FIFO. Calling it twice is harmless."""
        raise NotImplementedError

    def __enter__(self) -> FifoServer:  # given: `with FifoServer(path) as server:`
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def send(path: str, line: str) -> None:
    """Write `line` plus a newline into the FIFO at `path` with one atomic write().

    ValueError when the line contains a newline or is longer than PIPE_BUF bytes once
    encoded (UTF-8) with its newline; FileNotFoundError when there is no FIFO at `path`;
    never blocks forever when no process reads the FIFO (raise BrokenPipeError); waits
    while the FIFO is full.
    """
    raise NotImplementedError
