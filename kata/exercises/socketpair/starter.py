"""The `socketpair` kata: a worker process behind one full-duplex stream pipe.

Read the spec first: `kata start socketpair` printed where it is, or `kata show socketpair`.
Run `kata grade socketpair` after each step; every task is graded on its own.
Only the standard library is needed (os, socket, struct).
"""

from __future__ import annotations


class RemoteError(Exception):
    """Raised by `Worker.call` when the handler raised in the worker.

    str(err) is "<TypeName>: <message>" of the remote exception, e.g.
    "ValueError: cannot handle b'x'".
    """


class Worker:
    """A child process serving `handler(request: bytes) -> bytes` over one
    socket.socketpair().

    `pid` is the child's pid. Usable as a context manager (`with Worker(h) as w:`),
    which closes it on exit.
    """

    def __init__(self, handler):
        """Create the socketpair and fork the child that serves requests until the
        parent's end is closed (EOF). Sets `self.pid`."""
        raise NotImplementedError

    def call(self, request: bytes) -> bytes:
        """Send `request` (any size, may be empty), return the handler's response.

        Raises RemoteError when the handler raised (the worker keeps serving), and
        ConnectionError when the worker is gone.
        """
        raise NotImplementedError

    def close(self) -> int:
        """Close the parent's end, reap the child, return its exit status
        (0 normally, -signum when killed by a signal). Idempotent."""
        raise NotImplementedError

    def __enter__(self) -> Worker:
        raise NotImplementedError

    def __exit__(self, *exc) -> None:
        raise NotImplementedError
