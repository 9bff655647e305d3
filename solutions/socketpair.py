"""Reference solution of the `socketpair` kata: a worker process behind one
full-duplex stream pipe (socket.socketpair)."""

from __future__ import annotations

import os
import socket
import struct
from typing import ClassVar

HEADER = struct.Struct(">Q")  # request: 8-byte big-endian length, then the bytes
REPLY = struct.Struct(">BQ")  # reply: status byte, 8-byte length, then the bytes
OK, ERROR = 0, 1
SMALL = 1 << 16  # below this, header + body go out in one send


class RemoteError(Exception):
    """The handler raised in the worker: str(err) is "<TypeName>: <message>"."""


class Worker:
    _live: ClassVar[set[socket.socket]] = set()  # parent ends of every open Worker of this process

    def __init__(self, handler):
        parent_end, child_end = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                parent_end.close()  # or EOF never comes when the parent dies
                for other in Worker._live:  # other workers' ends were inherited too
                    other.close()
                status = _serve(child_end, handler)
            finally:
                os._exit(status)
        child_end.close()
        self.pid = pid
        self._sock = parent_end
        self._status: int | None = None
        Worker._live.add(parent_end)

    def call(self, request: bytes) -> bytes:
        if self._sock is None:
            raise ValueError("call() on a closed Worker")
        _send(self._sock, HEADER.pack(len(request)), request)
        head = _recv_exact(self._sock, REPLY.size)
        if head is None:
            raise ConnectionError(f"worker {self.pid} exited before answering")
        status, size = REPLY.unpack(head)
        body = _recv_exact(self._sock, size)
        if body is None:
            raise ConnectionError(f"worker {self.pid} exited in the middle of its answer")
        if status == ERROR:
            raise RemoteError(body.decode("utf-8", "replace"))
        return body

    def close(self) -> int:
        if self._sock is not None:
            Worker._live.discard(self._sock)
            self._sock.close()  # the child reads EOF and exits
            self._sock = None
            _, status = os.waitpid(self.pid, 0)
            self._status = os.waitstatus_to_exitcode(status)
        return self._status

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _serve(sock: socket.socket, handler) -> int:
    while True:
        try:
            head = _recv_exact(sock, HEADER.size)
            if head is None:
                return 0  # the parent closed its end (close() or it died)
            request = _recv_exact(sock, HEADER.unpack(head)[0])
            if request is None:
                return 0
        except ConnectionError:
            return 0
        try:
            response = handler(request)
            if not isinstance(response, (bytes, bytearray, memoryview)):
                raise TypeError(f"the handler returned {type(response).__name__}, not bytes")
            status = OK
        except Exception as exc:  # reported to the caller, the worker keeps serving
            status, response = ERROR, f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")
        try:
            _send(sock, REPLY.pack(status, len(response)), response)
        except OSError:
            return 0


def _send(sock: socket.socket, header: bytes, body) -> None:
    if len(body) < SMALL:
        sock.sendall(header + bytes(body))
    else:  # no copy of a large body just to glue the header on
        sock.sendall(header)
        sock.sendall(body)


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    """Exactly `size` bytes, or None at EOF before the first byte. recv() returns
    what is there now, at most what was asked: loop."""
    if size == 0:
        return b""
    buf = bytearray(size)
    view = memoryview(buf)
    got = 0
    while got < size:
        n = sock.recv_into(view[got:], size - got)
        if n == 0:
            if got == 0:
                return None
            raise ConnectionError(f"EOF after {got} of {size} bytes")
        got += n
    return bytes(buf)
