"""Hidden suite of the `event-loop` kata. The learner's loop runs in the test's main thread (where
Python runs signal handlers); the suite's clients run beside it in a thread (`Beside`) or in other
processes. Hygiene (fds, processes, socket files) is checked by the grader after every test; these
tests check behaviour and say why it is wrong when it is."""

from __future__ import annotations

import fcntl
import functools
import os
import select
import signal
import socket
import stat
import struct
import termios

import pytest
from _traffic import WAIT, Beside, echo_clients, plain_echo_loop, pump, returned_early

from grader.perf import Elapsed, clock
from grader.testing import (
    StartingLine,
    check_no_spin,
    describe_bytes,
    expect,
    expect_raises,
    fail,
    one_cpu,
    payload,
    recv_exact,
    task,
    wait_until,
    watch_for,
)

KIB = 1024
PAGE = 4096

NEVER_RETURNED = (
    "every relay was done (each sink had its EOF), and run() did not return: with no relay and no "
    "listener left, run() must return by itself"
)
SLEEP_HOW = (
    "one epoll.poll() / selector.select() without a timeout, on exactly the fds and events the loop can act "
    "on now (EPOLLOUT only while bytes wait to be written); stop() and signals wake it through a self-pipe"
)


@pytest.fixture
def fds():
    """fds the suite made: closed at teardown unless the learner's loop (which owns what it was given) or the
    test closed them already. `fds.pipe(size)` -> (read, write); `fds.pair()` -> two socket fds."""
    made = Made()
    yield made
    made.close_all()


class Made:
    def __init__(self):
        self.open: list[int] = []

    def pipe(self, size: int | None = None) -> tuple[int, int]:
        r, w = os.pipe()
        if size is not None:
            fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, size)
        self.open += [r, w]
        return r, w

    def pair(self) -> tuple[int, int]:
        a, b = socket.socketpair()
        fds = (a.detach(), b.detach())
        self.open += fds
        return fds

    def given(self, *fds: int) -> None:
        """These belong to the learner's loop now: it closes them."""
        for fd in fds:
            self.open.remove(fd)

    def close(self, fd: int) -> None:
        self.open.remove(fd)
        os.close(fd)

    def close_all(self) -> None:
        for fd in self.open:
            try:
                os.close(fd)
            except OSError:
                pass


def relaying(impl, fds, *pairs: tuple[int, int]):
    """A new EventLoop relaying each (source, sink) pair; from then on the loop owns those fds (it closes them
    when a relay ends), so the suite no longer does."""
    loop = impl.EventLoop()
    for src, dst in pairs:
        loop.relay(src, dst)
    fds.given(*(fd for pair in pairs for fd in pair))
    return loop


def drained_to_eof(loop, dst_r: int):
    """The loop run beside a suite thread that reads the sink `dst_r` until EOF: what came, whether EOF came,
    and the Beside (check_stream tells from it whether run() got stuck)."""
    got: dict = {}

    def body():
        got["data"], got["eof"] = pump({}, {dst_r: None})

    side = Beside(loop, body)
    side.run(NEVER_RETURNED)
    return got["data"][dst_r], dst_r in got["eof"], side


def is_open(fd: int) -> bool:
    try:
        fcntl.fcntl(fd, fcntl.F_GETFD)
    except OSError:
        return False
    return True


def fill(fd: int, data: bytes) -> int:
    """Write into the socket `fd` as much of `data` as it holds (about 200 KiB), without blocking (`fd` stays
    non-blocking); returns how much."""
    os.set_blocking(fd, False)
    sent = 0
    try:
        while sent < len(data):
            sent += os.write(fd, data[sent : sent + 16 * KIB])
    except BlockingIOError:
        pass
    return sent


def unread(fd: int) -> int:
    """Bytes waiting to be read in a pipe or socket (FIONREAD)."""
    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]


