"""Hidden suite of the `message-queue` kata. Hygiene (zombies, fds, escaped
children, queues left behind) is checked by the grader after every test; these
tests check behaviour and say why it is wrong when it is."""

from __future__ import annotations

import functools
import os
import stat
import sys
import threading

import posix_ipc
import pytest
import sysv_ipc

from grader.ipc_objects import posix_exists
from grader.perf import Elapsed, clock
from grader.testing import (
    check_no_spin,
    describe_bytes,
    expect,
    expect_quiet_timeout,
    expect_timeout,
    fail,
    one_cpu,
    raised,
    task,
    wait_until,
    watch_for,
)

REQUEST_TYPE = 1
HEADER = 8
MAX_MESSAGE = 8192
STRANGER = 999_999  # a reply type no caller has (above pid_max): the reply of somebody else


def queue_mode(name: str) -> int:
    """The permission bits of the queue `name`, read from a descriptor of our own (on Linux an
    mq descriptor is a file descriptor): no /dev/mqueue mount needed."""
    queue = posix_ipc.MessageQueue(name)
    try:
        return stat.S_IMODE(os.fstat(queue.mqd).st_mode)
    finally:
        queue.close()


def get_or_fail(queue, what: str):
    try:
        return queue.get(timeout=5)
    except TimeoutError:
        fail(f"get() found the queue empty {what}: put() must send the job into the queue")


# --- task 1: JobQueue in one process --------------------------------------------------

QUEUE_HINT = (
    "a JobQueue call blocked: put() blocks while the queue is full and get() while it is empty "
    "unless a timeout is given (posix_ipc's send/receive take `timeout`; BusyError means it ran out)."
)


@task(1, on_timeout=QUEUE_HINT)
def test_job_queue_round_trip(impl, names):
    name = names.posix("jobs")
    queue = impl.JobQueue(name, 4, 256)
    try:
        mode = queue_mode(name)
        expect(mode == 0o600, f"the queue has mode {mode:#o}, expected 0o600: only its owner may use it")
        for job in (b"first job", b"", bytes(range(256))):
            queue.put(job)
            got = get_or_fail(queue, "right after a put()")
            expect(isinstance(got, tuple) and len(got) == 2, f"get() must return (job, priority), got {got!r:.80}")
            expect(
                got == (job, 0),
                f"get() returned ({describe_bytes(got[0])}, {got[1]!r}), expected "
                f"({describe_bytes(job)}, 0): a job comes back unchanged, with its priority (0 by default)",
            )
    finally:
        queue.close()
        queue.unlink()
    expect(
        not posix_exists("posix-mq", name),
        "after unlink() the queue must be gone from /dev/mqueue: "
        "close() only drops this process's descriptor; unlink() (mq_unlink) removes the name",
    )


@task(1, on_timeout=QUEUE_HINT)
def test_job_queue_highest_priority_first_fifo_within(impl, names):
    jobs = [
        (b"low-1", 1),
        (b"urgent-1", 9),
        (b"low-2", 1),
        (b"normal", 5),
        (b"urgent-2", 9),
        (b"idle", 0),
        (b"urgent-3", 9),
        (b"low-3", 1),
    ]
    expected = sorted(jobs, key=lambda job: -job[1])  # stable: FIFO within one priority
    queue = impl.JobQueue(names.posix("jobs"), 8, 64)
    try:
        for job, priority in jobs:
            queue.put(job, priority=priority)
        got = [get_or_fail(queue, f"after {len(jobs)} puts") for _ in jobs]
    finally:
        queue.close()
        queue.unlink()
    for position, ((want, want_priority), (have, have_priority)) in enumerate(zip(expected, got, strict=False)):
        if have == want and have_priority != want_priority:
            fail(
                f"get() returned {have!r} with priority {have_priority!r}, but it was put with priority "
                f"{want_priority}: return the priority that receive() gives you"
            )
        if have != want:
            put_with = dict(jobs).get(have)
            if put_with is not None and put_with < want_priority:
                fail(
                    f"get() number {position + 1} returned {have!r} (put with priority {put_with}) while {want!r} "
                    f"(priority {want_priority}) was waiting: the highest priority comes first. Pass the priority "
                    "to send(): the POSIX queue orders by it."
                )
            fail(
                f"get() number {position + 1} returned {have!r}, expected {want!r}: within one priority, jobs come "
                f"out in the order they were put (FIFO). All gets: {[j for j, _ in got]}"
            )


@task(1, on_timeout=QUEUE_HINT)
def test_job_queue_timeouts_when_full_and_when_empty(impl, names):
    queue = impl.JobQueue(names.posix("jobs"), 2, 32)
    try:
        queue.put(b"one", timeout=5)
        queue.put(b"two", timeout=5)
        expect_timeout(
            lambda: queue.put(b"three", timeout=0.1),
            "put(timeout=0.1) into a full queue of capacity 2",
            "the queue took a 3rd job: create it with max_messages=capacity",
        )
        get_or_fail(queue, "with 2 jobs in it")
        get_or_fail(queue, "with 1 job in it")
        expect_timeout(
            lambda: queue.get(timeout=0.1), "get(timeout=0.1) on an empty queue", "an empty queue has nothing to give"
        )
    finally:
        queue.close()
        queue.unlink()


TIMED_HOW = "posix_ipc's send(timeout=...) and receive(timeout=...) sleep in mq_timedsend/mq_timedreceive"


@task(1, on_timeout=QUEUE_HINT)
def test_job_queue_waits_sleep(impl, names):
    queue = impl.JobQueue(names.posix("jobs"), 1, 32)
    try:
        expect_quiet_timeout(
            lambda: queue.get(timeout=0.3), "get(timeout=0.3) on an empty queue", "the queue was empty", TIMED_HOW
        )
        queue.put(b"fills it", timeout=5)
        expect_quiet_timeout(
            lambda: queue.put(b"one too many", timeout=0.3),
            "put(timeout=0.3) into a full queue of capacity 1",
            "the queue took a 2nd job: create it with max_messages=capacity",
            TIMED_HOW,
        )
    finally:
        queue.close()
        queue.unlink()


@task(1, on_timeout=QUEUE_HINT)
def test_job_queue_rejects_oversized_jobs(impl, names):
    queue = impl.JobQueue(names.posix("jobs"), 2, 100)
    try:
        with pytest.raises(ValueError):
            queue.put(b"x" * 101)
            fail(
                "put() of a 101-byte job into a queue with max_size=100 did not raise ValueError: create the "
                "queue with max_message_size=max_size and refuse bigger jobs"
            )
        queue.put(b"y" * 100, timeout=1)
        expect(
            get_or_fail(queue, "after a put of exactly max_size bytes") == (b"y" * 100, 0),
            "a job of exactly max_size bytes must go through",
        )
    finally:
        queue.close()
        queue.unlink()


# --- task 2: JobQueue across processes --------------------------------------------------

PRODUCER = """
queue = impl.JobQueue({name!r}, 4, 64)
for i in range({count}):
    queue.put(b"producer-{k}:%d" % i, timeout=20)
queue.close()
"""


@task(
    2,
    on_timeout=(
        "the consumer waits for jobs that never come: a JobQueue opened by name in another "
        "process must join the existing queue (open it without O_EXCL when it exists), and "
        "put() blocks only while the queue is full."
    ),
)
def test_job_queue_producers_in_other_processes(impl, names, python_processes):
    name = names.posix("jobs")
    producers, count = 3, 150
    queue = impl.JobQueue(name, 4, 64)
    try:
        procs = [python_processes.start(PRODUCER.format(name=name, count=count, k=k)) for k in range(producers)]
        seen: dict[int, list[int]] = {k: [] for k in range(producers)}
        for n in range(producers * count):
            try:
                job, _ = queue.get(timeout=10)
            except TimeoutError:
                errors = [p.communicate()[1].decode()[-500:] for p in procs if p.poll() not in (None, 0)]
                fail(
                    f"only {n} of {producers * count} jobs arrived from the producer processes"
                    + (f"; a producer failed: {errors[0]}" if errors else "")
                )
            who, _, index = job.decode().partition(":")
            seen[int(who.split("-")[1])].append(int(index))
        for proc in procs:
            _, err = proc.communicate(timeout=10)
            expect(proc.returncode == 0, f"a producer process failed: {err.decode()[-600:]}")
    finally:
        queue.close()
        queue.unlink()
    for k, indexes in seen.items():
        expect(
            indexes == list(range(count)),
            f"the jobs of producer {k} arrived as {indexes[:12]}...: every job once, "
            "in the order it was put (same priority: FIFO)",
        )


# --- task 3: RPC over one System V queue -------------------------------------------------

RPC_HINT = (
    "an RPC blocked: requests go on type 1 with the caller's reply type in the first 8 bytes, the server "
    "answers on that type, the caller receives only its own type; serve_forever() returns once stop() "
    "removed the queue (receive() then raises ExistentialError)."
)


REPLY_WAKEUPS = 100  # msgrcv has no timeout: a back-off that doubles its pause up to 5 ms wakes ~60 times in 0.3 s


def handler(request: bytes) -> bytes:
    return b"re:" + request[::-1]


class ServerThread:
    """The learner's RpcServer serving in a thread of the test process; errors are kept for the message."""

    def __init__(self, impl, server):
        self.impl = impl
        self.server = server
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            self.server.serve_forever()
        except BaseException as err:  # reported by the test
            self.error = err

    def stop(self) -> None:
        """Stop the server (from a test's `finally`) and check that it ended well. When the test is
        already failing, only stop it: the first failure is the lesson, and a server stopped in the
        middle of a failed call may well end badly."""
        failing = sys.exc_info()[1] is not None
        try:
            self.server.stop()
        except Exception:
            if not failing:
                raise
        self.thread.join(5)
        if failing:
            return
        expect(
            not self.thread.is_alive(),
            "serve_forever() did not return within 5 s of stop(): stop() must wake "
            "the blocked receive(), e.g. by removing the queue (receive raises ExistentialError)",
        )
        self.check()

    def check(self) -> None:
        if self.error is not None:
            err = self.error
            hint = (
                " sysv_ipc receives at most max_message_size bytes, 2048 by default: open the queue with "
                "max_message_size=8192"
                if "Argument list too long" in str(err) or "max_message_size" in str(err)
                else ""
            )
            fail(f"serve_forever() raised {raised(err, self.impl)}.{hint}")


def call(impl, key: int, request: bytes, server: ServerThread | None = None, timeout: float = 5) -> bytes:
    """The learner's rpc_call; a timeout, a small receive buffer or its own request back is named as such."""
    try:
        got = impl.rpc_call(key, request, timeout)
    except TimeoutError:
        if server is not None:
            server.check()
        fail(
            f"rpc_call of a {len(request)}-byte request got no reply within {timeout:g} s although the server runs: "
            "requests go on type 1 carrying the reply type (the caller's pid) in 8 big-endian bytes, the "
            "server replies on that type"
        )
    except ValueError as err:
        if "max_message_size" in str(err):
            fail(
                f"rpc_call raised ValueError: {err}. sysv_ipc's max_message_size defaults to 2048 bytes: open "
                "the queue with max_message_size=8192 on both sides"
            )
        raise
    if isinstance(got, bytes) and len(got) == HEADER + len(request) and got[HEADER:] == request:
        fail(
            f"rpc_call({describe_bytes(request)}) returned its own request ({describe_bytes(got)}: the 8-byte "
            "reply type, then the request): it took back the message it had just sent, before the server did. "
            "A receive that does not name the caller's reply type takes any message (type=0) or requests "
            "(type=1); wait with receive(type=os.getpid())"
        )
    return got


@task(3, on_timeout=RPC_HINT)
def test_rpc_round_trip(impl, names):
    key = names.key()
    server = ServerThread(impl, impl.RpcServer(key, handler))
    try:
        mode = sysv_ipc.MessageQueue(key).mode & 0o777
        expect(mode == 0o600, f"the server's queue has mode {mode:#o}, expected 0o600")
        for request in (b"hello", b"", bytes(range(256))):
            got = call(impl, key, request, server)
            expect(
                got == handler(request),
                f"rpc_call({describe_bytes(request)}) returned {describe_bytes(got)}, "
                f"expected handler(request) = {describe_bytes(handler(request))}",
            )
        check_no_spin(
            "serve_forever(), waiting for a request that did not come",
            watch_for(0.3, os.getpid(), server.thread.native_id),
            "receive(type=1) blocks in msgrcv until a request comes, or until stop() removes the queue",
        )
    finally:
        server.stop()
    try:
        sysv_ipc.MessageQueue(key)
    except sysv_ipc.ExistentialError:
        return
    fail(
        "the queue still exists after stop(): the server created it, stop() removes it (IPC_RMID); "
        "System V queues outlive every process (`ipcs -q`)"
    )


@task(3, on_timeout=RPC_HINT)
def test_rpc_large_messages(impl, names):
    key = names.key()
    server = ServerThread(impl, impl.RpcServer(key, handler))
    try:
        for size in (3000, 8000):
            request = bytes(range(256)) * (size // 256) + b"!" * (size % 256)
            got = call(impl, key, request, server)
            expect(
                got == handler(request)[: len(got)] and len(got) == size + 3,
                f"a {size}-byte request came back as {describe_bytes(got)}: the whole request and reply must travel",
            )
    finally:
        server.stop()


class RawServer:
    """The plainest correct server of the protocol, written here, to test the learner's rpc_call alone."""

    def __init__(self, key: int):
        self.mq = sysv_ipc.MessageQueue(key, sysv_ipc.IPC_CREX, mode=0o600, max_message_size=MAX_MESSAGE)
        self.requests: list[tuple[int, bytes]] = []

    def serve_one(self) -> None:
        """In a thread of the suite: one request, one reply. If no request comes, the test removes the queue
        and this returns quietly: the suite's own thread never shows a traceback as if it were the learner's."""
        try:
            message, _ = self.mq.receive(type=REQUEST_TYPE)
            reply_type = int.from_bytes(message[:HEADER], "big")
            self.requests.append((reply_type, message[HEADER:]))
            self.mq.send(b"reply:" + message[HEADER:], type=reply_type)
        except sysv_ipc.Error:
            return


@task(3, on_timeout=RPC_HINT)
def test_rpc_call_takes_only_its_own_reply(impl, names):
    server = RawServer(names.key())
    worker = threading.Thread(target=server.serve_one, daemon=True)
    try:
        server.mq.send(b"the reply of another caller", type=STRANGER)  # already waiting in the queue
        worker.start()
        got = call(impl, server.mq.key, b"mine")
        worker.join(5)
        if got == b"the reply of another caller":
            fail(
                f"rpc_call returned a reply addressed to another caller (type {STRANGER}): receive with "
                "type=os.getpid(), the reply type you put in the request, never type=0 (which takes whatever "
                "message is first: other callers' replies, even requests)"
            )
        expect(server.requests, "the server got no request on type 1")
        reply_type, body = server.requests[0]
        expect(
            reply_type == os.getpid(),
            f"the request carried reply type {reply_type}, expected the caller's pid "
            f"{os.getpid()} in its first 8 bytes (big-endian)",
        )
        expect(
            body == b"mine", f"the request body arrived as {describe_bytes(body)}, expected b'mine' after the header"
        )
        expect(
            got == b"reply:mine", f"rpc_call returned {describe_bytes(got)}, expected the server's reply b'reply:mine'"
        )
    finally:
        server.mq.remove()  # wakes the suite's server thread if no request came
        if worker.is_alive():
            worker.join(5)


@task(3, on_timeout=RPC_HINT)
def test_rpc_server_replies_on_the_type_in_the_request(impl, names):
    key = names.key()
    server = ServerThread(impl, impl.RpcServer(key, handler))
    try:
        mq = sysv_ipc.MessageQueue(key, max_message_size=MAX_MESSAGE)
        reply_type = 4242  # the reply type comes from the request, whoever sent it
        mq.send(reply_type.to_bytes(HEADER, "big") + b"ping", type=REQUEST_TYPE)

        def reply():
            try:
                return mq.receive(block=False, type=reply_type)[0]
            except sysv_ipc.BusyError:
                server.check()
                return None

        try:
            got = wait_until(reply, 3, "no reply")
        except pytest.fail.Exception:
            stray = []
            while True:
                try:
                    stray.append(mq.receive(block=False)[1])
                except sysv_ipc.BusyError:
                    break
            fail(
                f"the server never answered on type {reply_type}, the reply type carried in the request's first 8 "
                f"bytes"
                + (f"; the queue holds messages of type {sorted(set(stray))} instead" if stray else "")
                + ": send each reply with type=<that reply type>"
            )
        expect(
            got == handler(b"ping"),
            f"the reply was {describe_bytes(got)}, expected handler(b'ping') = {handler(b'ping')!r}",
        )
    finally:
        server.stop()


@task(3, on_timeout=RPC_HINT)
def test_rpc_call_times_out_without_a_server(impl, names):
    key = names.key()
    mq = sysv_ipc.MessageQueue(key, sysv_ipc.IPC_CREX, mode=0o600, max_message_size=MAX_MESSAGE)
    try:
        expect_quiet_timeout(
            lambda: impl.rpc_call(key, b"anyone?", 0.3),
            "rpc_call(timeout=0.3) with nobody serving",
            "there is no server to reply",
            "msgrcv has no timeout, so try receive(block=False) with a pause between tries that doubles up to a "
            "few milliseconds (about 60 wake-ups in 0.3 s; 300 is a poll, no pause at all is a spin)",
            max_wakeups=REPLY_WAKEUPS,
        )
    finally:
        mq.remove()
    missing = names.key()  # never created
    try:
        impl.rpc_call(missing, b"anyone?", 0.3)
    except FileNotFoundError:
        pass
    else:
        fail(
            "rpc_call on a key with no queue must raise FileNotFoundError (open the queue without IPC_CREAT: "
            "only the server creates it)"
        )
    finally:
        try:  # a wrong rpc_call may have created it
            sysv_ipc.MessageQueue(missing).remove()
        except sysv_ipc.ExistentialError:
            pass


def _caller(impl, key: int, index: int, calls: int, go: int, out: int) -> None:
    """Body of a forked caller: waits for the go, calls, reports one line, never returns."""
    status = 1
    try:
        os.read(go, 1)
        report = "ok"
        for n in range(calls):
            request = b"caller-%d:%d" % (index, n)
            reply = impl.rpc_call(key, request, 20)
            if reply != handler(request):
                report = f"call {n} of caller {index} got {reply!r}, expected {handler(request)!r}"
                break
        os.write(out, f"{index} {report}\n".encode())
        status = 0
    except BaseException as err:
        os.write(out, f"{index} raised {type(err).__name__}: {err}\n".encode())
    finally:
        os._exit(status)


@task(3, on_timeout=RPC_HINT + " With 16 callers: each caller must wait for its own type only.")
def test_rpc_sixteen_concurrent_callers(impl, names):
    key = names.key()
    callers, calls = 16, 15
    rpc = impl.RpcServer(key, handler)
    go_r, go_w = os.pipe()
    out_r, out_w = os.pipe()
    pids = []
    server = None
    try:
        for index in range(callers):  # fork before the server thread exists
            pid = os.fork()
            if pid == 0:
                os.close(go_w)
                os.close(out_r)
                _caller(impl, key, index, calls, go_r, out_w)
            pids.append(pid)
        os.close(out_w)
        out_w = -1
        server = ServerThread(impl, rpc)
        os.close(go_w)  # EOF: every caller starts at once
        go_w = -1
        chunks = []
        while chunk := os.read(out_r, 4096):
            chunks.append(chunk)
        lines = b"".join(chunks).decode().splitlines()
    finally:
        for fd in (go_r, go_w, out_r, out_w):
            if fd >= 0:
                os.close(fd)
        for pid in pids:
            os.waitpid(pid, 0)
        if server is not None:
            server.stop()
        else:
            rpc.stop()
    bad = [line.split(" ", 1)[1] for line in lines if not line.endswith(" ok")]
    if bad:
        stolen = [b for b in bad if "caller-" in b and " got b're:" in b]
        fail(
            f"{len(bad)} of {callers} concurrent callers went wrong, e.g. {bad[0]}"
            + (": a caller took a reply meant for another; receive only type=os.getpid()" if stolen else "")
        )
    expect(len(lines) == callers, f"only {len(lines)} of {callers} callers reported")


# --- task 4: performance ---------------------------------------------------------------------

PERF_JOBS, PERF_CAPACITY, PERF_SIZE = 10000, 10, 256


def produce_consume(put, get, count: int, job: bytes) -> Elapsed:
    """A forked producer puts `count` jobs while this process gets them, both on one CPU (each full queue and
    each empty one is a wait that costs the same whatever the scheduler's placement)."""
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            for _ in range(count):
                put(job)
            status = 0
        finally:
            os._exit(status)
    try:
        with one_cpu(pid):
            start = clock()
            for _ in range(count):
                get()
            elapsed = clock() - start
    finally:
        _, status = os.waitpid(pid, 0)
    expect(os.waitstatus_to_exitcode(status) == 0, "the producer process failed to put its jobs")
    return Elapsed(elapsed)


class RawJobQueue:
    """The plainest correct JobQueue: posix_ipc's queue behind two methods."""

    def __init__(self, name: str, capacity: int, size: int):
        self.mq = posix_ipc.MessageQueue(
            name, posix_ipc.O_CREX, mode=0o600, max_messages=capacity, max_message_size=size
        )

    def put(self, job: bytes, priority: int = 0, timeout: float | None = None) -> None:
        self.mq.send(job, timeout, priority)

    def get(self, timeout: float | None = None) -> tuple[bytes, int]:
        return self.mq.receive(timeout)

    def close(self) -> None:
        self.mq.close()
        self.mq.unlink()


def raw_produce_consume(name: str, count: int, capacity: int, size: int) -> Elapsed:
    """The baseline: a RawJobQueue between a producer and this process."""
    queue = RawJobQueue(name, capacity, size)
    try:
        return produce_consume(queue.put, queue.get, count, b"j" * size)
    finally:
        queue.close()


@task(4, on_timeout=QUEUE_HINT)
def test_job_queue_throughput(impl, names, perf):
    queue = impl.JobQueue(names.posix("jobs"), PERF_CAPACITY, PERF_SIZE)
    try:
        perf.check(
            "job_queue_msgs_per_s",
            lambda: produce_consume(queue.put, queue.get, PERF_JOBS, b"j" * PERF_SIZE),
            functools.partial(raw_produce_consume, names.posix("raw"), PERF_JOBS, PERF_CAPACITY, PERF_SIZE),
            units=PERF_JOBS,
            causes="a queue opened again for every put or get, a get (or put) that polls with a sleep while "
            "the queue is empty (full) instead of blocking in receive (send), or a nap in put or get (send and "
            "receive already wait exactly as long as they must)",
        )
    finally:
        queue.close()
        queue.unlink()
