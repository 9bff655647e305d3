"""Hidden suite of the `socketpair` kata. Hygiene (zombies, fds, escaped children)
is checked by the grader after every test; these tests check behaviour and say
why it is wrong when it is."""

from __future__ import annotations

import functools
import hashlib
import os
import select
import signal
import socket
import stat
import struct
import threading
import time

import pytest

from grader.perf import Elapsed, clock
from grader.testing import (
    Watch,
    blocked_in,
    check_bytes,
    check_no_spin,
    counters,
    expect,
    fail,
    one_cpu,
    open_fds_of,
    payload,
    reap_child,
    recv_exact,
    task,
    thread_state,
    watch_for,
)


def echo(request: bytes) -> bytes:
    return request


def my_pid(request: bytes) -> bytes:
    return str(os.getpid()).encode()


def digest(request: bytes) -> bytes:
    return hashlib.sha256(request).digest()


@pytest.fixture
def workers():
    """Workers made by a test; closed at teardown even when the test fails."""
    made = []
    yield made
    for worker in made:
        pid = getattr(worker, "pid", None)
        try:  # a worker still running at teardown is stopped first, so a broken close() cannot hang here
            if isinstance(pid, int) and os.waitpid(pid, os.WNOHANG) == (0, 0):
                os.kill(pid, signal.SIGKILL)  # still our unreaped child: its pid cannot have been reused
        except ChildProcessError:
            pass
        try:
            worker.close()
        except Exception:
            pass


def start(impl, workers, handler):
    worker = impl.Worker(handler)
    workers.append(worker)
    return worker


def check_reply(expected: bytes, got, what: str) -> None:
    expect(isinstance(got, (bytes, bytearray)), f"`call` must return bytes, got {type(got).__name__}")
    check_bytes(
        expected,
        bytes(got),
        f"{what}: `call`",
        cut_short=". recv(n) returns what has arrived so far, at most n bytes, never a whole message: send the "
        "length first, then receive in a loop until you have that many bytes (framing).",
        differ=". A stream socket keeps no message boundaries: each message needs a length prefix, and the reader "
        "must consume exactly that many bytes, no more (left-over bytes would become the start of the next answer).",
    )


# --- task 1: call ---------------------------------------------------------------------

SERVE_HINT = (
    "the worker never answered. The child must loop: read one whole request (length, then bytes), "
    "call the handler, send the whole response (length, then bytes), and go back to reading. The "
    "parent sends the request, then reads the answer."
)
CLOSE_HINT = (
    "close() never returned. close() closes the parent's end, so the child's read returns EOF and it "
    "exits; then close() reaps it with waitpid. If the child still holds a copy of the parent's end "
    "(inherited through fork), it never sees EOF: close the end you do not use right after fork()."
)


@task(1, on_timeout=SERVE_HINT)
def test_call_small(impl, workers, forks):
    worker = start(impl, workers, echo)
    check_reply(b"hello over a socketpair", worker.call(b"hello over a socketpair"), "echo")
    expect(forks() == 1, f"`Worker(handler)` forked {forks()} times; one child serves every call")


@task(1, on_timeout=SERVE_HINT)
def test_one_child_serves_every_call(impl, workers, forks):
    worker = start(impl, workers, my_pid)
    expect(isinstance(getattr(worker, "pid", None), int), "a Worker must expose its child's pid as `worker.pid`")
    pids = {worker.call(b"who are you?") for _ in range(5)}
    expect(
        str(os.getpid()).encode() not in pids,
        "the handler ran in the caller's process: it must run in the forked child, on the other side of the socketpair",
    )
    expect(
        len(pids) == 1,
        f"five calls ran in {len(pids)} different processes: fork one child in Worker() and "
        "let it serve every request over the same socketpair",
    )
    expect(
        pids == {str(worker.pid).encode()},
        f"the handler ran in pid {pids.pop().decode()}, but worker.pid "
        f"is {worker.pid}: `pid` must be the pid of the child that serves the calls",
    )
    expect(forks() == 1, f"five calls forked {forks()} times; fork once, in Worker()")


@task(
    1,
    on_timeout=(
        SERVE_HINT + " An empty request or response is a message of length 0: it must still "
        "be sent (its header) and received."
    ),
)
def test_empty_request_and_response(impl, workers):
    worker = start(impl, workers, echo)
    check_reply(b"", worker.call(b""), "an empty request")
    nothing = start(impl, workers, lambda request: b"")
    check_reply(b"", nothing.call(b"something"), "an empty response")
    check_reply(b"after", worker.call(b"after"), "the call after an empty one")