def check_stream(expected: bytes, got: bytes, eof: bool, what: str, side: Beside, *, need_eof: bool = True) -> None:
    """One relay's output against its input: complete, in order, then EOF."""
    if got != expected[: len(got)]:
        at = next(i for i in range(len(got)) if got[i] != expected[i])
        fail(
            f"{what}: byte {at} differs ({describe_bytes(got[at : at + 16])} instead of "
            f"{describe_bytes(expected[at : at + 16])}). Bytes are lost or reordered when a write is partial: "
            "os.write() returns how many bytes it wrote; keep the rest in the relay's buffer and write it when the "
            "sink is writable again (EPOLLOUT)."
        )
    if len(got) < len(expected):
        ended = "and then EOF" if eof else f"and then nothing for {WAIT:g} s{returned_early(side)}"
        fail(
            f"{what}: only {len(got)} of {len(expected)} bytes arrived, {ended}. "
            + (
                "The sink was closed with bytes still buffered: at EOF on the source, write out what the relay "
                "holds first, then close."
                if eof
                else "Every byte read must be written out: is the rest stuck in a buffer nobody writes, or a "
                "source nobody reads any more?"
            )
        )
    if len(got) > len(expected):
        fail(f"{what}: {len(got)} bytes arrived for the {len(expected)} sent: bytes were written twice")
    if need_eof and not eof:
        fail(
            f"{what}: every byte arrived, then no EOF within {WAIT:g} s: when the source "
            "reaches EOF and the buffer is written out, close the sink (and the source): its reader is waiting "
            "for EOF."
        )


# --- task 1: relays between pipes and FIFOs --------------------------------------------------------

RELAY_HINT = (
    "the relay never finished: run() must wait on every source (readable) and on every sink with bytes "
    "pending (writable), and return once no relay is left."
)


@task(1, on_timeout=RELAY_HINT)
def test_relay_beyond_the_pipe_buffers(impl, fds):
    data = payload(1 << 20, seed=1)
    src_r, src_w = fds.pipe()
    dst_r, dst_w = fds.pipe(PAGE)  # a one-page sink: most writes are partial
    loop = relaying(impl, fds, (src_r, dst_w))
    got: dict = {}

    def body():
        got["data"], got["eof"] = pump({src_w: data}, {dst_r: None})
        fds.given(src_w)  # pump closed it once written: that is the source's EOF

    side = Beside(loop, body)
    side.run(NEVER_RETURNED)
    check_stream(data, got["data"][dst_r], dst_r in got["eof"], "1 MiB relayed from a pipe to a one-page pipe", side)
    left = [fd for fd in (src_r, dst_w) if is_open(fd)]
    expect(
        not left,
        f"after the relay ended its fds {left} were still open: the loop owns the fds it is given and closes them "
        "when the relay ends (the sink's reader sees EOF only then)",
    )


@task(1, on_timeout=RELAY_HINT + " At EOF on the source, write out what is buffered before closing the sink.")
def test_eof_flushes_what_is_buffered(impl, fds):
    data = payload(32 * KIB, seed=2)  # under the limit: the loop reads it all, and the EOF, at once
    src, feeder = fds.pair()
    dst_r, dst_w = fds.pipe(PAGE)
    os.set_blocking(feeder, False)
    sent = os.write(feeder, data)  # everything waits in the socket before the loop starts, then EOF
    with socket.socket(fileno=os.dup(feeder)) as sock:  # a dup: the socket object closes only the dup
        sock.shutdown(socket.SHUT_WR)
    loop = relaying(impl, fds, (src, dst_w))
    seen: dict = {}

    def body():
        # a slow consumer: the sink is full, the rest waits in the relay, and the source has said EOF
        wait_until(lambda: unread(dst_r) == PAGE, WAIT, f"the loop wrote nothing into the sink in {WAIT:g} s")
        side.settle()
        seen["idle"] = watch_for(0.3, os.getpid(), side.main_tid)
        got, eof = pump({}, {dst_r: None})
        seen["data"], seen["eof"] = got[dst_r], dst_r in eof

    side = Beside(loop, body)
    side.run(NEVER_RETURNED)
    check_stream(data[:sent], seen["data"], seen["eof"], "a source read to EOF into a one-page pipe", side)
    check_no_spin(
        "the loop, while a slow consumer had not yet read what a source at EOF had sent",
        seen["idle"],
        "once a source has said EOF, stop watching it (unregister it, or drop EPOLLIN): an fd at EOF is readable "
        "forever (read() returns b'' again and again), so epoll returns at once, every time. Wait for EPOLLOUT on "
        "the sink only",
    )


