"""Hidden suite of the `shared-memory` kata. Hygiene (leaked segments by name or key,
zombies, fds, escaped children) is checked by the grader after every test; these
tests check behaviour and say why it is wrong when it is."""

from __future__ import annotations

import collections
import contextlib
import functools
import hashlib
import mmap
import os
import random
import select
import stat
import struct
import subprocess
import threading
import time
from pathlib import Path

import posix_ipc
import sysv_ipc

from grader.perf import Elapsed, clock
from grader.testing import (
    check_bytes,
    check_held_parent,
    describe_bytes,
    expect,
    expect_raises,
    fail,
    held_children,
    last_error_line,
    payload,
    task,
)


def shm_file(name: str) -> Path:
    return Path("/dev/shm") / name.lstrip("/")


def sysv_segments() -> list[dict[str, int]]:
    """Rows of /proc/sysvipc/shm (what `ipcs -m` shows), as ints."""
    lines = Path("/proc/sysvipc/shm").read_text().splitlines()
    header = lines[0].split()
    rows = []
    for line in lines[1:]:
        cols = line.split()
        row = {name: int(cols[i]) for i, name in enumerate(header) if name in ("key", "shmid", "size", "nattch")}
        row["perms"] = int(cols[header.index("perms")], 8)
        rows.append(row)
    return rows


def segment_by_key(key: int) -> dict | None:
    return next((row for row in sysv_segments() if row["key"] == key), None)


def segment_by_id(shmid: int) -> dict | None:
    return next((row for row in sysv_segments() if row["shmid"] == shmid), None)


def other_process_failed(stderr: bytes, what: str, why: str = "") -> None:
    """Fail with the other process's error: its last line, and the function when not implemented."""
    last = last_error_line(stderr)
    if last.startswith("NotImplementedError"):
        fail(
            f"{what} failed: the function it calls is not implemented yet (it raises NotImplementedError): "
            "write it as the spec describes."
        )
    fail(f"{what} failed with {last}. {why}".strip())


# --- task 1: publish / fetch / unlink ------------------------------------------------------

FETCH_HINT = (
    "publish and fetch never block: nothing waits for another process here. A hang is a loop "
    "that never ends (e.g. reading the segment until it 'runs out') or a blocking call on a "
    "pipe or lock that nothing releases."
)


def check_fetched(expected: bytes, got, what: str = "fetch") -> None:
    expect(
        isinstance(got, bytes),
        f"`{what}` must return bytes, got {type(got).__name__} (return a copy, "
        "e.g. mm[a:b], not a view into a mapping that is about to be closed)",
    )
    if len(got) > len(expected) and got.startswith(expected):
        extra = got[len(expected) :]
        if not extra.strip(b"\0"):
            fail(
                f"`{what}` returned {len(got)} bytes for {len(expected)} published: the data followed by "
                f"{len(extra)} zero bytes. A segment (and the pages it is mapped in) can be larger than the "
                "data, and its size says nothing about how much of it is data: store the length in a header "
                "at the start of the segment and return exactly that many bytes."
            )
        fail(
            f"`{what}` returned {len(extra)} bytes more than were published: return exactly the published "
            "length (read it from the header)"
        )
    if len(got) < len(expected) and expected.startswith(got) and not expected[len(got) :].strip(b"\0"):
        fail(
            f"`{what}` dropped the {len(expected) - len(got)} trailing zero bytes of the data: stripping "
            "zeros cannot tell padding from data. Store the length in a header and return exactly "
            "that many bytes."
        )
    check_bytes(
        expected,
        got,
        f"`{what}`",
        cut_short=": map and copy the whole data, as long as the header says",
        differ=": the bytes must come back unchanged (binary, any byte value), after the length header, not "
        "including it",
    )


@task(1, on_timeout=FETCH_HINT)
def test_publish_fetch_small(impl, names):
    name = names.posix("greeting")
    impl.publish(name, b"hello through shared memory")
    check_fetched(b"hello through shared memory", impl.fetch(name))
    impl.unlink(name)


@task(1, on_timeout=FETCH_HINT)
def test_fetch_returns_exactly_what_was_published(impl, names):
    cases = [
        b"",
        b"x",
        b"data ending in zeros\0\0\0",
        b"\0" * 10,
        payload(1000, seed=1),
        payload(4096, seed=2),
        payload(4097, seed=3),
    ]
    for data in cases:
        name = names.posix(f"len{len(data)}")
        impl.publish(name, data)
        try:
            check_fetched(data, impl.fetch(name))
        finally:
            impl.unlink(name)


