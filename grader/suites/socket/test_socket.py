"""Hidden suite of the `socket` kata. Hygiene (fds, processes, socket files left in
the scratch folder) is checked by the grader after every test; these tests check
behaviour and say why it is wrong when it is."""

from __future__ import annotations

import errno
import fcntl
import functools
import gc
import os
import resource
import socket
import stat
import struct
import termios
import threading
import time
from collections.abc import Callable

import pytest
from _fleet import Fleet
from _kvwire import ERROR, NOT_FOUND, OK, REQUEST, RESPONSE, EchoServer, connect, frame, read_response

from grader.perf import Elapsed
from grader.testing import (
    StartingLine,
    Watch,
    check_bytes,
    check_no_spin,
    describe_bytes,
    expect,
    expect_raises,
    fail,
    lowered_limit,
    payload,
    recv_exact,
    run_in_child,
    task,
    wait_until,
    watch_for,
)

LOCALHOST = "127.0.0.1"
ANSWER_WAIT = 5.0  # seconds a raw client waits for an answer before calling the server stuck


@pytest.fixture
def kv(impl):
    """Start servers and clients through `kv.server(address)` / `kv.client(address)`;
    everything is stopped or closed at teardown, even when the test fails."""
    made = Made(impl)
    yield made
    made.close_all()


class Made:
    def __init__(self, impl):
        self.impl = impl
        self.servers, self.clients, self.raw = [], [], []

    def server(self, address, start: bool = True):
        server = self.impl.KVServer(address)
        self.servers.append(server)
        if start:
            server.start()
        return server

    def served(self, names) -> str:
        """A started server on a fresh socket path of the test; returns the path."""
        path = names.path("kv.sock")
        self.server(path)
        return path

    def client(self, address):
        client = self.impl.KVClient(address)
        self.clients.append(client)
        return client

    def connect(self, address, timeout: float = ANSWER_WAIT) -> socket.socket:
        sock = connect(address, timeout)
        self.raw.append(sock)
        return sock

    def close_all(self) -> None:
        for sock in self.raw:
            sock.close()
        for client in self.clients:
            try:
                client.close()
            except Exception:
                pass
        for server in self.servers:
            try:
                server.stop()
            except Exception:
                pass


STUCK = (
    "Is the server serving one client at a time, or stuck reading another client's incomplete frame? "
    "Serve each connection on its own (a thread per connection, or a selector loop that only reads what "
    "is ready)."
)


OVER_READ = (
    "Did the server read past the frame? A frame read past its length: recv(n) must ask for the bytes still "
    "missing (n = length - received so far), or every byte received beyond the frame must be kept as the start "
    "of the next one; a recv loop that asks for 64 KiB and keeps only the bytes it needed loses the rest."
)


def answer(sock: socket.socket, what: str, stuck: str = STUCK) -> tuple[int, bytes]:
    """Read one response; fail with a message when the server does not answer."""
    try:
        reply = read_response(sock)
    except TimeoutError:
        fail(f"{what}: no answer within {ANSWER_WAIT:g} s. {stuck}")
    except ConnectionError as err:
        fail(f"{what}: the server dropped the connection ({type(err).__name__}) instead of answering. {stuck}")
    if reply is None:
        fail(f"{what}: the server closed the connection instead of answering. {stuck}")
    return reply


def ask(sock: socket.socket, data: bytes, what: str, stuck: str = STUCK) -> tuple[int, bytes]:
    """Send raw bytes, read one response; fail with a message when the server does not answer."""
    try:
        sock.sendall(data)
    except ConnectionError as err:
        fail(f"{what}: the server dropped the connection ({type(err).__name__}) before the request was sent")
    return answer(sock, what, stuck)


def expect_eof(sock: socket.socket, still_open: str, sent_more: str) -> None:
    """The server must have closed this connection: recv() returns b'' (or the peer reset it)."""
    try:
        rest = sock.recv(1)
    except TimeoutError:
        fail(still_open)
    except ConnectionError:
        rest = b""
    expect(rest == b"", sent_more)


def check_value(expected, got, what: str) -> None:
    if expected is None:
        expect(
            got is None,
            f"{what} returned {describe_bytes(got) if isinstance(got, bytes) else repr(got)}, "
            "expected None (no such key)",
        )
        return
    expect(isinstance(got, bytes), f"{what} must return bytes, got {type(got).__name__}")
    check_bytes(
        expected,
        got,
        what,
        cut_short=": recv(n) returns what has arrived, at most n bytes. Read the length from the header, then "
        "loop until you have it all.",
    )


def check_set_get(client, key: bytes, value: bytes, what: str) -> None:
    """set(key, value), then get(key) must return the value: the round trip that shows a store works."""
    client.set(key, value)
    check_value(value, client.get(key), what)