@task(1, on_timeout=RELAY_HINT)
def test_relay_from_a_fifo_of_an_unrelated_process(impl, fds, names, python_processes):
    path = names.path("in.fifo")
    os.mkfifo(path, 0o600)
    data = payload(300 * KIB, seed=3)
    fifo = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    fds.open.append(fifo)
    keeper = os.open(path, os.O_WRONLY | os.O_NONBLOCK)  # a writer until the process has opened it: no early EOF
    fds.open.append(keeper)
    writer = python_processes.start(
        f"""
        import sys
        fd = os.open({path!r}, os.O_WRONLY)
        print("open", flush=True)
        data = bytes(range(256)) * 1200
        os.write(fd, data)
        os.close(fd)
        """
    )
    expect(writer.stdout.readline() == b"open\n", "the suite's writer process could not open the FIFO")
    fds.close(keeper)
    data = bytes(range(256)) * 1200
    dst_r, dst_w = fds.pipe()
    loop = relaying(impl, fds, (fifo, dst_w))
    got, eof, side = drained_to_eof(loop, dst_r)
    writer.wait(WAIT)
    check_stream(data, got, eof, "300 KiB from a FIFO written by another process", side)


@task(1, on_timeout=RELAY_HINT + " Every relay is served at once: a loop must never wait on one fd alone.")
def test_a_hundred_relays_at_once(impl, fds):
    loop = impl.EventLoop()
    sources, sinks, expected = {}, {}, {}
    for i in range(100):
        src_r, src_w = fds.pipe()
        dst_r, dst_w = fds.pipe()
        loop.relay(src_r, dst_w)
        fds.given(src_r, dst_w)
        sources[src_w] = payload(20 * KIB + 997 * i, seed=i)
        sinks[dst_r] = None
        expected[dst_r] = sources[src_w]
    got: dict = {}

    def body():
        got["data"], got["eof"] = pump(sources, sinks)
        fds.given(*sources)

    side = Beside(loop, body)
    side.run(NEVER_RETURNED)
    for n, (dst_r, data) in enumerate(expected.items()):
        check_stream(data, got["data"][dst_r], dst_r in got["eof"], f"relay {n} of 100 served at once", side)


# --- task 2: an echo server on a Unix socket -------------------------------------------------------

STOP_HINT = (
    "stop() did not make run() return: the loop sleeps in epoll_wait/select, and a flag alone does not wake "
    "it. stop() must also write a byte into a pipe (the self-pipe) that the loop watches."
)


def _clients_at_once() -> int:
    """150 connected at once (more than listen() allows by default, 128), unless the kernel caps every
    backlog lower (net.core.somaxconn was 128 before Linux 5.4): then no listen(n) could hold 150."""
    try:
        with open("/proc/sys/net/core/somaxconn") as limit:
            return min(150, int(limit.read()))
    except (OSError, ValueError):
        return 150


CLIENTS = _clients_at_once()


