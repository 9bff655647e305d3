"""Reference solution of the `fd-passing` kata: open descriptors handed between processes
over Unix sockets with SCM_RIGHTS, the peer checked with SO_PEERCRED."""

from __future__ import annotations

import errno
import os
import socket
import struct
import threading

MAX_NAME = 255  # the longest file name a client may ask for (NAME_MAX)
CREDENTIALS = struct.Struct("3i")  # struct ucred: pid, uid, gid


class FdsTruncated(OSError):
    """recv_fds: more descriptors were sent than the receiver made room for (MSG_CTRUNC)."""


# --- task 1: one message, its data and its descriptors ---------------------------------------


def send_fds(sock: socket.socket, data: bytes, fds: list[int]) -> None:
    if not data:
        # On a stream socket a sendmsg() of 0 bytes sends nothing, descriptors included.
        raise ValueError("send_fds needs at least one byte of data to carry the descriptors")
    sent = socket.send_fds(sock, [data], fds)  # one sendmsg(): every fd in one SCM_RIGHTS message
    if sent < len(data):
        sock.sendall(data[sent:])  # the descriptors went with the first byte; the rest is plain data


def recv_fds(sock: socket.socket, bufsize: int, maxfds: int) -> tuple[bytes, list[int]]:
    data, fds, flags, _ = socket.recv_fds(sock, bufsize, maxfds)
    if flags & socket.MSG_CTRUNC:
        # The kernel installed the fds that fit (they are ours now) and closed the rest.
        for fd in fds:
            os.close(fd)
        raise FdsTruncated(errno.EMSGSIZE, f"more than {maxfds} descriptors came with one message (MSG_CTRUNC)")
    return data, fds


# --- task 2: an opener server that checks who asks ------------------------------------------


class OpenerServer:
    """Opens files of `root` for the clients that `allow(pid, uid, gid)` admits and passes the fds."""

    def __init__(self, path: str, root: str, allow):
        self.path, self.root, self.allow = path, root, allow
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(self.path)
            os.chmod(self.path, 0o600)
            listener.listen(64)
        except BaseException:
            listener.close()
            raise
        self._listener = listener
        self._thread = threading.Thread(target=self._serve, name="opener", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._listener is None:
            return
        self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        if self._thread is not None:
            self._thread.join()
        self._listener.close()
        self._listener = None
        os.unlink(self.path)

    def _serve(self) -> None:
        assert self._listener is not None
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # shut down by stop()
            with conn:
                try:
                    self._answer(conn)
                except OSError:
                    pass  # this client went away: the next one is served

    def _answer(self, conn: socket.socket) -> None:
        # The kernel recorded the client's credentials at connect(): ask the accepted socket.
        pid, uid, gid = CREDENTIALS.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, CREDENTIALS.size))
        name = _read_to_eof(conn, MAX_NAME + 1)
        if not self.allow(pid, uid, gid):
            conn.sendall(b"%d" % errno.EACCES)
            return
        try:
            fd = os.open(os.path.join(self.root, _plain_name(name)), os.O_RDONLY | os.O_CLOEXEC)
        except OSError as err:
            conn.sendall(b"%d" % (err.errno or errno.EIO))
            return
        try:
            send_fds(conn, b"0", [fd])
        finally:
            os.close(fd)  # the client has its own copy now: ours would stay open for nothing


def _plain_name(raw: bytes) -> str:
    """A file name of `root` itself: no folder part, no way out of it."""
    try:
        name = raw.decode()
    except UnicodeDecodeError:
        raise OSError(errno.EINVAL, "not UTF-8") from None
    if not name or len(raw) > MAX_NAME or "/" in name or name in (".", "..") or "\0" in name:
        raise OSError(errno.EINVAL, f"not a plain file name: {name!r}")
    return name


def request_file(path: str, name: str) -> int:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        sock.sendall(name.encode())
        sock.shutdown(socket.SHUT_WR)  # the request is complete
        data, fds = recv_fds(sock, 64, 1)
    if data == b"0" and len(fds) == 1:
        return fds[0]
    for fd in fds:
        os.close(fd)
    if data.isdigit() and int(data) > 0:
        code = int(data)
        raise OSError(code, os.strerror(code), name)  # OSError picks the subclass: PermissionError ...
    raise ConnectionError(f"the opener answered {data!r} with {len(fds)} descriptors")


def _read_to_eof(conn: socket.socket, limit: int) -> bytes:
    chunks, size = [], 0
    while size < limit and (chunk := conn.recv(limit - size)):
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


# --- task 3: a pre-fork server that hands accepted connections to its workers ----------------


class PreforkServer:
    """Listens on `path`; `workers` processes forked at start() serve the connections it accepts."""

    def __init__(self, path: str, workers: int, handler):
        self.path, self.workers, self.handler = path, workers, handler
        self.pids: list[int] = []
        self._channels: list[socket.socket] = []  # our end of each worker's socketpair
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.path)
        os.chmod(self.path, 0o600)
        listener.listen(128)
        self._listener = listener
        for _ in range(self.workers):  # fork before any thread starts: a threaded process must not fork
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            pid = os.fork()
            if pid == 0:
                status = 1
                try:
                    # Everything of the parent's but our own end: a sibling holding the parent's end of
                    # our channel would keep us from seeing EOF until it exits; the listener is the parent's job.
                    listener.close()
                    ours.close()
                    for channel in self._channels:
                        channel.close()
                    self._work(theirs)
                    status = 0
                finally:
                    os._exit(status)
            theirs.close()
            self._channels.append(ours)
            self.pids.append(pid)
        self._thread = threading.Thread(target=self._dispatch, name="dispatcher", daemon=True)
        self._thread.start()

    def _dispatch(self) -> None:
        assert self._listener is not None
        turn = 0
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # shut down by stop()
            with conn:  # our copy is closed once the worker has its own: its close() then ends the connection
                try:
                    send_fds(self._channels[turn], b"c", [conn.fileno()])
                except OSError:
                    pass  # that worker is gone: the client sees EOF
            turn = (turn + 1) % len(self._channels)

    def _work(self, channel: socket.socket) -> None:
        while True:
            data, fds = recv_fds(channel, 1, 1)
            if not data:
                return  # the parent closed the channel: stop
            for fd in fds:
                with socket.socket(fileno=fd) as conn:  # owns the fd: closed at the end of the block
                    try:
                        request = _read_to_eof(conn, 1 << 20)
                        conn.sendall(self.handler(request))
                    except Exception:
                        pass  # one failed connection never ends the worker

    def stop(self) -> None:
        if self._listener is None:
            return
        self._listener.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join()
        self._listener.close()
        self._listener = None
        os.unlink(self.path)
        for channel in self._channels:
            channel.close()  # EOF for that worker: it finishes its queue and exits
        self._channels.clear()
        for pid in self.pids:
            os.waitpid(pid, 0)
