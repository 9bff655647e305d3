"""Reference solution of the `socket` kata: a key-value server over Unix domain
and TCP sockets, one thread per connection, and its client.

(Loaded by path as module `kata_impl`; the name of this file does not shadow the
standard library's `socket` module.)
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import struct
import threading

REQUEST = struct.Struct(">cII")  # op, key length, value length
RESPONSE = struct.Struct(">BI")  # status, body length
OK, NOT_FOUND, ERROR = 0, 1, 2
MAX_KEY = 4096
MAX_VALUE = 16 << 20
SMALL = 1 << 16
# A thread per connection reserves an 8 MiB stack (and glibc gives the first threads a 64 MiB malloc arena each):
# 128 connections, 1 GiB of stacks, stay far under a 4 GiB address-space limit. Client 129 waits in the backlog.
MAX_CONNECTIONS = 128


class ProtocolError(ConnectionError):
    """The peer sent something that is not a valid frame."""


class KVServer:
    def __init__(self, address):
        self.family = socket.AF_INET if isinstance(address, tuple) else socket.AF_UNIX
        self.address = address if self.family == socket.AF_UNIX else tuple(address)
        self._store: dict[bytes, bytes] = {}
        self._lock = threading.Lock()  # one dict, many connection threads
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._peers: list[tuple[int, int, int]] = []
        self._stopping = False

    # --- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        listener = socket.socket(self.family, socket.SOCK_STREAM)
        try:
            if self.family == socket.AF_UNIX:
                _clear_stale_socket(self.address)
            else:  # rebind at once after a stop, despite the old connections in TIME_WAIT
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(self.address)
            if self.family == socket.AF_UNIX:
                os.chmod(self.address, 0o600)
            listener.listen(128)
        except BaseException:
            listener.close()
            raise
        if self.family == socket.AF_INET:
            self.address = listener.getsockname()[:2]
        self._listener = listener
        self._stopping = False
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)  # full again: a stop() leaves one taken
        thread = threading.Thread(target=self._accept_loop, name="kv-accept", daemon=True)
        self._threads.append(thread)
        thread.start()

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is None:
            return
        self._stopping = True
        listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)  # wakes each connection thread: recv returns b""
            except OSError:
                pass
        for thread in self._threads:  # the accept thread first: once it has returned, none is added
            thread.join()
        self._threads.clear()
        listener.close()
        if self.family == socket.AF_UNIX:
            try:
                os.unlink(self.address)
            except FileNotFoundError:
                pass

    def peers(self) -> list[tuple[int, int, int]]:
        with self._lock:
            return list(self._peers)

    def __enter__(self) -> KVServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- serving ---------------------------------------------------------------

    def _accept_loop(self) -> None:
        listener = self._listener
        while True:
            self._slots.acquire()  # released when the connection is over: stop() ends them all
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # shut down by stop()
            if self.family == socket.AF_INET:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            else:
                creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
                with self._lock:
                    self._peers.append(struct.unpack("3i", creds))
            with self._lock:
                if self._stopping:
                    conn.close()
                    return
                self._conns.add(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), name="kv-conn", daemon=True)
            try:
                thread.start()
            except RuntimeError:  # no memory for one more thread: refuse this client, serve the others
                self._forget(conn)
                continue
            self._threads[:] = [t for t in self._threads if t.is_alive()]  # in place: stop() may be iterating
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        try:
            while True:
                head = _recv_exact(conn, REQUEST.size)
                if head is None:
                    return  # the client closed between requests
                op, key_len, value_len = REQUEST.unpack(head)
                if (
                    op not in (b"G", b"S", b"D")
                    or not 0 < key_len <= MAX_KEY
                    or value_len > MAX_VALUE
                    or (op != b"S" and value_len)
                ):
                    _send(conn, ERROR, f"bad request header {head.hex()}".encode())
                    return  # the stream cannot be trusted any more: close it
                key = _recv_exact(conn, key_len)
                value = _recv_exact(conn, value_len)
                if key is None or value is None:
                    return  # the client went away in the middle of a frame
                _send(conn, *self._apply(op, key, value))
        except (OSError, ProtocolError):
            return  # reset, broken pipe, truncated frame: this client only
        finally:
            self._forget(conn)

    def _forget(self, conn: socket.socket) -> None:
        """Close a connection that is over and free its slot for the next client."""
        with self._lock:
            self._conns.discard(conn)
        conn.close()
        self._slots.release()

    def _apply(self, op: bytes, key: bytes, value: bytes) -> tuple[int, bytes]:
        with self._lock:
            if op == b"G":
                found = self._store.get(key)
                return (NOT_FOUND, b"") if found is None else (OK, found)
            if op == b"S":
                self._store[key] = value
                return OK, b""
            return (OK, b"") if self._store.pop(key, None) is not None else (NOT_FOUND, b"")


class KVClient:
    def __init__(self, address):
        family = socket.AF_INET if isinstance(address, tuple) else socket.AF_UNIX
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            if family == socket.AF_INET:  # no Nagle delay on small requests
                self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock.connect(address)
        except BaseException:
            self._sock.close()
            raise

    def get(self, key: bytes) -> bytes | None:
        status, body = self._request(b"G", key, b"")
        return body if status == OK else None

    def set(self, key: bytes, value: bytes) -> None:
        self._request(b"S", key, value)

    def delete(self, key: bytes) -> bool:
        return self._request(b"D", key, b"")[0] == OK

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> KVClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _request(self, op: bytes, key: bytes, value: bytes) -> tuple[int, bytes]:
        head = REQUEST.pack(op, len(key), len(value))
        if len(value) < SMALL:
            self._sock.sendall(head + key + value)
        else:
            self._sock.sendall(head + key)
            self._sock.sendall(value)
        reply = _recv_exact(self._sock, RESPONSE.size)
        if reply is None:
            raise ConnectionError("the server closed the connection")
        status, size = RESPONSE.unpack(reply)
        body = _recv_exact(self._sock, size)
        if body is None:
            raise ConnectionError("the server closed the connection in the middle of a reply")
        if status == ERROR:
            raise ValueError(f"the server refused the request: {body.decode('utf-8', 'replace')}")
        return status, body


def _clear_stale_socket(path: str) -> None:
    """A socket file left by a dead server is removed; a live server's is not."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise FileExistsError(errno.EEXIST, f"{path} exists and is not a socket: not removing it", path)
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        os.unlink(path)  # nobody listens: a stale file from a dead server
        return
    finally:
        probe.close()
    raise OSError(errno.EADDRINUSE, f"a server is already listening on {path}", path)


def _send(sock: socket.socket, status: int, body: bytes) -> None:
    head = RESPONSE.pack(status, len(body))
    if len(body) < SMALL:
        sock.sendall(head + body)
    else:
        sock.sendall(head)
        sock.sendall(body)


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    """Exactly `size` bytes; None at EOF before the first byte; ProtocolError at EOF inside."""
    if size == 0:
        return b""
    buf = bytearray(size)
    view, got = memoryview(buf), 0
    while got < size:
        n = sock.recv_into(view[got:])
        if n == 0:
            if got == 0:
                return None
            raise ProtocolError(f"EOF after {got} of {size} bytes")
        got += n
    return bytes(buf)