# --- task 1: a Unix domain socket server -------------------------------------------------

SERVE_HINT = (
    "a request never got its answer. start() must return only once the socket listens (bind, "
    "listen, then start the serving thread), and the server must answer each whole request frame."
)


@task(1, on_timeout=SERVE_HINT)
def test_set_get_delete(kv, names):
    path = names.path("kv.sock")
    server = kv.server(path)
    expect(server.address == path, f"server.address is {server.address!r}, expected the path it was given, {path!r}")
    mode = stat.S_IMODE(os.stat(path).st_mode)
    expect(
        mode & 0o077 == 0,
        f"the socket file has mode {mode:04o}: any user who can reach the folder could "
        "connect (bind() applies only the umask). chmod it to 0600 right after bind().",
    )
    client = kv.client(path)
    check_value(None, client.get(b"missing"), "get(b'missing') on an empty store")
    expect(client.set(b"language", b"python") is None, "set() returns None")
    check_value(b"python", client.get(b"language"), "get(b'language') after set")
    check_set_get(client, b"language", b"C", "get() after overwriting the value")
    expect(client.delete(b"language") is True, "delete() of an existing key must return True")
    check_value(None, client.get(b"language"), "get() after delete")
    expect(client.delete(b"language") is False, "delete() of a missing key must return False")


@task(1, on_timeout=SERVE_HINT + " An empty value is a frame with value length 0: it must still be answered.")
def test_binary_keys_and_empty_values(kv, names):
    path = kv.served(names)
    client = kv.client(path)
    key = bytes(range(256))
    check_set_get(client, key, b"", "get() of a key whose value is empty (b'' is a value, not None)")
    value = bytes(range(255, -1, -1)) * 40
    check_set_get(client, b"\x00\n\r", value, "get() of a binary value")


@task(
    1,
    on_timeout=(
        "a 16 MiB value never completed. Send the frame whole (sendall) and receive exactly the "
        "lengths in the header, in a loop: the socket buffer holds far less than 16 MiB."
    ),
)
def test_sixteen_mib_value(kv, names):
    path = kv.served(names)
    client = kv.client(path)
    big = payload(16 << 20, seed=1)
    check_set_get(client, b"big", big, "get() of a 16 MiB value")
    check_set_get(client, b"s", b"small", "get() after the large value")


@task(1, on_timeout=SERVE_HINT)
def test_wire_protocol_exactly(kv, names):
    path = kv.served(names)
    sock = kv.connect(path)
    what = "the suite's own client speaking the spec's protocol"
    expect(
        ask(sock, frame(b"S", b"k", b"v1"), f"{what} (SET)") == (OK, b""),
        "a SET must be answered status 0 with an empty body",
    )
    status, body = ask(sock, frame(b"G", b"k"), f"{what} (GET)")
    expect((status, body) == (OK, b"v1"), f"a GET of an existing key must be answered (0, b'v1'), got {(status, body)}")
    expect(
        ask(sock, frame(b"G", b"nope"), f"{what} (GET missing)") == (NOT_FOUND, b""),
        "a GET of a missing key must be answered status 1 (not found), empty body",
    )
    expect(ask(sock, frame(b"D", b"k"), f"{what} (DEL)") == (OK, b""), "a DEL of an existing key: status 0")
    expect(
        ask(sock, frame(b"D", b"k"), f"{what} (DEL missing)") == (NOT_FOUND, b""), "a DEL of a missing key: status 1"
    )
    # two requests in one send: the server must answer both, in order
    sock.sendall(frame(b"S", b"a", b"1") + frame(b"G", b"a"))
    twice = "two requests sent in one write"
    first = answer(sock, f"{twice}, the first", OVER_READ)
    second = answer(sock, f"{twice}: the first was answered, the second", OVER_READ)
    expect(
        first == (OK, b"") and second == (OK, b"1"),
        f"two requests sent in one write were answered "
        f"{first}, {second}: read exactly one frame at a time, and keep what follows it for the next request",
    )


