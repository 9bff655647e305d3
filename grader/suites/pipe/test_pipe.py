"""Hidden suite of the `pipe` kata. Hygiene (zombies, fds, escaped children) is
checked by the grader after every test; these tests check behaviour and say why
it is wrong when it is."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import select
import threading
import time

from grader.testing import (
    Usage,
    check_bytes,
    check_held_parent,
    check_no_spin,
    describe_bytes,
    expect,
    fail,
    held_children,
    payload,
    pipe_write_ends_of,
    read_to_eof,
    small_pipes,
    task,
    watch_for,
)

PIPE_CAPACITY = 65536


def work(task: bytes) -> bytes:
    return hashlib.sha256(task).digest() + task[::-1]


def check_payload(expected: bytes, got, what: str) -> None:
    expect(isinstance(got, bytes), f"`{what}` must return bytes, got {type(got).__name__}")
    if len(got) > len(expected) and got.startswith(expected):
        fail(
            f"`{what}` returned {len(got) - len(expected)} bytes more than the child wrote "
            "(is the child writing twice, or is the parent also writing into the pipe?)"
        )
    check_bytes(
        expected,
        got,
        f"`{what}`",
        cut_short=f". One read() returns what is in the pipe at that moment (at most its {PIPE_CAPACITY // 1024} "
        "KiB buffer), not the whole message: read in a loop until read() returns b'' (EOF).",
        differ=": the bytes must arrive unchanged (binary, any byte value, no decoding or newline handling)",
    )


def check_one_fork(forks, what: str) -> None:
    expect(
        forks() >= 1,
        f"`{what}` returned without forking: the data must travel from another process "
        "through a pipe (os.pipe() then os.fork()), not be computed in the caller",
    )
    expect(forks() == 1, f"`{what}` forked {forks()} times; one child is enough")


# --- task 1: child_to_parent -------------------------------------------------------

EOF_HINT = (
    "read() never returned EOF. EOF arrives only when every write end of the pipe is closed: the "
    "parent must close its own copy of the write end right after fork(), and the child must close "
    "its end (or exit) when it has written everything."
)


@task(1, on_timeout=EOF_HINT)
def test_child_to_parent_small(impl, forks):
    check_payload(b"hello through a pipe", impl.child_to_parent(b"hello through a pipe"), "child_to_parent")
    check_one_fork(forks, "child_to_parent")


@task(1, on_timeout=EOF_HINT)
def test_child_to_parent_empty(impl):
    check_payload(b"", impl.child_to_parent(b""), "child_to_parent")


@task(1, on_timeout=EOF_HINT)
def test_child_to_parent_binary(impl):
    data = bytes(range(256)) * 16
    check_payload(data, impl.child_to_parent(data), "child_to_parent")


@task(
    1,
    on_timeout=(
        "a payload larger than the pipe buffer (64 KiB) blocks the child's write() until the parent reads. "
        "A parent that calls waitpid() before reading waits for a child that waits for it: a deadlock. "
        "Read to EOF first, then waitpid()."
    ),
)
def test_child_to_parent_larger_than_pipe_buffer(impl):
    data = payload(4 << 20)
    check_payload(data, impl.child_to_parent(data), "child_to_parent")


@task(1, on_timeout=EOF_HINT)
def test_child_to_parent_many_calls(impl):
    for n in range(20):
        data = payload(1000 + n, seed=n)
        check_payload(data, impl.child_to_parent(data), "child_to_parent")


BLOCKING_READ = (
    "a plain os.read() on the pipe sleeps until the child writes (or closes its end); no O_NONBLOCK, "
    "no sleep-and-retry loop"
)


@task(1, on_timeout=EOF_HINT)
def test_child_to_parent_sleeps_while_the_child_works(impl):
    with held_children() as held:
        got = impl.child_to_parent(b"worth the wait")
    check_payload(b"worth the wait", got, "child_to_parent")
    check_held_parent(held, "child_to_parent, while its child had not written anything yet", BLOCKING_READ)


# --- task 2: round_trip_digest -----------------------------------------------------

ROUND_TRIP_HINT = (
    "the child reads the request until EOF, and EOF only comes once the parent closes its write end of "
    "the request pipe and the child has closed its own inherited copy. Close unused ends right after fork()."
)


def round_trip(impl, data: bytes) -> str:
    try:
        return impl.round_trip_digest(data)
    except BrokenPipeError:
        fail(
            f"round_trip_digest({len(data)} bytes) raised BrokenPipeError while the parent wrote the request: "
            "the child had closed its read end (or exited) before reading all of it. One read() returns at "
            "most what is in the pipe: the child must read the request until EOF (read() returns b'') before "
            "it answers."
        )


def check_digest(data: bytes, got) -> None:
    expected = hashlib.sha256(data).hexdigest()
    expect(isinstance(got, str), f"`round_trip_digest` must return the hex digest as str, got {type(got).__name__}")
    expect(
        got == expected,
        f"`round_trip_digest` returned {got[:80]!r}, expected the sha256 hex digest of the "
        f"{len(data)}-byte payload, {expected!r}: did the child receive the whole payload?",
    )


@task(2, on_timeout=ROUND_TRIP_HINT)
def test_round_trip_small(impl, forks):
    check_digest(b"there and back", round_trip(impl, b"there and back"))
    check_one_fork(forks, "round_trip_digest")


@task(2, on_timeout=ROUND_TRIP_HINT)
def test_round_trip_empty(impl):
    check_digest(b"", round_trip(impl, b""))


@task(
    2,
    on_timeout=(
        ROUND_TRIP_HINT + " A request larger than 64 KiB also needs the parent to write it "
        "all before waiting for the answer."
    ),
)
def test_round_trip_larger_than_pipe_buffer(impl):
    data = payload(3 << 20, seed=11)
    check_digest(data, round_trip(impl, data))


@task(2, on_timeout=ROUND_TRIP_HINT)
def test_round_trip_binary(impl):
    data = bytes(range(256))[::-1] * 300
    check_digest(data, round_trip(impl, data))


@task(2, on_timeout=ROUND_TRIP_HINT)
def test_round_trip_sleeps_while_the_child_works(impl):
    with held_children() as held:
        got = round_trip(impl, b"take your time")
    check_digest(b"take your time", got)
    check_held_parent(
        held,
        "round_trip_digest, while its child had not answered yet",
        "write the request with blocking writes, then a blocking os.read() of the answer",
    )


# --- task 3: gather ---------------------------------------------------------------------

GATHER_HINT = (
    "outputs larger than the pipe buffer block each worker's write() until the parent reads them. Read "
    "from every worker's pipe (os.read in a select/poll loop, or one worker after the other) before "
    "waiting for the workers, and close the write ends in the parent and the siblings' read ends in each child."
)


def check_gather(tasks: list[bytes], workers: int, got, forks) -> None:
    expected = [work(t) for t in tasks]
    expect(isinstance(got, list), f"`gather` must return a list, got {type(got).__name__}")
    expect(len(got) == len(expected), f"`gather` returned {len(got)} results for {len(tasks)} tasks")
    for i, (want, have) in enumerate(zip(expected, got, strict=False)):
        if have != want:
            if have in expected:
                fail(
                    f"result {i} of `gather` is the result of task {expected.index(have)}: results must "
                    "come back in task order, whatever order the workers finish in"
                )
            fail(
                f"result {i} of `gather` is {describe_bytes(have)}, expected work(task {i}) = "
                f"{describe_bytes(want)}; a result must arrive whole (frame each result: length, then bytes)"
            )
    expect(
        forks() <= workers,
        f"`gather` forked {forks()} processes for {workers} workers: start at most "
        "`workers` children and give each several tasks",
    )
    expect(not tasks or forks() >= 1, "`gather` computed the results without forking any worker")


@task(3, on_timeout=GATHER_HINT)
def test_gather_no_tasks(impl, forks):
    got = impl.gather([], 4)
    expect(got == [], f"`gather([], 4)` must return [], got {got!r}")
    expect(forks() == 0, "`gather([], 4)` forked workers for no work")


@task(3, on_timeout=GATHER_HINT)
def test_gather_fewer_tasks_than_workers(impl, forks):
    tasks = [b"alpha", b"beta"]
    check_gather(tasks, 2, impl.gather(tasks, 4), forks)


@task(3, on_timeout=GATHER_HINT)
def test_gather_more_tasks_than_workers(impl, forks):
    tasks = [payload(n * 997 % 5000, seed=n) for n in range(17)]
    check_gather(tasks, 3, impl.gather(tasks, 3), forks)


@task(3, on_timeout=GATHER_HINT)
def test_gather_outputs_larger_than_pipe_buffer(impl, forks):
    tasks = [payload(300_000 + n, seed=100 + n) for n in range(6)]
    check_gather(tasks, 2, impl.gather(tasks, 2), forks)


@task(
    3,
    on_timeout=(
        GATHER_HINT + " Here each pipe holds one page (4 KiB), as it does for a user who has many pipes open "
        "(/proc/sys/fs/pipe-user-pages-soft) or after fcntl(F_SETPIPE_SZ): a parent that waits for a worker "
        "before reading its pipe deadlocks as soon as a result is larger than a page."
    ),
)
def test_gather_with_one_page_pipes(impl, forks):
    tasks = [payload(5000 + 3000 * n, seed=200 + n) for n in range(6)]
    with small_pipes():
        got = impl.gather(tasks, 3)
    check_gather(tasks, 3, got, forks)


@task(3, on_timeout=GATHER_HINT)
def test_gather_sleeps_while_the_workers_work(impl, forks):
    tasks = [b"one", b"two", b"three", b"four"]
    with held_children() as held:
        got = impl.gather(tasks, 2)
    check_gather(tasks, 2, got, forks)
    check_held_parent(
        held,
        "gather, while its workers had not written anything yet",
        "select.select() on the read ends without a timeout (or blocking reads, one pipe after the other)",
    )


class WorkSpy:
    """Stands in for `work` during a test; it runs in the learner's workers. Each call reports, on a pipe, its
    pid and the pipes (made during the test) whose write end its process holds. A call for `slow` first waits
    until the worker of another task has exited (its EOF is then in the caller's pipe), then watches for
    `window` seconds how the thread that called gather waits, and reports that too. No sleeps: the slow worker
    blocks in select() on the pids the others announce, and watches the other's state in /proc."""

    def __init__(self, slow: bytes = b"", window: float = 0.3):
        self.slow, self.window = slow, window
        self.caller, self.caller_tid = os.getpid(), threading.get_native_id()
        self.report_r, self.report_w = os.pipe()
        self.pids_r, self.pids_w = os.pipe()
        self.before = pipe_write_ends_of(self.caller)  # the suite's, this spy's own included

    def __call__(self, task: bytes) -> bytes:  # in a worker
        writes = pipe_write_ends_of(os.getpid()) - self.before
        record: dict[str, object] = {"pid": os.getpid(), "writes": sorted(writes)}
        os.write(self.pids_w, os.getpid().to_bytes(4, "big"))
        if task == self.slow and os.getpid() != self.caller:
            usage = self._watch_after_another_worker_ended()
            record["usage"] = None if usage is None else list(dataclasses.astuple(usage))
        os.write(self.report_w, json.dumps(record).encode() + b"\n")
        return work(task)

    def _watch_after_another_worker_ended(self) -> Usage | None:
        deadline = time.monotonic() + 5
        while (left := deadline - time.monotonic()) > 0 and select.select([self.pids_r], [], [], left)[0]:
            other = int.from_bytes(os.read(self.pids_r, 4), "big")
            if other != os.getpid() and _ended_within(other, deadline - time.monotonic()):
                return watch_for(self.window, self.caller, self.caller_tid)
        return None

    def records(self) -> list[dict]:
        """Every report, once gather has returned (its workers are gone); closes the spy's pipes."""
        os.close(self.report_w)
        os.close(self.pids_w)
        try:
            lines = read_to_eof(self.report_r).splitlines()
        finally:
            os.close(self.report_r)
            os.close(self.pids_r)
        return [json.loads(line) for line in lines]


def _ended_within(pid: int, timeout: float) -> bool:
    """Whether process `pid` (not necessarily a child) exits within `timeout`: its pidfd becomes readable."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True  # gone already
    try:
        return bool(select.select([pidfd], [], [], max(timeout, 0))[0])
    finally:
        os.close(pidfd)


def gather_with_spy(impl, monkeypatch, tasks: list[bytes], workers: int, spy: WorkSpy) -> tuple[list, list[dict]]:
    monkeypatch.setattr(impl, "work", spy)
    try:
        got = impl.gather(tasks, workers)
    finally:
        monkeypatch.undo()
        records = spy.records()
    return got, records


@task(3, on_timeout=GATHER_HINT)
def test_gather_sleeps_after_one_worker_finished(impl, forks, monkeypatch):
    tasks = [b"fast", b"slow"]
    got, records = gather_with_spy(impl, monkeypatch, tasks, 2, WorkSpy(slow=b"slow"))
    check_gather(tasks, 2, got, forks)
    watched = [record["usage"] for record in records if record.get("usage")]
    if watched:  # else both tasks ran in one worker: there was no EOF to wait after
        check_no_spin(
            "gather, after one worker had finished (its pipe at EOF) while another still worked",
            Usage(*watched[0]),
            "a pipe at EOF is readable forever, so select() returns it at once, again and again. Stop selecting "
            "on it once read() returned b'': close it and drop it from the list you select on",
        )


@task(3, on_timeout=GATHER_HINT)
def test_gather_workers_hold_only_their_own_write_end(impl, forks, monkeypatch):
    tasks = [b"one", b"two", b"three"]
    got, records = gather_with_spy(impl, monkeypatch, tasks, 3, WorkSpy())
    check_gather(tasks, 3, got, forks)
    for record in records:
        if len(record["writes"]) > 1:
            fail(
                f"worker {record['pid']} of `gather` held the write ends of {len(record['writes'])} pipes while it "
                "worked: its own, and those of the workers forked before it. fork() copies every fd the parent "
                "holds, so close each worker's write end in the parent right after forking that worker, before "
                "the next fork; otherwise an earlier worker's EOF waits until every later worker has exited"
            )


# --- task 4: performance -------------------------------------------------------------------

PERF_SIZE = 32 << 20


def raw_pipe_transfer(data: bytes) -> bytes:
    """The baseline: the plainest correct transfer, measured in this run on this machine."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            view = memoryview(data)
            while view:
                view = view[os.write(w, view) :]
        finally:
            os._exit(0)
    os.close(w)
    try:
        return read_to_eof(r)
    finally:
        os.close(r)
        os.waitpid(pid, 0)


@task(4, on_timeout=EOF_HINT)
def test_child_to_parent_throughput(impl, perf):
    data = payload(PERF_SIZE, seed=3)
    check_payload(data[: 1 << 20], impl.child_to_parent(data[: 1 << 20]), "child_to_parent")
    perf.check(
        "child_to_parent_mbps",
        lambda: impl.child_to_parent(data),
        functools.partial(raw_pipe_transfer, data),
        units=len(data),
        scale=1e-6,
        causes="a result grown with bytes += chunk (each += copies everything read so far), tiny reads, or "
        "a sleep (or a poll) where a blocking read belongs",
    )