@task(1, on_timeout=SERVE_HINT)
def test_binary_and_many_calls(impl, workers):
    worker = start(impl, workers, digest)
    for n in range(200):
        request = bytes(range(256))[n:] + payload(n * 37, seed=n)
        check_reply(digest(request), worker.call(request), f"call {n} of 200 (sha256 of the request)")


def check_closed_normally(status, what: str) -> None:
    """`status`, what `what` (a close()) returned for a worker whose child had nothing to do but read EOF and
    exit, must be 0."""
    if isinstance(status, int) and status < 0:
        name = {sig.value: f" ({sig.name})" for sig in signal.Signals}.get(-status, "")
        fail(
            f"{what} returned {status}: the worker was killed by signal {-status}{name}. close() must not signal "
            "the child: it closes the parent's end, the child reads EOF and ends with os._exit(0), and close() "
            "reaps it with waitpid"
        )
    expect(
        status == 0,
        f"{what} returned {status!r} for a worker that ended normally: return its exit status, "
        "os.waitstatus_to_exitcode(status) of os.waitpid(), which is 0 here",
    )


@task(1, on_timeout=CLOSE_HINT)
def test_close_returns_zero_and_reaps(impl, workers):
    worker = start(impl, workers, echo)
    worker.call(b"x")
    check_closed_normally(worker.close(), "close()")
    expect(not reap_child(worker.pid), "after close() the child must have been reaped (os.waitpid)")
    again = worker.close()
    expect(again == 0, f"a second close() returned {again!r}: close() must be idempotent and return the same status")


@task(1, on_timeout=CLOSE_HINT)
def test_context_manager(impl):
    with impl.Worker(echo) as worker:
        expect(
            isinstance(worker, impl.Worker),
            "`with Worker(h) as w` must bind the Worker itself (__enter__ returns self)",
        )
        check_reply(b"inside", worker.call(b"inside"), "a call inside `with`")
    expect(
        not reap_child(worker.pid),
        "leaving the `with` block must close the worker and reap its child (__exit__ calls close())",
    )


def slow_echo(request: bytes) -> bytes:
    time.sleep(0.3)  # a handler that takes its time: the caller has nothing to do but wait
    return request


WAIT_HOW = "a blocking recv() (no settimeout(0), no setblocking(False), no sleep-and-retry loop)"


@task(1, on_timeout=SERVE_HINT)
def test_waits_sleep(impl, workers):
    worker = start(impl, workers, slow_echo)
    with Watch() as call:
        check_reply(b"slow", worker.call(b"slow"), "a call whose handler takes 0.3 s")
    check_no_spin("call(), while the handler was busy", call.usage, WAIT_HOW)
    idle = watch_for(0.3, worker.pid)
    check_no_spin(f"the worker (pid {worker.pid}), waiting for the next request", idle, WAIT_HOW)


# --- task 2: framing --------------------------------------------------------------------

FRAMING_HINT = (
    "a large message never completed. Send it whole (sendall, or loop over send), and receive "
    "exactly its length in a loop. The socket buffer holds a few hundred KiB: the other side must "
    "be reading while you write, so each side reads the whole request before it answers."
)


@task(2, on_timeout=FRAMING_HINT)
def test_large_request(impl, workers):
    worker = start(impl, workers, digest)
    data = payload(8 << 20, seed=2)
    check_reply(digest(data), worker.call(data), "an 8 MiB request (the handler answers its sha256)")


SEND_CALLS = {"sendto", "sendmsg", "write", "writev"}
STUCK_WINDOW = 0.5  # seconds in which a caller and a worker that both sleep and never wake are stuck for good
SHORT_SEND = (
    "an 8 MiB call() never got its answer after a signal handler ran while its send() waited for buffer space: "
    "the caller and the worker both waited, the worker for the rest of the request. call() sent only part of "
    "the request: send() returns short (the bytes sent so far) when a signal handler runs while it is blocked, "
    "and send() may write less than asked at any time. Use sendall() (or loop until every byte is sent)."
)