@task(
    1,
    on_timeout=(
        "stop() never returned. It must wake every thread blocked in accept() or recv() "
        "(shutdown(SHUT_RDWR) on the listening socket and on every connection) and then join them."
    ),
)
def test_stop_closes_connections_and_removes_the_file(kv, names):
    path = names.path("kv.sock")
    threads_before = set(threading.enumerate())
    server = kv.server(path)
    expect(os.path.exists(path), f"after start() there is no socket file at {path}: bind() creates it")
    client = kv.client(path)
    client.set(b"x", b"1")
    idle = kv.connect(path)
    ask(idle, frame(b"G", b"x"), "a second connection")  # now surely accepted and served by the server
    server.stop()
    expect(
        not os.path.exists(path),
        "stop() left the socket file behind: unlink it (a socket file outlives the "
        "socket; the next server on this path would find it)",
    )
    gc.collect()
    still_open = [
        obj
        for obj in gc.get_objects()
        if isinstance(obj, socket.socket)
        and obj.fileno() != -1
        and obj.family == socket.AF_UNIX
        and obj.getsockname() == path
    ]
    if still_open:
        fail(
            f"after stop() the server still has {len(still_open)} socket(s) on {path} open: stop() must close "
            "every connection, not only the listening socket (shutdown(SHUT_RDWR) wakes the thread blocked in "
            "recv() on it, which then closes it), and join the threads"
        )
    expect_eof(
        idle,
        "after stop() a connected client is still connected: stop() must close every connection, not "
        "only the listening socket",
        "after stop() a connected client received data instead of EOF",
    )
    alive = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
    if alive:
        fail(
            f"after stop() {len(alive)} server thread(s) still run ({alive[0].name}): stop() must end them and "
            "join them (no thread still listening)"
        )


WAIT_HOW = (
    "threads blocked in accept() and recv() (or one selector.select() without a timeout) sleep until a "
    "client connects or writes; never a loop with a timeout, a sleep or a non-blocking retry"
)


def suite_server(path: str, reply: bytes, delay: float = 0.0) -> threading.Thread:
    """The suite's own server of one request: it answers with the bytes `reply` `delay` seconds after the
    request came, then waits until the client goes."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            with conn:
                head = recv_exact(conn, REQUEST.size)
                if head is not None:
                    _op, key_len, value_len = REQUEST.unpack(head)
                    recv_exact(conn, key_len + value_len)
                    time.sleep(delay)  # a slow server: the client has nothing to do but wait
                    conn.sendall(reply)
                    recv_exact(conn, 1)  # until the client goes
        finally:
            listener.close()
            os.unlink(path)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


@task(1, on_timeout=SERVE_HINT)
def test_waits_sleep(kv, names):
    path = kv.served(names)
    client = kv.client(path)
    client.set(b"k", b"v")  # a server with a connected client, then nothing happens
    idle = watch_for(0.3, os.getpid())
    check_no_spin("the server (every thread of it), waiting for requests that did not come", idle, WAIT_HOW)
    late = names.path("slow.sock")
    thread = suite_server(late, RESPONSE.pack(OK, 4) + b"late", delay=0.3)
    slow_client = kv.client(late)
    with Watch() as get:
        got = slow_client.get(b"k")
    slow_client.close()
    thread.join(ANSWER_WAIT)
    check_value(b"late", got, "get() from the suite's slow server")
    check_no_spin(
        "KVClient.get(), while the server took 0.3 s to answer",
        get.usage,
        "a blocking recv() sleeps until the answer comes",
    )


# --- task 2: TCP --------------------------------------------------------------------------

TCP_HINT = (
    "a TCP request never got its answer: check that the server listens on the address it reports, "
    "and that each request and reply is sent whole."
)


@task(2, on_timeout=TCP_HINT)
def test_tcp_port_zero(kv):
    server = kv.server((LOCALHOST, 0))
    address = server.address
    expect(
        isinstance(address, tuple) and len(address) == 2,
        f"server.address is {address!r}: for TCP it must be the bound (host, port)",
    )
    expect(
        address[1] != 0,
        "server.address still says port 0: port 0 asks the kernel for a free port; "
        "after bind(), getsockname() tells which one",
    )
    expect(address[0] == LOCALHOST, f"the server bound {address[0]!r}; it must bind the host it was given")
    client = kv.client(address)
    check_set_get(client, b"over", b"tcp", "get() over TCP")
    expect(client.delete(b"over") is True, "delete() over TCP")


@task(2, on_timeout=TCP_HINT)
def test_tcp_restart_on_the_same_port(kv):
    first = kv.server((LOCALHOST, 0))
    address = first.address
    client = kv.client(address)
    client.set(b"k", b"v")
    first.stop()  # the server closes first: its side of the connection waits in TIME_WAIT
    client.close()
    try:
        second = kv.server(address)
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            fail(
                "a new server could not bind the port the stopped one used: EADDRINUSE. The old connection "
                "is in TIME_WAIT for a minute; set SO_REUSEADDR on the listening socket before bind()."
            )
        raise
    expect(second.address == address, f"the restarted server reports {second.address}, expected {address}")
    check_value(None, kv.client(address).get(b"k"), "get() on a new, empty server")


def _tcp_connections(port: int) -> dict[str, list[socket.socket]]:
    """The open TCP connections of this process to and from `port`, client and server side (the learner's
    client and server both live in the test process)."""
    sides: dict[str, list[socket.socket]] = {"client": [], "server": []}
    for obj in gc.get_objects():
        if not isinstance(obj, socket.socket) or obj.fileno() == -1 or obj.family != socket.AF_INET:
            continue
        try:
            local, peer = obj.getsockname(), obj.getpeername()
        except OSError:
            continue  # the listening socket
        if peer[1] == port:
            sides["client"].append(obj)
        elif local[1] == port:
            sides["server"].append(obj)
    return sides


@task(2, on_timeout=TCP_HINT)
def test_tcp_nodelay_on_both_sides(kv):
    server = kv.server((LOCALHOST, 0))
    client = kv.client(server.address)
    check_set_get(client, b"k", b"v", "get() over TCP")
    for side, connections in _tcp_connections(server.address[1]).items():
        for conn in connections:
            if not conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY):
                fail(
                    f"the {side}'s TCP connection has TCP_NODELAY off. With Nagle's algorithm on, a small write "
                    "that follows another one waits until the peer ACKs the first, and the peer delays its ACK by "
                    "up to 40 ms: request/response traffic stalls. Set TCP_NODELAY on every TCP connection, "
                    f"client and server side (setsockopt(IPPROTO_TCP, TCP_NODELAY, 1))."
                )


# --- task 3: robustness -------------------------------------------------------------------


def unread(sock: socket.socket) -> int:
    """Bytes this AF_UNIX socket sent that the peer has not read yet (SIOCOUTQ)."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]


