"""Events from the sandboxed pytest run to the runner, as Unix datagrams.

A datagram is delivered whole, so events from several processes never
interleave; a fresh socket per event means the learner's code can close every
fd it likes and the next event still gets through.
"""

from __future__ import annotations

import json
import socket

MAX_EVENT = 192 * 1024  # below the default unix datagram buffer (212 992 bytes)


def send_event(path: str, event: dict) -> None:
    data = json.dumps(event).encode()
    if len(data) > MAX_EVENT:
        raise ValueError(f"event of {len(data)} bytes is larger than {MAX_EVENT}")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(data, path)


class EventReceiver:
    """The runner's end: bound to `path`, readable through `fileno()`."""

    def __init__(self, path: str):
        self.path = path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(path)
        self._sock.setblocking(False)

    def fileno(self) -> int:
        return self._sock.fileno()

    def drain(self) -> list[dict]:
        events = []
        while True:
            try:
                data = self._sock.recv(MAX_EVENT + 1024)
            except BlockingIOError:
                return events
            events.append(json.loads(data))

    def close(self) -> None:
        self._sock.close()
