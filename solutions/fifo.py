"""Reference solution of the `fifo` kata: a named pipe between unrelated processes."""

from __future__ import annotations

import errno
import os
import select
import stat
import time

PIPE_BUF = select.PIPE_BUF  # 4096 on Linux: writes up to this size are atomic
CHUNK = 1 << 16  # the default pipe capacity: one read empties a full pipe


class FifoServer:
    """Creates the FIFO at `path` and collects the lines any process writes into it."""

    def __init__(self, path: str):
        self.path = path
        self._read_fd = self._write_fd = -1
        self._partial = b""  # the start of a line whose end has not arrived yet
        self._lines: list[str] = []  # complete lines not handed out yet
        try:
            os.mkfifo(path, 0o600)
        except FileExistsError:
            if not stat.S_ISFIFO(os.lstat(path).st_mode):
                raise FileExistsError(errno.EEXIST, "exists and is not a FIFO: refusing to replace it", path) from None
            # a FIFO left behind by a server that crashed: reuse it
        try:
            os.chmod(path, 0o600)  # mkfifo's mode goes through the umask; a reused FIFO keeps its old mode
            # O_NONBLOCK: a plain O_RDONLY open would block until some writer opens the FIFO.
            self._read_fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            # Our own write end: while it is open, read() never returns EOF when the
            # last writer goes away, so the server outlives any number of writers.
            self._write_fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except BaseException:
            self.close()
            raise

    def receive(self, count: int, timeout: float) -> list[str]:
        """Up to `count` lines (without their newline), fewer only if `timeout` seconds pass first."""
        deadline = time.monotonic() + timeout
        while len(self._lines) < count:
            remaining = max(0.0, deadline - time.monotonic())
            readable, _, _ = select.select([self._read_fd], [], [], remaining)
            if not readable:
                if remaining == 0.0:
                    break
                continue
            try:
                chunk = os.read(self._read_fd, CHUNK)
            except BlockingIOError:  # another reader took it first
                continue
            # A read returns bytes, not lines: keep the unfinished tail for the next read.
            *complete, self._partial = (self._partial + chunk).split(b"\n")
            self._lines.extend(line.decode("utf-8", "replace") for line in complete)
        lines, self._lines = self._lines[:count], self._lines[count:]
        return lines

    def close(self) -> None:
        """Close both ends and remove the FIFO (idempotent)."""
        for fd in (self._read_fd, self._write_fd):
            if fd >= 0:
                os.close(fd)
        if self._read_fd >= 0 or self._write_fd >= 0:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        self._read_fd = self._write_fd = -1

    def __enter__(self) -> FifoServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def send(path: str, line: str) -> None:
    """Write `line` and a newline into the FIFO at `path` with one atomic write()."""
    if "\n" in line:
        raise ValueError("a line must not contain a newline: the reader would see two lines")
    data = (line + "\n").encode()
    if len(data) > PIPE_BUF:
        raise ValueError(
            f"the line is {len(data)} bytes encoded with its newline; only writes of at most "
            f"PIPE_BUF ({PIPE_BUF}) bytes are atomic"
        )
    try:
        # O_NONBLOCK: without a reader, a plain O_WRONLY open would block forever;
        # this one fails at once with ENXIO. No O_CREAT: a missing FIFO is an error.
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as err:
        if err.errno == errno.ENXIO:
            raise BrokenPipeError(errno.EPIPE, "no process has the FIFO open for reading", path) from None
        raise
    try:
        os.set_blocking(fd, True)  # while the FIFO is full, wait for room instead of failing with EAGAIN
        os.write(fd, data)  # at most PIPE_BUF bytes: all of it at once, never mixed with another writer's
    finally:
        os.close(fd)
