"""Hidden suite of the `shm-ring` kata. Hygiene (zombies, fds, escaped children, and
every POSIX object named after the ring plus the System V key `ring_key(name)`) is
checked by the grader after every test; these tests check behaviour and say why it
is wrong when it is.

The ring's objects are known to the grader only through its name: POSIX objects must
be named `name + <suffix>`, a System V lock must use `ring_key(name)` (the spec's rule).
"""

from __future__ import annotations

import json
import os
import pickle
import random
import signal
import struct
import sys
import zlib
from collections import Counter

import psutil
import pytest

from grader.testing import describe_bytes, expect, fail, wait_until


def ring_key(name: str) -> int:
    """The spec's rule for the System V key of ring `name`'s lock."""
    return (zlib.crc32(name.encode()) & 0x7FFFFFFF) or 1


class Rings:
    """Creates rings with the grader's names; closes what a test left open."""

    def __init__(self, impl, names):
        self.impl, self.names, self.open = impl, names, []

    def name(self, label: str = "ring") -> str:
        name = self.names.posix(label)
        self.names.register_key(ring_key(name))
        return name

    def create(self, slots: int = 8, slot_size: int = 256, label: str = "ring"):
        name = self.name(label)
        ring = self.impl.RingBuffer.create(name, slots, slot_size)
        self.open.append(ring)
        return name, ring

    def attach(self, name: str):
        ring = self.impl.RingBuffer.attach(name)
        self.open.append(ring)
        return ring

    def finish(self, ring) -> None:
        """close() then unlink(): what the spec asks of the creator."""
        self.open.remove(ring)
        ring.close()
        ring.unlink()

    def close_all(self) -> None:
        """After a failed check: close and unlink what the test did not finish, so that only
        what the learner's own unlink() forgets shows up as a leak."""
        for ring in self.open:
            for call in (ring.close, ring.unlink):
                try:
                    call()
                except Exception:
                    pass
        self.open.clear()


@pytest.fixture
def rings(impl, names):
    made = Rings(impl, names)
    yield made
    made.close_all()


def fingerprint(data: bytes) -> tuple[int, int]:
    return len(data), zlib.crc32(data)


def messages(count: int, max_len: int, seed: int) -> list[bytes]:
    """Random binary messages of every length from 0 to max_len, trailing zeros included."""
    rng = random.Random(seed)
    out = [b"", bytes(max_len), bytes([0]) * 3, b"\x00abc\x00"]
    while len(out) < count:
        data = rng.randbytes(rng.randrange(max_len + 1))
        if rng.random() < 0.2:
            data = data[:-4] + bytes(4)
        out.append(data[:max_len])
    return out[:count]


LENGTH_HINT = (
    "a slot has a fixed size, a message does not: store each message's length in front of it "
    "(a length prefix in the slot) and return exactly that many bytes"
)


def check_sequence(expected: list[bytes] | list[tuple], got: list, what: str) -> None:
    """Compare delivered messages (bytes or fingerprints) and name the bug."""
    exp = [m if isinstance(m, tuple) else fingerprint(m) for m in expected]
    have = [m if isinstance(m, tuple) else fingerprint(m) for m in got]
    for i, (want, g) in enumerate(zip(exp, have, strict=False)):
        if want == g:
            continue
        if g[0] != want[0]:
            fail(f"{what}: message {i} was put with {want[0]} bytes but get returned {g[0]} bytes: {LENGTH_HINT}")
        if g in exp:
            j = exp.index(g)
            fail(
                f"{what}: get returned message {j} where message {i} was expected: "
                + (
                    "a message came back twice or an unread slot was overwritten. "
                    if j < i
                    else "a message was skipped or its slot overwritten before it was read. "
                )
                + "Are head and tail wrapped with `% slots`, and do the `empty`/`full` counts match the slots?"
            )
        fail(
            f"{what}: message {i} came back with the right length ({g[0]} bytes) but different bytes: "
            "copy exactly the bytes of the slot you reserved, binary (no decoding, no stripping)"
        )
    if len(have) != len(exp):
        fail(f"{what}: {len(exp)} messages were put, {len(have)} came back")


# --- helpers: unrelated processes ----------------------------------------------------------


def read_json_line(proc, what: str) -> dict:
    line = proc.stdout.readline()
    if not line:
        proc.wait()
        err = proc.stderr.read().decode(errors="replace").strip().splitlines()
        fail(f"{what} ended before answering (exit {proc.returncode}): " + (err[-1] if err else "no error output"))
    return json.loads(line)


def last_error(completed) -> str:
    return error_line(completed.stderr, completed.returncode)


def error_line(stderr: bytes, returncode: int) -> str:
    err = stderr.decode(errors="replace").strip().splitlines()
    return err[-1] if err else f"exit status {returncode}"


# --- task 1: one producer, one consumer ------------------------------------------------------


@pytest.mark.task(1)
def test_attach_to_a_missing_ring_raises_file_not_found(rings):
    name = rings.name()
    with pytest.raises(FileNotFoundError):
        rings.impl.RingBuffer.attach(name)
        fail(f"RingBuffer.attach({name!r}) of a ring nobody created must raise FileNotFoundError")


@pytest.mark.task(1)
@pytest.mark.on_timeout(
    "put() or get() blocked in a ring that has room and messages: check the initial "
    "values (empty = slots, full = 0, lock = 1) and that every acquire has its release."
)
def test_every_length_round_trips_in_one_process(rings):
    name, ring = rings.create(slots=4, slot_size=100)
    for i, data in enumerate(messages(60, 100, seed=1)):
        ring.put(data, timeout=0)
        got = ring.get(timeout=0)
        expect(isinstance(got, bytes), f"get() must return bytes, got {type(got).__name__}")
        check_sequence([data], [got], f"put then get of test message {i} ({describe_bytes(data, 12)})")
    with pytest.raises(ValueError):
        ring.put(bytes(101))
        fail("put() of 101 bytes into slots of 100 must raise ValueError (it does not fit a slot)")
    ring.put(b"still fine", timeout=0)
    check_sequence([b"still fine"], [ring.get(timeout=0)], "after a refused oversized put")
    rings.finish(ring)
    with pytest.raises(FileNotFoundError):
        rings.impl.RingBuffer.attach(name)
        fail("attach() after unlink() must raise FileNotFoundError: unlink removes the segment and every semaphore")


@pytest.mark.task(1)
def test_create_of_an_existing_ring_raises_file_exists(rings):
    name, ring = rings.create(slots=2, slot_size=16)
    with pytest.raises(FileExistsError):
        rings.impl.RingBuffer.create(name, 2, 16)
        fail(
            "create() of a name that exists must raise FileExistsError (O_CREAT | O_EXCL), never "
            "reset a ring somebody may be using"
        )
    ring.put(b"intact", timeout=0)
    check_sequence([b"intact"], [ring.get(timeout=0)], "the first ring after a refused second create")
    rings.finish(ring)


WRAP_HINT = (
    "right where head or tail goes back to slot 0: wrap with `index = (index + 1) % slots`, "
    "slots are numbered 0 .. slots-1"
)


@pytest.mark.task(1)
@pytest.mark.on_timeout(
    "put() or get() blocked in a ring that had room or messages: the semaphore "
    "counts disagree with the slots (empty must start at slots, full at 0)."
)
def test_fill_and_drain_wraps_around(rings):
    slots = 5
    _name, ring = rings.create(slots=slots, slot_size=32)
    for rnd in range(4):
        batch = [f"round {rnd} message {i}".encode() for i in range(slots)]
        for i, data in enumerate(batch):
            try:
                ring.put(data, timeout=0)
            except TimeoutError:
                fail(
                    f"round {rnd}: put(timeout=0) of message {i} raised TimeoutError, but the ring of {slots} "
                    f"slots held only {i} messages: a ring of N slots holds N messages (`empty` starts at N)"
                )
            except Exception as exc:
                fail(f"round {rnd}: put of message {i} raised {type(exc).__name__}: {exc}; {WRAP_HINT}")
        with pytest.raises(TimeoutError):
            ring.put(b"one too many", timeout=0)
            fail(
                f"put(timeout=0) into a full ring ({slots} of {slots} slots used) must raise TimeoutError, "
                "not overwrite an unread slot"
            )
        got = []
        for i in range(slots):
            try:
                got.append(ring.get(timeout=0))
            except TimeoutError:
                fail(f"round {rnd}: get(timeout=0) raised TimeoutError with {slots - i} messages in the ring")
            except Exception as exc:
                fail(f"round {rnd}: get of message {i} raised {type(exc).__name__}: {exc}; {WRAP_HINT}")
        check_sequence(batch, got, f"fill and drain, round {rnd} (the indices wrap around)")
        with pytest.raises(TimeoutError):
            extra = ring.get(timeout=0)
            fail(f"get(timeout=0) on a drained ring returned {describe_bytes(extra)}: it must raise TimeoutError")
    rings.finish(ring)


@pytest.mark.task(1)
@pytest.mark.on_timeout(
    "the consumer process never received everything: does `attach` open the same "
    "segment and semaphores, and does every put post `full` once?"
)
def test_one_producer_one_consumer_in_an_unrelated_process(rings, python_processes):
    name, ring = rings.create(slots=8, slot_size=256)
    data = messages(1500, 256, seed=2)
    consumer = python_processes.start(f"""
        import json, zlib
        ring = impl.RingBuffer.attach({name!r})
        got = []
        try:
            for _ in range({len(data)}):
                m = ring.get(timeout=8)
                got.append([len(m), zlib.crc32(m)])
        except TimeoutError:
            pass
        print(json.dumps(got))
        ring.close()
    """)
    for _i, m in enumerate(data):
        try:
            ring.put(m, timeout=8)
        except TimeoutError:
            break  # the consumer stopped: its answer says why
    out, err = consumer.communicate(timeout=20)
    if consumer.returncode != 0:
        fail(f"the consumer process (RingBuffer.attach then get) failed: {error_line(err, consumer.returncode)}")
    got = [tuple(x) for x in json.loads(out)]
    check_sequence(data, got, "a consumer in another process")
    rings.finish(ring)


ATTACH_HINT = (
    "`attach` must open the segment and semaphores as they are and change nothing: only `create` "
    "writes the header (head = tail = 0) and gives the semaphores their initial values"
)


@pytest.mark.task(1)
@pytest.mark.on_timeout("the attaching process blocked in get() on a ring holding messages: " + ATTACH_HINT)
def test_attach_sees_the_ring_as_it_is(rings, python_processes):
    name, ring = rings.create(slots=4, slot_size=64)
    for m in (b"first", b"second", b"third"):
        ring.put(m, timeout=0)
    check_sequence([b"first"], [ring.get(timeout=0)], "the creator's get")
    done = python_processes.run(
        f"""
        ring = impl.RingBuffer.attach({name!r})
        try:
            print(ring.get(timeout=5).hex())
        except TimeoutError:
            print("timeout")
        ring.put(b"fourth", timeout=5)
        ring.close()
    """,
        timeout=20,
        what="the process that attached",
    )
    expect(done.returncode == 0, f"the process that attached failed: {last_error(done)}")
    answer = done.stdout.decode().strip()
    if answer == "timeout":
        fail("a process that attached to a ring holding 2 messages got TimeoutError from get(): " + ATTACH_HINT)
    got = bytes.fromhex(answer)
    if got == b"first":
        fail(
            "a process that attached got b'first' again, a message already taken: it re-read slot 0, so " + ATTACH_HINT
        )
    check_sequence([b"second"], [got], "the attaching process's get")
    check_sequence(
        [b"third", b"fourth"],
        [ring.get(timeout=0), ring.get(timeout=0)],
        "the creator, after the other process put b'fourth'",
    )
    rings.finish(ring)


# --- task 2: blocking without busy-waiting, timeouts ------------------------------------------

BLOCKED = """
    import json, resource, time
    ring = impl.RingBuffer.attach({name!r})
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    try:
        {call}
        outcome = "returned"
    except TimeoutError:
        outcome = "TimeoutError"
    elapsed, after = time.monotonic() - start, resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({{"outcome": outcome, "elapsed": elapsed,
                      "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
                      "wakeups": after.ru_nvcsw - before.ru_nvcsw}}))
    ring.close()
"""
BLOCK_SECONDS = 1.0
MAX_CPU = 0.03  # seconds of CPU for a second of waiting; a blocked process uses ~0.0001,
# a spinning one gets far more even on a machine loaded 20x
MAX_WAKEUPS = 25  # voluntary context switches in that second; blocking once costs 1-2


@pytest.mark.task(2)
@pytest.mark.on_timeout(
    "put(timeout=1.0) or get(timeout=1.0) did not return: the timeout must bound the "
    "wait (posix_ipc: sem.acquire(timeout) raises BusyError, turn it into TimeoutError)."
)
def test_blocked_put_and_get_use_no_cpu(rings, python_processes):
    empty_name, empty = rings.create(slots=2, slot_size=16, label="empty")
    full_name, full = rings.create(slots=2, slot_size=16, label="full")
    full.put(b"a", timeout=0)
    full.put(b"b", timeout=0)
    procs = {
        "get": python_processes.start(BLOCKED.format(name=empty_name, call=f"ring.get(timeout={BLOCK_SECONDS})")),
        "put": python_processes.start(BLOCKED.format(name=full_name, call=f"ring.put(b'c', timeout={BLOCK_SECONDS})")),
    }
    for op, proc in procs.items():
        state = "an empty" if op == "get" else "a full"
        report = read_json_line(proc, f"the process calling {op}(timeout=1.0) on {state} ring")
        proc.wait()
        expect(
            report["outcome"] == "TimeoutError",
            f"{op}(timeout=1.0) on {state} ring returned instead of raising TimeoutError",
        )
        expect(
            report["elapsed"] >= BLOCK_SECONDS / 2,
            f"{op}(timeout=1.0) on {state} ring gave up after {report['elapsed']:.3f} s: it must wait "
            "for the timeout (a timeout of 0 means: do not wait)",
        )
        expect(
            report["cpu"] <= MAX_CPU,
            f"{op}(timeout=1.0) on {state} ring used {report['cpu']:.2f} s of CPU in "
            f"{report['elapsed']:.2f} s of waiting: that is busy-waiting (a loop that polls the ring). "
            "Block in the kernel instead: sem.acquire(timeout) sleeps until the semaphore is posted "
            "or the time is up, using no CPU. This is why the ring uses semaphores and not a flag.",
        )
        expect(
            report["wakeups"] <= MAX_WAKEUPS,
            f"{op}(timeout=1.0) on {state} ring woke up {report['wakeups']} times in "
            f"{report['elapsed']:.2f} s: that is polling with a sleep (check, sleep, check again). "
            "It burns CPU and adds latency; block in sem.acquire(timeout) instead, which wakes up "
            "exactly when a put/get posts the semaphore.",
        )
    check_sequence([b"a", b"b"], [full.get(timeout=0), full.get(timeout=0)], "the full ring after a put that timed out")
    rings.finish(empty)
    rings.finish(full)


def wait_blocked(proc, what: str) -> None:
    """Wait until the process sleeps in the kernel (no sleep to synchronise: a poll with a deadline)."""
    p = psutil.Process(proc.pid)
    wait_until(lambda: p.status() in (psutil.STATUS_SLEEPING, psutil.STATUS_DISK_SLEEP), 10, f"{what} never blocked")


@pytest.mark.task(2)
@pytest.mark.on_timeout(
    "a get() waiting on an empty ring must not hold the lock while it waits: otherwise "
    "no put can ever get in. Wait on `full` first, take the lock after."
)
def test_get_blocks_until_a_put_arrives(rings, python_processes):
    name, ring = rings.create(slots=2, slot_size=64)
    consumer = python_processes.start(f"""
        ring = impl.RingBuffer.attach({name!r})
        print("ready", flush=True)
        print(ring.get().hex(), flush=True)
        ring.close()
    """)
    expect(consumer.stdout.readline().strip() == b"ready", "the consumer process could not attach")
    wait_blocked(consumer, "the consumer calling get() on an empty ring")
    ring.put(b"wake up", timeout=5)
    out, err = consumer.communicate(timeout=10)
    expect(consumer.returncode == 0, f"the blocked get() failed: {error_line(err, consumer.returncode)}")
    check_sequence([b"wake up"], [bytes.fromhex(out.decode().strip())], "a get() that was waiting")
    rings.finish(ring)


@pytest.mark.task(2)
@pytest.mark.on_timeout(
    "a put() waiting on a full ring must not hold the lock while it waits: otherwise "
    "no get can ever make room. Wait on `empty` first, take the lock after."
)
def test_put_blocks_until_a_get_makes_room(rings, python_processes):
    name, ring = rings.create(slots=2, slot_size=64)
    ring.put(b"m0", timeout=0)
    ring.put(b"m1", timeout=0)
    producer = python_processes.start(f"""
        ring = impl.RingBuffer.attach({name!r})
        print("ready", flush=True)
        ring.put(b"m2")
        ring.close()
    """)
    expect(producer.stdout.readline().strip() == b"ready", "the producer process could not attach")
    wait_blocked(producer, "the producer calling put() on a full ring")
    check_sequence([b"m0"], [ring.get(timeout=5)], "the get that makes room")
    _out, err = producer.communicate(timeout=10)
    expect(producer.returncode == 0, f"the blocked put() failed: {error_line(err, producer.returncode)}")
    got = [ring.get(timeout=0)]
    try:
        got.append(ring.get(timeout=0))
    except TimeoutError:
        fail(
            "the message put by a process that has since exited is gone from the ring: `full` lost a post "
            "when that process exited. SEM_UNDO belongs on the lock only, never on `empty`/`full`: those "
            "are posted by one process and taken by another, and the kernel would undo the post at exit."
        )
    check_sequence([b"m1", b"m2"], got, "after the blocked put completed")
    rings.finish(ring)


TIMEOUT_PATH_HINT = (
    "the timeout path must release everything taken before raising TimeoutError (the lock, "
    "and a semaphore it acquired): a ring that times out once must work again at once"
)


@pytest.mark.task(2)
@pytest.mark.on_timeout(
    "put(timeout=0)/get(timeout=0) waited: a timeout of 0 never waits, for room, a "
    "message or the lock; " + TIMEOUT_PATH_HINT
)
def test_timeouts_leave_the_ring_usable(rings):
    _name, ring = rings.create(slots=2, slot_size=16)
    try:
        got = ring.get(timeout=0.1)
        fail(f"get(timeout=0.1) on an empty ring returned {describe_bytes(got)}: it must raise TimeoutError")
    except TimeoutError:
        pass
    try:
        ring.put(b"after", timeout=0)
    except TimeoutError:
        fail(
            "after a get() timed out, put(timeout=0) on an empty ring that nobody else uses raised "
            "TimeoutError: " + TIMEOUT_PATH_HINT
        )
    check_sequence([b"after"], [ring.get(timeout=0)], "after a get() timed out")
    ring.put(b"x1", timeout=0)
    ring.put(b"x2", timeout=0)
    try:
        ring.put(b"x3", timeout=0.1)
        fail("put(timeout=0.1) into a full ring returned: it must raise TimeoutError")
    except TimeoutError:
        pass
    try:
        got = [ring.get(timeout=0), ring.get(timeout=0)]
    except TimeoutError:
        fail(
            "after a put() timed out, get(timeout=0) on a ring holding 2 messages raised TimeoutError: "
            + TIMEOUT_PATH_HINT
        )
    check_sequence([b"x1", b"x2"], got, "after a put() timed out")
    with pytest.raises(TimeoutError):
        got = ring.get(timeout=0)
        fail(f"get(timeout=0) on an empty ring returned {describe_bytes(got)}: it must raise TimeoutError")
    rings.finish(ring)


# --- the pause tool: stop a process of the learner at any line ---------------------------------


class Paused:
    """A forked child that attached to a ring and runs put or get, stopped at the n-th line
    it executes in the learner's file (sys.settrace), until resumed or killed."""

    def __init__(self, impl, name: str, op: str, arg, stop_at: int):
        self.pid = None
        ctl_r, ctl_w = os.pipe()
        go_r, go_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(ctl_r)
                os.close(go_w)
                ring = impl.RingBuffer.attach(name)
                path, count = impl.__file__, 0

                def local(frame, event, _arg):
                    nonlocal count
                    if event == "line":
                        count += 1
                        if count == stop_at:
                            where = f"{frame.f_code.co_name}:{frame.f_lineno}"
                            os.write(ctl_w, f"P {where}\n".encode())
                            os.read(go_r, 1)
                    return local

                sys.settrace(lambda frame, event, _a: local if frame.f_code.co_filename == path else None)
                try:
                    result = getattr(ring, op)(*arg)
                finally:
                    sys.settrace(None)
                ring.close()
                os.write(ctl_w, b"D " + (result.hex().encode() if isinstance(result, bytes) else b"-") + b"\n")
                code = 0
            except BaseException as exc:
                os.write(ctl_w, f"E {type(exc).__name__}: {exc}\n".encode())
            finally:
                os._exit(code)
        self.pid = pid
        os.close(ctl_w)
        os.close(go_r)
        self._ctl, self._go = ctl_r, go_w
        self.state, self.where = self._read()

    def _read(self) -> tuple[str, str]:
        line = b""
        while not line.endswith(b"\n"):
            chunk = os.read(self._ctl, 4096)
            if not chunk:
                break
            line += chunk
        text = line.decode(errors="replace").strip()
        if not text:
            return "E", "the process died"
        state, _, rest = text.partition(" ")
        return state, rest

    def resume(self) -> tuple[str, str]:
        os.write(self._go, b"g")
        result = self._read()
        self.reap()
        return result

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        self.reap()

    def reap(self) -> None:
        if self.pid is not None:
            os.waitpid(self.pid, 0)
            self.pid = None
            os.close(self._ctl)
            os.close(self._go)


MAX_STEPS = 300


def paused_at_every_line(
    impl, rings, method: str, args: tuple, *, slots: int, slot_size: int, label: str, fill: list[bytes] = ()
):
    """For step 1, 2, ...: a fresh ring holding `fill`, and a process that attached it and is
    stopped at the step-th line event of `method(*args)`. Ends once the call runs to the end
    before that step. The caller resumes or kills the process, then finishes the ring."""
    for step in range(1, MAX_STEPS + 1):
        name, ring = rings.create(slots=slots, slot_size=slot_size, label=label)
        for message in fill:
            ring.put(message, timeout=0)
        paused = Paused(impl, name, method, args, step)
        if paused.state == "E":
            paused.reap()
            fail(f"{method}() in a process that attached failed: {paused.where}")
        if paused.state == "D":
            paused.reap()
            rings.finish(ring)
            return
        yield step, name, ring, paused


# --- task 3: many producers, many consumers -----------------------------------------------------

PRODUCERS, CONSUMERS, PER_PRODUCER = 4, 4, 3000
MPMC_SLOT = 96
STOP = b"STOP"
MUTEX_HINT = (
    "head, tail and the slot copy are shared by every process: read-and-advance them only while "
    "holding the mutex (the third semaphore)"
)


def mpmc_message(producer: int, seq: int, rng: random.Random) -> bytes:
    head = struct.pack("=BI", producer, seq) + rng.randbytes(rng.randrange(MPMC_SLOT - 9 + 1))
    return head + zlib.crc32(head).to_bytes(4, "little")


def fork_worker(body) -> tuple[int, int]:
    """Fork a child running body(write_fd); returns (pid, read end of its result pipe)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            body(w)
            code = 0
        except BaseException as exc:
            try:
                os.write(w, pickle.dumps(("error", f"{type(exc).__name__}: {exc}")))
            except OSError:
                pass
        finally:
            os._exit(code)
    os.close(w)
    return pid, r


def read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


@pytest.mark.task(3)
@pytest.mark.on_timeout(
    "a deadlock among producers and consumers: take `empty`/`full` before the lock, never "
    "wait on a semaphore while holding the lock, and release the lock on every path."
)
def test_many_producers_many_consumers(impl, rings):
    name, ring = rings.create(slots=16, slot_size=MPMC_SLOT)

    def consume(w):
        mine = impl.RingBuffer.attach(name)
        seen, torn, status = bytearray(), [], "ok"
        while True:
            try:
                m = mine.get(timeout=5)
            except TimeoutError:
                status = "stalled"
                break
            if m == STOP:
                break
            if len(m) < 9 or zlib.crc32(m[:-4]) != int.from_bytes(m[-4:], "little"):
                torn.append(m[:24])
                continue
            seen += m[:5]
        mine.close()
        data = pickle.dumps((status, bytes(seen), torn[:5], len(torn)))
        view = memoryview(data)
        while view:
            view = view[os.write(w, view) :]

    def produce(p):
        def body(w):
            mine = impl.RingBuffer.attach(name)
            rng = random.Random(p)
            for seq in range(PER_PRODUCER):
                mine.put(mpmc_message(p, seq, rng), timeout=20)
            mine.close()

        return body

    consumers = [fork_worker(consume) for _ in range(CONSUMERS)]
    producers = [fork_worker(produce(p)) for p in range(PRODUCERS)]
    producer_errors = []
    for pid, r in producers:
        out = read_all(r)
        os.waitpid(pid, 0)
        if out:
            producer_errors.append(pickle.loads(out)[1])
    for _ in consumers:
        ring.put(STOP, timeout=10)
    results = []
    for pid, r in consumers:
        out = read_all(r)
        os.waitpid(pid, 0)
        results.append(pickle.loads(out) if out else ("error", "the consumer died"))
    if producer_errors:
        fail(f"a producer failed: {producer_errors[0]}")
    for res in results:
        if res[0] == "error":
            fail(f"a consumer failed: {res[1]}")
    torn = sum(res[3] for res in results)
    if torn:
        sample = next(res[2][0] for res in results if res[2])
        fail(
            f"{torn} of {PRODUCERS * PER_PRODUCER} messages arrived torn (checksum wrong, e.g. "
            f"{describe_bytes(sample, 24)}): two processes wrote the same slot, or a slot was read while "
            f"being written. {MUTEX_HINT}, and post `full` only once the slot is complete."
        )
    counts: Counter = Counter()
    for c, res in enumerate(results):
        seen = res[1]
        last = {}
        for i in range(0, len(seen), 5):
            p, seq = struct.unpack_from("=BI", seen, i)
            counts[(p, seq)] += 1
            if seq <= last.get(p, -1):
                fail(
                    f"consumer {c} received producer {p}'s message #{seq} after #{last[p]}: each producer's "
                    f"messages must come out in the order it put them (FIFO per producer). {MUTEX_HINT}."
                )
            last[p] = seq
    dups = [k for k, n in counts.items() if n > 1]
    if dups:
        p, seq = dups[0]
        fail(
            f"{len(dups)} messages were delivered more than once (e.g. producer {p}'s #{seq}, "
            f"{counts[dups[0]]} times): two consumers read the same `tail` before either advanced it. {MUTEX_HINT}."
        )
    missing = [(p, s) for p in range(PRODUCERS) for s in range(PER_PRODUCER) if (p, s) not in counts]
    if missing:
        p, seq = missing[0]
        fail(
            f"{len(missing)} of {PRODUCERS * PER_PRODUCER} messages never arrived (e.g. producer {p}'s #{seq}): "
            f"two producers took the same `head` and one overwrote the other's slot. {MUTEX_HINT}."
        )
    stalled = [c for c, res in enumerate(results) if res[0] == "stalled"]
    expect(
        not stalled,
        f"consumer {stalled[0] if stalled else 0} waited 5 s for its STOP message: it was lost. {MUTEX_HINT}.",
    )
    with pytest.raises(TimeoutError):
        extra = ring.get(timeout=0)
        fail(f"the ring still held {describe_bytes(extra)} after every message and STOP was delivered")
    rings.finish(ring)


@pytest.mark.task(3)
@pytest.mark.on_timeout(
    "get(timeout=0) waited while another process was in the middle of put(): a timeout "
    "of 0 never waits, not even for the lock (sysv_ipc: sem.block = False)."
)
def test_a_message_is_never_visible_half_written(impl, rings):
    """A producer is stopped at every line of put() in turn; meanwhile get(timeout=0) must find
    either nothing or the whole message, and once put() finishes the message is there exactly once."""
    message = bytes(range(1, 61))
    for _step, _name, ring, producer in paused_at_every_line(
        impl, rings, "put", (message, 5), slots=4, slot_size=64, label="step"
    ):
        try:
            early = ring.get(timeout=0)
        except TimeoutError:
            early = None
        finally:
            state, detail = producer.resume()
        if early is not None and early != message:
            fail(
                f"while a producer was stopped in put() at {producer.where}, get() returned "
                f"{describe_bytes(early)} instead of the 60-byte message (or nothing): the message became "
                "visible before it was completely written. Write the length prefix and the data first, "
                "then post `full`: the post is what publishes the slot."
            )
        expect(state == "D", f"put() failed after being resumed: {detail}")
        if early is None:
            try:
                late = ring.get(timeout=0)
            except TimeoutError:
                fail(
                    f"put() returned but its message is not in the ring (producer stopped at {producer.where} "
                    "then resumed)"
                )
            check_sequence([message], [late], "the message of a producer that was paused mid-put")
        else:
            with pytest.raises(TimeoutError):
                again = ring.get(timeout=0)
                fail(f"the message came out twice ({describe_bytes(again)} the second time)")
        rings.finish(ring)


def drain(ring) -> list[bytes]:
    out = []
    while len(out) < 64:
        try:
            out.append(ring.get(timeout=0))
        except TimeoutError:
            break
    return out


@pytest.mark.task(3)
@pytest.mark.on_timeout(
    "put(timeout=0) waited while another producer was in the middle of put(): a timeout "
    "of 0 never waits, not even for the lock (sysv_ipc: sem.block = False)."
)
def test_two_producers_never_share_a_slot(impl, rings):
    """Producer A is stopped at every line of put() in turn; meanwhile producer B (this
    process) calls put(timeout=0). Both messages must then come out, once each."""
    a_msg, b_msg = b"from producer A " * 3, b"from producer B"
    for _step, name, ring, producer in paused_at_every_line(
        impl, rings, "put", (a_msg, 5), slots=4, slot_size=64, label="twoput"
    ):
        try:
            other = rings.attach(name)  # B attaches now, while A is in the middle of put()
            try:
                other.put(b_msg, timeout=0)
                b_in = True
            except TimeoutError:
                b_in = False  # A holds the lock: B may not wait with timeout=0
            finally:
                rings.open.remove(other)
                other.close()
        finally:
            state, detail = producer.resume()
        expect(state == "D", f"put() failed after being resumed: {detail}")
        got = drain(ring)
        want = sorted([a_msg, b_msg] if b_in else [a_msg])
        if sorted(got) != want:
            lost = [m for m in want if m not in got]
            fail(
                f"producer A was stopped in put() at {producer.where} while producer B put its message; "
                f"then the ring held {[describe_bytes(m, 20) for m in got]}"
                + (f" and {describe_bytes(lost[0], 20)} was lost" if lost else "")
                + f": both producers used the same `head` and wrote the same slot. {MUTEX_HINT} "
                "(and `attach`, which B called while A held the lock, must not reset the lock)."
            )
        rings.finish(ring)


@pytest.mark.task(3)
@pytest.mark.on_timeout(
    "get(timeout=0) waited while another consumer was in the middle of get(): a timeout "
    "of 0 never waits, not even for the lock (sysv_ipc: sem.block = False)."
)
def test_two_consumers_never_take_the_same_message(impl, rings):
    """Consumer A is stopped at every line of get() in turn; meanwhile consumer B (this
    process) calls get(timeout=0). Every message must be taken exactly once."""
    msgs = [b"message one", b"message two", b"message three"]
    for _step, _name, ring, consumer in paused_at_every_line(
        impl, rings, "get", (5,), slots=4, slot_size=64, label="twoget", fill=msgs
    ):
        try:
            b_got = [ring.get(timeout=0)]
        except TimeoutError:
            b_got = []
        finally:
            state, detail = consumer.resume()
        expect(state == "D", f"get() failed after being resumed: {detail}")
        expect(detail != "-", "get() must return the message as bytes")
        a_got = bytes.fromhex(detail)
        taken = [a_got, *b_got, *drain(ring)]
        dups = [m for m in msgs if taken.count(m) > 1]
        if dups:
            fail(
                f"consumer A was stopped in get() at {consumer.where} while consumer B called get(); "
                f"{describe_bytes(dups[0])} was delivered twice: both consumers read the same `tail`. "
                f"{MUTEX_HINT}."
            )
        check_sequence(
            msgs,
            sorted(taken, key=lambda m: msgs.index(m) if m in msgs else -1),
            f"consumer A stopped in get() at {consumer.where} while consumer B took a message",
        )
        rings.finish(ring)


# --- task 4: performance -----------------------------------------------------------------------------

PERF_SLOTS = 64


def ring_transfer(impl, name: str, ring, msg: bytes, count: int) -> None:
    def body(_w):
        mine = impl.RingBuffer.attach(name)
        for _ in range(count):
            mine.put(msg)
        mine.close()

    pid, r = fork_worker(body)
    try:
        for _ in range(count):
            ring.get(timeout=10)
    except TimeoutError:
        os.kill(pid, signal.SIGKILL)  # blocked or broken: its error, if any, is in the pipe
        out = read_all(r)
        os.waitpid(pid, 0)
        fail(
            "get() waited 10 s for the next message from a producer process"
            + (f", which failed: {pickle.loads(out)[1]}" if out else ": is every put() posting `full`?")
        )
    out = read_all(r)
    os.waitpid(pid, 0)
    if out:
        fail(f"the producer failed: {pickle.loads(out)[1]}")


def pipe_transfer(msg: bytes, count: int) -> None:
    """Baseline: the same messages through a pipe, framed (4-byte length + data, one write each)
    and received one message at a time like get(): read the length, then exactly that many bytes."""
    r, w = os.pipe()
    frame = len(msg).to_bytes(4, "little") + msg
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            for _ in range(count):
                os.write(w, frame)
        finally:
            os._exit(0)
    os.close(w)
    for _ in range(count):
        size = int.from_bytes(read_exactly(r, 4), "little")
        read_exactly(r, size)
    os.close(r)
    os.waitpid(pid, 0)


def read_exactly(fd: int, size: int) -> bytes:
    data = os.read(fd, size)
    while len(data) < size:
        data += os.read(fd, size - len(data))
    return data


def raw_copy(view: memoryview, msg: bytes, count: int) -> None:
    """Baseline: the copies alone, in and out of shared memory, no synchronisation."""
    stride, size = 4 + len(msg), len(msg)
    for i in range(count):
        offset = (i % PERF_SLOTS) * stride
        view[offset : offset + size] = msg
        bytes(view[offset : offset + size])


@pytest.mark.task(4)
@pytest.mark.on_timeout(
    "the transfer between a producer process and the consumer never finished, or is "
    "hundreds of times slower than a pipe: look for a sleep or a poll per message"
)
@pytest.mark.parametrize("size", [64, 4096], ids=["64B", "4KiB"])
def test_throughput(impl, rings, perf, size):
    import mmap

    import posix_ipc

    name, ring = rings.create(slots=PERF_SLOTS, slot_size=4096, label="perf")
    count = 3000 if size == 64 else 1500
    msg = random.Random(size).randbytes(size)
    ring_transfer(impl, name, ring, msg, 10)  # warm up, and correctness first
    raw_name = rings.name("raw")
    shm = posix_ipc.SharedMemory(raw_name, posix_ipc.O_CREX, 0o600, PERF_SLOTS * (4 + 4096))
    try:
        with mmap.mmap(shm.fd, shm.size) as m:
            shm.close_fd()
            view = memoryview(m)
            try:
                _unit, scale, units = ("msg", 1.0, count) if size == 64 else ("MB", 1e-6, count * size)
                label = "64b" if size == 64 else "4k"
                perf.check(
                    f"ring_{label}_vs_pipe",
                    lambda: ring_transfer(impl, name, ring, msg, count),
                    lambda: pipe_transfer(msg, count),
                    units=units,
                    scale=scale,
                )
                perf.check(
                    f"ring_{label}_vs_raw",
                    lambda: ring_transfer(impl, name, ring, msg, count),
                    lambda: raw_copy(view, msg, count),
                    units=units,
                    scale=scale,
                )
            finally:
                view.release()
    finally:
        shm.unlink()
    rings.finish(ring)


# --- task 5: robustness ---------------------------------------------------------------------------------

ROBUST_HINT = (
    "A POSIX semaphore (or a flag in shared memory) is not released when its holder dies, so every "
    "producer and consumer would now wait forever. Take the lock as a System V semaphore with "
    "SEM_UNDO (sysv_ipc: `sem.undo = True`, key `ring_key(name)`): the kernel undoes the dead "
    "holder's acquire when it exits."
)


@pytest.mark.task(5)
@pytest.mark.on_timeout(
    "put(timeout=0) or get(timeout=0) waited after a consumer holding the lock was killed: "
    "a timeout of 0 never waits, and the lock must have been released by the kernel. " + ROBUST_HINT
)
def test_consumer_killed_anywhere_in_get_freezes_nobody(impl, rings):
    """A consumer is stopped at every line of get() in turn and killed with SIGKILL there;
    the ring must go on working for everybody else at once."""
    before = [b"msg-a", b"msg-b", b"msg-c", b"msg-d"]
    probes = [b"probe-1", b"probe-2"]
    stops = 0
    for step, _name, ring, victim in paused_at_every_line(
        impl, rings, "get", (5,), slots=8, slot_size=32, label="kill", fill=before
    ):
        stops += 1
        victim.kill()
        where = f"a consumer was killed with SIGKILL inside get() at {victim.where} (line event {step})"
        for p in probes:
            try:
                ring.put(p, timeout=0)
            except TimeoutError:
                fail(
                    f"{where}; then put(timeout=0) into a ring with free slots and no other user raised "
                    f"TimeoutError: the lock the dead consumer held was never released. {ROBUST_HINT}"
                )
        got = []
        for i in range(4):
            try:
                got.append(ring.get(timeout=0))
            except TimeoutError:
                fail(
                    f"{where}; then get(timeout=0) #{i + 1} raised TimeoutError on a ring holding at least "
                    f"{5 - i} messages: the ring is stuck after the death. {ROBUST_HINT}"
                )
        sequence = before + probes
        if got not in (sequence[0:4], sequence[1:5]):
            fail(
                f"{where}; the others then got {got}: expected {sequence[0:4]} (nothing lost) or "
                f"{sequence[1:5]} (the message the dead consumer was taking is lost). Advance `tail` and "
                "copy the slot under the lock, so a death leaves either the old or the new state, never "
                "a half of each."
            )
        rings.finish(ring)
    expect(stops > 0, "get() ran no line of your file: nothing could be checked")
