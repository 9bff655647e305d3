"""An event loop: one thread, one epoll (or selectors) instance, many pipes,
FIFOs and sockets served at once. Read the spec: `kata start event-loop` shows it."""

from __future__ import annotations


class EventLoop:
    """Relays bytes between fds and echoes Unix socket connections, all in one thread."""

    def __init__(self, limit: int = 64 * 1024):
        """`limit`: the most bytes held for one relay (read from its source, not yet written to its
        sink). While a relay holds `limit` bytes, the loop reads nothing more from its source."""
        raise NotImplementedError

    def relay(self, source: int, sink: int) -> None:
        """Forward every byte read from fd `source` to fd `sink`, in order. The loop owns both fds from now
        on: it makes them non-blocking and closes them when the relay ends (EOF on `source` once every byte
        is written; or `sink`'s reader gone). `source == sink` (a socket) echoes the fd to itself.
        Call it before run(), or from the loop's own thread."""
        raise NotImplementedError

    def listen(self, path: str) -> None:
        """Listen on a Unix stream socket at `path` (mode 0600); every connection accepted is echoed back
        to itself (a relay with source == sink). The socket file is removed when run() ends."""
        raise NotImplementedError

    def stop(self) -> None:
        """Make run() return soon. Safe to call from any thread, while run() waits for events."""
        raise NotImplementedError

    def run(self) -> None:
        """Serve every relay and listener in the calling (main) thread, waiting in one epoll/select call
        without a timeout. Returns when no relay and no listener is left, or soon after stop(), SIGTERM or
        SIGINT. On return: every fd of the loop is closed, socket files removed, and the signal handlers
        and the wakeup fd it changed are put back."""
        raise NotImplementedError
