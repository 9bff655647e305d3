"""The socket kata's reference server when a connection thread cannot start (the grader's RLIMIT_AS reached:
"can't start new thread"): that one client is refused, the server serves the next ones and stops cleanly.
A server whose accept thread died there would leave the connection open with nobody serving it: a hang."""

from __future__ import annotations

import importlib.util
import socket
import threading
from types import ModuleType, SimpleNamespace

from grader.catalog import load_kata

STUCK = 30  # seconds before a client calls the server stuck: only a broken server ever waits that long


def load_reference() -> ModuleType:
    """A fresh copy of solutions/socket.py, so that what a test changes in it stays in this test."""
    spec = importlib.util.spec_from_file_location("socket_reference", load_kata("socket").solution_path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def threading_without_room_for_the_first_connection() -> SimpleNamespace:
    """The threading module as the reference sees it, but the first connection thread fails to start."""

    class Thread(threading.Thread):
        refused = 0

        def start(self) -> None:
            if self.name == "kv-conn" and not Thread.refused:
                Thread.refused += 1
                raise RuntimeError("can't start new thread")
            super().start()

    return SimpleNamespace(**{**vars(threading), "Thread": Thread})


def get(kv: ModuleType, address: tuple[str, int]) -> tuple[int, bytes]:
    """One GET over a connection of its own: the reply, or ConnectionError (EOF or reset) when refused."""
    with socket.create_connection(address, timeout=STUCK) as sock:
        sock.sendall(kv.REQUEST.pack(b"G", 1, 0) + b"k")
        head = sock.recv(kv.RESPONSE.size, socket.MSG_WAITALL)
        if len(head) < kv.RESPONSE.size:
            raise ConnectionError("the server closed the connection")
        status, size = kv.RESPONSE.unpack(head)
        return status, sock.recv(size, socket.MSG_WAITALL)


def test_a_connection_whose_thread_cannot_start_is_refused_alone():
    kv = load_reference()
    kv.threading = threading_without_room_for_the_first_connection()
    kv.MAX_CONNECTIONS = 1  # each client below is served only if the one before gave its slot back
    threads_before = set(threading.enumerate())
    server = kv.KVServer(("127.0.0.1", 0))
    server.start()
    try:
        try:
            refused = get(kv, server.address)
        except ConnectionError:
            refused = None
        assert refused is None, f"the client whose thread could not start was answered {refused}"
        assert get(kv, server.address) == (kv.NOT_FOUND, b""), "the client after the refused one"
        assert get(kv, server.address) == (kv.NOT_FOUND, b""), "the client after a served one"
    finally:
        stopping = threading.Thread(target=server.stop, daemon=True)
        stopping.start()
        stopping.join(STUCK)
    assert not stopping.is_alive(), "stop() did not return"
    assert not [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