def wait_read(sock: socket.socket, message: str) -> None:
    """Until the server has read every byte sent on this AF_UNIX socket; fail with `message` when it stops."""
    wait_until(lambda: unread(sock) == 0, ANSWER_WAIT, message, interval=0.001)


def trickle(sock: socket.socket, data: bytes) -> None:
    """Send one byte at a time, each one only once the server has read the previous one: every recv() of the
    server returns a single byte."""
    for i in range(len(data)):
        try:
            sock.send(data[i : i + 1])
        except ConnectionError:
            fail(
                f"the server closed the connection after byte {i} of a {len(data)}-byte frame sent one byte at "
                "a time: one recv() is not one frame. Read the 9-byte header, then the key and the value, each "
                "in a loop until you have the length you need."
            )
        wait_read(sock, f"the server stopped reading after byte {i} of a frame sent one byte at a time")


@task(
    3,
    on_timeout=(
        SERVE_HINT + " A request that arrives one byte at a time must still be answered: keep "
        "reading until the frame is complete."
    ),
)
def test_one_byte_at_a_time(kv, names):
    path = kv.served(names)
    sock = kv.connect(path)
    trickle(sock, frame(b"S", b"slow", b"and steady"))
    expect(
        answer(sock, "a SET sent one byte at a time", OVER_READ) == (OK, b""),
        "a SET sent one byte at a time was not answered (0, b'')",
    )
    trickle(sock, frame(b"G", b"slow"))
    reply = answer(sock, "a GET sent one byte at a time", OVER_READ)
    expect(
        reply == (OK, b"and steady"),
        f"a GET sent one byte at a time was answered {reply}: one recv() is not "
        "one frame; read the 9-byte header, then the key and the value, each in a loop",
    )


LOCK_WHILE_READING = (
    "Is the store's lock held while reading the key or value from the socket? A recv() blocks as long as its "
    "client sends nothing, so a lock taken before the frame is complete stops every other client waiting for "
    "that lock. Read the whole frame first, then hold the lock around the dict operation only."
)
SLOW_CUTS = (  # where a slow client stops: (bytes of its frame sent, in words, what a stuck server suggests)
    (5, "half a header", STUCK),
    (REQUEST.size + 4 + 5, "the header, the key and half of a SET's value", LOCK_WHILE_READING),
)


@task(
    3,
    on_timeout=(
        "a client with a half-sent frame blocked the server: other clients must still be "
        "served (one thread per connection, or a selector loop that never blocks on one client), and no "
        "lock may be held while the rest of a frame is awaited."
    ),
)
def test_slow_client_does_not_block_the_others(kv, names):
    path = kv.served(names)
    request = frame(b"S", b"slow", b"0123456789")
    for n, (cut, sent, stuck) in enumerate(SLOW_CUTS):
        slow = kv.connect(path)
        slow.sendall(request[:cut])  # and then nothing
        wait_read(slow, f"the server never read the first {cut} bytes of a client's frame")
        while_stuck = f"while a client that sent {sent} waits"
        fast = kv.connect(path)
        key = b"fast-%d" % n
        expect(
            ask(fast, frame(b"S", key, b"1"), f"another client's SET, {while_stuck}", stuck) == (OK, b""),
            f"another client's SET, {while_stuck}, was not answered (0, b'')",
        )
        other = kv.client(path)
        check_value(b"1", other.get(key), f"a KVClient's get() {while_stuck}")
        slow.sendall(request[cut:])
        expect(
            answer(slow, f"the SET of the client that sent {sent}, completed later", OVER_READ) == (OK, b""),
            f"the SET of the client that sent {sent}, completed later, was not answered (0, b'')",
        )