def _until(predicate, done: threading.Event, seconds: float = 10) -> bool:
    """Poll `predicate` every millisecond until it holds (True), the call is over or `seconds` passed (False)."""
    deadline = time.monotonic() + seconds
    while not done.wait(0.001):
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
    return False


def interrupt_the_send(caller: int, worker: int, done: threading.Event, seen: dict) -> None:
    """In a thread of the suite, while the main thread (native id `caller`) calls the stopped `worker` with a
    large request: once the call's send() sleeps (the worker reads nothing), a no-op signal handler interrupts
    it, and only once the caller has woken and slept again does the worker go on. Then, when both sleep and
    neither wakes up for STUCK_WINDOW, the call can never end: the worker is killed, so that the call fails,
    and seen["stuck"] says why."""
    me = os.getpid()
    try:
        if not _until(lambda: blocked_in(me, caller) in SEND_CALLS, done):
            return
        before = counters(me, caller).wakeups
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGUSR1)
        _until(lambda: counters(me, caller).wakeups > before and thread_state(me, caller) == "S", done)
    finally:
        os.kill(worker, signal.SIGCONT)

    def both_sleep() -> bool:
        return thread_state(me, caller) == "S" and thread_state(worker) == "S"

    while _until(both_sleep, done, seconds=60):
        start = counters(me, caller).wakeups, counters(worker).wakeups
        if done.wait(STUCK_WINDOW):
            return
        if both_sleep() and (counters(me, caller).wakeups, counters(worker).wakeups) == start:
            seen["stuck"] = True
            os.kill(worker, signal.SIGKILL)  # our unreaped child (the call is still running): never a reused pid
            return


@task(2, on_timeout=SHORT_SEND)
def test_large_request_interrupted_by_a_signal(impl, workers):
    worker = start(impl, workers, digest)
    check_reply(digest(b"ready"), worker.call(b"ready"), "a first call")
    data = payload(8 << 20, seed=7)
    done: threading.Event = threading.Event()
    seen: dict = {}
    watcher = threading.Thread(
        target=interrupt_the_send, args=(threading.get_native_id(), worker.pid, done, seen), daemon=True
    )
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: None)
    try:
        os.kill(worker.pid, signal.SIGSTOP)  # it reads nothing: the call's send() must block
        watcher.start()
        try:
            reply = worker.call(data)
        except NotImplementedError:
            raise
        except Exception as err:
            if seen.get("stuck"):
                fail(SHORT_SEND)
            fail(
                f"an 8 MiB call() during which a signal handler ran raised {type(err).__name__}: {err}. A signal "
                "that interrupts send() or recv() is no error: send() returns the bytes sent so far (sendall() "
                "goes on), recv() is retried"
            )
    finally:
        done.set()
        if watcher.is_alive():
            watcher.join()
        signal.signal(signal.SIGUSR1, previous)
    check_reply(digest(data), reply, "an 8 MiB request interrupted by a signal handler (answered with its sha256)")


def shrink_send_buffers() -> None:
    """Called by a handler, in the worker: the smallest send buffer on each of its sockets, so that a large
    answer leaves in thousands of small pieces and one recv() in the caller never gets it whole. With the
    default buffer a caller slowed by page faults sometimes did (1 grade in about 10 under load)."""
    for name in os.listdir("/proc/self/fd"):
        try:
            if not stat.S_ISSOCK(os.fstat(int(name)).st_mode):
                continue
            sock = socket.socket(fileno=int(name))
        except OSError:
            continue  # the fd of the listing itself, closed by now
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1)  # raised to the kernel's minimum
        finally:
            sock.detach()


@task(2, on_timeout=FRAMING_HINT)
def test_large_response(impl, workers):
    big = payload(8 << 20, seed=3)

    def answer_in_small_pieces(request: bytes) -> bytes:
        shrink_send_buffers()
        return big[: int(request)]

    worker = start(impl, workers, answer_in_small_pieces)
    check_reply(big, worker.call(str(len(big)).encode()), "an 8 MiB response")
    check_reply(big[:10], worker.call(b"10"), "a small response after a large one")