@task(1, on_timeout=FETCH_HINT)
def test_unrelated_process_fetches_by_name(impl, names, python_processes):
    name = names.posix("shared")
    data = payload(1 << 20, seed=5)
    impl.publish(name, data)
    try:
        done = python_processes.run(
            """
            import hashlib
            data = impl.fetch(os.environ["SHM_NAME"])
            print(len(data), hashlib.sha256(data).hexdigest())
            """,
            timeout=20,
            what="an unrelated process calling fetch(name)",
            env={"SHM_NAME": name},
        )
        if done.returncode != 0:
            other_process_failed(
                done.stderr,
                f"an unrelated process (python -c, not a fork) fetching {name}",
                "A POSIX segment is found by its name alone: shm_open(name) in any process of the same user.",
            )
        want = f"{len(data)} {hashlib.sha256(data).hexdigest()}"
        got = done.stdout.decode().strip()
        expect(
            got == want,
            f"an unrelated process fetched different bytes: it saw (length, sha256) {got!r}, "
            f"expected {want!r}. The header and data must be inside the segment, not in the publisher's memory.",
        )
    finally:
        impl.unlink(name)


@task(1, on_timeout=FETCH_HINT)
def test_segment_outlives_its_creator(impl, names, python_processes):
    name = names.posix("persistent")
    done = python_processes.run(
        """
        impl.publish(os.environ["SHM_NAME"], b"still here after my exit")
        """,
        timeout=20,
        what="an unrelated process calling publish(name, data)",
        env={"SHM_NAME": name},
    )
    if done.returncode != 0:
        other_process_failed(done.stderr, "an unrelated process calling publish(name, data)")
    expect(
        shm_file(name).exists(),
        f"after the publishing process exited, {name} is not in /dev/shm: a POSIX "
        "segment persists until shm_unlink (or reboot), whoever created it; publish must not unlink it",
    )
    check_fetched(b"still here after my exit", impl.fetch(name))
    impl.unlink(name)


@task(1, on_timeout=FETCH_HINT)
def test_publish_creates_exclusively_with_mode_0600(impl, names):
    name = names.posix("exclusive")
    impl.publish(name, b"first")
    try:
        path = shm_file(name)
        expect(
            path.exists(),
            f"publish({name!r}) did not create /dev/shm/{name.lstrip('/')}: POSIX shared "
            "memory objects live in /dev/shm on Linux",
        )
        mode = stat.S_IMODE(path.stat().st_mode)
        expect(
            mode == 0o600,
            f"the segment was created with mode {mode:#o}; expected 0o600 (owner only): "
            "pass mode=0o600 when creating it, shared memory is readable by anyone its mode allows",
        )
        expect_raises(
            FileExistsError,
            lambda: impl.publish(name, b"second"),
            f"publishing {name} a second time",
            "Create with O_CREAT | O_EXCL (posix_ipc.O_CREX) so that publish never silently reuses or "
            "overwrites someone else's segment, and raise FileExistsError (posix_ipc raises "
            "ExistentialError: translate it).",
        )
        check_fetched(b"first", impl.fetch(name), "fetch after a refused second publish")
    finally:
        impl.unlink(name)


@task(1, on_timeout=FETCH_HINT)
def test_fetch_missing_name_raises_file_not_found(impl, names):
    name = names.posix("nobody")
    expect_raises(
        FileNotFoundError,
        lambda: impl.fetch(name),
        f"fetch({name!r}) of a name nobody published",
        "Open without O_CREAT (fetch must never create a segment) and translate "
        "posix_ipc.ExistentialError into FileNotFoundError.",
    )
    expect(not shm_file(name).exists(), f"fetch({name!r}) created the segment: open it without O_CREAT")


@task(1, on_timeout=FETCH_HINT)
def test_unlink_removes_the_name(impl, names):
    name = names.posix("gone")
    impl.publish(name, b"short-lived")
    impl.unlink(name)
    expect(
        not shm_file(name).exists(),
        f"after unlink({name!r}) the segment is still in /dev/shm: closing the "
        "fd or the mmap only releases this process's handle; shm_unlink (posix_ipc.unlink_shared_memory) "
        "removes the name",
    )
    expect_raises(FileNotFoundError, lambda: impl.fetch(name), "fetch after unlink", "Once unlinked, the name is gone.")
    expect_raises(
        FileNotFoundError,
        lambda: impl.unlink(name),
        "unlink of a name already unlinked",
        "Translate posix_ipc.ExistentialError into FileNotFoundError.",
    )