LOCK_HELD = (
    "Is a lock held while sending? A send blocks as long as its client does not read, so a lock held across "
    "sendall() (or recv()) stops every other client waiting for that lock. Hold the store's lock around the "
    "dict operation only, and send the reply after releasing it."
)


@task(3, on_timeout="a client that does not read its answers blocked the server for everybody. " + LOCK_HELD)
def test_a_client_that_does_not_read_blocks_nobody(kv, names):
    path = kv.served(names)
    kv.client(path).set(b"big", payload(1 << 20, seed=4))
    greedy = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    kv.raw.append(greedy)
    greedy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small buffer, and it never reads it
    greedy.settimeout(ANSWER_WAIT)
    greedy.connect(path)
    greedy.sendall(frame(b"G", b"big") * 8)  # 8 MiB of answers: the server's sends block on this client
    wait_until(
        lambda: struct.unpack("i", fcntl.ioctl(greedy.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0] > 0,
        ANSWER_WAIT,
        "the server never started answering a client's GET of a 1 MiB value",
        interval=0.001,
    )
    other = kv.connect(path)
    status, body = ask(
        other,
        frame(b"G", b"big"),
        "another client's GET, while a client that does not read its answers filled its socket buffers",
        LOCK_HELD,
    )
    expect(status == OK and len(body) == 1 << 20, f"another client's GET was answered ({status}, {len(body)} bytes)")


@task(3, on_timeout="a client that disconnected in the middle of a frame left the server stuck.")
def test_abrupt_disconnects(kv, names):
    path = kv.served(names)
    for cut in (1, 5, 9, 12):  # inside the header, at its end, inside the key
        sock = connect(path, ANSWER_WAIT)
        sock.sendall(frame(b"S", b"key", b"value")[:cut])
        sock.close()
    reset = connect(path, ANSWER_WAIT)
    reset.sendall(frame(b"S", b"k", b"v" * 1000)[:100])
    reset.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    reset.close()
    sock = kv.connect(path)
    expect(
        ask(sock, frame(b"S", b"after", b"ok"), "a new client after clients that vanished mid-frame") == (OK, b""),
        "after clients disconnected in the middle of a frame, a new client's SET failed: a client "
        "going away (recv returns b'' or raises ConnectionResetError) ends that connection only, never the server",
    )
    client = kv.client(path)
    check_value(b"ok", client.get(b"after"), "get() after abrupt disconnects")
    check_value(None, client.get(b"key"), "get(b'key'), whose SET was cut short (a partial frame is never applied)")


@task(
    3,
    on_timeout=(
        "a garbage request left the client waiting: answer status 2 (error) and close that "
        "connection, because the stream cannot be resynchronised."
    ),
)
def test_garbage_and_absurd_lengths(kv, names):
    path = kv.served(names)
    too_long = (
        "Validate the header before reading or allocating anything: a length over the limit would make you wait "
        "for, or allocate, gigabytes."
    )
    no_value = "The value length must be 0 for GET and DEL (they carry no value): check it with the rest of the header."
    cases = [
        (b"X" + struct.pack(">II", 1, 0) + b"k", "an unknown op b'X'", too_long),
        (b"S" + struct.pack(">II", 1, 0xFFFFFFF0), "a SET announcing a 4 GiB value (over the 16 MiB limit)", too_long),
        (b"G" + struct.pack(">II", 0xFFFFFFFF, 0), "a GET announcing a 4 GiB key (over the 4096-byte limit)", too_long),
        (b"G" + struct.pack(">II", 4097, 0), "a GET announcing a 4097-byte key (over the 4096-byte limit)", too_long),
        (b"G" + struct.pack(">II", 0, 0), "a GET with an empty key", too_long),
        (b"G" + struct.pack(">II", 1, 3) + b"kabc", "a GET announcing a 3-byte value", no_value),
        (b"D" + struct.pack(">II", 1, 3) + b"kabc", "a DEL announcing a 3-byte value", no_value),
    ]
    for data, what, rule in cases:
        sock = kv.connect(path)
        status, _body = ask(
            sock,
            data,
            what,
            stuck="The server is waiting for the bytes the header announced: "
            "validate the header first (op G/S/D, key length 1..4096, value length at most 16 MiB, "
            "0 for GET and DEL), and answer an invalid one with status 2, then close the connection.",
        )
        if status != ERROR:
            fail(f"{what} was answered status {status}: expected status 2 (error). {rule}")
        expect_eof(
            sock,
            f"after answering {what} with an error the server kept the connection open: close it, the "
            "rest of the stream cannot be trusted",
            f"after the error reply to {what} the server sent more bytes",
        )
    longest = ask(kv.connect(path), frame(b"S", b"k" * 4096, b"v"), "a SET with a 4096-byte key")
    expect(
        longest == (OK, b""),
        f"a SET with a 4096-byte key, the longest allowed (key length 1 .. 4096), was answered {longest}: the "
        "limits are inclusive, a key of exactly 4096 bytes is valid (key_len <= 4096, not < 4096)",
    )
    client = kv.client(path)
    check_set_get(client, b"still", b"alive", "get() after garbage from other clients")


REFUSAL = b"bad request header 4700000001"


@task(3, on_timeout=SERVE_HINT)
def test_client_raises_value_error_on_status_2(kv, names):
    text = REFUSAL.decode()
    for op, args in (("get", (b"k",)), ("set", (b"k", b"v"))):
        path = names.path(f"refuses-{op}.sock")
        thread = suite_server(path, RESPONSE.pack(ERROR, len(REFUSAL)) + REFUSAL)
        client = kv.client(path)
        what = f"KVClient.{op}({', '.join(map(repr, args))})"
        err = expect_raises(
            ValueError,
            functools.partial(getattr(client, op), *args),
            f"{what}, answered status 2 (error) with the message {text!r} by the suite's server,",
            "A status-2 reply raises ValueError with the server's message: returning None or nothing would read "
            "as 'not found' or 'done', and the caller could not tell a refused request from a missing key.",
        )
        expect(
            text in str(err),
            f"{what} raised ValueError({str(err)!r}) for a status-2 reply: it must carry the server's message, "
            f"{text!r} here (the reply's body)",
        )
        client.close()
        thread.join(ANSWER_WAIT)


BURST = 64  # clients connected at once: as many as task 4 serves at the same time
HEADROOM = 320 << 20  # address space left to the server's process: room for 40 more 8 MiB thread stacks at most
NO_THREAD = (
    "Did the accept loop end when a thread could not start (RuntimeError: can't start new thread)? Each thread "
    "reserves an 8 MiB stack, and a burst of clients runs out of address space. Bound the live connections (a "
    "BoundedSemaphore acquired before accept()) and, when a thread still cannot start, close that one "
    "connection and keep accepting."
)


def _address_space() -> int:
    """Bytes of address space this process uses (VmSize)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) << 10 for line in f if line.startswith("VmSize:"))


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def burst_then_one_more(impl, path: str) -> str:
    """In a child of the suite with room for far fewer than BURST more thread stacks: BURST clients connect one
    after the other and each asks once (answered, or refused: closed at once), all staying connected; then they
    all leave, and one more client must be served. What went wrong, or ""."""
    clients: list[socket.socket] = []
    threads = _threads()
    with lowered_limit(resource.RLIMIT_AS, _address_space() + HEADROOM):
        server = impl.KVServer(path)
        server.start()
        try:
            for n in range(BURST):
                clients.append(connect(path, ANSWER_WAIT))
                try:
                    clients[-1].sendall(frame(b"G", b"k"))
                    read_response(clients[-1])  # None or a reset: refused, its thread could not start
                except TimeoutError:
                    return (
                        f"client {n + 1} of {BURST}, all connected at once to a server short of address space, got "
                        f"no answer within {ANSWER_WAIT:g} s. {NO_THREAD}"
                    )
                except ConnectionError:
                    pass
            for sock in clients:
                sock.close()
            wait_until(
                lambda: _threads() <= threads + 1,
                ANSWER_WAIT,
                f"{BURST} clients left, and the server's threads did not end: a thread ends when its client goes",
            )
            clients.append(connect(path, ANSWER_WAIT))
            after = f"a new client after a burst of {BURST}"
            reply = ask(clients[-1], frame(b"S", b"after", b"burst"), after, NO_THREAD)
            expect(reply == (OK, b""), f"a new client's SET after a burst of {BURST} clients was answered {reply}")
        except pytest.fail.Exception as failed:
            return str(failed)
        finally:
            for sock in clients:
                sock.close()
            server.stop()
    return ""


@task(3, on_timeout="a burst of clients stopped the server: " + NO_THREAD)
def test_a_burst_of_clients_leaves_the_server_serving(impl, kv, names):
    kv.server(names.path("probe.sock"), start=False)  # here first: an unfinished KVServer reads as one
    problem = run_in_child(
        functools.partial(burst_then_one_more, impl, names.path("kv.sock")),
        impl,
        f"a burst of {BURST} clients against the server, in a child process of the suite short of address space,",
        timeout=12,
    )
    expect(not problem, problem)


def expect_start_refused(kv, path: str, why: str) -> None:
    """start() of a server on `path`, which something else holds, must raise OSError; else fail with `why`
    (a server that started anyway is stopped at teardown, like the test's others)."""
    server = kv.server(path, start=False)
    try:
        server.start()
    except OSError:
        kv.servers.remove(server)  # it never started: nothing to stop
        return
    fail(why)


@task(3, on_timeout=SERVE_HINT)
def test_stale_socket_file_is_reused(kv, names):
    path = names.path("kv.sock")
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(path)  # a server that died without unlinking: the file stays, nobody listens
    dead.close()
    try:
        kv.server(path)
    except OSError as err:
        fail(
            f"start() on a stale socket file raised {type(err).__name__}: {err}. A socket file left by a dead "
            "server must be reused: connect() to it fails with ConnectionRefusedError (nobody listens), so "
            "unlink it and bind again."
        )
    client = kv.client(path)
    check_set_get(client, b"k", b"fresh", "get() on a server started over a stale socket file")


@task(3, on_timeout=SERVE_HINT)
def test_live_socket_is_refused_and_kept(kv, names):
    path = names.path("kv.sock")
    live = kv.server(path)
    kv.client(path).set(b"owner", b"first")
    expect_start_refused(
        kv,
        path,
        "start() on the path of a live server succeeded: it must raise OSError (e.g. EADDRINUSE, 'a server "
        "is already listening'). Before removing a socket file, connect() to it: only a refused connection "
        "means it is stale.",
    )
    expect(
        os.path.exists(path),
        "the refused server removed the live server's socket file: new clients can no "
        "longer reach the live server. Only a stale file (connect() refused) may be unlinked.",
    )
    check_value(b"first", kv.client(path).get(b"owner"), "a new client of the live server after the refused start")
    expect(live.address == path, "the live server's address changed")


@task(3)
def test_path_that_is_not_a_socket_is_refused(kv, names):
    path = names.path("notes.txt")
    with open(path, "w") as f:
        f.write("precious")
    expect_start_refused(
        kv,
        path,
        "start() on a path that is a regular file succeeded: it must raise OSError (FileExistsError) and "
        "leave the file alone",
    )
    with open(path) as f:
        expect(f.read() == "precious", "start() removed or replaced a regular file that was not a socket")


# --- task 4: many client processes ---------------------------------------------------------


@pytest.fixture
def fleet_factory(python_processes, scratch):
    made = []

    def make(size: int) -> Fleet:
        fleet = Fleet(python_processes, size, scratch)
        made.append(fleet)
        return fleet

    yield make
    for fleet in made:
        fleet.close()


def check_results(report: dict, clients: int, what: str) -> list[int]:
    if "barrier" in report and report["barrier"] < clients:
        fail(
            f"{what}: only {report['barrier']} of {clients} client processes got their first answer while all "
            "of them were connected. The server must serve every connection at the same time, not one "
            "connection after the other (a thread per connection, or a selector loop)."
        )
    results = report["results"]
    silent = sum(1 for r in results if r is None)
    expect(
        not silent,
        f"{what}: {silent} of {clients} client processes never finished: the server stopped answering some connections",
    )
    errors = [r["error"] for r in results if r["error"]]
    expect(
        not errors,
        f"{what}: {len(errors)} of {clients} client processes failed; the first one: {errors[0] if errors else ''}",
    )
    return [r["pid"] for r in results]


@task(
    4,
    on_timeout=(
        "64 client processes did not all finish: is the server serving one connection at a "
        "time, or is the listen() backlog tiny and accept() slow?"
    ),
)
def test_sixty_four_concurrent_client_processes(kv, names, fleet_factory):
    path = kv.served(names)
    fleet = fleet_factory(64)
    report = fleet.run("kv", path, n=10, barrier=True, deadline=10)
    check_results(report, 64, "64 clients in separate processes, all connected at once")
    client = kv.client(path)
    check_value(b"63:0:" * (1 + (63 * 7) % 50), client.get(b"client-63"), "get(b'client-63') after the clients left")


@task(4, on_timeout=SERVE_HINT)
def test_peer_credentials(kv, names, fleet_factory):
    path = names.path("kv.sock")
    server = kv.server(path)
    fleet = fleet_factory(4)
    pids = check_results(fleet.run("connect", path, deadline=10), 4, "4 client processes")
    peers = server.peers()
    expect(isinstance(peers, list), f"peers() must return a list of (pid, uid, gid), got {type(peers).__name__}")
    for entry in peers:
        expect(
            isinstance(entry, tuple) and len(entry) == 3 and all(isinstance(x, int) for x in entry),
            f"peers() must hold (pid, uid, gid) tuples of ints, found {entry!r}",
        )
    seen = [pid for pid, _, _ in peers]
    if os.getpid() in seen and not set(pids) & set(seen):
        fail(
            f"peers() reports pid {os.getpid()}, the server's own process, instead of the clients' pids: "
            "read SO_PEERCRED on each accepted connection, not on the listening socket (whose credentials "
            "are those of the process that called listen())"
        )
    missing = [pid for pid in pids if pid not in seen]
    expect(
        not missing,
        f"the client processes {pids} connected, but peers() reports the pids {seen}: read "
        "SO_PEERCRED on each accepted connection, struct.unpack('3i', conn.getsockopt(SOL_SOCKET, "
        "SO_PEERCRED, struct.calcsize('3i'))) -> (pid, uid, gid)",
    )
    for pid, uid, gid in peers:
        if pid in pids:
            expect(
                (uid, gid) == (os.getuid(), os.getgid()),
                f"peers() reports uid/gid {uid}/{gid} for client "
                f"{pid}, whose uid/gid are {os.getuid()}/{os.getgid()}: the order is (pid, uid, gid)",
            )
    expect(
        len(peers) == len(pids),
        f"4 clients connected once each, and peers() holds {len(peers)} entries: one entry per accepted connection",
    )


# --- task 5: performance -------------------------------------------------------------------

CLIENTS, REQUESTS = 16, 200


def clients_against(start_server: Callable[[], tuple[object, Callable[[], None]]], client: Callable[[object], None]):
    """CLIENTS forked processes each run client(address) once released; the time from their release until the
    last one is done. They are forked before start_server() starts the server's threads (a process with
    threads must not fork) and learn its address when released."""

    def run_client(_index: int, where: str) -> None:
        kind, _, address = where.partition(" ")
        host, _, port = address.rpartition(":")
        client(address if kind == "unix" else (host, int(port)))

    with StartingLine(CLIENTS, run_client) as clients:
        address, stop = start_server()
        return clients.timed(f"unix {address}" if isinstance(address, str) else f"tcp {address[0]}:{address[1]}", stop)


def raw_client(address) -> None:
    sock = connect(address)
    try:
        request = frame(b"G", b"k")
        for _ in range(REQUESTS):
            sock.sendall(request)
            read_response(sock)
    finally:
        sock.close()


def raw_requests(address) -> Elapsed:
    """The baseline: the plainest correct server of the protocol (one thread per connection) and raw clients."""

    def start_server():
        echo = EchoServer(tuple(address) if isinstance(address, list) else address)
        return echo.address, echo.close

    return clients_against(start_server, raw_client)


def learner_requests(impl, address) -> Elapsed:
    def start_server():
        server = impl.KVServer(address)
        server.start()
        seed = impl.KVClient(server.address)
        try:
            seed.set(b"k", payload(64))
        finally:
            seed.close()
        return server.address, server.stop

    def client(where) -> None:
        kv_client = impl.KVClient(where)
        try:
            for _ in range(REQUESTS):
                kv_client.get(b"k")
        finally:
            kv_client.close()

    return clients_against(start_server, client)


SLOW_CAUSES = (
    "a KVClient that connects for every request instead of keeping its connection, a server that polls or "
    "sleeps instead of blocking in recv()/select(), or (TCP) Nagle's delay without TCP_NODELAY"
)

NODELAY_HINT = (
    "TCP requests were far too slow or stalled: with Nagle's algorithm on, a small write that "
    "follows another one waits for an ACK the peer delays by up to 40 ms. Set TCP_NODELAY on "
    "both sides (and send each frame in one write)."
)


@task(5, on_timeout=SERVE_HINT)
def test_unix_requests_per_second(impl, names, perf):
    path = names.path("kv.sock")
    perf.check(
        "unix_requests",
        lambda: learner_requests(impl, path),
        functools.partial(raw_requests, names.path("echo.sock")),
        units=CLIENTS * REQUESTS,
        rounds=5,
        causes=SLOW_CAUSES,
    )


@task(5, on_timeout=NODELAY_HINT)
def test_tcp_requests_per_second(impl, perf):
    perf.check(
        "tcp_requests",
        lambda: learner_requests(impl, (LOCALHOST, 0)),
        functools.partial(raw_requests, [LOCALHOST, 0]),
        units=CLIENTS * REQUESTS,
        rounds=5,
        causes=SLOW_CAUSES,
    )