@task(2, on_timeout=FRAMING_HINT)
def test_mixed_sizes_back_to_back(impl, workers):
    worker = start(impl, workers, echo)
    sizes = [0, 1, 8, 65536, 1 << 20, 5, 0, 3 << 20, 7, 300_001, 2]
    replies = {}
    for n, size in enumerate(sizes):
        data = payload(size, seed=100 + n)
        got = worker.call(data)
        if got != data and bytes(got) in replies:
            fail(
                f"call {n} ({size} bytes) returned the answer of call {replies[bytes(got)]}: the two sides are "
                "out of step. Each side must read exactly one whole message per request, not more and not less."
            )
        check_reply(data, got, f"call {n} of {len(sizes)} ({size} bytes)")
        replies[data] = n


@task(2, on_timeout=FRAMING_HINT)
def test_bytes_that_look_like_headers(impl, workers):
    worker = start(impl, workers, echo)
    for data in (struct.pack(">Q", 1 << 40), struct.pack(">I", 7) * 3, b"\x00" * 9, b"\xff" * 17, b"\n\r\n"):
        check_reply(data, worker.call(data), f"the request {data!r}")


# --- task 3: errors and lifetime ------------------------------------------------------------


def picky(request: bytes) -> bytes:
    if request.startswith(b"bad"):
        raise ValueError(f"cannot handle {request.decode()}")
    if request == b"die":
        os._exit(7)
    if request == b"text":
        return "not bytes"
    return request.upper()


def remote_error(impl, worker, request: bytes, raised_other, returned: str) -> str:
    """The text of the RemoteError that worker.call(request) must raise when the handler fails in the
    child; fails with raised_other(the exception) when call() raises anything else, with `returned`
    when it returns."""
    try:
        worker.call(request)
    except impl.RemoteError as err:
        return str(err)
    except Exception as err:
        fail(raised_other(err))
    fail(returned)


ERROR_HINT = (
    "the caller never got an answer to a request whose handler raised. Catch the exception in the "
    "child, send it back as an error message (a status in the reply header), and keep serving."
)


@task(3, on_timeout=ERROR_HINT)
def test_handler_exception_raises_remote_error(impl, workers):
    expect(
        isinstance(impl.RemoteError, type) and issubclass(impl.RemoteError, Exception),
        "`RemoteError` must be an exception class (class RemoteError(Exception))",
    )
    worker = start(impl, workers, picky)
    text = remote_error(
        impl,
        worker,
        b"bad input 42",
        lambda err: (
            f"the handler raised ValueError in the worker, and call() raised {type(err).__name__}: {err}. The "
            "child must catch the handler's exception and send it back; the caller raises RemoteError with it."
        ),
        "the handler raised ValueError, and call() returned normally: it must raise RemoteError",
    )
    expected = "ValueError: cannot handle bad input 42"
    expect(
        "ValueError" in text and "cannot handle bad input 42" in text,
        f"RemoteError says {text!r}: it must carry the remote exception's type and message, {expected!r}",
    )
    expect(
        text == expected,
        f"str(RemoteError) is {text!r}, expected exactly {expected!r}: '<TypeName>: <message>', built in the child "
        "as f'{type(exc).__name__}: {exc}' (repr(exc) gives \"ValueError('...')\")",
    )
    check_reply(b"STILL SERVING", worker.call(b"still serving"), "the call after a remote error")
    status = worker.close()
    expect(
        status == 0, f"a worker whose handler raised must keep serving and end normally; close() returned {status!r}"
    )


@task(3, on_timeout=ERROR_HINT)
def test_handler_returning_str_is_a_remote_type_error(impl, workers):
    worker = start(impl, workers, picky)
    text = remote_error(
        impl,
        worker,
        b"text",
        lambda err: (
            f"a handler returning str raised {type(err).__name__} in the caller: check the handler's result in "
            "the child and report a TypeError as a RemoteError"
        ),
        "a handler returning str must make call() raise RemoteError (TypeError), not return",
    )
    expect(
        "TypeError" in text,
        f"a handler returning str instead of bytes must give RemoteError with 'TypeError', got {text!r}",
    )
    check_reply(b"OK", worker.call(b"ok"), "the call after a remote TypeError")


@task(
    3,
    on_timeout=(
        "after the child exited, call() or close() blocked. The child's exit closes its end: "
        "the parent's read returns EOF (raise ConnectionError) and waitpid returns at once."
    ),
)
def test_close_returns_the_child_exit_status(impl, workers):
    worker = start(impl, workers, picky)
    check_reply(b"FIRST", worker.call(b"first"), "the first call")
    try:
        worker.call(b"die")
    except ConnectionError:
        pass
    except Exception as err:
        fail(
            f"the worker exited (os._exit(7)) during a call, and call() raised {type(err).__name__}: {err}. "
            "EOF (recv returned b'') or a reset means the worker is gone: raise ConnectionError"
        )
    else:
        fail("the worker exited during a call, and call() returned normally: it must raise ConnectionError")
    status = worker.close()
    if status == 7 << 8:
        fail(
            "close() returned 1792, the raw wait status of os.waitpid(); return the exit code, "
            "os.waitstatus_to_exitcode(status) (7 here)"
        )
    expect(status == 7, f"the child ended with os._exit(7), close() returned {status!r}: return its exit status")


@task(3, on_timeout=CLOSE_HINT)
def test_close_of_a_killed_worker(impl, workers):
    worker = start(impl, workers, echo)
    worker.call(b"x")
    os.kill(worker.pid, signal.SIGKILL)
    status = worker.close()
    expect(
        status == -signal.SIGKILL,
        f"the child was killed by SIGKILL, close() returned {status!r}: a child "
        "killed by a signal has exit code -signum (os.waitstatus_to_exitcode gives -9)",
    )


def _socket_inodes(fds: dict[int, str]) -> set[str]:
    return {target for target in fds.values() if target.startswith("socket:")}


ORDINALS = ("first", "second", "third")


@task(3, on_timeout=CLOSE_HINT)
def test_children_hold_only_their_own_end(impl, workers):
    before = _socket_inodes(open_fds_of(os.getpid()))
    made: list = []
    ends: list[set[str]] = []  # the sockets each Worker() added to the caller, in order
    for _ in ORDINALS:
        made.append(start(impl, workers, echo))
        ends.append(_socket_inodes(open_fds_of(os.getpid())) - before - set().union(*ends))
    for n, worker in enumerate(made):  # every child is serving: set up is done
        check_reply(b"%d" % n, worker.call(b"%d" % n), f"the {ORDINALS[n]} worker")
    expect(
        len(ends[0]) == 1,
        f"after Worker() the caller holds {len(ends[0])} new sockets: keep one end of "
        "the socketpair, close the child's end in the parent right after fork()",
    )
    for worker, own_end in zip(made, ends, strict=True):
        if _socket_inodes(open_fds_of(worker.pid)) & own_end:
            fail(
                f"the child of a Worker (pid {worker.pid}) still holds the parent's end of its socketpair. "
                "Close it in the child right after fork(): otherwise the child never reads EOF when the "
                "parent closes or dies, and close() waits forever."
            )
    for n, worker in enumerate(made):
        held = _socket_inodes(open_fds_of(worker.pid))
        for m in range(n):
            if held & ends[m]:
                fix = (
                    "It closed the previous Worker's end only: close the end of every open Worker in the child "
                    "(a class-level set of them), not only the last one's"
                    if not held & ends[n - 1]
                    else "Close them in the child (keep a registry of open Workers)"
                )
                fail(
                    f"the {ORDINALS[n]} Worker's child (pid {worker.pid}) holds the {ORDINALS[m]} Worker's socket: "
                    f"fork() copied every open fd, including the other workers' parent ends. {fix}; otherwise the "
                    f"{ORDINALS[m]} worker never sees EOF while the {ORDINALS[n]} one lives."
                )
    check_closed_normally(made[0].close(), "close() of the first worker while the others run")
    for n, worker in enumerate(made[1:], 1):
        check_reply(b"3", worker.call(b"3"), f"the {ORDINALS[n]} worker after the first one closed")