@task(1, on_timeout=FETCH_HINT)
def test_publish_fetch_64_mib(impl, names):
    name = names.posix("big")
    data = payload(64 << 20, seed=9)
    impl.publish(name, data)
    try:
        check_fetched(data, impl.fetch(name))
    finally:
        impl.unlink(name)


# --- task 2: Board (System V) ----------------------------------------------------------------

BOARD_HINT = (
    "nothing in a Board call waits for another process; a hang is a loop or a blocking call "
    "(a pipe, a lock) that nothing releases"
)


def make_board(impl, key: int, size: int):
    board = impl.Board(key, size)
    expect(
        segment_by_key(key) is not None,
        f"Board({key:#x}, {size}) did not create a System V segment with "
        "that key (`ipcs -m` does not list it): create it with sysv_ipc.SharedMemory(key, IPC_CREX, ...)",
    )
    return board


@contextlib.contextmanager
def new_board(impl, key: int, size: int):
    """make_board, removed when the block ends."""
    board = make_board(impl, key, size)
    try:
        yield board
    finally:
        board.remove()


@task(2, on_timeout=BOARD_HINT)
def test_board_write_read(impl, names):
    key = names.key()
    with new_board(impl, key, 4096) as board:
        expect(board.size == 4096, f"Board.size is {board.size!r}, expected 4096")
        initial = board.read(0, 4096)
        if initial == b" " * 4096:
            fail(
                "a new board reads as 4096 spaces, expected zeros: the kernel zero-fills a new segment, then "
                "sysv_ipc.SharedMemory fills it with its init_character, a space by default. Pass "
                "init_character=b'\\0' when creating."
            )
        expect(
            initial == bytes(4096),
            f"a new board must read as zeros (a new segment is zero-filled), got {describe_bytes(initial)}",
        )
        data = payload(96, seed=4)
        board.write(0, b"hello")
        board.write(4000, data)
        got = board.read(0, 5)
        expect(got == b"hello", f"read(0, 5) after write(0, b'hello') returned {got!r}")
        got = board.read(4000, 96)
        expect(
            got == data,
            f"read(4000, 96) returned {describe_bytes(got)}, expected {describe_bytes(data)}: "
            "offset and length must address the same bytes as write(offset, data)",
        )
        got = board.read(3, 4)
        expect(got == b"lo\0\0", f"read(3, 4) returned {got!r}, expected b'lo\\x00\\x00'")


@task(2, on_timeout=BOARD_HINT)
def test_board_mode_and_exclusive_create(impl, names):
    key = names.key()
    with new_board(impl, key, 1024):
        perms = segment_by_key(key)["perms"] & 0o777
        expect(
            perms == 0o600,
            f"the segment was created with mode {perms:#o}; expected 0o600 (owner only): "
            "pass mode=0o600 to sysv_ipc.SharedMemory",
        )
        expect_raises(
            FileExistsError,
            lambda: impl.Board(key, 1024),
            f"a second Board({key:#x}, 1024)",
            "Board creates: use IPC_CREAT | IPC_EXCL (sysv_ipc.IPC_CREX) so that a key already "
            "in use is an error, not a silent attach to someone else's segment, and raise "
            "FileExistsError (sysv_ipc raises ExistentialError: translate it).",
        )


@task(2, on_timeout=BOARD_HINT)
def test_board_bounds(impl, names):
    key = names.key()
    why = (
        "Check 0 <= offset and offset + n <= size before touching the segment: System V segments are "
        "mapped in whole pages, so reading past `size` may quietly return bytes (or fewer bytes) "
        "instead of failing."
    )
    with new_board(impl, key, 1000) as board:
        board.write(997, b"end")
        got = board.read(997, 3)
        expect(
            got == b"end",
            f"read(997, 3) on a 1000-byte board returned {got!r}, expected b'end' "
            "(the last bytes are inside the board)",
        )
        expect_raises(ValueError, lambda: board.read(990, 20), "read(990, 20) on a 1000-byte board", why)
        expect_raises(ValueError, lambda: board.read(1000, 1), "read(1000, 1) on a 1000-byte board", why)
        expect_raises(ValueError, lambda: board.read(-1, 2), "read(-1, 2)", why)
        expect_raises(ValueError, lambda: board.write(998, b"abc"), "write(998, b'abc') on a 1000-byte board", why)
        expect_raises(ValueError, lambda: board.write(-1, b"a"), "write(-1, b'a')", why)
        got = board.read(10, 0)
        expect(
            got == b"",
            f"read(10, 0) returned {describe_bytes(got)}, expected b'': careful, sysv_ipc's "
            "read(byte_count=0) means 'everything up to the end of the segment'",
        )
        got = board.read(997, 3)
        expect(
            got == b"end",
            f"a refused write changed the board: read(997, 3) is now {got!r}; check the bounds before writing anything",
        )