def connect(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(WAIT)
    try:
        sock.connect(path)
    except BaseException:
        sock.close()
        raise
    return sock


def after_stop(client: socket.socket) -> bytes | None:
    """What a client connection gives once the loop has stopped: b"" (EOF) when the loop closed it."""
    try:
        return client.recv(16)
    except ConnectionResetError:
        return b""
    except TimeoutError:
        return None


def poke(path: str):
    """A rescue for a loop that a stop() did not wake: a new connection is an event."""

    def knock() -> None:
        try:
            connect(path).close()
        except OSError:
            pass

    return knock


@task(2, on_timeout=STOP_HINT)
def test_echo_many_clients_at_once(impl, names):
    path = names.path("echo.sock")
    loop = impl.EventLoop()
    loop.listen(path)
    mode = stat.S_IMODE(os.stat(path).st_mode)
    expect(mode & 0o077 == 0, f"the socket file has mode {mode:04o}: chmod it to 0600 right after bind()")
    clients: list[socket.socket] = []
    got: dict = {}

    def body():
        if len(clients) < CLIENTS:
            loop.stop()  # the backlog refused some: nothing to serve, the failure is said below
            return
        messages = {
            c.fileno(): payload(100 + 1500 * (i % 7) + (300 * KIB if i % 50 == 0 else 0), seed=i)
            for i, c in enumerate(clients)
        }
        got["data"], got["eof"] = pump(dict(messages), {fd: len(m) for fd, m in messages.items()})
        got["messages"] = messages
        for c in clients:
            c.shutdown(socket.SHUT_WR)  # each client is done: the loop sees EOF and closes its end
        got["eof_after"] = pump({}, {c.fileno(): None for c in clients})[1]
        loop.stop()

    try:
        for _ in range(CLIENTS):  # before run(): every connection waits in the listener's backlog until accepted
            try:
                clients.append(connect(path))
            except BlockingIOError:  # AF_UNIX says EAGAIN when the backlog is full
                break
        side = Beside(loop, body, rescue=poke(path))
        side.run(STOP_HINT)
        expect(
            len(clients) == CLIENTS,
            f"only {len(clients)} of {CLIENTS} clients could connect before run(): the next connect() failed with "
            "EAGAIN (BlockingIOError), the listening socket's backlog was full. Connections wait in the backlog "
            "until the loop accepts them: call listen(n) with n of a few hundred, as the spec asks (listen() with "
            "no argument lets about 128 wait, listen(5) about five).",
        )
        for n, (fd, message) in enumerate(got["messages"].items()):
            check_stream(
                message, got["data"][fd], False, f"client {n} of {CLIENTS} connected at once", side, need_eof=False
            )
        closed = len(got["eof_after"])
        expect(
            closed == len(clients),
            f"{len(clients) - closed} of {len(clients)} clients that shut down their sending side never saw EOF: "
            "at EOF on a connection, write out what is buffered for it, then close it",
        )
    finally:
        for c in clients:
            c.close()
    expect(
        not os.path.exists(path),
        "after run() returned the socket file was still there: close the listening socket and unlink its "
        "path (a socket file outlives its socket)",
    )


class Serving:
    """A loop with a listener and one pipe relay, and the suite's ends: a client connected and echoed once
    (`ping`), the relay's producer `src_w` and consumer `dst_r`; `closed(after)` checks that run() closed
    everything on its way out."""

    def __init__(self, impl, names, fds):
        self.path = names.path("echo.sock")
        self.loop = impl.EventLoop()
        self.loop.listen(self.path)
        src_r, self.src_w = fds.pipe()
        self.dst_r, dst_w = fds.pipe()
        self.loop.relay(src_r, dst_w)
        fds.given(src_r, dst_w)
        self.seen: dict = {}

    def ping(self, client: socket.socket) -> None:
        os.write(self.src_w, b"through")
        got, _ = pump({client.fileno(): b"ping"}, {client.fileno(): 4, self.dst_r: 7})
        expect(
            (got[client.fileno()], got[self.dst_r]) == (b"ping", b"through"),
            f"within {WAIT:g} s a client's b'ping' came back as {got[client.fileno()]!r} and 7 bytes written into a "
            f"relay's source came out as {got[self.dst_r]!r}: the loop must serve the listener's connections and "
            "the relays at the same time",
        )

    def after_return(self, client: socket.socket) -> None:
        """What the suite's ends see once run() has returned."""
        self.seen["client"] = after_stop(client)
        self.seen["relay"] = pump({}, {self.dst_r: None})[1]

    def closed(self, after: str) -> None:
        expect(
            self.seen.get("client") == b"",
            f"after {after} a connected client was still connected: run() closes every fd it owns",
        )
        expect(
            self.dst_r in self.seen.get("relay", ()),
            f"after {after} a relay's sink was still open: run() closes every fd it owns",
        )
        expect(
            not os.path.exists(self.path),
            f"after {after} the socket file was still there: close the listening socket and unlink its path (a "
            "socket file outlives its socket)",
        )


@task(2, on_timeout=STOP_HINT)
def test_idle_loop_sleeps_and_stop_wakes_it(impl, fds, names):
    serving = Serving(impl, names, fds)

    def body():
        with connect(serving.path) as client:
            serving.ping(client)  # the loop has served a client and a relay: now it only waits
            serving.seen["idle"] = watch_for(0.3, os.getpid(), side.main_tid)
            serving.loop.stop()
            if not side.returned.wait(WAIT):
                fail(STOP_HINT)
            serving.after_return(client)

    side = Beside(serving.loop, body, rescue=poke(serving.path))
    side.run(STOP_HINT)
    check_no_spin("the loop, with a connected client and a relay and nothing to do", serving.seen["idle"], SLEEP_HOW)
    serving.closed("stop()")


@task(2, on_timeout=STOP_HINT)
def test_clients_one_after_another(impl, names):
    path = names.path("echo.sock")
    loop = impl.EventLoop()
    loop.listen(path)

    def body():
        for n in range(3):  # each connects once the one before has gone: its connection reuses the fd number
            message = b"ping %d" % n
            with connect(path) as client:
                client.sendall(message)
                try:
                    echo = recv_exact(client, len(message))
                except TimeoutError:
                    fail(
                        f"client {n} got no echo in {WAIT:g} s"
                        + (
                            f", after client {n - 1} had been echoed and had left: a connection accepted after "
                            "another was closed was never served. It got the fd number of the one before (the "
                            "kernel hands out the lowest free number). Unregister an fd from epoll, and forget it "
                            "in your own tables (or the selector), before closing it: then the reused number is "
                            "registered afresh."
                            if n
                            else ": every connection accepted becomes an echo relay (relay(conn, conn))."
                        )
                    )
                expect(
                    echo == message,
                    f"client {n} sent {message!r} and got back {echo!r}: every connection accepted becomes an echo "
                    "relay, what the client sends comes back to it",
                )
                client.shutdown(socket.SHUT_WR)
                expect(
                    after_stop(client) == b"",
                    f"client {n} shut down its sending side and saw no EOF within {WAIT:g} s: at EOF on a "
                    "connection, write out what is buffered for it, then close it",
                )
        loop.stop()

    Beside(loop, body, rescue=poke(path)).run(STOP_HINT)


# --- task 3: slow and vanished consumers, back-pressure ----------------------------------------------


@task(3, on_timeout="one consumer that does not read blocked the whole loop: make every fd non-blocking.")
def test_a_consumer_that_does_not_read_blocks_nobody(impl, fds):
    stuck_r, stuck_w = fds.pipe()
    idle_r, idle_w = fds.pipe(PAGE)  # nobody reads this sink
    src_r, src_w = fds.pipe()
    dst_r, dst_w = fds.pipe()
    loop = relaying(impl, fds, (stuck_r, idle_w), (src_r, dst_w))
    data = payload(200 * KIB, seed=5)

    def body():
        os.set_blocking(stuck_w, False)
        for _ in range(8):  # 32 KiB: more than a one-page pipe holds, the loop's write to it cannot complete
            try:
                os.write(stuck_w, b"s" * PAGE)
            except BlockingIOError:
                break
        got, eof = pump({src_w: data}, {dst_r: None})
        fds.given(src_w)
        fds.close(stuck_w)
        pump({}, {idle_r: None, dst_r: None})  # the stuck consumer reads at last: every relay can end
        if len(got[dst_r]) < len(data):
            fail(
                f"while one relay's consumer did not read, another relay delivered only {len(got[dst_r])} of "
                f"{len(data)} bytes in {WAIT:g} s: the loop was blocked in a write to the full pipe. A write to a "
                "full pipe or socket blocks unless the fd is non-blocking (os.set_blocking(fd, False)); then it "
                "writes what fits, or raises BlockingIOError (EAGAIN), and the loop moves on."
            )
        check_stream(data, got[dst_r], dst_r in eof, "a relay beside a stuck one", side)

    side = Beside(loop, body)
    side.run(NEVER_RETURNED)


@task(3, on_timeout="the relay never finished once its consumer started reading again.")
def test_back_pressure_bounds_the_buffer(impl, fds):
    limit = 16 * KIB
    src_r, src_w = fds.pipe(PAGE)
    dst_r, dst_w = fds.pipe(PAGE)
    loop = impl.EventLoop(limit=limit)
    loop.relay(src_r, dst_w)
    fds.given(src_r, dst_w)
    data = payload(1 << 20, seed=6)
    seen: dict = {}

    def body():
        # the consumer reads nothing: a loop with back-pressure stops reading once `limit` bytes wait in it,
        # and the producer's pipe fills up; without it, the loop swallows everything the producer writes
        os.set_blocking(src_w, False)
        accepted = 0
        while accepted < len(data):
            try:
                accepted += os.write(src_w, data[accepted : accepted + PAGE])
            except BlockingIOError:
                if not select.select([], [src_w], [], 0.3)[1]:
                    break  # the loop stopped reading: it is holding back
        seen["accepted"] = accepted
        got, eof = pump({src_w: data[accepted:]}, {dst_r: None}, timeout=2 * WAIT)
        fds.given(src_w)
        seen["data"], seen["eof"] = got[dst_r], dst_r in eof

    side = Beside(loop, body)
    side.run(NEVER_RETURNED)
    room = 2 * PAGE + 2 * limit  # the two pipes, the loop's buffer, and a read of slack
    if seen["accepted"] > room:
        fail(
            f"with a consumer that reads nothing and limit={limit}, the loop took {seen['accepted']} bytes from the "
            f"producer (the pipes hold {2 * PAGE}): it keeps reading while it cannot write, buffering without bound. "
            "Back-pressure: while a relay holds `limit` bytes, stop watching its source for EPOLLIN (read at most "
            "the room left); the producer's pipe fills and its writes block, which slows it down."
        )
    check_stream(data, seen["data"], seen["eof"], "1 MiB through a relay whose consumer started late", side)


@task(3, on_timeout="the relay never finished once its consumer started reading again.")
def test_limit_is_the_most_a_relay_holds(impl, fds):
    for bad in (0, -1):
        expect_raises(
            ValueError,
            functools.partial(impl.EventLoop, limit=bad),
            f"EventLoop(limit={bad})",
            "limit is the most bytes one relay may hold: a relay that may hold nothing never reads. Raise ValueError "
            "when limit < 1.",
        )
    limit = KIB
    src, feeder = fds.pair()
    data = payload(1 << 20, seed=9)
    sent = fill(feeder, data)  # a socket holds far more than one read of limit bytes
    probe = os.dup(src)  # the same socket: what is still unread in it is what the loop has not taken
    fds.open.append(probe)
    dst_r, dst_w = fds.pipe(PAGE)
    loop = impl.EventLoop(limit=limit)
    loop.relay(src, dst_w)
    fds.given(src, dst_w)
    seen: dict = {}

    def body():
        # the consumer reads nothing until the loop has taken what it may: the sink's page, and `limit` bytes
        wait_until(lambda: unread(dst_r) == PAGE, WAIT, f"the loop wrote nothing into the sink in {WAIT:g} s")
        side.settle()
        seen["taken"] = sent - unread(probe)
        fds.close(feeder)  # EOF once the rest is read
        got, eof = pump({}, {dst_r: None})
        seen["data"], seen["eof"] = got[dst_r], dst_r in eof

    side = Beside(loop, body)
    side.run(NEVER_RETURNED)
    taken = seen["taken"]
    if taken > PAGE + 2 * limit:  # the sink's pipe, the relay's buffer, and a read of slack
        fail(
            f"with limit={limit} and a consumer that reads nothing, the relay took {taken} bytes from its source "
            f"while the sink's pipe holds {PAGE}: it held {taken - PAGE} bytes it could not write. A read must ask "
            "for at most the room left (limit - len(buffer)), not a fixed chunk: then a relay never holds more than "
            "limit bytes, however much one read could return."
        )
    check_stream(data[:sent], seen["data"], seen["eof"], f"a socket source relayed with limit={limit}", side)


@task(3, on_timeout="a consumer that went away left the loop stuck.")
def test_a_vanished_consumer_ends_its_relay_only(impl, fds):
    gone_src_r, gone_src_w = fds.pipe()
    gone_r, gone_w = fds.pipe()
    src_r, src_w = fds.pipe()
    dst_r, dst_w = fds.pipe()
    loop = relaying(impl, fds, (gone_src_r, gone_w), (src_r, dst_w))
    data = payload(200 * KIB, seed=7)

    def body():
        fds.close(gone_r)  # the consumer goes away: a write to its pipe fails with EPIPE
        os.write(gone_src_w, b"x" * 1000)  # (gone_src_w stays open: run() returning proves the relay ended)
        got, eof = pump({src_w: data}, {dst_r: None})
        fds.given(src_w)
        check_stream(data, got[dst_r], dst_r in eof, "a relay beside one whose consumer went away", side)

    side = Beside(loop, body)
    try:
        side.run(
            "one relay's consumer went away (EPIPE), and run() did not return once the other relay was done: the "
            "relay whose sink is gone must end (close its source and sink)"
        )
    except (BrokenPipeError, ConnectionResetError) as err:
        fail(
            f"run() raised {type(err).__name__} when one relay's consumer went away: a reader that closed its end "
            "makes write() fail with EPIPE (Python ignores SIGPIPE); that ends this relay only (close its fds), "
            "never the loop"
        )


@task(
    3,
    on_timeout=(
        "data that was already waiting when the loop started was never fully read: with edge-triggered "
        "epoll (EPOLLET), read until EAGAIN on every event, or use level-triggered mode."
    ),
)
def test_data_already_waiting(impl, fds):
    src, feeder = fds.pair()
    data = payload(1 << 20, seed=8)
    sent = fill(feeder, data)  # all there before the loop starts
    dst_r, dst_w = fds.pipe()
    loop = relaying(impl, fds, (src, dst_w))

    def body():
        got, _ = pump({}, {dst_r: sent})
        fds.close(feeder)  # EOF: the relay ends
        if len(got[dst_r]) < sent:
            fail(
                f"{sent} bytes were waiting in the source when the loop started, and only {len(got[dst_r])} "
                "arrived: the loop read once and then waited for an event that never came. Edge-triggered epoll "
                "(EPOLLET) reports only a change (new data), not data that is still there: read until EAGAIN on "
                "every event, or register level-triggered (the default), which reports the fd while it is readable."
            )
        check_stream(data[:sent], got[dst_r], False, "data already waiting in the source", side, need_eof=False)

    side = Beside(loop, body)
    side.run(NEVER_RETURNED)


# --- task 4: signals and shutdown ---------------------------------------------------------------------

SIGNAL_HINT = (
    "SIGTERM or SIGINT did not stop the loop: install a handler for each in run(), and make the signal wake the "
    "loop (signal.set_wakeup_fd on the write end of a non-blocking self-pipe the loop watches)."
)
DRAIN_HOW = (
    "read the self-pipe empty every time it is readable. signal.set_wakeup_fd writes the number of every signal "
    "that has a Python handler into it (SIGUSR1, SIGCHLD, SIGHUP... of other code of the program, not only "
    "SIGTERM and SIGINT), and a byte left in it keeps the pipe readable: a level-triggered epoll then returns at "
    "once, again and again"
)


@task(4, on_timeout=SIGNAL_HINT)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_stops_the_loop_and_run_puts_things_back(impl, fds, names, signum):
    name = signal.Signals(signum).name
    calls = []

    def suite_handler(signum, frame):  # the test process's own: run() must put it back
        calls.append(signum)

    previous = {sig: signal.signal(sig, suite_handler) for sig in (signum, signal.SIGUSR1)}
    _wake_r, wake_w = fds.pipe()  # the test process's own wakeup fd: run() must put it back
    os.set_blocking(wake_w, False)
    previous_fd = signal.set_wakeup_fd(wake_w)
    try:
        serving = Serving(impl, names, fds)

        def body():
            with connect(serving.path) as client:
                serving.ping(client)
                side.wait_asleep()
                # a signal the program handles itself, not a stop signal: the loop must go on, and sleep again
                os.kill(os.getpid(), signal.SIGUSR1)
                wait_until(
                    lambda: signal.SIGUSR1 in calls,
                    WAIT,
                    f"a SIGUSR1 with a handler of the suite's own was not handled within {WAIT:g} s while run() "
                    "ran: leave the signals the loop does not stop for alone",
                )
                side.settle()
                idle = watch_for(0.3, os.getpid(), side.main_tid)
                expect(
                    not side.returned.is_set(),
                    "run() returned after a SIGUSR1 (a handler of the program's own, not a stop signal): only "
                    "stop(), SIGTERM and SIGINT stop the loop. set_wakeup_fd writes every handled signal's number "
                    "into the self-pipe: read it empty, and go on serving unless a stop was asked for.",
                )
                check_no_spin("the idle loop, after a SIGUSR1 that is not a stop signal", idle, DRAIN_HOW)
                os.kill(os.getpid(), signum)  # as `kill PID` or Ctrl-C would
                if not side.returned.wait(WAIT):
                    fail(
                        f"{name} did not make run() return"
                        + (
                            f": the suite's own handler got it, so run() installed no handler for {name} "
                            "(signal.signal in run() for SIGTERM and SIGINT, and put the old ones back when it "
                            "returns)."
                            if signum in calls
                            else ": the handler ran, but the loop went on sleeping. After EINTR Python runs the "
                            "handler and then retries epoll_wait/select (PEP 475), so a handler that only sets a "
                            "flag is not enough: the signal must wake the loop. signal.set_wakeup_fd(w) on the "
                            "non-blocking write end of a self-pipe the loop watches (the C handler writes a byte "
                            "there whatever thread it runs in), or a handler that writes to it."
                        )
                    )
                serving.after_return(client)

        side = Beside(serving.loop, body, rescue=poke(serving.path))
        side.run(f"run() did not return after {name}")
        now_fd = signal.set_wakeup_fd(wake_w)
        handler = signal.getsignal(signum)
        expect(
            handler is suite_handler,
            f"after run() returned the {name} handler was {handler!r}: run() must put back the handler it replaced "
            "(signal.signal returns it)",
        )
        expect(
            now_fd == wake_w,
            f"after run() returned the wakeup fd was {now_fd}, not {wake_w} as before: signal.set_wakeup_fd returns "
            "the previous fd; put it back when run() ends",
        )
        serving.closed(name)
    finally:
        signal.set_wakeup_fd(previous_fd)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# --- task 5: performance ------------------------------------------------------------------------------

CONNECTIONS, MESSAGES, SIZE, IN_FLIGHT = 128, 1000, 32, 2


def echo_through(serve, connections: int, messages: int, size: int, in_flight: int) -> Elapsed:
    """`connections` socketpairs: one end of each goes to `serve(fds)` (which takes the fds it serves out of the
    list, and runs in this process until every connection is closed), the other to one forked client process
    doing `messages` round trips over them, `in_flight` at a time."""
    mine: list[int] = []
    theirs: list[int] = []
    try:
        for _ in range(connections):
            a, b = socket.socketpair()
            mine.append(a.detach())
            theirs.append(b.detach())
        with StartingLine(
            1, lambda _i, _m: (_close_all(mine), echo_clients(theirs, messages, size, in_flight))
        ) as clients:
            _close_all(theirs)
            theirs = []
            with one_cpu(*clients.pids):  # the loop and its clients take turns: CPU work decides, not wake-ups
                start = clock()
                clients.go()
                serve(mine)
                elapsed = clock() - start
            failed = clients.finish()
    finally:
        _close_all(mine + theirs)  # the fds never handed over
    expect(not failed, f"the echo clients failed: {failed[0] if failed else ''}")
    return Elapsed(elapsed)


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def plain_echo(connections: int, messages: int, size: int, in_flight: int) -> Elapsed:
    """The baseline: the same traffic through the plainest correct selectors loop."""
    return echo_through(plain_echo_loop, connections, messages, size, in_flight)


def learner_echo(impl, connections: int, messages: int, size: int, in_flight: int) -> Elapsed:
    def serve(fds: list[int]) -> None:
        loop = impl.EventLoop()
        while fds:
            fd = fds.pop()
            loop.relay(fd, fd)  # the loop's from now on
        loop.run()

    return echo_through(serve, connections, messages, size, in_flight)


@task(5, on_timeout=RELAY_HINT)
def test_echo_messages_per_second(impl, perf):
    perf.check(
        "echo_messages",
        functools.partial(learner_echo, impl, CONNECTIONS, MESSAGES, SIZE, IN_FLIGHT),
        functools.partial(plain_echo, CONNECTIONS, MESSAGES, SIZE, IN_FLIGHT),
        units=MESSAGES,
        rounds=3,
        causes=(
            "tiny reads (a few bytes per wake-up), a poll or sleep in the loop, a select() over every fd with a "
            "timeout, or re-registering every fd on every pass"
        ),
    )
