"""The KV wire protocol of the `socket` kata, spoken by the suite's own raw clients
(in the test process and in the client fleet) and by the baseline server.

request  = op (1 byte: b"G", b"S", b"D") + key length (u32 BE) + value length (u32 BE) + key + value
response = status (1 byte: 0 ok, 1 not found, 2 error) + body length (u32 BE) + body
"""

from __future__ import annotations

import os
import socket
import struct
import threading

from grader.testing import recv_exact

REQUEST = struct.Struct(">cII")
RESPONSE = struct.Struct(">BI")
OK, NOT_FOUND, ERROR = 0, 1, 2


def frame(op: bytes, key: bytes, value: bytes = b"") -> bytes:
    return REQUEST.pack(op, len(key), len(value)) + key + value


def read_response(sock: socket.socket) -> tuple[int, bytes] | None:
    head = recv_exact(sock, RESPONSE.size)
    if head is None:
        return None
    status, size = RESPONSE.unpack(head)
    body = recv_exact(sock, size)
    return None if body is None else (status, body)


def connect(address, timeout: float | None = None) -> socket.socket:
    family = socket.AF_INET if isinstance(address, (tuple, list)) else socket.AF_UNIX
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        if family == socket.AF_INET:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.connect(tuple(address) if family == socket.AF_INET else address)
    except BaseException:
        sock.close()
        raise
    return sock


class EchoServer:
    """The baseline: the plainest correct server of this protocol (one thread per
    connection, TCP_NODELAY), answering every request with its key as the body."""

    def __init__(self, address):
        family = socket.AF_INET if isinstance(address, tuple) else socket.AF_UNIX
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        if family == socket.AF_INET:
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(address)
        self.listener.listen(128)
        self.address = self.listener.getsockname()
        self.family = family
        self.conns: list[socket.socket] = []
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            if self.family == socket.AF_INET:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.conns.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            while head := recv_exact(conn, REQUEST.size):
                _, key_len, value_len = REQUEST.unpack(head)
                key = recv_exact(conn, key_len)
                if key is None or recv_exact(conn, value_len) is None:
                    return
                conn.sendall(RESPONSE.pack(OK, len(key)) + key)
        except OSError:
            return

    def close(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)
        self.threads[0].join()  # no accept after this: every connection is in self.conns
        for conn in self.conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self.threads:
            thread.join()
        for conn in self.conns:
            conn.close()
        self.listener.close()
        if self.family == socket.AF_UNIX:
            os.unlink(self.address)