@task(2, on_timeout=BOARD_HINT + "; or the other process is stuck attaching")
def test_board_seen_by_unrelated_process(impl, names, python_processes):
    key = names.key()
    with new_board(impl, key, 8192) as board:
        board.write(5000, b"from the creator")
        done = python_processes.run(
            """
            board = impl.Board.attach(int(os.environ["BOARD_KEY"]))
            print(board.size, board.read(5000, 16).decode())
            board.write(100, b"from another process")
            board.detach()
            """,
            timeout=20,
            what="an unrelated process calling Board.attach(key)",
            env={"BOARD_KEY": str(key)},
        )
        if done.returncode != 0:
            other_process_failed(
                done.stderr,
                f"an unrelated process attaching by key {key:#x}",
                "Board.attach(key) opens the existing segment with sysv_ipc.SharedMemory(key) "
                "(no create flags) and attaches it.",
            )
        got = done.stdout.decode().strip()
        expect(
            got == "8192 from the creator",
            f"the attaching process printed {got!r}, expected "
            "'8192 from the creator' (its size and the creator's write): both processes must map the same "
            "segment, found through the key",
        )
        got = board.read(100, 20)
        expect(
            got == b"from another process",
            f"after the other process wrote at offset 100, this process "
            f"reads {got!r}: writes to shared memory are visible to every attached process at once",
        )


@task(2, on_timeout=BOARD_HINT)
def test_board_detach_keeps_the_segment(impl, names):
    key = names.key()
    board = make_board(impl, key, 4096)
    board.write(0, b"kept")
    board.detach()
    row = segment_by_key(key)
    if row is None:
        fail(
            "after detach() the segment is gone from `ipcs -m`: detach (shmdt) only unmaps it from this "
            "process; the segment and its contents stay until someone removes it (IPC_RMID)"
        )
    expect(
        row["nattch"] == 0,
        f"after detach() the segment still counts {row['nattch']} attachment(s): detach "
        "must shmdt this process's mapping (sysv_ipc: SharedMemory.detach())",
    )
    again = impl.Board.attach(key)
    try:
        got = again.read(0, 4)
        expect(
            got == b"kept",
            f"after detach and a new attach, read(0, 4) returned {got!r}, expected b'kept': "
            "a System V segment keeps its contents with nobody attached",
        )
    finally:
        again.remove()


@task(2, on_timeout=BOARD_HINT)
def test_board_remove_destroys_the_segment(impl, names):
    key = names.key()
    board = make_board(impl, key, 4096)
    shmid = segment_by_key(key)["shmid"]
    board.remove()
    if segment_by_key(key) is not None:
        fail(
            f"after remove() the segment with key {key:#x} is still in `ipcs -m`: detach only unmaps it from "
            "this process; remove must destroy it with shmctl(IPC_RMID) (sysv_ipc: SharedMemory.remove()). "
            "System V objects outlive every process until removed (or `ipcrm -m`)."
        )
    row = segment_by_id(shmid)
    if row is not None:
        fail(
            f"after remove() segment id {shmid} is marked for destruction but still exists with "
            f"{row['nattch']} attachment(s): IPC_RMID frees the memory only after the last detach, and this "
            "process is still attached. remove() must also detach."
        )


