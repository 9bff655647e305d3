"""Hidden suite of the `shm-ring` kata. Hygiene (zombies, fds, escaped children, and
every POSIX object named after the ring plus the System V key `ring_key(name)`) is
checked by the grader after every test; these tests check behaviour and say why it
is wrong when it is.

The ring's objects are known to the grader only through its name: POSIX objects must
be named `name + <suffix>`, a System V object must use `ring_key(name)` (the spec's rule).
"""

from __future__ import annotations

import functools
import json
import os
import pickle
import random
import resource
import signal
import struct
import time
import zlib
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import posix_ipc
import psutil
import pytest
from _processes import fork_worker, paused_at_every_line, read_all, send_result, worker_result

from grader.testing import describe_bytes, expect, fail, fork_helper, payload, task, wait_until


def ring_key(name: str) -> int:
    """The spec's rule for the System V key of ring `name` (if the learner uses System V)."""
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
        if g[0] != want[0] and g not in exp:
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
                + "Is the slot `counter % slots`, and does a put wait while the ring holds `slots` messages?"
            )
        fail(
            f"{what}: message {i} came back with the right length ({g[0]} bytes) but different bytes: "
            "copy exactly the bytes of the slot you reserved, binary (no decoding, no stripping)"
        )
    if len(have) != len(exp):
        fail(f"{what}: {len(exp)} messages were put, {len(have)} came back")


def expect_empty(ring, says: str) -> None:
    """get(timeout=0) must raise TimeoutError: the ring holds nothing more. `says` is the failure
    otherwise, with {} where the message get() returned is described."""
    with pytest.raises(TimeoutError):
        extra = ring.get(timeout=0)
        fail(says.format(describe_bytes(extra)))


def drain(ring, limit: int = 64) -> list[bytes]:
    """Every message get(timeout=0) still finds (at most `limit`)."""
    out = []
    while len(out) < limit:
        try:
            out.append(ring.get(timeout=0))
        except TimeoutError:
            break
    return out


def error_line(stderr: bytes, returncode: int) -> str:
    err = stderr.decode(errors="replace").strip().splitlines()
    return err[-1] if err else f"exit status {returncode}"


# --- task 1: one producer, one consumer ------------------------------------------------------


@task(1)
def test_attach_to_a_missing_ring_raises_file_not_found(rings):
    name = rings.name()
    with pytest.raises(FileNotFoundError):
        rings.impl.RingBuffer.attach(name)
        fail(f"RingBuffer.attach({name!r}) of a ring nobody created must raise FileNotFoundError")


