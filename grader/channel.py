"""The transport of grader/protocol.py's events: Unix datagrams from the sandbox to the runner.

A datagram is delivered whole, so events from several processes never
interleave; a fresh socket per event means the learner's code can close every
fd it likes and the next event still gets through. Any process of the same user
can send to the runner's socket, so every event is signed with the run's key
(protocol.encode) and the receiver drops what is not, noting who sent it: the
kernel attaches the sender's pid to each datagram (SO_PASSCRED).
"""

from __future__ import annotations

import os
import socket
import struct

from grader.protocol import Envelope, Event, ProtocolError, Unsigned, decode, encode

MAX_EVENT = 192 * 1024  # below the default unix datagram buffer (212 992 bytes)
_CREDENTIALS = struct.Struct("3i")  # struct ucred: pid, uid, gid


class EventSender:
    """The sandbox's end: sends the events of one session, signed with the run's key."""

    def __init__(self, path: str | os.PathLike[str], session: int, key: bytes):
        self.path = os.fspath(path)
        self.session = session
        self._key = key

    def send(self, event: Event) -> None:
        data = encode(self.session, event, self._key)
        if len(data) > MAX_EVENT:
            raise ValueError(f"{event.tag} event of {len(data)} bytes is larger than {MAX_EVENT}")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(data, self.path)


class EventReceiver:
    """The runner's end: bound to `path`, readable through `fileno()`."""

    def __init__(self, path: str | os.PathLike[str], key: bytes):
        self.path = os.fspath(path)
        self.rejected: list[str] = []  # why each malformed (but signed) datagram was dropped
        self.unsigned: list[int] = []  # the sender's pid of each datagram not signed with the run's key
        self._key = key
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self._sock.bind(self.path)
        os.chmod(self.path, 0o600)
        self._sock.setblocking(False)

    def fileno(self) -> int:
        return self._sock.fileno()

    def drain(self) -> list[Envelope]:
        """Every event waiting, in arrival order; unsigned and malformed datagrams are dropped
        (see `unsigned` and `rejected`)."""
        envelopes: list[Envelope] = []
        while True:
            try:
                data, ancillary, _flags, _address = self._sock.recvmsg(
                    MAX_EVENT + 1024, socket.CMSG_SPACE(_CREDENTIALS.size)
                )
            except BlockingIOError:
                return envelopes
            try:
                envelopes.append(decode(data, self._key))
            except Unsigned:
                self.unsigned.append(_sender(ancillary))
            except ProtocolError as err:
                self.rejected.append(str(err))

    def close(self) -> None:
        self._sock.close()


def _sender(ancillary: list[tuple[int, int, bytes]]) -> int:
    """The sending process's pid from SCM_CREDENTIALS (0 when the kernel gave none)."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS and len(data) >= _CREDENTIALS.size:
            pid, _uid, _gid = _CREDENTIALS.unpack(data[: _CREDENTIALS.size])
            return int(pid)
    return 0