@task(2, on_timeout=BOARD_HINT + "; or the other process never attached (check Board.attach)")
def test_board_remove_while_attached(impl, names, python_processes):
    key = names.key()
    board = make_board(impl, key, 4096)
    board.write(0, b"before remove")
    proc = python_processes.start(
        """
        board = impl.Board.attach(int(os.environ["BOARD_KEY"]))
        print("attached", flush=True)
        sys.stdin.readline()
        print(board.read(0, 13).decode(), flush=True)
        board.detach()
        """,
        stdin=subprocess.PIPE,
        env={"BOARD_KEY": str(key)},
    )
    line = proc.stdout.readline()
    if line.strip() != b"attached":
        proc.kill()
        _, err = proc.communicate()
        board.remove()
        other_process_failed(err, f"an unrelated process attaching by key {key:#x}")
    shmid = segment_by_key(key)["shmid"]
    board.remove()
    expect(
        segment_by_key(key) is None,
        f"after remove() the key {key:#x} still names a segment: IPC_RMID "
        "frees the key at once, even while other processes are attached",
    )
    successor = impl.Board(key, 64)  # the key is free again: a new segment can take it
    successor.remove()
    out, _ = proc.communicate(b"go\n", timeout=20)
    expect(
        out.decode().strip() == "before remove",
        f"the still-attached process read {out!r} after remove(); "
        "expected 'before remove': a segment marked for removal stays mapped and intact in every process "
        "still attached, until the last one detaches",
    )
    row = segment_by_id(shmid)
    expect(
        row is None,
        f"the other process detached and exited, yet segment id {shmid} still exists with "
        f"{row and row['nattch']} attachment(s): this process is still attached; remove() must also detach",
    )


@task(2, on_timeout=BOARD_HINT)
def test_board_attach_missing_key_raises_file_not_found(impl, names):
    key = names.key()
    expect_raises(
        FileNotFoundError,
        lambda: impl.Board.attach(key),
        f"Board.attach({key:#x}) of an unused key",
        "attach opens an existing segment only (no IPC_CREAT): translate sysv_ipc.ExistentialError "
        "into FileNotFoundError.",
    )
    expect(segment_by_key(key) is None, f"Board.attach({key:#x}) created a segment: attach must not create")


# --- task 3: histogram -----------------------------------------------------------------------

HISTOGRAM_HINT = (
    "a worker that never exits (end each with os._exit in a finally), a parent that waitpid()s a worker "
    "blocked on a full pipe, or a parent reading a pipe whose write end it still holds."
)
BLOCK = 1 << 16


def histogram_data(size: int, seed: int) -> tuple[bytes, list[int]]:
    """`size` bytes with a known histogram, built fast: blocks of random bytes under
    random byte permutations (each block's counts permuted accordingly)."""
    rng = random.Random(seed)
    block = rng.randbytes(BLOCK)
    base = collections.Counter(block)
    counts = [0] * 256
    parts = []
    full, tail = divmod(size, BLOCK)
    for _ in range(full):
        x, r = rng.randrange(256), rng.randrange(1, 256, 2)
        table = bytes(((v ^ x) * r) & 255 for v in range(256))  # a bijection: odd multiplier, xor
        parts.append(block.translate(table))
        for v, c in base.items():
            counts[table[v]] += c
    parts.append(block[:tail])
    for v in block[:tail]:
        counts[v] += 1
    return b"".join(parts), counts


