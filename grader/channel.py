"""The transport of grader/protocol.py's events: Unix datagrams from the sandbox to the runner.

A datagram is delivered whole, so events from several processes never
interleave; a fresh socket per event means the learner's code can close every
fd it likes and the next event still gets through.
"""

from __future__ import annotations

import os
import socket

from grader.protocol import Envelope, Event, ProtocolError, decode, encode

MAX_EVENT = 192 * 1024  # below the default unix datagram buffer (212 992 bytes)


class EventSender:
    """The sandbox's end: sends the events of one session."""

    def __init__(self, path: str | os.PathLike[str], session: int):
        self.path = os.fspath(path)
        self.session = session

    def send(self, event: Event) -> None:
        data = encode(self.session, event)
        if len(data) > MAX_EVENT:
            raise ValueError(f"{event.tag} event of {len(data)} bytes is larger than {MAX_EVENT}")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(data, self.path)


class EventReceiver:
    """The runner's end: bound to `path`, readable through `fileno()`."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = os.fspath(path)
        self.rejected: list[str] = []  # why each malformed datagram was dropped
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self.path)
        self._sock.setblocking(False)

    def fileno(self) -> int:
        return self._sock.fileno()

    def drain(self) -> list[Envelope]:
        """Every event waiting, in arrival order; malformed datagrams are dropped (see `rejected`)."""
        envelopes: list[Envelope] = []
        while True:
            try:
                data = self._sock.recv(MAX_EVENT + 1024)
            except BlockingIOError:
                return envelopes
            try:
                envelopes.append(decode(data))
            except ProtocolError as err:
                self.rejected.append(str(err))

    def close(self) -> None:
        self._sock.close()
