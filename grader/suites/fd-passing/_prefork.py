"""The pre-fork side of the `fd-passing` suite: the handler the workers run, the suite's raw
client, and the plainest correct pre-fork server (the perf baseline, timed in the baseline
process, which never imports the learner's file)."""

from __future__ import annotations

import os
import socket
import threading

from grader.perf import Elapsed
from grader.testing import StartingLine

ANSWER_WAIT = 5.0  # seconds a client waits for its answer before calling the server stuck
EOF_WAIT = 2.0  # seconds a client that has its whole answer waits for EOF
CLIENTS, CONNECTIONS = 8, 40  # the perf round: client processes, connections each


def answer(request: bytes) -> bytes:
    """The handler every worker runs: who answered, and the request reversed."""
    if request == b"boom":
        raise ValueError("the suite's handler refuses b'boom'")
    return b"%d:" % os.getpid() + request[::-1]


class Reply:
    """What a client got: the bytes, and whether EOF came (None: no answer at all in time)."""

    def __init__(self, data: bytes | None, eof: bool):
        self.data, self.eof = data, eof


def ask(path: str, request: bytes) -> Reply:
    """Connect, send `request`, shut down writing, read to EOF: what a client of the pre-fork server does."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(ANSWER_WAIT)
        sock.connect(path)
        try:
            sock.sendall(request)
            sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            return Reply(b"", eof=True)  # closed before the request went out: no answer, as if closed after it
        chunks: list[bytes] = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
                sock.settimeout(EOF_WAIT)
        except TimeoutError:
            return Reply(b"".join(chunks) if chunks else None, eof=False)
        except ConnectionResetError:
            pass
        return Reply(b"".join(chunks), eof=True)


def client_round(path: str) -> None:
    """One perf client: CONNECTIONS connections one after the other, each answered."""
    for n in range(CONNECTIONS):
        request = b"request %d" % n
        reply = ask(path, request)
        if not reply.eof or reply.data is None or not reply.data.endswith(b":" + request[::-1]):
            raise RuntimeError(f"connection {n} answered {reply.data!r} (eof: {reply.eof})")


def connections_through(start_server, path: str) -> Elapsed:
    """CLIENTS processes (forked before the server starts: it makes threads) run client_round against the
    server that start_server(path) starts and returns the stop of; the time from their release to the last."""
    with StartingLine(CLIENTS, lambda _index, where: client_round(where)) as clients:
        return clients.timed(path, start_server(path))


def plain_prefork_connections(path: str, workers: int) -> Elapsed:
    """The baseline: the plainest correct pre-fork server with a dispatcher passing each connection."""

    def start_server(where: str):
        server = PlainPrefork(where, workers)
        return server.stop

    return connections_through(start_server, path)


class PlainPrefork:
    """Workers forked first, one socketpair each; a thread accepts and passes connections round-robin."""

    def __init__(self, path: str, workers: int):
        self.path = path
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(128)
        self.channels: list[socket.socket] = []
        self.pids: list[int] = []
        for _ in range(workers):
            ours, theirs = socket.socketpair()
            pid = os.fork()
            if pid == 0:
                try:
                    for sock in (self.listener, ours, *self.channels):
                        sock.close()
                    _plain_worker(theirs)
                finally:
                    os._exit(0)
            theirs.close()
            self.channels.append(ours)
            self.pids.append(pid)
        self.thread = threading.Thread(target=self._dispatch, daemon=True)
        self.thread.start()

    def _dispatch(self) -> None:
        turn = 0
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                socket.send_fds(self.channels[turn], [b"c"], [conn.fileno()])
            turn = (turn + 1) % len(self.channels)

    def stop(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)
        self.thread.join()
        self.listener.close()
        os.unlink(self.path)
        for channel in self.channels:
            channel.close()
        for pid in self.pids:
            os.waitpid(pid, 0)


def _plain_worker(channel: socket.socket) -> None:
    while True:
        data, fds, _, _ = socket.recv_fds(channel, 1, 1)
        if not data:
            return
        with socket.socket(fileno=fds[0]) as conn:
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
            conn.sendall(answer(b"".join(chunks)))