def written_bytes() -> int:
    """wchar of this process: bytes passed to write()-like calls by it and by every child it reaped."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    return 0


def check_histogram(data: bytes, expected: list[int], workers: int, got) -> None:
    expect(isinstance(got, list), f"`histogram` must return a list of 256 ints, got {type(got).__name__}")
    expect(len(got) == 256, f"`histogram` returned {len(got)} counts, expected 256 (one per byte value 0..255)")
    if got == expected:
        return
    total = sum(got) if all(isinstance(c, int) for c in got) else None
    expect(total is not None, f"`histogram` must return ints, got {[type(c).__name__ for c in got[:3]]}...")
    if data and got == [c * workers for c in expected]:
        fail(
            f"every count is {workers} times too large: each of the {workers} workers counted the whole data "
            "instead of its own shard"
        )
    if total != len(data):
        side = (
            "more: some bytes were counted twice (do the shards overlap? is a region summed twice?)"
            if total > len(data)
            else "fewer: some bytes were never counted (does the last shard reach the end when the length is "
            "not a multiple of `workers`? did every worker's region get summed?)"
        )
        fail(f"the counts add up to {total:,} but the data has {len(data):,} bytes, {abs(total - len(data)):,} {side}")
    value = next(v for v in range(256) if got[v] != expected[v])
    fail(
        f"the counts add up to the right total, but byte value {value} was counted {got[value]:,} times "
        f"instead of {expected[value]:,}: is each worker's region (256 counters) separate, and read back "
        "with the same layout it was written?"
    )


def check_workers(forks, data: bytes, workers: int) -> None:
    if data:
        expect(
            forks() >= 1,
            "`histogram` computed the counts without forking a worker: the counting must "
            "happen in worker processes reading the shared data",
        )
    expect(forks() <= workers, f"`histogram` forked {forks()} processes for {workers} workers")


def check_no_pipe_copy(written: int, data: bytes) -> None:
    if written > max(len(data) // 8, 1 << 20):
        fail(
            f"while `histogram` ran, its processes wrote {written / (1 << 20):.1f} MiB through write() calls "
            f"for {len(data) / (1 << 20):.1f} MiB of data: the data (or a shard of it) went through a pipe, a "
            "file or pickle (multiprocessing). Place the data once in shared memory (mmap.mmap(-1, n) before "
            "fork) and let every worker read its shard in place; only small results may travel."
        )


def shard_kind(shard) -> str:
    """What `count_bytes` was given, in words: "memoryview of mmap" is a slice of the mapping itself."""
    kind = type(shard).__name__
    if isinstance(shard, memoryview):
        kind += f" of {type(shard.obj).__name__}"
    return kind


class Rendezvous:
    """Stands in for `count_bytes` during a test: each caller announces its pid (and what it
    was given as its shard, in `shards`) on a pipe and waits (bounded) until `parties` different
    workers have arrived or `timeout` has passed. Workers that count at the same time all arrive
    at once; workers that run one after the other never meet. No sleeps: the callers block in
    select(), a thread here gathers them."""

    RECORD = struct.Struct("i60s")  # pid, what the shard was: one write of at most PIPE_BUF, whole

    def __init__(self, count_bytes, parties: int, timeout: float):
        self._count_bytes = count_bytes
        self.parties, self.timeout = parties, timeout
        self.arrive_r, self.arrive_w = os.pipe()
        self.go_r, self.go_w = os.pipe()
        self.stop_r, self.stop_w = os.pipe()  # close(): histogram() has returned, stop waiting for workers
        self.caller = os.getpid()
        self.pids: list[int] = []
        self.shards: list[str] = []
        self.together = 0
        self._thread = threading.Thread(target=self._gather, daemon=True)
        self._thread.start()

    def __call__(self, shard):  # runs in the learner's workers
        os.write(self.arrive_w, self.RECORD.pack(os.getpid(), shard_kind(shard).encode()))
        ready, _, _ = select.select([self.go_r], [], [], self.timeout + 5)
        if ready:
            os.read(self.go_r, 1)
        return self._count_bytes(shard)

    def _gather(self) -> None:
        deadline = time.monotonic() + self.timeout
        pending = b""
        while len(set(self.pids) - {self.caller}) < self.parties:
            remaining = deadline - time.monotonic()
            ready = select.select([self.arrive_r, self.stop_r], [], [], remaining)[0] if remaining > 0 else []
            if self.arrive_r not in ready:
                break
            pending += os.read(self.arrive_r, 4096)
            whole = len(pending) // self.RECORD.size * self.RECORD.size
            self._add(pending[:whole])
            pending = pending[whole:]
        self.together = len(set(self.pids) - {self.caller})
        os.write(self.go_w, b"g" * 4096)  # release every caller, now and later

    def _add(self, records: bytes) -> None:
        for pid, kind in self.RECORD.iter_unpack(records):
            self.pids.append(pid)
            self.shards.append(kind.rstrip(b"\0").decode())

    def close(self) -> list[int]:
        os.write(self.stop_w, b"s")  # an implementation that failed before forking sends nobody: no 5 s wait
        self._thread.join()
        while select.select([self.arrive_r], [], [], 0)[0]:  # callers that came after the gathering
            chunk = os.read(self.arrive_r, 4096)
            self._add(chunk[: len(chunk) // self.RECORD.size * self.RECORD.size])
        for fd in (self.arrive_r, self.arrive_w, self.go_r, self.go_w, self.stop_r, self.stop_w):
            os.close(fd)
        return self.pids


def watched_histogram(impl, forks, monkeypatch, data: bytes, expected: list[int], parties: int) -> Rendezvous:
    """histogram(data, 2) with `count_bytes` replaced by a Rendezvous of `parties`: the exact counts, from
    workers that called `count_bytes`; returns the (closed) Rendezvous, which saw what the workers did."""
    rendezvous = Rendezvous(impl.count_bytes, parties=parties, timeout=5)
    monkeypatch.setattr(impl, "count_bytes", rendezvous)
    try:
        got = impl.histogram(data, 2)
    finally:
        monkeypatch.undo()
        rendezvous.close()
    check_histogram(data, expected, 2, got)
    check_workers(forks, data, 2)
    expect(
        rendezvous.pids,
        "`histogram` never called `count_bytes`: the workers must count their shard with the given "
        "count_bytes (the grader uses it to watch them)",
    )
    expect(
        set(rendezvous.pids) - {rendezvous.caller},
        "`count_bytes` only ran in the calling process: the counting belongs in the forked workers",
    )
    return rendezvous


@task(3, on_timeout=HISTOGRAM_HINT)
def test_histogram_workers_count_at_the_same_time(impl, forks, monkeypatch):
    data, expected = histogram_data((2 << 20) + 1, seed=24)
    rendezvous = watched_histogram(impl, forks, monkeypatch, data, expected, parties=2)
    workers = set(rendezvous.pids) - {rendezvous.caller}
    expect(
        rendezvous.together >= 2,
        f"the workers never counted at the same time: {len(workers)} worker(s) "
        f"called count_bytes, but only {rendezvous.together} had started {rendezvous.timeout:g} s after the "
        "first one. Fork every worker first, then wait for them all: a waitpid() right after each fork runs "
        "them one after the other.",
    )


@task(3, on_timeout=HISTOGRAM_HINT)
def test_histogram_workers_read_the_shared_mapping_in_place(impl, forks, monkeypatch):
    data, expected = histogram_data((2 << 20) + 3, seed=25)
    rendezvous = watched_histogram(impl, forks, monkeypatch, data, expected, parties=1)
    wrong = [kind for kind in rendezvous.shards if kind != "memoryview of mmap"]
    if not wrong:
        return
    if wrong[0] == "bytes":
        fail(
            "`count_bytes` got a bytes copy of its shard, not a view of the shared mapping: slicing an mmap "
            "(mm[a:b]) copies the shard into the worker's private memory. Pass memoryview(mapping)[a:b]: "
            "the worker reads the shared pages in place, no copy."
        )
    if wrong[0] == "memoryview of bytes":
        fail(
            "`count_bytes` got a memoryview of bytes, not of a shared mapping: the data was never placed in "
            "shared memory, the workers read the caller's own bytes, which fork gives each of them "
            "copy-on-write, not shared. Place the data once in an anonymous shared mapping (mmap.mmap(-1, n)) before "
            "forking, and pass memoryview(mapping)[a:b]."
        )
    fail(
        f"`count_bytes` got a {wrong[0]} as its shard: pass a memoryview slice of the shared mapping "
        "(memoryview(mapping)[a:b]), so that the worker reads the data in place, no copy."
    )


def exact_counts(data: bytes) -> list[int]:
    return [data.count(value) for value in range(256)]


def check_graded_histogram(impl, forks, data: bytes, workers: int, expected: list[int] | None = None) -> None:
    """histogram(data, workers): the exact counts, from at most `workers` forked workers, the data never
    through a pipe."""
    before = written_bytes()
    got = impl.histogram(data, workers)
    check_no_pipe_copy(written_bytes() - before, data)
    check_histogram(data, exact_counts(data) if expected is None else expected, workers, got)
    check_workers(forks, data, workers)


@task(3, on_timeout=HISTOGRAM_HINT)
def test_histogram_small(impl, forks):
    check_graded_histogram(impl, forks, b"hello, shared world", 3)


@task(3, on_timeout=HISTOGRAM_HINT)
def test_histogram_parent_sleeps_while_the_workers_count(impl, forks):
    with held_children() as held:
        check_graded_histogram(impl, forks, b"patience, shared memory", 2)
    check_held_parent(
        held,
        "histogram, while its workers had not counted yet",
        "os.waitpid(pid, 0) for each worker sleeps until it exits (no WNOHANG loop, no sleep)",
    )


@task(3, on_timeout=HISTOGRAM_HINT)
def test_histogram_empty(impl, forks):
    got = impl.histogram(b"", 4)
    expect(got == [0] * 256, f"histogram(b'', 4) must return 256 zeros, got {got!r:.120}")
    check_workers(forks, b"", 4)


@task(3, on_timeout=HISTOGRAM_HINT)
def test_histogram_more_workers_than_bytes(impl, forks):
    check_graded_histogram(impl, forks, b"\x00\xff\x00", 8)


@task(3, on_timeout=HISTOGRAM_HINT)
def test_histogram_uneven_shards(impl, forks):
    data, expected = histogram_data(1_000_003, seed=21)
    check_graded_histogram(impl, forks, data, 3, expected)


@task(3, on_timeout=HISTOGRAM_HINT)
def test_histogram_data_never_crosses_a_pipe(impl, forks):
    data, expected = histogram_data((4 << 20) + 5, seed=22)
    check_graded_histogram(impl, forks, data, 2, expected)


@task(
    3,
    on_timeout=HISTOGRAM_HINT
    + " 64 MiB takes a worker a few seconds to count: is each worker counting only its shard?",
)
def test_histogram_64_mib(impl, forks):
    data, expected = histogram_data((64 << 20) + 7, seed=23)
    check_graded_histogram(impl, forks, data, 2, expected)


# --- task 4: performance -------------------------------------------------------------------------

PERF_SIZE = 32 << 20


def raw_shm_round_trip(name: str, data: bytes) -> bytes:
    """The baseline: create, map, copy in; open, map, copy out; unlink. The plainest correct way."""
    shm = posix_ipc.SharedMemory(name, posix_ipc.O_CREX, mode=0o600, size=8 + len(data))
    with mmap.mmap(shm.fd, shm.size) as mm:
        mm[:8] = len(data).to_bytes(8, "little")
        mm[8:] = data
    shm.close_fd()
    shm = posix_ipc.SharedMemory(name)
    with mmap.mmap(shm.fd, shm.size) as mm:
        out = mm[8 : 8 + int.from_bytes(mm[:8], "little")]
    shm.close_fd()
    posix_ipc.unlink_shared_memory(name)
    return out


@task(4, on_timeout=FETCH_HINT)
def test_publish_fetch_throughput(impl, names, perf):
    data = payload(PERF_SIZE, seed=31)
    name = names.posix("perf")

    def publish_fetch(data: bytes) -> bytes:
        impl.publish(name, data)
        try:
            return impl.fetch(name)
        finally:
            impl.unlink(name)

    check_fetched(data[: 1 << 20], publish_fetch(data[: 1 << 20]))
    perf.check(
        "publish_fetch_mbps",
        lambda: publish_fetch(data),
        functools.partial(raw_shm_round_trip, names.posix("raw"), data),
        units=len(data),
        scale=1e-6,
        causes="a copy made piece by piece with bytes += (each += copies everything so far), a read or write "
        "per small piece, or extra copies of the whole data",
    )


BOARD_SIZE, BOARD_OPS, BOARD_BLOCK = 1 << 20, 2000, 1 << 16


def board_traffic(board, ops: int) -> Elapsed:
    """`ops` writes of a BOARD_BLOCK block, each read back, at offsets all over the board."""
    block = payload(BOARD_BLOCK, seed=33)
    offsets = [(i * 7919 * BOARD_BLOCK) % (BOARD_SIZE - BOARD_BLOCK) for i in range(ops)]
    start = clock()
    for offset in offsets:
        board.write(offset, block)
        board.read(offset, BOARD_BLOCK)
    return Elapsed(clock() - start)


class RawBoard:
    """The plainest correct Board: one sysv_ipc segment, attached once, bounds checked."""

    def __init__(self, key: int, size: int):
        self.size = size
        self.shm = sysv_ipc.SharedMemory(key, sysv_ipc.IPC_CREX, mode=0o600, size=size, init_character=b"\0")

    def write(self, offset: int, data: bytes) -> None:
        if offset < 0 or offset + len(data) > self.size:
            raise ValueError("outside the board")
        self.shm.write(data, offset)

    def read(self, offset: int, n: int) -> bytes:
        if offset < 0 or offset + n > self.size:
            raise ValueError("outside the board")
        return self.shm.read(n, offset)


def raw_board_traffic(key: int, ops: int) -> Elapsed:
    board = RawBoard(key, BOARD_SIZE)
    try:
        return board_traffic(board, ops)
    finally:
        board.shm.remove()
        board.shm.detach()


@task(4, on_timeout=BOARD_HINT)
def test_board_throughput(impl, names, perf):
    with new_board(impl, names.key(), BOARD_SIZE) as board:
        perf.check(
            "board_ops",
            lambda: board_traffic(board, BOARD_OPS),
            functools.partial(raw_board_traffic, names.key(), BOARD_OPS),
            units=BOARD_OPS,
            rounds=5,
            causes="a segment attached (shmat) and detached again for every read or write instead of once, "
            "or extra copies of the data",
        )
