"""Reference solution of the `event-loop` kata: one thread and one epoll instance
serve many pipes, FIFOs and sockets at once.

Every fd is non-blocking and registered level-triggered, for exactly the events
the loop can act on now: EPOLLIN on a source while its relay's buffer has room,
EPOLLOUT on a sink while the buffer holds bytes. An fd with nothing to wait for is
unregistered, because epoll reports EPOLLHUP/EPOLLERR even to an empty mask (a
hung-up pipe would wake the loop forever). Signals and stop() reach the loop
through a self-pipe that `signal.set_wakeup_fd` also writes to.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import threading

CHUNK = 64 * 1024  # the most one read() asks for
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
GONE = (BrokenPipeError, ConnectionResetError)  # the other end went away: end that relay only


class _Relay:
    """Bytes read from `source` and not yet written to `sink` (the same fd for an echo)."""

    def __init__(self, source: int, sink: int):
        self.source = source
        self.sink = sink
        self.buffer = bytearray()
        self.eof = False  # the source said EOF: flush the buffer, then close

    def fds(self) -> set[int]:
        return {self.source, self.sink}


class EventLoop:
    def __init__(self, limit: int = 64 * 1024):
        if limit < 1:
            raise ValueError(f"limit must be at least 1 byte, got {limit}")
        self.limit = limit
        self._relays: dict[int, _Relay] = {}  # fd -> its relay (source and sink both)
        self._listeners: dict[int, tuple[socket.socket, str]] = {}  # fd -> (socket, path)
        self._registered: dict[int, int] = {}  # fd -> the event mask epoll holds for it
        self._epoll: select.epoll | None = None
        self._wake_lock = threading.Lock()  # stop() from another thread vs. run() closing the pipe
        self._wake_w = -1
        self._stopping = False

    # --- what to serve --------------------------------------------------------------------

    def relay(self, source: int, sink: int) -> None:
        """Forward bytes from `source` to `sink`; the loop owns both fds from now on."""
        if source in self._relays or sink in self._relays:
            raise ValueError(f"fd {source if source in self._relays else sink} is already served by this loop")
        relay = _Relay(source, sink)
        for fd in relay.fds():
            os.set_blocking(fd, False)  # a read or write that cannot proceed says EAGAIN, never blocks the loop
            self._relays[fd] = relay
        if self._epoll is not None:
            self._update(relay)

    def listen(self, path: str) -> None:
        """A Unix stream socket at `path`; every connection accepted is echoed (a relay to itself)."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(path)
            os.chmod(path, 0o600)
            listener.listen(1024)  # 100+ clients may connect in the same instant
            listener.setblocking(False)
        except BaseException:
            listener.close()
            raise
        self._listeners[listener.fileno()] = (listener, path)
        if self._epoll is not None:
            self._register(listener.fileno(), select.EPOLLIN)

    def stop(self) -> None:
        """Make run() return soon; safe from any thread (and from a signal handler)."""
        self._stopping = True
        with self._wake_lock:
            if self._wake_w >= 0:
                _ring(self._wake_w)

    # --- the loop ---------------------------------------------------------------------------

    def run(self) -> None:
        """Serve until every relay is done and no listener is open, or stop(), SIGTERM, SIGINT."""
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._epoll = select.epoll()
        with self._wake_lock:
            self._wake_w = wake_w
        # The C-level handler writes the signal number into wake_w, whichever thread the kernel
        # picked: the epoll below wakes up. (A handler that only sets a flag is not enough: after
        # EINTR Python runs the handler and then *retries* epoll_wait, PEP 475.)
        previous_fd = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        previous = {signum: signal.signal(signum, self._on_signal) for signum in STOP_SIGNALS}
        try:
            self._register(wake_r, select.EPOLLIN)
            for fd in self._listeners:
                self._register(fd, select.EPOLLIN)
            for relay in set(self._relays.values()):
                self._update(relay)
            while not self._stopping and (self._relays or self._listeners):
                for fd, events in self._epoll.poll():  # no timeout: sleep until something happens
                    if fd == wake_r:
                        _drain(wake_r)
                    elif fd in self._listeners:
                        self._accept(fd)
                    elif fd in self._relays:
                        self._serve(self._relays[fd], fd, events)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            signal.set_wakeup_fd(previous_fd)
            with self._wake_lock:
                self._wake_w = -1
            self._close_everything()
            os.close(wake_r)
            os.close(wake_w)

    def _on_signal(self, signum: int, frame: object) -> None:
        self._stopping = True  # the wake-up byte is already in the self-pipe

    def _accept(self, fd: int) -> None:
        listener = self._listeners[fd][0]
        while True:  # every pending connection: accept() says EAGAIN (BlockingIOError) when none is left
            try:
                conn, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # ECONNABORTED, EMFILE...: that connection only
                return
            conn_fd = conn.detach()
            self.relay(conn_fd, conn_fd)

    def _serve(self, relay: _Relay, fd: int, events: int) -> None:
        try:
            if fd == relay.sink and relay.buffer and events & (select.EPOLLOUT | select.EPOLLERR | select.EPOLLHUP):
                self._write(relay)
            if fd == relay.source and not relay.eof and len(relay.buffer) < self.limit:
                if events & (select.EPOLLIN | select.EPOLLERR | select.EPOLLHUP):
                    self._read(relay)
            elif fd == relay.sink and not relay.buffer and events & (select.EPOLLERR | select.EPOLLHUP):
                raise BrokenPipeError  # nothing to write and the reader is gone
        except GONE:
            self._finish(relay)
            return
        if relay.eof and not relay.buffer:
            self._finish(relay)
        else:
            self._update(relay)

    def _read(self, relay: _Relay) -> None:
        try:
            # never more than the buffer has room for: that is the back-pressure
            data = os.read(relay.source, min(CHUNK, self.limit - len(relay.buffer)))
        except (BlockingIOError, InterruptedError):
            return  # a spurious wake-up: nothing to read after all
        if data:
            relay.buffer += data
            self._write(relay)  # try at once: most of the time the sink has room, and no EPOLLOUT is needed
        else:
            relay.eof = True

    def _write(self, relay: _Relay) -> None:
        try:
            sent = os.write(relay.sink, relay.buffer)  # may write only part of it
        except (BlockingIOError, InterruptedError):
            return
        del relay.buffer[:sent]  # keep the rest for the next EPOLLOUT

    def _finish(self, relay: _Relay) -> None:
        for fd in relay.fds():
            self._unregister(fd)
            del self._relays[fd]
            os.close(fd)

    # --- epoll bookkeeping ------------------------------------------------------------------

    def _update(self, relay: _Relay) -> None:
        """Ask epoll for exactly what the relay can act on now."""
        wanted = dict.fromkeys(relay.fds(), 0)
        if not relay.eof and len(relay.buffer) < self.limit:
            wanted[relay.source] |= select.EPOLLIN
        if relay.buffer:
            wanted[relay.sink] |= select.EPOLLOUT
        for fd, mask in wanted.items():
            if mask:
                self._register(fd, mask)
            else:
                self._unregister(fd)

    def _register(self, fd: int, mask: int) -> None:
        assert self._epoll is not None
        if fd not in self._registered:
            self._epoll.register(fd, mask)
        elif self._registered[fd] != mask:
            self._epoll.modify(fd, mask)
        self._registered[fd] = mask

    def _unregister(self, fd: int) -> None:
        if self._registered.pop(fd, None) is not None and self._epoll is not None:
            self._epoll.unregister(fd)

    def _close_everything(self) -> None:
        for relay in set(self._relays.values()):
            for fd in relay.fds():
                os.close(fd)
        self._relays.clear()
        for listener, path in self._listeners.values():
            listener.close()
            os.unlink(path)  # a socket file outlives its socket
        self._listeners.clear()
        self._registered.clear()
        if self._epoll is not None:
            self._epoll.close()
            self._epoll = None


def _ring(fd: int) -> None:
    try:
        os.write(fd, b"\0")
    except BlockingIOError:
        pass  # the pipe is full: the loop will wake up anyway


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass
