"""Hidden suite of the `fd-passing` kata. Hygiene (fds left open in the test process,
children, zombies, socket files) is checked by the grader after every test; these tests
check behaviour and say why it is wrong when it is. Every descriptor the suite opens
itself is closed by the `opened` fixture, so a leftover fd is always the learner's."""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import select
import socket
import stat
import threading
import time

import pytest
from _prefork import (
    ANSWER_WAIT,
    CLIENTS,
    CONNECTIONS,
    EOF_WAIT,
    answer,
    ask,
    connections_through,
    plain_prefork_connections,
)

from grader.testing import (
    StartingLine,
    Watch,
    check_no_spin,
    expect,
    expect_raises,
    fail,
    last_error_line,
    open_fds_of,
    raised,
    read_to_eof,
    reap_child,
    task,
    wait_until,
    watch_for,
)


class Opened:
    """The suite's own descriptors and sockets, closed at teardown (never the learner's)."""

    def __init__(self) -> None:
        self.fds: list[int] = []
        self.socks: list[socket.socket] = []

    def fd(self, fd: int) -> int:
        self.fds.append(fd)
        return fd

    def pipe(self) -> tuple[int, int]:
        r, w = os.pipe()
        return self.fd(r), self.fd(w)

    def file(self, path: str, data: bytes) -> int:
        with open(path, "wb") as f:
            f.write(data)
        return self.fd(os.open(path, os.O_RDONLY))

    def sock(self, sock: socket.socket) -> socket.socket:
        self.socks.append(sock)
        return sock

    def socketpair(self) -> tuple[socket.socket, socket.socket]:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        return self.sock(a), self.sock(b)

    def close(self, fd: int) -> None:
        """Close one of ours now (it will not be closed again at teardown)."""
        self.fds.remove(fd)
        os.close(fd)

    def close_all(self) -> None:
        for fd in dict.fromkeys(self.fds):  # once each: a number may have been recorded twice
            try:
                os.close(fd)
            except OSError:
                pass
        for sock in self.socks:
            sock.close()


@pytest.fixture
def opened():
    made = Opened()
    yield made
    made.close_all()


def identity(fd: int) -> tuple[int, int, int]:
    """What makes two descriptors the same open file, as far as fstat can tell."""
    st = os.fstat(fd)
    return st.st_dev, st.st_ino, stat.S_IFMT(st.st_mode)


def new_fds(before: dict[int, str]) -> dict[int, str]:
    return {fd: target for fd, target in open_fds_of(os.getpid()).items() if before.get(fd) != target}


def raw_recv(sock: socket.socket, maxfds: int, what: str) -> tuple[bytes, list[int]]:
    """The suite's own recvmsg of one message (data, fds); fails when nothing arrives in time."""
    ready, _, _ = select.select([sock], [], [], ANSWER_WAIT)
    if not ready:
        fail(f"{what}: nothing arrived within {ANSWER_WAIT:g} s on the other end of the socket")
    data, fds, _, _ = socket.recv_fds(sock, 100, maxfds)
    return data, fds


def check_received(got, what: str) -> tuple[bytes, list[int]]:
    expect(
        isinstance(got, tuple) and len(got) == 2 and isinstance(got[0], bytes) and isinstance(got[1], list),
        f"{what} must return a tuple (data: bytes, fds: list[int]), got {got!r:.80}",
    )
    return got


# --- task 1: send_fds and recv_fds ----------------------------------------------------------------

RECV_HINT = "recv_fds must return as soon as one message has arrived: one recvmsg() (socket.recv_fds), no loop"


@task(1, on_timeout=RECV_HINT)
def test_one_file_both_ways(impl, opened, scratch):
    fd = opened.file(str(scratch / "data.txt"), b"0123456789")
    a, b = opened.socketpair()
    impl.send_fds(a, b"file", [fd])
    data, fds = raw_recv(b, 4, "send_fds(sock, b'file', [fd])")
    for received in fds:
        opened.fd(received)
    expect(data == b"file", f"send_fds(sock, b'file', [fd]) sent the data {data!r}, expected b'file'")
    expect(
        len(fds) == 1,
        f"send_fds with one descriptor delivered {len(fds)}: put the fds in an SCM_RIGHTS control message "
        "(socket.send_fds(sock, [data], fds))",
    )
    expect(identity(fds[0]) == identity(fd), "the descriptor received is not the file that was sent")
    try:
        os.fstat(fd)
    except OSError:
        fail("send_fds closed the caller's descriptor: the caller keeps its own copy and closes it itself")
    os.read(fds[0], 4)
    expect(
        os.read(fd, 4) == b"4567",
        "a read through the received descriptor did not move the sender's offset: the two must share one "
        "open file description (was the file reopened by name instead of passed?)",
    )
    socket.send_fds(b, [b"back"], [fd])
    got = check_received(impl.recv_fds(a, 100, 4), "recv_fds")
    for received in got[1]:
        opened.fd(received)
    expect(got[0] == b"back", f"recv_fds returned the data {got[0]!r}, expected b'back'")
    expect(
        len(got[1]) == 1 and isinstance(got[1][0], int),
        f"recv_fds returned the fds {got[1]!r}: one int per descriptor received",
    )
    expect(identity(got[1][0]) == identity(fd), "recv_fds returned a descriptor that is not the file that was sent")


@task(1, on_timeout=RECV_HINT)
def test_several_descriptors_in_one_message(impl, opened, scratch):
    r, w = opened.pipe()
    f = opened.file(str(scratch / "several.txt"), b"several")
    s, _peer = opened.socketpair()
    sent = [r, w, f, s.fileno()]
    a, b = opened.socketpair()
    impl.send_fds(a, b"four", sent)
    _, fds = raw_recv(b, 8, "send_fds(sock, b'four', [4 fds])")
    for received in fds:
        opened.fd(received)
    expect(
        len(fds) == 4,
        f"one recvmsg() received {len(fds)} of the 4 descriptors sent by one send_fds call: all of them go in "
        "ONE message (one sendmsg() with one SCM_RIGHTS control message), not one message per descriptor",
    )
    expect(
        [identity(fd) for fd in fds] == [identity(fd) for fd in sent],
        "the 4 descriptors arrived, but not the ones sent, in the order they were sent (pipe read end, pipe "
        "write end, file, socket)",
    )
    socket.send_fds(b, [b"four"], sent)
    got = check_received(impl.recv_fds(a, 100, 4), "recv_fds")
    for received in got[1]:
        opened.fd(received)
    expect(got[0] == b"four", f"recv_fds returned the data {got[0]!r}, expected b'four'")
    expect(
        [identity(fd) for fd in got[1]] == [identity(fd) for fd in sent],
        f"recv_fds(sock, 100, 4) of a message with 4 descriptors returned {len(got[1])} descriptors, or not the "
        "ones sent in their order",
    )


CTRUNC = (
    "more descriptors came than recv_fds made room for: the kernel installed the ones that fit, closed the "
    "others and set MSG_CTRUNC in the flags. socket.recv_fds does not raise: look at flags & socket.MSG_CTRUNC"
)


@task(1, on_timeout=RECV_HINT)
def test_truncated_control_data_is_detected(impl, opened):
    a, b = opened.socketpair()
    r, w = opened.pipe()
    for sent, room in (([r, w, r, w], 2), ([r, w], 1)):
        socket.send_fds(b, [b"too many"], sent)
        before = open_fds_of(os.getpid())
        try:
            got = impl.recv_fds(a, 100, room)
        except impl.FdsTruncated:
            left = new_fds(before)
            if left:
                for fd in left:
                    opened.fd(fd)
                fail(
                    f"recv_fds raised FdsTruncated but left {len(left)} received descriptor(s) open: the ones that "
                    "did arrive are installed in your process, and nobody else can close them. Close every fd "
                    "received before raising."
                )
            continue
        for fd in new_fds(before):
            opened.fd(fd)
        if isinstance(got, tuple) and len(got) == 2 and isinstance(got[1], list) and len(got[1]) > room:
            fail(
                f"recv_fds(sock, 100, {room}) returned {len(got[1])} descriptors, more than the {room} it made room "
                "for: a control buffer sized with CMSG_SPACE() is rounded up to 8 bytes, room for one more fd "
                "when maxfds is odd. Size it with CMSG_LEN(maxfds * 4) (as socket.recv_fds does), and raise "
                "FdsTruncated when the flags say MSG_CTRUNC."
            )
        fail(
            f"recv_fds(sock, 100, {room}) of a message carrying {len(sent)} descriptors returned {got!r:.60} instead "
            f"of raising FdsTruncated: {CTRUNC}"
        )


@task(1, on_timeout=RECV_HINT)
def test_eof_and_empty_data(impl, opened, scratch):
    a, b = opened.socketpair()
    fd = opened.file(str(scratch / "empty.txt"), b"x")
    expect_raises(
        ValueError,
        lambda: impl.send_fds(a, b"", [fd]),
        "send_fds(sock, b'', [fd])",
        "On a stream socket a sendmsg() of 0 bytes sends nothing, the descriptors included: at least one byte "
        "must carry them, so empty data is refused with ValueError.",
    )
    b.close()
    got = check_received(impl.recv_fds(a, 100, 2), "recv_fds after the peer closed")
    expect(got == (b"", []), f"recv_fds after the peer closed returned {got!r}, expected (b'', []) (EOF)")


PIPE_PEER = r"""
import socket
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.connect(os.environ["HAND_SOCK"])
data, fds = impl.recv_fds(sock, 100, 1)
os.write(fds[0], b"written by %d" % os.getpid())
os.close(fds[0])
r, w = os.pipe()
impl.send_fds(sock, b"r", [r])
os.close(r)
os.write(w, b"from the other side")
os.close(w)
sock.recv(1)  # until the suite is done
"""


@task(
    1,
    on_timeout="the pipe's reader never saw EOF: every copy of its write end must be closed, the sender's "
    "own copy too once passed, and the receiver's when it is done",
)
def test_pipe_ends_between_unrelated_processes(impl, opened, names, python_processes):
    path = names.path("hand.sock")
    listener = opened.sock(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
    listener.bind(path)
    listener.listen(1)
    listener.settimeout(ANSWER_WAIT * 2)
    proc = python_processes.start(PIPE_PEER, env={"HAND_SOCK": path})
    try:
        conn = opened.sock(listener.accept()[0])
    except TimeoutError:
        fail(f"the other process never connected: {last_error_line(proc.communicate(timeout=10)[1])}")
    conn.settimeout(ANSWER_WAIT)
    r, w = opened.pipe()
    impl.send_fds(conn, b"w", [w])
    opened.close(w)  # the other process holds the only write end now
    written = read_to_eof(r)
    if written != b"written by %d" % proc.pid:
        conn.close()
        _, err = proc.communicate(timeout=10)
        fail(
            f"the unrelated process wrote {written!r} through the pipe end it received (expected b'written by "
            f"{proc.pid}'); its error: {last_error_line(err)}"
        )
    got = check_received(impl.recv_fds(conn, 100, 1), "recv_fds of a pipe end from another process")
    for fd in got[1]:
        opened.fd(fd)
    expect(len(got[1]) == 1, f"recv_fds of the other process's pipe read end returned {len(got[1])} descriptors")
    expect(
        read_to_eof(got[1][0]) == b"from the other side",
        "the pipe read end received from the other process did not read what it wrote",
    )
    conn.close()
    expect(proc.wait(timeout=10) == 0, "the other process failed")


@task(1, on_timeout=RECV_HINT)
def test_recv_fds_sleeps_while_waiting(impl, opened, scratch):
    a, b = opened.socketpair()
    fd = opened.file(str(scratch / "late.txt"), b"late")
    timer = threading.Timer(0.3, lambda: socket.send_fds(b, [b"late"], [fd]))
    timer.start()
    try:
        with Watch() as watch:
            got = check_received(impl.recv_fds(a, 100, 1), "recv_fds")
    finally:
        timer.join()
    for received in got[1]:
        opened.fd(received)
    expect(got[0] == b"late" and len(got[1]) == 1, f"recv_fds returned {got!r} for one message with one fd")
    check_no_spin("recv_fds, while nothing had been sent yet", watch.usage, "a blocking recvmsg() (socket.recv_fds)")


# --- task 2: the opener server ------------------------------------------------------------------------


class Calls:
    """An `allow` that records its calls and admits a set of pids (every pid when `pids` is None)."""

    def __init__(self, pids: set[int] | None = None):
        self.pids = pids
        self.calls: list[tuple] = []
        self._lock = threading.Lock()

    def __call__(self, pid: int, uid: int, gid: int) -> bool:
        with self._lock:
            self.calls.append((pid, uid, gid))
        return self.pids is None or pid in self.pids


@pytest.fixture
def servers(impl):
    """Servers started through `servers.opener(...)` / `servers.prefork(...)`, stopped at teardown."""
    made = Servers(impl)
    yield made
    made.stop_all()


class Servers:
    def __init__(self, impl):
        self.impl = impl
        self.started: list = []

    def opener(self, path: str, root: str, allow):
        server = self.impl.OpenerServer(path, root, allow)
        server.start()
        self.started.append(server)
        return server

    def prefork(self, path: str, workers: int):
        server = self.impl.PreforkServer(path, workers, answer)
        server.start()
        self.started.append(server)
        return server

    def stop(self, server) -> None:
        self.started.remove(server)
        server.stop()

    def stop_all(self) -> None:
        for server in self.started:
            try:
                server.stop()
            except Exception:
                pass


def make_root(scratch) -> str:
    root = scratch / "root"
    root.mkdir()
    (root / "greeting.txt").write_bytes(b"hello from the opener")
    (scratch / "secret.txt").write_bytes(b"outside the root")
    return str(root)


def files_open_under(folder: str) -> list[str]:
    return [target for target in open_fds_of(os.getpid()).values() if target.startswith(folder + "/")]


COPY_KEPT = (
    "the opener still holds the file open after passing it: after sendmsg() the sender keeps its own "
    "descriptor (SCM_RIGHTS is a dup() into the receiver, not a move). Close yours once sent, on every path."
)

CLIENT_CODE = r"""
import json
try:
    fd = impl.request_file(os.environ["OPENER"], os.environ["NAME"])
    print(json.dumps({"pid": os.getpid(), "data": os.read(fd, 100).decode()}))
    os.close(fd)
except OSError as err:
    print(json.dumps({"pid": os.getpid(), "error": type(err).__name__, "errno": err.errno}))
"""

OPENER_HINT = (
    "a request_file() never got its answer: the client sends the name then shutdown(SHUT_WR), the server reads "
    "the name to EOF, answers one message and closes the connection"
)


def remote_request(python_processes, path: str, name: str) -> dict:
    done = python_processes.run(
        CLIENT_CODE, 10, f"request_file({name!r}) in another process", env={"OPENER": path, "NAME": name}
    )
    if done.returncode != 0 or not done.stdout.strip():
        fail(f"request_file({name!r}) in another process failed: {last_error_line(done.stderr)}")
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


@task(2, on_timeout=OPENER_HINT)
def test_opener_serves_an_unrelated_process(servers, names, scratch, python_processes):
    root = make_root(scratch)
    path = names.path("opener.sock")
    allow = Calls()
    servers.opener(path, root, allow)
    mode = stat.S_IMODE(os.stat(path).st_mode)
    expect(mode & 0o077 == 0, f"the socket file has mode {mode:04o}: chmod it to 0600 right after bind()")
    got = remote_request(python_processes, path, "greeting.txt")
    expect(
        got.get("data") == "hello from the opener",
        f"another process's request_file('greeting.txt') got {got!r}: expected the file's content through the fd",
    )
    seen = [pid for pid, _, _ in allow.calls]
    if os.getpid() in seen and got["pid"] not in seen:
        fail(
            f"allow() was called with pid {os.getpid()}, the server's own, for a request of process {got['pid']}: "
            "read SO_PEERCRED on the accepted connection, not on the listening socket (whose credentials are "
            "those of the process that called listen())"
        )
    expect(
        allow.calls == [(got["pid"], os.getuid(), os.getgid())],
        f"allow() was called with {allow.calls}, expected once with the client's (pid, uid, gid) = "
        f"{(got['pid'], os.getuid(), os.getgid())}: struct.unpack('3i', conn.getsockopt(SOL_SOCKET, "
        "SO_PEERCRED, 12)) on the accepted socket, in that order",
    )
    wait_until(lambda: not files_open_under(root), EOF_WAIT, COPY_KEPT)


@task(2, on_timeout=OPENER_HINT)
def test_opener_refuses_who_allow_refuses(impl, servers, names, scratch, python_processes):
    root = make_root(scratch)
    path = names.path("opener.sock")
    allow = Calls(pids={os.getpid()})  # the test process only
    servers.opener(path, root, allow)
    got = remote_request(python_processes, path, "greeting.txt")
    if "data" in got:
        fail(
            f"allow() admits only pid {os.getpid()}, yet process {got['pid']} got the file: allow() was called "
            f"with {allow.calls}. Read the credentials of the peer on the accepted socket (SO_PEERCRED), call "
            "allow(pid, uid, gid) with them, and answer EACCES when it refuses."
        )
    expect(
        got.get("errno") == errno.EACCES and got.get("error") == "PermissionError",
        f"a refused request_file() raised {got.get('error')} (errno {got.get('errno')}): expected PermissionError "
        "(the server answers b'13', EACCES, and request_file raises OSError(13, ...))",
    )
    fd = impl.request_file(path, "greeting.txt")
    try:
        expect(os.read(fd, 100) == b"hello from the opener", "the admitted process read the wrong content")
    finally:
        os.close(fd)
    wait_until(lambda: not files_open_under(root), EOF_WAIT, COPY_KEPT)


@task(2, on_timeout=OPENER_HINT)
def test_opener_errors(impl, servers, names, scratch):
    root = make_root(scratch)
    path = names.path("opener.sock")
    servers.opener(path, root, Calls())
    expect_raises(
        FileNotFoundError,
        lambda: impl.request_file(path, "missing.txt"),
        "request_file of a missing file",
        "the server answers the errno of the failed open() (b'2'), and request_file raises OSError(2, ...): "
        "Python makes that a FileNotFoundError",
    )
    for bad in ("../secret.txt", "sub/greeting.txt", "..", "."):
        try:
            fd = impl.request_file(path, bad)
        except OSError as err:
            expect(
                err.errno == errno.EINVAL,
                f"request_file({bad!r}) raised {raised(err, impl)}: a name that is not a plain file name of the "
                "root is answered EINVAL (b'22')",
            )
            continue
        os.close(fd)
        fail(
            f"request_file({bad!r}) returned a descriptor: the server opened a path outside the names of its "
            "root. Refuse a name with '/', '.' or '..' (EINVAL) before opening anything."
        )
    fd = impl.request_file(path, "greeting.txt")
    os.close(fd)
    for _ in range(20):
        os.close(impl.request_file(path, "greeting.txt"))
    wait_until(lambda: not files_open_under(root), EOF_WAIT, COPY_KEPT)


class RogueOpener:
    """The suite's own opener of one request, which answers `reply` with `answer_fds`."""

    def __init__(self, path: str, answer_fds: list[int], reply: bytes):
        self.path = path
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(1)
        self.thread = threading.Thread(target=self._serve, args=(answer_fds, reply), daemon=True)
        self.thread.start()

    def _serve(self, answer_fds: list[int], reply: bytes) -> None:
        try:
            conn, _ = self.listener.accept()
            with conn:
                conn.settimeout(ANSWER_WAIT)
                while conn.recv(4096):
                    pass
                socket.send_fds(conn, [reply], answer_fds)
                conn.recv(1)
        except OSError:
            pass  # nobody came (close() woke accept()), or the client went away

    def close(self) -> None:
        """Once the client is done: wake an accept() still waiting, join, remove the socket."""
        self.listener.shutdown(socket.SHUT_RDWR)
        self.thread.join(ANSWER_WAIT * 2)
        self.listener.close()
        os.unlink(self.path)


@task(2, on_timeout=OPENER_HINT)
def test_request_file_refuses_extra_descriptors(impl, names, opened, scratch):
    r, w = opened.pipe()
    path = names.path("rogue.sock")
    rogue = RogueOpener(path, [r, w, r], b"0")
    before = open_fds_of(os.getpid())
    try:
        fd = impl.request_file(path, "greeting.txt")
    except impl.FdsTruncated:
        fd = None
    finally:
        rogue.close()
    left = new_fds(before)
    for leaked in left:
        opened.fd(leaked)
    if fd is not None:
        fail(
            f"request_file of an answer b'0' carrying 3 descriptors returned fd {fd} instead of raising "
            f"FdsTruncated: {CTRUNC}"
        )
    expect(
        not left,
        f"request_file raised FdsTruncated but left {len(left)} descriptor(s) open ({sorted(left.values())}): close "
        "what arrived, and the client socket, on every path",
    )
    path = names.path("rogue.sock")
    rogue = RogueOpener(path, [r], b"13")  # a refusal that carries a descriptor all the same
    before = open_fds_of(os.getpid())
    try:
        expect_raises(
            PermissionError,
            lambda: impl.request_file(path, "greeting.txt"),
            "request_file answered b'13'",
            "an errno answer raises OSError(code, os.strerror(code), name), which is PermissionError for 13",
        )
    finally:
        rogue.close()
    left = new_fds(before)
    for leaked in left:
        opened.fd(leaked)
    expect(
        not left,
        f"request_file raised PermissionError for an answer b'13' that carried a descriptor, and left it open "
        f"({sorted(left.values())}): every descriptor received is yours to close, whatever the answer says",
    )


@task(2, on_timeout=OPENER_HINT)
def test_opener_stop_and_idle(impl, servers, names, scratch):
    root = make_root(scratch)
    path = names.path("opener.sock")
    threads_before = set(threading.enumerate())
    server = servers.opener(path, root, Calls())
    os.close(impl.request_file(path, "greeting.txt"))
    idle = watch_for(0.3, os.getpid())
    check_no_spin(
        "the opener server, waiting for clients that did not come",
        idle,
        "a thread blocked in accept() sleeps until a client connects",
    )
    servers.stop(server)
    expect(not os.path.exists(path), "stop() left the socket file behind: unlink it")
    alive = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
    expect(not alive, f"after stop() {len(alive)} server thread(s) still run: wake accept() (shutdown) and join")


# --- task 3: the pre-fork server -------------------------------------------------------------------

EOF_CAUSE = (
    "a copy of the connection is still open somewhere. The dispatcher must close its copy as soon as it has "
    "passed the connection (sendmsg() gives the worker a copy, it does not move it), and the worker must close "
    "the connection once it has answered."
)
EOF_LOST = "the whole answer arrived, but EOF never came: " + EOF_CAUSE

PREFORK_HINT = (
    "a client never got its answer: the dispatcher accepts, passes the connection to a worker with send_fds "
    "and closes its copy; the worker reads the request to EOF, sends handler(request) and closes"
)


def served(path: str, request: bytes) -> int:
    """Ask the pre-fork server; the pid of the process that answered."""
    reply = ask(path, request)
    if reply.data is None:
        fail(f"a client's request {request!r} got no answer within {ANSWER_WAIT:g} s. {PREFORK_HINT}")
    if not reply.eof:
        fail(EOF_LOST)
    if not reply.data:
        fail(
            f"a client's request {request!r} was closed without an answer: the connection reached no live worker, "
            "or its worker failed. Is every worker still alive? An exception of the handler must end that "
            "connection only, never the worker (catch it around the handler, close the connection, go on)."
        )
    pid_part, _, rest = reply.data.partition(b":")
    expect(
        pid_part.isdigit() and rest == request[::-1],
        f"a client's request {request!r} was answered {reply.data[:60]!r}: expected handler(request), "
        "i.e. b'<pid of the worker>:' and the request reversed. The worker reads the request to EOF, then sends "
        "handler(request) whole (sendall)",
    )
    pid = int(pid_part)
    if pid == os.getpid():
        fail("the answer was computed in the server's own process: the workers must serve the connections")
    return pid


def check_workers(answered: list[int], pids: list[int]) -> None:
    strangers = sorted(set(answered) - set(pids))
    expect(not strangers, f"answers came from pids {strangers}, which are not the workers {pids} (server.pids)")


@task(3, on_timeout=PREFORK_HINT)
def test_prefork_answers_from_its_workers(servers, names, forks):
    path = names.path("prefork.sock")
    server = servers.prefork(path, 3)
    pids = list(server.pids)
    expect(len(set(pids)) == 3, f"PreforkServer(path, 3, handler).pids is {pids!r}: three workers, forked by start()")
    expect(forks() == 3, f"start() forked {forks()} times for 3 workers")
    mode = stat.S_IMODE(os.stat(path).st_mode)
    expect(mode & 0o077 == 0, f"the socket file has mode {mode:04o}: chmod it to 0600 right after bind()")
    used = [served(path, b"request %d" % n) for n in range(9)]
    expect(
        forks() == 3,
        f"serving 9 connections forked {forks() - 3} more processes: a pre-fork server forks its workers once, "
        "at start(), and passes them the connections",
    )
    check_workers(used, pids)
    expect(
        len(set(used)) >= 2,
        f"9 connections were all served by worker {used[0]}: spread them over the workers (round-robin)",
    )


def what_socket(fd: int) -> str:
    """Which of the parent's sockets `fd` is: the listening one, or its end of a worker's channel."""
    with socket.socket(fileno=os.dup(fd)) as sock:
        return "the listening socket" if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) else "a channel end"


@task(3, on_timeout=PREFORK_HINT)
def test_workers_hold_nothing_of_the_parent(servers, names):
    before = open_fds_of(os.getpid())
    server = servers.prefork(names.path("prefork.sock"), 3)
    parents = {target: fd for fd, target in new_fds(before).items() if target.startswith("socket:")}

    def held() -> dict[int, list[str]]:
        found = {}
        for pid in server.pids:
            theirs = set(open_fds_of(pid).values()) & set(parents)
            if theirs:
                found[pid] = sorted(theirs)
        return found

    try:
        wait_until(lambda: not held(), EOF_WAIT, "")
    except BaseException:
        still = held()
        if still:
            pid, what = next(iter(still.items()))
            named = ", ".join(f"{what_socket(parents[target])} {target}" for target in what)
            fail(
                f"worker {pid} still holds {named} of the parent: fork() copies every fd. Close, in each worker "
                "right after fork(), the listening socket and the parent's end of every channel (its own and "
                "those of the workers forked before it): a worker holding the parent's end of a sibling's "
                "channel keeps that sibling from seeing EOF when stop() closes it (until the holder exits)."
            )


@task(3, on_timeout=PREFORK_HINT)
def test_prefork_handler_error_and_stop(servers, names):
    path = names.path("prefork.sock")
    server = servers.prefork(path, 2)
    pids = list(server.pids)
    boom = ask(path, b"boom")
    if not boom.eof:
        fail(f"a request whose handler raised never reached EOF: {EOF_CAUSE}")
    expect(
        not boom.data,
        "a request whose handler raised must end with EOF and no answer (close that connection, keep serving), "
        f"got {boom.data!r:.60}",
    )
    check_workers([served(path, b"after boom %d" % n) for n in range(4)], pids)
    servers.stop(server)
    expect(not os.path.exists(path), "stop() left the socket file behind: unlink it")
    unreaped = [f"{pid} ({was})" for pid in pids if (was := reap_child(pid))]
    expect(
        not unreaped,
        f"after stop() the workers {unreaped} were not reaped: close every channel (each worker sees EOF and "
        "exits), then os.waitpid() each worker",
    )


@task(3, on_timeout=PREFORK_HINT)
def test_prefork_waits_sleep(servers, names):
    path = names.path("prefork.sock")
    server = servers.prefork(path, 2)
    served(path, b"wake up")
    watches = [Watch(pid) for pid in (*server.pids, os.getpid())]  # one window for all of them
    with contextlib.ExitStack() as stack:
        for watch in watches:
            stack.enter_context(watch)
        time.sleep(0.3)
    *workers, dispatcher = watches
    for pid, watch in zip(server.pids, workers, strict=True):
        check_no_spin(
            f"worker {pid}, waiting for a connection that did not come",
            watch.usage,
            "a blocking recvmsg() on its channel (recv_fds) sleeps until the dispatcher passes a connection",
        )
    check_no_spin(
        "the dispatcher, waiting for clients that did not come",
        dispatcher.usage,
        "a thread blocked in accept() sleeps until a client connects",
    )


def _concurrent_client(index: int, path: str) -> None:
    for n in range(5):
        request = b"client %d request %d" % (index, n)
        reply = ask(path, request)
        if reply.data is None or not reply.data.endswith(b":" + request[::-1]):
            raise RuntimeError(f"{request!r} was answered {reply.data!r:.60}")
        if not reply.eof:
            raise RuntimeError(f"{request!r} was answered, but EOF never came: a copy of the connection is still open")


@task(3, on_timeout=PREFORK_HINT)
def test_prefork_many_client_processes(impl, names, servers):
    path = names.path("prefork.sock")
    with StartingLine(12, _concurrent_client) as clients:  # forked before the server's threads exist
        servers.prefork(path, 3)
        clients.go(path)
        failed = clients.finish()
    expect(
        not failed,
        f"{len(failed)} of 12 client processes connecting at the same time failed; the first: {failed[:1]}",
    )


# --- task 4: performance -------------------------------------------------------------------------

WORKERS = 4


def learner_connections(impl, path: str):
    def start_server(where: str):
        server = impl.PreforkServer(where, WORKERS, answer)
        server.start()
        return server.stop

    return connections_through(start_server, path)


@task(4, on_timeout=PREFORK_HINT)
def test_prefork_connections_per_second(impl, names, perf):
    path = names.path("prefork.sock")
    perf.check(
        "prefork_connections",
        lambda: learner_connections(impl, path),
        functools.partial(plain_prefork_connections, names.path("plain.sock"), WORKERS),
        units=CLIENTS * CONNECTIONS,
        scale=1,
        rounds=5,
        causes="a dispatcher or a worker that polls (a timeout loop, a sleep, a non-blocking retry) instead of "
        "blocking in accept()/recvmsg(), or a process forked per connection instead of workers forked once",
    )
