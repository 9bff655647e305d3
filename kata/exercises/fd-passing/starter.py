"""The `fd-passing` kata: open descriptors handed between processes over Unix sockets.

Read the spec first: `kata start fd-passing` printed where it is, or `kata show fd-passing`.
Run `kata grade fd-passing` after each step; every task is graded on its own.
Only the standard library is needed (socket, os, struct, errno, threading).
"""

from __future__ import annotations

import socket


class FdsTruncated(OSError):
    """Raised by `recv_fds` when more descriptors came with the message than it made
    room for (the kernel set MSG_CTRUNC). Given: do not change."""


# --- task 1 ---------------------------------------------------------------------------------


def send_fds(sock: socket.socket, data: bytes, fds: list[int]) -> None:
    """Send `data` and every descriptor of `fds` in ONE message (one SCM_RIGHTS
    control message) on the connected Unix socket `sock`.

    `data` must hold at least one byte (ValueError otherwise): the descriptors travel
    with it. The caller keeps its own descriptors open (and closes them when it wants).
    """
    raise NotImplementedError


def recv_fds(sock: socket.socket, bufsize: int, maxfds: int) -> tuple[bytes, list[int]]:
    """Receive one message of at most `bufsize` bytes and at most `maxfds` descriptors:
    (data, fds), the fds in the order they were sent; (b"", []) at EOF.

    When more descriptors came than `maxfds` (MSG_CTRUNC), close the ones that did
    arrive and raise FdsTruncated. Every fd returned is the caller's to close.
    """
    raise NotImplementedError


# --- task 2 ---------------------------------------------------------------------------------


class OpenerServer:
    """A server on the Unix socket `path` that opens files of the folder `root`
    (read-only) for its clients and passes them the descriptor.

    `allow(pid, uid, gid) -> bool` is called with the client's credentials from
    SO_PEERCRED; a client it refuses gets EACCES. Serves in a background thread.
    """

    def __init__(self, path: str, root: str, allow):
        """Remember the arguments; do not bind yet."""
        raise NotImplementedError

    def start(self) -> None:
        """Bind (socket file mode 0600), listen, serve in the background; return once listening."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop serving, join the thread, close the socket and remove the socket file."""
        raise NotImplementedError


def request_file(path: str, name: str) -> int:
    """Ask the OpenerServer at `path` for the file `name`: a new descriptor, open for
    reading, that the caller must close.

    The server's refusal is raised as OSError with its errno (PermissionError for
    EACCES, FileNotFoundError for ENOENT, OSError(EINVAL) for a bad name); FdsTruncated
    when the answer carries more than one descriptor.
    """
    raise NotImplementedError


# --- task 3 ---------------------------------------------------------------------------------


class PreforkServer:
    """A server on the Unix socket `path` whose `workers` child processes, forked at
    start(), serve the connections it accepts: it passes each accepted connection to
    one worker over that worker's socketpair. A worker reads the request to EOF, sends
    `handler(request)` and closes the connection.

    `pids` lists the workers' pids once started.
    """

    def __init__(self, path: str, workers: int, handler):
        """Remember the arguments; `self.pids = []`."""
        raise NotImplementedError

    def start(self) -> None:
        """Bind (mode 0600) and listen, fork the workers, then start dispatching in a
        background thread; return once listening."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop accepting, remove the socket file, close every worker's channel (EOF:
        the worker exits 0) and reap every worker."""
        raise NotImplementedError