@task(
    3,
    on_timeout=(
        "waiting for an orphaned worker to exit took too long: the child must exit when its "
        "read returns EOF, and it only gets EOF if no process still holds the parent's end."
    ),
)
def test_worker_exits_when_parent_dies(impl, workers):
    check_reply(b"probe", start(impl, workers, echo).call(b"probe"), "a first worker")
    report_r, report_w = os.pipe()
    hold_r, hold_w = os.pipe()
    parent = os.fork()
    if parent == 0:  # the worker's parent: creates a Worker, reports its pid, then waits to be killed
        status = 1
        try:
            os.close(report_r)
            os.close(hold_w)
            worker = impl.Worker(echo)
            worker.call(b"ready")
            os.write(report_w, struct.pack(">Q", worker.pid))
            os.close(report_w)
            os.read(hold_r, 1)
            status = 0
        finally:
            os._exit(status)
    os.close(report_w)
    os.close(hold_r)
    try:  # exactly 8 bytes, not to EOF: the worker inherited the write end of this pipe
        reply = os.read(report_r, 8)
    finally:
        os.close(report_r)
    os.kill(parent, signal.SIGKILL)
    os.waitpid(parent, 0)
    os.close(hold_w)
    expect(len(reply) == 8, "the process that made a Worker failed before reporting its pid")
    orphan = struct.unpack(">Q", reply)[0]
    try:
        pidfd = os.pidfd_open(orphan)
    except ProcessLookupError:
        return
    try:
        ready, _, _ = select.select([pidfd], [], [], 5)
    finally:
        os.close(pidfd)
    if not ready:
        os.kill(orphan, signal.SIGKILL)
        os.waitpid(orphan, 0)
        fail(
            f"the Worker's parent was killed with SIGKILL, and its child (pid {orphan}) was still running 5 s "
            "later. The child must exit when its read returns EOF (b''), and EOF comes only when no process holds "
            "the parent's end: close it in the child right after fork()."
        )
    os.waitpid(orphan, 0)  # re-parented to us (the grader is a subreaper)


# --- task 4: performance --------------------------------------------------------------------


class RawEcho:
    """The baseline: the plainest correct socketpair request/response loop (8-byte length prefix)."""

    def __init__(self):
        self.sock, child = socket.socketpair()
        self.pid = os.fork()
        if self.pid == 0:
            try:
                self.sock.close()
                while True:
                    head = recv_exact(child, 8)
                    if head is None:
                        break
                    body = recv_exact(child, struct.unpack(">Q", head)[0])
                    _send(child, body)
            finally:
                os._exit(0)
        child.close()

    def call(self, request: bytes) -> bytes:
        _send(self.sock, request)
        return recv_exact(self.sock, struct.unpack(">Q", recv_exact(self.sock, 8))[0])

    def close(self) -> None:
        self.sock.close()
        os.waitpid(self.pid, 0)


def _send(sock: socket.socket, body: bytes) -> None:
    if len(body) < 65536:
        sock.sendall(struct.pack(">Q", len(body)) + body)
    else:
        sock.sendall(struct.pack(">Q", len(body)))
        sock.sendall(body)


def timed_calls(worker, request: bytes, calls: int) -> Elapsed:
    """`calls` calls of `request`, the caller and the worker on one CPU: a round trip costs a different amount
    when the two processes share a CPU than when one must wake the other on an idle one, and the scheduler's
    placement must not decide the verdict."""
    with one_cpu(worker.pid):
        start = clock()
        for _ in range(calls):
            worker.call(request)
        return Elapsed(clock() - start)


def raw_echo_calls(request: bytes, calls: int) -> Elapsed:
    echo = RawEcho()
    try:
        return timed_calls(echo, request, calls)
    finally:
        echo.close()


def learner_calls(impl, request: bytes, calls: int) -> Elapsed:
    with impl.Worker(echo) as worker:
        return timed_calls(worker, request, calls)


@task(4, on_timeout=SERVE_HINT)
def test_round_trips_per_second(impl, workers, perf):
    request = payload(64, seed=5)
    check_reply(request, start(impl, workers, echo).call(request), "a 64-byte echo")
    calls = 1000
    perf.check(
        "call_round_trips",
        lambda: learner_calls(impl, request, calls),
        functools.partial(raw_echo_calls, request, calls),
        units=calls,
        rounds=5,  # short rounds, more of them
        causes="a worker or a caller that polls (a timeout or a sleep) instead of a blocking recv(), or more "
        "system calls per message than a header and a body",
    )


@task(4, on_timeout=FRAMING_HINT)
def test_large_echo_throughput(impl, workers, perf):
    data = payload(4 << 20, seed=6)
    check_reply(data, start(impl, workers, echo).call(data), "a 4 MiB echo")
    calls = 4
    perf.check(
        "call_mbps",
        lambda: learner_calls(impl, data, calls),
        functools.partial(raw_echo_calls, data, calls),
        units=calls * len(data),
        scale=1e-6,
        rounds=5,
        causes="a message grown with bytes += chunk (each += copies everything received so far), tiny recv() "
        "sizes, or extra copies of the whole message",
    )