@task(
    1,
    on_timeout=(
        "put() or get() blocked in a ring that has room and messages: check what create() "
        "initialises (counters, locks, semaphores) and that every lock taken is released."
    ),
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


@task(1)
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


WRAP_HINT = "right where the ring wraps around: the slot of message n is `n % slots`, slots are 0 .. slots-1"


@task(
    1,
    on_timeout=(
        "put() or get() blocked in a ring that had room or messages: a ring of N slots holds "
        "exactly N messages, and an empty ring holds none."
    ),
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
                    f"slots held only {i} messages: a ring of N slots holds N messages"
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
        check_sequence(batch, got, f"fill and drain, round {rnd} (the ring wraps around)")
        expect_empty(ring, "get(timeout=0) on a drained ring returned {}: it must raise TimeoutError")
    rings.finish(ring)


@task(
    1,
    on_timeout=(
        "the consumer process never received everything: does `attach` open the same "
        "segment and semaphores, does every put wake a consumer that sleeps, and does a put "
        "never wait for a lock that a sleeping get holds (one lock per side)?"
    ),
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
    for m in data:
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
    "writes the header (counters at 0, the locks) and gives the semaphores their initial values"
)


@task(1, on_timeout="the attaching process blocked in get() on a ring holding messages: " + ATTACH_HINT)
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
    expect(done.returncode == 0, f"the process that attached failed: {error_line(done.stderr, done.returncode)}")
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

BLOCK_SECONDS = 0.5
MAX_CPU = 0.03  # seconds of CPU while blocked; a blocked process uses ~0.0001,
# a spinning one gets far more even on a machine loaded 20x
MAX_WAKEUPS = 15  # voluntary context switches while blocked; blocking once costs 1-2


def blocked_call(impl, name: str, call):
    """In a forked process that attached ring `name`: run call(ring), which should block and
    time out; report the outcome, the wall time, the CPU time and the wake-ups it took."""

    def body(w):
        ring = impl.RingBuffer.attach(name)
        before, start = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        try:
            call(ring)
            outcome = "returned"
        except TimeoutError:
            outcome = "TimeoutError"
        elapsed, after = time.monotonic() - start, resource.getrusage(resource.RUSAGE_SELF)
        ring.close()
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        wakeups = after.ru_nvcsw - before.ru_nvcsw
        send_result(w, {"outcome": outcome, "elapsed": elapsed, "cpu": cpu, "wakeups": wakeups})

    return fork_worker(body)


def expect_blocked(report: dict, what: str, seconds: float = BLOCK_SECONDS) -> None:
    """`what` (e.g. "get(timeout=0.5) on an empty ring") must time out after sleeping in the kernel."""
    expect(report["outcome"] == "TimeoutError", f"{what} returned instead of raising TimeoutError")
    expect(
        report["elapsed"] >= seconds / 2,
        f"{what} gave up after {report['elapsed']:.3f} s: it must wait for the timeout "
        "(a timeout of 0 means: do not wait)",
    )
    expect(
        report["cpu"] <= MAX_CPU,
        f"{what} used {report['cpu']:.2f} s of CPU in {report['elapsed']:.2f} s of waiting: that is "
        "busy-waiting (a loop that looks at the ring again and again). Sleep in the kernel instead: "
        "sem.acquire(timeout) sleeps until the semaphore is posted or the time is up, using no CPU. "
        "This is why the ring uses semaphores and not a flag.",
    )
    expect(
        report["wakeups"] <= MAX_WAKEUPS,
        f"{what} woke up {report['wakeups']} times in {report['elapsed']:.2f} s: that is polling with a "
        "sleep (look, sleep, look again), or a wait with a short timeout in a loop. It burns CPU and adds "
        "latency; sleep in sem.acquire(timeout) for the whole remaining time: it wakes up exactly when "
        "the other side posts.",
    )


@task(
    2,
    on_timeout=(
        "put(timeout=0.5) or get(timeout=0.5) did not return: the timeout must bound the "
        "wait (posix_ipc: sem.acquire(timeout) raises BusyError, turn it into TimeoutError)."
    ),
)
def test_blocked_put_and_get_use_no_cpu(impl, rings):
    empty_name, empty = rings.create(slots=2, slot_size=16, label="empty")
    full_name, full = rings.create(slots=2, slot_size=16, label="full")
    full.put(b"a", timeout=0)
    full.put(b"b", timeout=0)
    getter = blocked_call(impl, empty_name, lambda ring: ring.get(timeout=BLOCK_SECONDS))
    putter = blocked_call(impl, full_name, lambda ring: ring.put(b"c", timeout=BLOCK_SECONDS))
    got = worker_result(*getter, f"the process calling get(timeout={BLOCK_SECONDS}) on an empty ring")
    put = worker_result(*putter, f"the process calling put(timeout={BLOCK_SECONDS}) on a full ring")
    expect_blocked(got, f"get(timeout={BLOCK_SECONDS}) on an empty ring")
    expect_blocked(put, f"put(timeout={BLOCK_SECONDS}) on a full ring")
    check_sequence([b"a", b"b"], [full.get(timeout=0), full.get(timeout=0)], "the full ring after a put that timed out")
    rings.finish(empty)
    rings.finish(full)


def blocked_worker(impl, name: str, call, who: str, blocked: str) -> tuple[int, int]:
    """Fork `who`, a process that attaches ring `name` and sends what call(ring) returns; come back
    once it has attached (it says so on a pipe) and sleeps in the kernel, i.e. blocks in call.
    `blocked` says what it is doing then. Returns fork_worker's (pid, result fd)."""
    ready_r, ready_w = os.pipe()

    def body(w):
        mine = impl.RingBuffer.attach(name)
        os.write(ready_w, b"r")
        result = call(mine)
        mine.close()
        send_result(w, result)

    pid, result = fork_worker(body)
    os.close(ready_w)
    expect(os.read(ready_r, 1) == b"r", f"{who} could not attach")
    os.close(ready_r)
    wait_blocked(pid, blocked)
    return pid, result


def wait_blocked(pid: int, what: str) -> None:
    """Wait until the process sleeps in the kernel (no sleep to synchronise: a poll with a deadline)."""
    p = psutil.Process(pid)
    wait_until(lambda: p.status() in (psutil.STATUS_SLEEPING, psutil.STATUS_DISK_SLEEP), 10, f"{what} never blocked")


@task(
    2,
    on_timeout=(
        "a put() never woke the get() sleeping on an empty ring, or could not get in: a put needs "
        "only the producers' lock (the sleeping get may hold the consumers'), and must post the "
        "semaphore the get sleeps on."
    ),
)
def test_get_blocks_until_a_put_arrives(impl, rings):
    name, ring = rings.create(slots=2, slot_size=64)
    pid, result = blocked_worker(
        impl, name, lambda mine: mine.get(), "the consumer process", "the consumer calling get() on an empty ring"
    )
    ring.put(b"wake up", timeout=5)
    check_sequence([b"wake up"], [worker_result(pid, result, "the blocked get()")], "a get() that was waiting")
    rings.finish(ring)


@task(
    2,
    on_timeout=(
        "a get() never woke the put() sleeping on a full ring, or could not get in: a get needs "
        "only the consumers' lock (the sleeping put may hold the producers'), and must post the "
        "semaphore the put sleeps on."
    ),
)
def test_put_blocks_until_a_get_makes_room(impl, rings):
    name, ring = rings.create(slots=2, slot_size=64)
    ring.put(b"m0", timeout=0)
    ring.put(b"m1", timeout=0)
    pid, result = blocked_worker(
        impl, name, lambda mine: mine.put(b"m2"), "the producer process", "the producer calling put() on a full ring"
    )
    check_sequence([b"m0"], [ring.get(timeout=5)], "the get that makes room")
    worker_result(pid, result, "the blocked put()")
    got = [ring.get(timeout=0)]
    try:
        got.append(ring.get(timeout=0))
    except TimeoutError:
        fail(
            "the message put by a process that has since exited is gone from the ring: a semaphore lost a "
            "post when that process exited. SEM_UNDO belongs only on a lock taken and released by the same "
            "process, never on a semaphore one process posts and another takes."
        )
    check_sequence([b"m1", b"m2"], got, "after the blocked put completed")
    rings.finish(ring)


TIMEOUT_PATH_HINT = (
    "the timeout path must release everything taken before raising TimeoutError (the lock, "
    "and a semaphore it acquired): a ring that times out once must work again at once"
)


@task(
    2,
    on_timeout=(
        "put(timeout=0)/get(timeout=0) waited: a timeout of 0 never waits, for room, a "
        "message or a lock; " + TIMEOUT_PATH_HINT
    ),
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
    try:
        check_sequence([b"after"], [ring.get(timeout=0)], "after a get() timed out")
    except TimeoutError:
        fail(
            f"after a get() timed out, get(timeout=0) of the message put since raised TimeoutError: {TIMEOUT_PATH_HINT}"
        )
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
    expect_empty(ring, "get(timeout=0) on an empty ring returned {}: it must raise TimeoutError")
    rings.finish(ring)


def semaphore_values(name: str) -> dict[str, int]:
    """The value of every POSIX semaphore named after ring `name` (they live in /dev/shm/sem.*)."""
    values = {}
    for path in Path("/dev/shm").glob("sem." + name.lstrip("/") + "*"):
        sem_name = "/" + path.name[len("sem.") :]
        try:
            sem = posix_ipc.Semaphore(sem_name)
        except posix_ipc.ExistentialError:
            continue
        values[sem_name] = sem.value
        sem.close()
    return values


@task(2)
def test_semaphores_do_not_pile_up(rings):
    """Thousands of messages through a ring nobody had to wait on: no semaphore may count up."""
    slots, rounds = 8, 3000
    name, ring = rings.create(slots=slots, slot_size=16)
    for i in range(rounds):
        ring.put(b"%d" % i, timeout=0)
        ring.get(timeout=0)
    for sem_name, value in semaphore_values(name).items():
        expect(
            value <= slots,
            f"after {rounds} put/get pairs through an empty ring of {slots} slots, the semaphore {sem_name} "
            f"holds {value} posts: a post nobody takes stays counted. A process that sleeps later on that "
            "semaphore would wake up once per stale post and find nothing (a burst of busy-waiting), and at "
            "SEM_VALUE_MAX (2**31 - 1) the next post fails. If a semaphore only wakes sleepers (a doorbell), "
            "drain it (value tells how many, acquire(0) takes one) before you look at the ring and sleep.",
        )
    rings.finish(ring)


# --- task 3: many producers, many consumers -----------------------------------------------------

PRODUCERS, CONSUMERS, PER_PRODUCER = 4, 4, 3000
MPMC_SLOT = 96
STOP = b"STOP"
MUTEX_HINT = (
    "a side's counter and its slot copy are shared by every process of that side: read the counter, "
    "copy, and advance it only while holding that side's lock"
)
SIDES_HINT = (
    "Give each side its own lock (producers one, consumers another): a put touches only `head` and "
    "free slots, a get only `tail` and full slots, so neither ever needs the other's lock"
)


def mpmc_message(producer: int, seq: int, rng: random.Random) -> bytes:
    head = struct.pack("=BI", producer, seq) + rng.randbytes(rng.randrange(MPMC_SLOT - 9 + 1))
    return head + zlib.crc32(head).to_bytes(4, "little")


def consume_until_stop(impl, name: str, batch: int = 0):
    """A consumer body for fork_worker: take messages (get, or get_many(batch)) until a STOP; report
    (status, 5-byte ids in order, torn samples, torn count). The STOPs come last, one per consumer:
    one that takes several in a batch puts the others back."""

    def body(w):
        mine = impl.RingBuffer.attach(name)
        seen, torn, status = bytearray(), [], "ok"
        while status == "ok":
            try:
                got = mine.get_many(batch, timeout=5) if batch else [mine.get(timeout=5)]
            except TimeoutError:
                status = "stalled"
                break
            for m in got:
                if m == STOP:
                    status = "done"
                    continue
                if len(m) < 9 or zlib.crc32(m[:-4]) != int.from_bytes(m[-4:], "little"):
                    torn.append(m[:24])
                    continue
                seen += m[:5]
            if got.count(STOP) > 1:
                mine.put_many([STOP] * (got.count(STOP) - 1), timeout=5)
        mine.close()
        send_result(w, (status, bytes(seen), torn[:5], len(torn)))

    return body


def check_mpmc(results: list, producers: int, per_producer: int, hint: str) -> None:
    """Every message of every producer exactly once, FIFO per producer, none torn."""
    torn = sum(res[3] for res in results)
    if torn:
        sample = next(res[2][0] for res in results if res[2])
        fail(
            f"{torn} of {producers * per_producer} messages arrived torn (checksum wrong, e.g. "
            f"{describe_bytes(sample, 24)}): two processes wrote the same slot, or a slot was read while "
            f"being written. {hint}, and advance `head` only once the slot is complete."
        )
    counts: Counter = Counter()
    for c, res in enumerate(results):
        seen, last = res[1], {}
        for i in range(0, len(seen), 5):
            p, seq = struct.unpack_from("=BI", seen, i)
            counts[(p, seq)] += 1
            if seq <= last.get(p, -1):
                fail(
                    f"consumer {c} received producer {p}'s message #{seq} after #{last[p]}: each producer's "
                    f"messages must come out in the order it put them (FIFO per producer). {hint}."
                )
            last[p] = seq
    dups = [k for k, n in counts.items() if n > 1]
    if dups:
        p, seq = dups[0]
        fail(
            f"{len(dups)} messages were delivered more than once (e.g. producer {p}'s #{seq}, "
            f"{counts[dups[0]]} times): two consumers read the same `tail` before either advanced it. {hint}."
        )
    missing = [(p, s) for p in range(producers) for s in range(per_producer) if (p, s) not in counts]
    if missing:
        p, seq = missing[0]
        fail(
            f"{len(missing)} of {producers * per_producer} messages never arrived (e.g. producer {p}'s #{seq}): "
            f"two producers took the same `head` and one overwrote the other's slot. {hint}."
        )
    stalled = [c for c, res in enumerate(results) if res[0] == "stalled"]
    if stalled:
        fail(f"consumer {stalled[0]} waited 5 s for its STOP message: it was lost. {hint}.")


@task(
    3,
    on_timeout=(
        "a deadlock among producers and consumers: never wait for a lock of the other side, "
        "and release every lock on every path (a timeout too)."
    ),
)
def test_many_producers_many_consumers(impl, rings):
    name, ring = rings.create(slots=16, slot_size=MPMC_SLOT)

    def produce(p):
        def body(w):
            mine = impl.RingBuffer.attach(name)
            rng = random.Random(p)
            for seq in range(PER_PRODUCER):
                mine.put(mpmc_message(p, seq, rng), timeout=20)
            mine.close()
            send_result(w, "done")

        return body

    consumers = [fork_worker(consume_until_stop(impl, name)) for _ in range(CONSUMERS)]
    producers = [fork_worker(produce(p)) for p in range(PRODUCERS)]
    for p, (pid, r) in enumerate(producers):
        worker_result(pid, r, f"producer {p}")
    for _ in consumers:
        ring.put(STOP, timeout=10)
    results = [worker_result(pid, r, f"consumer {c}") for c, (pid, r) in enumerate(consumers)]
    check_mpmc(results, PRODUCERS, PER_PRODUCER, MUTEX_HINT)
    expect_empty(ring, "the ring still held {} after every message and STOP was delivered")
    rings.finish(ring)


@task(
    3,
    on_timeout=(
        "get(timeout=0) waited while a producer was in the middle of put(): a timeout "
        "of 0 never waits, not even for a lock."
    ),
)
def test_a_message_is_never_visible_half_written(impl, rings):
    """A producer is stopped at every line of put() in turn. Meanwhile a consumer must get the
    message that was already in the ring (consumers never wait for producers), then find either
    nothing or the producer's whole message; once put() finishes, it is there exactly once."""
    waiting, message = b"already there", bytes(range(1, 61))
    for _step, _name, ring, producer in paused_at_every_line(
        impl, rings, "put", (message, 5), slots=4, slot_size=64, label="step", fill=[waiting]
    ):
        try:
            try:
                first = ring.get(timeout=0)
            except TimeoutError:
                fail(
                    f"while a producer was stopped in put() at {producer.where}, get(timeout=0) on a ring "
                    "holding a message raised TimeoutError: the consumer had to wait for a producer. "
                    + SIDES_HINT
                    + "."
                )
            try:
                early = ring.get(timeout=0)
            except TimeoutError:
                early = None
        finally:
            state, detail = producer.resume()
        check_sequence([waiting], [first], f"the first get while a producer was stopped at {producer.where}")
        if early is not None and early != message:
            fail(
                f"while a producer was stopped in put() at {producer.where}, get() returned "
                f"{describe_bytes(early)} instead of the 60-byte message (or nothing): the message became "
                "visible before it was completely written. Write the length prefix and the data first, "
                "then advance `head` (and post): that store is what publishes the slot."
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
            expect_empty(ring, "the message came out twice ({} the second time)")
        rings.finish(ring)


@task(
    3,
    on_timeout=(
        "put(timeout=0) waited while another producer was in the middle of put(): a timeout "
        "of 0 never waits, not even for a lock."
    ),
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
                b_in = False  # A holds the producers' lock: B may not wait with timeout=0
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
                "(and `attach`, which B called while A held the lock, must not initialise the lock again)."
            )
        rings.finish(ring)


@task(
    3,
    on_timeout=(
        "put(timeout=0) or get(timeout=0) waited while a consumer was in the middle of get(): a "
        "timeout of 0 never waits, not even for a lock."
    ),
)
def test_two_consumers_never_take_the_same_message(impl, rings):
    """Consumer A is stopped at every line of get() in turn. Meanwhile a producer must get its
    message in (producers never wait for consumers) and consumer B (this process) calls
    get(timeout=0). Every message must be taken exactly once."""
    msgs, extra = [b"message one", b"message two", b"message three"], b"put meanwhile"
    for _step, _name, ring, consumer in paused_at_every_line(
        impl, rings, "get", (5,), slots=4, slot_size=64, label="twoget", fill=msgs
    ):
        try:
            try:
                ring.put(extra, timeout=0)
            except TimeoutError:
                fail(
                    f"while a consumer was stopped in get() at {consumer.where}, put(timeout=0) into a ring "
                    "with a free slot raised TimeoutError: the producer had to wait for a consumer. " + SIDES_HINT + "."
                )
            try:
                b_got = [ring.get(timeout=0)]
            except TimeoutError:
                b_got = []
        finally:
            state, detail = consumer.resume()
        expect(state == "D", f"get() failed after being resumed: {detail}")
        expect(detail != "-", "get() must return the message as bytes")
        taken = [bytes.fromhex(detail), *b_got, *drain(ring)]
        sequence = [*msgs, extra]
        dups = [m for m in sequence if taken.count(m) > 1]
        if dups:
            fail(
                f"consumer A was stopped in get() at {consumer.where} while consumer B called get(); "
                f"{describe_bytes(dups[0])} was delivered twice: both consumers read the same `tail`. "
                f"{MUTEX_HINT}."
            )
        check_sequence(
            sequence,
            sorted(taken, key=lambda m: sequence.index(m) if m in sequence else -1),
            f"consumer A stopped in get() at {consumer.where} while consumer B took a message",
        )
        rings.finish(ring)


# --- task 4: performance -----------------------------------------------------------------------------

# A ring sized for messages of up to 1 MiB, carrying small ones: a get that copies more than the
# message (the whole slot) costs a megabyte per message here.
PERF_SLOTS, PERF_SLOT_SIZE = 16, 1 << 20
BATCH, BATCH_SLOTS = 64, 256
LENGTH = struct.Struct("=I")


@contextmanager
def worker(body, what: str, stuck: str):
    """Run body(write_fd) in a forked process while the block runs; then it must have
    finished well. A TimeoutError in the block fails the test with `stuck` and the
    worker's error, if it had one."""
    pid, fd = fork_worker(body)
    try:
        yield
    except TimeoutError:
        os.kill(pid, signal.SIGKILL)  # blocked or broken: its error, if any, is in the pipe
        out = read_all(fd)
        os.waitpid(pid, 0)
        error = pickle.loads(out)[1] if out else ""
        fail(f"{stuck}: " + (f"{what} failed: {error}" if error else f"does every put wake a sleeping get? ({what})"))
    worker_result(pid, fd, what)


def ring_transfer(impl, name: str, ring, msg: bytes, count: int, batch: int = 0) -> None:
    """`count` messages from a forked producer (put, or put_many of `batch`) to this process
    (get, or get_many(batch))."""

    def body(w):
        mine = impl.RingBuffer.attach(name)
        if batch:
            chunk = [msg] * batch
            for _ in range(count // batch):
                mine.put_many(chunk)
        else:
            for _ in range(count):
                mine.put(msg)
        mine.close()
        send_result(w, "done")

    with worker(body, "the producer process", "get() waited 10 s for the next message from a producer"):
        if batch:
            got = 0
            while got < count:
                got += len(ring.get_many(batch, timeout=10))
        else:
            for _ in range(count):
                ring.get(timeout=10)


def ring_round_trips(impl, names: tuple[str, str], rings: tuple, msg: bytes, count: int) -> None:
    """`count` round trips: this process puts into the first ring, a forked echo process gets
    it and puts it into the second, this process gets it back."""
    requests, replies = rings

    def echo(w):
        inbox, outbox = impl.RingBuffer.attach(names[0]), impl.RingBuffer.attach(names[1])
        for _ in range(count):
            outbox.put(inbox.get(timeout=10))
        inbox.close()
        outbox.close()
        send_result(w, "done")

    with worker(echo, "the echo process", "a round trip through two rings waited 10 s"):
        for _ in range(count):
            requests.put(msg, timeout=10)
            replies.get(timeout=10)


# The baselines: module-level functions of plain arguments (they may run in a clean process).


def read_exactly(fd: int, size: int) -> bytes:
    data = os.read(fd, size)
    while len(data) < size:
        data += os.read(fd, size - len(data))
    return data


def read_frame(fd: int) -> bytes:
    """One framed message from a pipe, as get() takes one: the 4-byte length, then exactly that many bytes."""
    return read_exactly(fd, LENGTH.unpack(read_exactly(fd, 4))[0])


def pipe_transfer(size: int, count: int) -> None:
    """Baseline: the same messages through a pipe, framed (4-byte length + data, one write each)
    and received one message at a time like get()."""
    r, w = os.pipe()
    frame = LENGTH.pack(size) + payload(size)

    def produce() -> None:
        os.close(r)
        for _ in range(count):
            os.write(w, frame)

    pid = fork_helper(produce)
    os.close(w)
    for _ in range(count):
        read_frame(r)
    os.close(r)
    os.waitpid(pid, 0)


def pipe_round_trips(size: int, count: int) -> None:
    """Baseline: `count` framed round trips through two pipes and an echo process."""
    req_r, req_w = os.pipe()
    rep_r, rep_w = os.pipe()
    frame = LENGTH.pack(size) + payload(size)

    def echo() -> None:
        os.close(req_w)
        os.close(rep_r)
        for _ in range(count):
            body = read_frame(req_r)
            os.write(rep_w, LENGTH.pack(len(body)) + body)

    pid = fork_helper(echo)
    os.close(req_r)
    os.close(rep_w)
    for _ in range(count):
        os.write(req_w, frame)
        read_frame(rep_r)
    os.close(req_w)
    os.close(rep_r)
    os.waitpid(pid, 0)


def check_throughput(perf, metric: str, learner, size: int, count: int, baseline=pipe_transfer) -> None:
    megabytes = size >= 1024
    perf.check(
        metric,
        learner,
        functools.partial(baseline, size, count),
        units=count * size if megabytes else count,
        scale=1e-6 if megabytes else 1.0,
    )


@task(
    4,
    on_timeout=(
        "the transfer between a producer process and the consumer never finished, or is "
        "hundreds of times slower than a pipe: look for a sleep or a poll per message"
    ),
)
def test_throughput(impl, rings, perf):
    name, ring = rings.create(slots=PERF_SLOTS, slot_size=PERF_SLOT_SIZE, label="perf")
    small, large = payload(64), payload(4096)
    ring_transfer(impl, name, ring, small, 10)  # warm up, and correctness first
    check_throughput(perf, "ring_64b_vs_pipe", lambda: ring_transfer(impl, name, ring, small, 5000), 64, 5000)
    check_throughput(perf, "ring_4k_vs_pipe", lambda: ring_transfer(impl, name, ring, large, 2000), 4096, 2000)
    rings.finish(ring)


@task(4, on_timeout="round trips through two rings never finished: a get sleeping on an empty ring is never woken")
def test_round_trip_latency(impl, rings, perf):
    requests_name, requests = rings.create(slots=4, slot_size=64, label="requests")
    replies_name, replies = rings.create(slots=4, slot_size=64, label="replies")
    pair, msg = (requests_name, replies_name), payload(64)
    ring_round_trips(impl, pair, (requests, replies), msg, 10)
    perf.check(
        "ring_round_trip_vs_pipe",
        lambda: ring_round_trips(impl, pair, (requests, replies), msg, 300),
        functools.partial(pipe_round_trips, 64, 300),
        units=300,
    )
    rings.finish(requests)
    rings.finish(replies)


# --- task 5: robustness ---------------------------------------------------------------------------------

ROBUST_HINT = (
    "A POSIX semaphore (or a flag in shared memory) used as a lock is never released when its holder "
    "dies: everyone else waits forever. Use a robust, process-shared pthread mutex "
    "(pthread_mutexattr_setrobust): the kernel hands it to the next taker with EOWNERDEAD, who calls "
    "pthread_mutex_consistent and carries on (or a System V semaphore taken with SEM_UNDO)"
)
STATE_HINT = (
    "Keep the ring's state where a death cannot split it: advance a counter with one store, after the "
    "slot is copied, and let the next lock holder wake anyone the dead one should have woken"
)


@task(
    5,
    on_timeout=(
        "put(timeout=0) or get(timeout=0) waited after a consumer was killed inside get(): "
        "a timeout of 0 never waits, and the dead consumer's lock must be free again. " + ROBUST_HINT
    ),
)
def test_consumer_killed_anywhere_in_get_freezes_nobody(impl, rings):
    """A consumer is stopped at every line of get() in turn and killed with SIGKILL there;
    the ring must go on working for everybody else at once, with all its capacity."""
    slots = 8
    before = [b"msg-a", b"msg-b", b"msg-c", b"msg-d"]
    probes = [b"probe-1", b"probe-2"]
    sequence = before + probes
    stops = 0
    for step, _name, ring, victim in paused_at_every_line(
        impl, rings, "get", (5,), slots=slots, slot_size=32, label="kill", fill=before
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
                    f"TimeoutError: the lock the dead consumer held was never released. {ROBUST_HINT}."
                )
        got = []
        for i in range(len(sequence)):
            try:
                got.append(ring.get(timeout=0))
            except TimeoutError:
                if len(got) >= len(sequence) - 1:
                    break
                fail(
                    f"{where}; then get(timeout=0) #{i + 1} raised TimeoutError on a ring still holding at least "
                    f"{len(sequence) - 1 - i} messages: the ring is stuck after the death. {ROBUST_HINT}."
                )
        if got not in (sequence, sequence[1:]):
            fail(
                f"{where}; the others then got {got}: expected {sequence} (nothing lost) or "
                f"{sequence[1:]} (the message the dead consumer was taking is lost). {STATE_HINT}."
            )
        fill = [b"fill-%d" % i for i in range(slots)]
        for i, m in enumerate(fill):
            try:
                ring.put(m, timeout=0)
            except TimeoutError:
                fail(
                    f"{where}; afterwards the empty ring of {slots} slots took only {i} messages: the dead "
                    f"consumer took a slot (or a semaphore's count) with it. {STATE_HINT}."
                )
        with pytest.raises(TimeoutError):
            ring.put(b"one too many", timeout=0)
            fail(f"{where}; afterwards the ring of {slots} slots took {slots + 1} messages: it overwrote one")
        check_sequence(fill, drain(ring), f"{where}; then the ring was filled and drained")
        rings.finish(ring)
    expect(stops > 0, "get() ran no line of your file: nothing could be checked")


# --- task 6: batches --------------------------------------------------------------------------------------

BATCH_HINT = (
    "put_many(messages) appends them in order (in several chunks when they do not all fit) and returns "
    "how many it put; get_many(max_count) returns between 1 and max_count messages, the oldest first, "
    "as many as are there when it gets in, without waiting for more"
)


@task(6)
def test_batches_round_trip_in_order(rings):
    _name, ring = rings.create(slots=8, slot_size=64)
    data = messages(40, 64, seed=6)
    got, i = [], 0
    for step, size in enumerate([1, 3, 8, 2, 5, 8, 1, 4, 8]):
        chunk = data[i : i + size]
        i += size
        if step % 3 == 2:
            for m in chunk:
                ring.put(m, timeout=0)
        else:
            put = ring.put_many(chunk, timeout=0)
            expect(put == len(chunk), f"put_many() of {len(chunk)} messages into an empty ring returned {put}")
        while len(got) < i:
            before = len(got)
            if step % 2:
                taken = ring.get_many(3, timeout=0)
                expect(
                    isinstance(taken, list) and 1 <= len(taken) <= 3,
                    f"get_many(3) with {i - before} messages in the ring returned {taken!r}: {BATCH_HINT}",
                )
                got += taken
            else:
                got.append(ring.get(timeout=0))
    check_sequence(data[:i], got, "put_many/put then get_many/get, mixed")
    with pytest.raises(TimeoutError):
        extra = ring.get_many(4, timeout=0)
        fail(f"get_many(4, timeout=0) on an empty ring returned {extra!r}: it must raise TimeoutError")
    with pytest.raises(ValueError):
        ring.put_many([b"fits", bytes(65)])
        fail("put_many() with a message of 65 bytes into slots of 64 must raise ValueError")
    expect(
        not drain(ring),
        "put_many() that raised ValueError for one oversized message left others in the ring: check every size "
        "before putting anything",
    )
    rings.finish(ring)


@task(6)
def test_put_many_fills_what_fits_before_its_timeout(rings):
    _name, ring = rings.create(slots=4, slot_size=16)
    ring.put(b"old", timeout=0)
    batch = [b"new-%d" % i for i in range(6)]
    put = ring.put_many(batch, timeout=0)
    expect(
        put == 3,
        f"put_many() of 6 messages with timeout=0 into a ring with 3 free slots returned {put}: it puts what "
        "fits, without waiting, and returns how many it put (like socket.send)",
    )
    with pytest.raises(TimeoutError):
        put = ring.put_many([b"more"], timeout=0.05)
        fail(f"put_many() into a full ring returned {put}: when nothing fits before the timeout, raise TimeoutError")
    got = ring.get_many(10, timeout=0)
    check_sequence([b"old", *batch[:3]], got, "get_many(10) of a full ring of 4")
    rings.finish(ring)


@task(
    6,
    on_timeout=(
        "a batch larger than the ring never got through: put_many must commit what fits, wake the "
        "consumer, wait for room and go on"
    ),
)
def test_a_batch_larger_than_the_ring(impl, rings):
    slots = 8
    name, ring = rings.create(slots=slots, slot_size=64)
    data = messages(5 * slots + 3, 64, seed=7)

    def produce(w):
        mine = impl.RingBuffer.attach(name)
        put = mine.put_many(data)
        mine.close()
        send_result(w, put)

    pid, r = fork_worker(produce)
    got = []
    try:
        while len(got) < len(data):
            got += ring.get_many(5, timeout=10) if len(got) % 2 else [ring.get(timeout=10)]
    except TimeoutError:
        pass
    put = worker_result(pid, r, f"the producer calling put_many() of {len(data)} messages into {slots} slots")
    expect(put == len(data), f"put_many() of {len(data)} messages (no timeout) returned {put}: {BATCH_HINT}")
    check_sequence(data, got, f"a batch of {len(data)} messages through a ring of {slots} slots")
    rings.finish(ring)


@task(6, on_timeout="batches from many producers to many consumers deadlocked: " + MUTEX_HINT)
def test_batches_from_many_producers_to_many_consumers(impl, rings):
    producers, per_producer = 3, 1200
    name, ring = rings.create(slots=16, slot_size=MPMC_SLOT)

    def produce(p):
        def body(w):
            mine = impl.RingBuffer.attach(name)
            rng = random.Random(p)
            seq = 0
            while seq < per_producer:
                size = min(rng.randrange(1, 40), per_producer - seq)
                if size == 1:
                    mine.put(mpmc_message(p, seq, rng), timeout=20)
                else:
                    put = mine.put_many([mpmc_message(p, seq + i, rng) for i in range(size)], timeout=20)
                    expect(put == size, f"put_many() of {size} messages with a 20 s timeout returned {put}")
                seq += size
            mine.close()
            send_result(w, "done")

        return body

    consumers = [fork_worker(consume_until_stop(impl, name, batch=b)) for b in (0, 7, 32)]
    workers = [fork_worker(produce(p)) for p in range(producers)]
    for p, (pid, r) in enumerate(workers):
        worker_result(pid, r, f"producer {p}")
    ring.put_many([STOP] * len(consumers), timeout=10)
    results = [worker_result(pid, r, f"consumer {c}") for c, (pid, r) in enumerate(consumers)]
    check_mpmc(results, producers, per_producer, MUTEX_HINT)
    rings.finish(ring)


@task(6, on_timeout="get_many()/put_many() with a timeout did not return: the timeout must bound the wait")
def test_blocked_batches_use_no_cpu(impl, rings):
    seconds = 0.3
    empty_name, empty = rings.create(slots=2, slot_size=16, label="empty")
    full_name, full = rings.create(slots=2, slot_size=16, label="full")
    full.put_many([b"a", b"b"], timeout=0)
    getter = blocked_call(impl, empty_name, lambda ring: ring.get_many(4, timeout=seconds))
    putter = blocked_call(impl, full_name, lambda ring: ring.put_many([b"c", b"d"], timeout=seconds))
    got = worker_result(*getter, f"the process calling get_many(4, timeout={seconds}) on an empty ring")
    put = worker_result(*putter, f"the process calling put_many(2 messages, timeout={seconds}) on a full ring")
    expect_blocked(got, f"get_many(4, timeout={seconds}) on an empty ring", seconds)
    expect_blocked(put, f"put_many(2 messages, timeout={seconds}) on a full ring", seconds)
    check_sequence([b"a", b"b"], full.get_many(4, timeout=0), "the full ring after a put_many that timed out")
    rings.finish(empty)
    rings.finish(full)


# --- task 7: batch performance ---------------------------------------------------------------------------


@task(7, on_timeout="batches between a producer process and the consumer never finished")
def test_batch_throughput(impl, rings, perf):
    name, ring = rings.create(slots=BATCH_SLOTS, slot_size=64, label="perf")
    small, count = payload(64), 400 * BATCH
    ring_transfer(impl, name, ring, small, BATCH, batch=BATCH)  # warm up, and correctness first
    check_throughput(
        perf,
        "ring_batch_64b_vs_pipe",
        lambda: ring_transfer(impl, name, ring, small, count, batch=BATCH),
        64,
        count,
    )
    rings.finish(ring)
