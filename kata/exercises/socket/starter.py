"""The `socket` kata: a key-value server over Unix domain and TCP sockets.

Read the spec first: `kata start socket` printed where it is, or `kata show socket`.
Run `kata grade socket` after each step; every task is graded on its own.
Only the standard library is needed (socket, struct, threading, os, stat, errno).
"""

from __future__ import annotations

import struct

REQUEST = struct.Struct(">cII")  # op (b"G", b"S", b"D"), key length, value length
RESPONSE = struct.Struct(">BI")  # status, body length
OK, NOT_FOUND, ERROR = 0, 1, 2
MAX_KEY = 4096
MAX_VALUE = 16 << 20


class KVServer:
    """A key-value server. `address` is a filesystem path (AF_UNIX) or a
    (host, port) tuple (AF_INET; port 0 lets the kernel pick a free port).

    The server runs in background threads of the caller's process.
    """

    def __init__(self, address):
        """Remember the address; do not bind yet. `self.address` is the address
        (for TCP, after start(), the bound (host, port))."""
        raise NotImplementedError

    def start(self) -> None:
        """Bind, listen, start serving in the background; return once listening.

        AF_UNIX: a stale socket file (nobody listens) is removed first; a live
        server's socket, or a path that is not a socket, raises OSError.
        """
        raise NotImplementedError

    def stop(self) -> None:
        """Stop accepting, close every connection, end and join every server
        thread, and remove the socket file (AF_UNIX)."""
        raise NotImplementedError

    def peers(self) -> list[tuple[int, int, int]]:
        """(pid, uid, gid) from SO_PEERCRED of every connection accepted so far
        on AF_UNIX, in accept order ([] on TCP)."""
        raise NotImplementedError


class KVClient:
    """A connection to a KVServer at `address` (path or (host, port))."""

    def __init__(self, address):
        """Connect (TCP: with TCP_NODELAY)."""
        raise NotImplementedError

    def get(self, key: bytes) -> bytes | None:
        """The value of `key`, or None when there is none."""
        raise NotImplementedError

    def set(self, key: bytes, value: bytes) -> None:
        """Store `value` (0 bytes to 16 MiB) under `key`."""
        raise NotImplementedError

    def delete(self, key: bytes) -> bool:
        """Remove `key`; True if it existed."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError
