"""Hidden suite of the `mmap-file` kata. Hygiene (fds, processes, escaped children) is checked
by the grader after every test; these tests check behaviour and say why it is wrong when it is.
The log files live in the test's scratch folder; the suite reads them with os.pread, never
through a mapping of its own, so that a truncated file can never kill the test process."""

from __future__ import annotations

import faulthandler
import functools
import itertools
import mmap
import os
import signal
import stat
import struct
import subprocess
from contextlib import closing
from pathlib import Path
from typing import NoReturn

import pytest

from grader.perf import Elapsed, clock
from grader.testing import (
    describe_bytes,
    expect,
    expect_raises,
    expect_returns,
    fail,
    last_error_line,
    learner_frame,
    payload,
    raised,
    read_to_eof,
    stand_in,
    task,
)

MAGIC = b"MMAPLOG1"
HEADER = 16
PAGE = mmap.PAGESIZE

HANG_HINT = (
    "nothing in the log waits for another process: a hang is a loop that never ends, e.g. walking "
    "records with a length that never advances (a 0-byte record?) or past `end`"
)


# --- reading and writing logs without a mapping ------------------------------------------------


def file_end(path: str) -> int:
    """The committed end stored in the header, read with pread (no mapping)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        header = os.pread(fd, HEADER, 0)
    finally:
        os.close(fd)
    expect(len(header) == HEADER, f"the log file is {len(header)} bytes: too short for the 16-byte header")
    expect(
        header != bytes(HEADER),
        "the file's header is all zeros, though the log wrote it: its stores never reached the file. A "
        "MAP_SHARED mapping is the file's page cache, a private one (MAP_PRIVATE, mmap.ACCESS_COPY) a copy that "
        "only this process sees: map with mmap.mmap(fd, size), shared and writable by default",
    )
    expect(
        header[:8] == MAGIC,
        f"the file starts with {header[:8]!r}, expected the magic {MAGIC!r} (offset 0, 8 bytes)",
    )
    return int.from_bytes(header[8:], "little")


def file_records(path: str) -> list[bytes]:
    """The committed records of the file at `path`, parsed from the bytes on file (pread)."""
    end = file_end(path)
    data = Path(path).read_bytes()
    expect(end <= len(data), f"the header says the records end at {end}, but the file has {len(data)} bytes")
    out, offset = [], HEADER
    while offset < end:
        length = int.from_bytes(data[offset : offset + 4], "little")
        expect(
            offset + 4 + length <= end,
            f"the record at offset {offset} says it is {length} bytes long, past the committed end {end}: "
            "each record is a 4-byte little-endian length, then the bytes",
        )
        out.append(data[offset + 4 : offset + 4 + length])
        offset += 4 + length
    return out


def write_log(path: str, records: list[bytes], capacity: int) -> None:
    """A log written by another program, in the kata's format."""
    body = b"".join(len(r).to_bytes(4, "little") + r for r in records)
    end = HEADER + len(body)
    with open(path, "wb") as f:
        f.write(MAGIC + end.to_bytes(8, "little") + body)
        f.truncate(max(end, HEADER + capacity))


def other_process_failed(stderr: bytes, what: str) -> NoReturn:
    """Fail with the other process's error: its last line, and the function when not implemented."""
    last = last_error_line(stderr)
    if last.startswith("NotImplementedError"):
        fail(f"{what} failed: the method it calls is not implemented yet (it raises NotImplementedError)")
    fail(f"{what} failed with {last}")


NOT_IMPLEMENTED = 4  # the exit status of a child of the suite whose call raised NotImplementedError


def describe_status(status: int) -> str:
    """How a child of the suite ended, for a message."""
    if os.WIFSIGNALED(status):
        return f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with status {os.waitstatus_to_exitcode(status)} (append returned or raised)"


def check_records(got, expected: list[bytes], what: str, why: str = "") -> None:
    expect(isinstance(got, list), f"{what} must return a list of bytes, got {type(got).__name__}")
    bad = [type(r).__name__ for r in got if not isinstance(r, bytes)]
    if bad:
        fail(f"{what} must return bytes copies (mm[a:b]), got {bad[0]} items")
    if got == expected:
        return
    if len(got) < len(expected) and got == expected[: len(got)]:
        fail(f"{what} returned the first {len(got)} of {len(expected)} records. {why}".strip())
    if len(got) != len(expected):
        fail(f"{what} returned {len(got)} records, expected {len(expected)}. {why}".strip())
    index = next(i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b)
    fail(
        f"{what}: record {index} is {describe_bytes(got[index])}, expected {describe_bytes(expected[index])}. "
        f"{why}".strip()
    )


def sample_records(count: int, seed: int) -> list[bytes]:
    """Records of varied sizes, 0 bytes and binary ones included."""
    return [payload((i * 37 + seed) % 300 if i % 7 else 0, seed=seed + i) for i in range(count)]


# --- task 1: a log in a file, shared -------------------------------------------------------


@task(1, on_timeout=HANG_HINT)
def test_create_sizes_the_file_and_writes_the_header(impl, names):
    path = names.path("log")
    with closing(impl.MappedLog.create(path, 4096)) as log:
        info = os.stat(path)
        expect(
            info.st_size == HEADER + 4096,
            f"after create(path, 4096) the file is {info.st_size} bytes, expected {HEADER + 4096}: size it with "
            "os.ftruncate(fd, 16 + capacity) before mapping it (a new file has 0 bytes, and a mapping cannot "
            "reach past the end of its file)",
        )
        mode = stat.S_IMODE(info.st_mode)
        expect(
            mode == 0o600,
            f"the log was created with mode {mode:#o}; expected 0o600 (owner only): "
            "os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)",
        )
        end = file_end(path)
        expect(end == HEADER, f"a new log's header says end = {end}, expected {HEADER} (no records yet)")
        check_records(log.records(), [], "records() of a new log")


@task(1, on_timeout=HANG_HINT)
def test_append_then_records(impl, names):
    path = names.path("log")
    records = sample_records(40, seed=1)
    with closing(impl.MappedLog.create(path, 1 << 16)) as log:
        for record in records:
            log.append(record)
        check_records(log.records(), records, "records() after 40 appends")
        check_records(
            file_records(path),
            records,
            "the file read with os.pread right after the appends (no sync, no close)",
            "A MAP_SHARED mapping is the file's page cache: every store is in the file at once. Map with "
            "mmap.mmap(fd, size) (MAP_SHARED by default), not ACCESS_COPY/MAP_PRIVATE, and keep the format: "
            "a 4-byte little-endian length, then the bytes, and the header's end just past the last record.",
        )
        log.sync()
        check_records(log.records(), records, "records() after sync()")
    expect(os.path.exists(path), "close() removed the log file: the file stays, it is the log")


@task(1, on_timeout=HANG_HINT)
def test_sync_writes_the_mapping_to_disk(impl, names, monkeypatch):
    made, synced = [], []

    class Mapping(mmap.mmap):  # the learner's mappings, made through mmap.mmap(...)
        def __new__(cls, *args, **kwargs):
            made.append(True)
            return super().__new__(cls, *args, **kwargs)

        def flush(self, *args):
            synced.append("msync (flush)")
            return super().flush(*args)

    def recorded(name: str):
        def call(*args):
            synced.append(name)
            return getattr(os, name)(*args)

        return call

    stand_in(impl, monkeypatch, mmap, mmap=Mapping)
    stand_in(impl, monkeypatch, os, **{name: recorded(name) for name in ("fsync", "fdatasync", "sync")})
    with closing(impl.MappedLog.create(names.path("log"), 4096)) as log:
        log.append(b"durable")
        del synced[:]
        log.sync()
        done = list(synced)
    monkeypatch.undo()
    if made and not done:  # through a mapping of its own, unwatched, the learner's code may have synced
        fail(
            "sync() returned without writing the log to disk: no msync (mapping.flush()) and no fsync. Other "
            "processes see the records at once (the page cache is shared), but only msync makes them durable: "
            "a crash of the machine loses what was never written back. sync() calls flush() on the mapping "
            "(msync with MS_SYNC)"
        )


@task(1, on_timeout=HANG_HINT)
def test_create_is_exclusive(impl, names):
    path = names.path("log")
    Path(path).write_bytes(b"somebody else's file")
    expect_raises(
        FileExistsError,
        lambda: impl.MappedLog.create(path, 4096),
        "create() on a path that already exists",
        "Create with os.O_CREAT | os.O_EXCL: a log never silently takes over (and truncates) an existing file.",
    )
    expect(
        Path(path).read_bytes() == b"somebody else's file",
        "a refused create() changed the existing file: O_EXCL must refuse before anything is written",
    )
    expect_raises(
        ValueError,
        lambda: impl.MappedLog.create(names.path("negative"), -1),
        "create(path, -1)",
        "A negative capacity is ValueError.",
    )


@task(1, on_timeout=HANG_HINT)
def test_unrelated_processes_see_appends_at_once(impl, names, python_processes):
    path = names.path("log")
    with closing(impl.MappedLog.create(path, 1 << 16)) as mine:
        mine.append(b"from the creator")
        other = python_processes.start(
            """
            import sys
            log = impl.MappedLog.open(os.environ["LOG_PATH"])
            print(repr(log.records()), flush=True)
            log.append(b"from another process")
            log.append(b"")
            print("appended", flush=True)
            sys.stdin.readline()  # keeps its mapping open: no close, no sync before we look
            log.close()
            """,
            stdin=subprocess.PIPE,
            env={"LOG_PATH": path},
        )
        seen = other.stdout.readline().decode().strip()
        done = other.stdout.readline().decode().strip()
        if done != "appended":
            other.kill()
            _, err = other.communicate()
            other_process_failed(err, "an unrelated process (python -c, not a fork) opening the log and appending")
        expect(
            seen == repr([b"from the creator"]),
            f"an unrelated process that opened the log saw {seen}, expected [b'from the creator']: "
            "the records must be in the file (MAP_SHARED), not in the creator's memory",
        )
        check_records(
            mine.records(),
            [b"from the creator", b"from another process", b""],
            "records() in the creator after another process appended (and has not closed)",
            "Both processes map the same page cache: read the header's end afresh on every call, "
            "do not keep a count of your own.",
        )
        other.communicate(b"go\n", timeout=20)
        expect(other.returncode == 0, f"the other process failed when closing: {other.returncode}")


@task(1, on_timeout=HANG_HINT)
def test_open_reads_a_log_written_by_another_program(impl, names):
    path = names.path("log")
    records = sample_records(12, seed=3)
    write_log(path, records, capacity=8192)
    with closing(impl.MappedLog.open(path)) as log:
        check_records(
            log.records(),
            records,
            "records() of a log written by another program",
            "Keep the format: magic at 0, end at 8 (8 bytes, little-endian), records from 16 as a 4-byte "
            "little-endian length and the bytes.",
        )
        log.append(b"appended after open")
        check_records(
            file_records(path),
            [*records, b"appended after open"],
            "the file after open() and one append",
            "A log opened with open() appends after its last committed record (the header's end).",
        )


@task(1, on_timeout=HANG_HINT)
def test_open_missing_raises_file_not_found(impl, names):
    path = names.path("nothing")
    expect_raises(
        FileNotFoundError,
        lambda: impl.MappedLog.open(path),
        "open() of a path that does not exist",
        "open() opens an existing log only (no O_CREAT).",
    )
    expect(not os.path.exists(path), "open() of a missing log created the file: open it without O_CREAT")


@task(1, on_timeout=HANG_HINT)
def test_open_refuses_what_is_not_a_log(impl, names):
    cases = {
        "an empty file": b"",
        "a 10-byte file": b"0123456789",
        "a file with another magic": b"NOTALOG!" + (16).to_bytes(8, "little") + bytes(100),
        "a log whose end is past the file": MAGIC + (5000).to_bytes(8, "little") + bytes(100),
        "a log whose end is inside its header": MAGIC + (3).to_bytes(8, "little") + bytes(100),
    }
    for what, content in cases.items():
        path = names.path("notalog")
        Path(path).write_bytes(content)
        expect_raises(
            ValueError,
            functools.partial(impl.MappedLog.open, path),
            f"open() of {what}",
            "Check the size with os.fstat before mapping (an empty file cannot be mapped, a short one has no "
            "header), then the magic, then that 16 <= end <= size.",
        )


# --- task 2: a writer killed anywhere -----------------------------------------------------


@task(2, on_timeout=HANG_HINT)
def test_records_survive_a_writer_killed_with_sigkill(impl, names, python_processes):
    path = names.path("log")
    records = [bytes([i]) * (i * 7 % 300) for i in range(50)]
    writer = python_processes.start(
        """
        import sys
        log = impl.MappedLog.create(os.environ["LOG_PATH"], 1 << 16)
        for i in range(50):
            log.append(bytes([i]) * (i * 7 % 300))
        print("appended", flush=True)
        sys.stdin.readline()  # killed here: no sync, no close
        """,
        stdin=subprocess.PIPE,
        env={"LOG_PATH": path},
    )
    line = writer.stdout.readline().decode().strip()
    writer.kill()
    _, err = writer.communicate()
    if line != "appended":
        other_process_failed(err, "an unrelated process creating the log and appending")
    with closing(impl.MappedLog.open(path)) as log:
        check_records(
            log.records(),
            records,
            "records() of a log whose writer was killed with SIGKILL right after its appends",
            "Stores into a MAP_SHARED mapping are in the page cache, which belongs to the file: nothing is lost "
            "when the process dies. Write each record and its new end into the mapping itself, not into a "
            "buffer or counter that only close() or sync() writes out.",
        )
        log.append(b"after the crash")
        check_records(
            file_records(path),
            [*records, b"after the crash"],
            "the file after a new writer opened the crashed log and appended",
        )


def child_appends_a_record_that_faults(impl, path: str, source: str) -> None:
    """In a forked child: append a record whose second page vanished, so the copy dies of SIGBUS half-way."""
    faulthandler.disable()  # the death is expected: no traceback in the report
    fd = os.open(source, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    os.ftruncate(fd, 2 * PAGE)
    os.pwrite(fd, b"T" * 2 * PAGE, 0)
    view = mmap.mmap(fd, 2 * PAGE)
    os.ftruncate(fd, PAGE)  # the record's second page is now past the end of its file
    log = impl.MappedLog.open(path)
    log.append(memoryview(view))  # dies here, in the middle of copying the record


@task(2, on_timeout=HANG_HINT)
def test_writer_dying_mid_record_leaves_no_torn_record(impl, names):
    path = names.path("log")
    log = impl.MappedLog.create(path, 4 * PAGE)
    before = [b"first", b"second"]
    for record in before:
        log.append(record)
    log.close()
    source = names.path("source")
    pid = os.fork()
    if pid == 0:
        status = 3
        try:
            child_appends_a_record_that_faults(impl, path, source)
        except NotImplementedError:
            status = NOT_IMPLEMENTED
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    os.unlink(source)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == NOT_IMPLEMENTED:
        fail("open() or append() is not implemented yet (it raises NotImplementedError) in the suite's writer")
    if not os.WIFSIGNALED(status) or os.WTERMSIG(status) != signal.SIGBUS:
        fail(
            f"the suite's writer should have died of SIGBUS while append() copied a record (a memoryview of a "
            f"mapping whose second page was truncated away), but it {describe_status(status)}: append must "
            "accept any bytes-like object and copy it into the mapping"
        )
    with closing(impl.MappedLog.open(path)) as reader:
        got = reader.records()
        if len(got) == 3 and got[:2] == before:
            torn = got[2]
            fail(
                f"a writer died half-way through copying a {2 * PAGE}-byte record, and readers now see it as a "
                f"record ({describe_bytes(torn)}): a torn record. Write the length and the bytes first and store "
                "the new end in the header last: until the end moves, the record does not exist."
            )
        check_records(got, before, "records() after a writer died in the middle of an append")
        reader.append(b"after the crash")
        check_records(
            reader.records(),
            [*before, b"after the crash"],
            "records() after appending to a log whose previous writer died mid-record",
        )


# --- task 3: growth ------------------------------------------------------------------------


GROW_WHY = "An append that does not fit grows the file with os.ftruncate first, then maps it again at the new size."


GROWTH_WHY = (
    "When the header's end is past this process's mapping, another process grew the file: map it again at "
    "os.fstat(fd).st_size. A slice past a mapping's length does not fail, it silently returns fewer bytes."
)


@task(3, on_timeout=HANG_HINT)
def test_append_grows_the_file(impl, names):
    path = names.path("log")
    records = [payload(1000 + i, seed=i) for i in range(200)]
    with closing(impl.MappedLog.create(path, 0)) as log:
        for index, record in enumerate(records):
            expect_returns(
                functools.partial(log.append, record),
                f"append() of record {index} ({len(record)} bytes) to a log created with capacity 0",
                GROW_WHY,
                impl,
            )
        check_records(log.records(), records, "records() after 200 appends to a log created with capacity 0", GROW_WHY)
        check_records(file_records(path), records, "the file after growing")
        size, end = os.stat(path).st_size, file_end(path)
        expect(size >= end, f"the file is {size} bytes but its records end at {end}")


@task(3, on_timeout=HANG_HINT)
def test_append_grows_the_file_geometrically(impl, names):
    path = names.path("log")
    record = payload(64, seed=5)
    sizes: list[int] = []
    with closing(impl.MappedLog.create(path, 0)) as log:
        sizes.append(os.stat(path).st_size)
        for _ in range((256 << 10) // (4 + len(record))):  # 256 KiB of records
            log.append(record)
            size = os.stat(path).st_size
            if size != sizes[-1]:
                sizes.append(size)
    slow = [(old, new) for old, new in itertools.pairwise(sizes) if new < 2 * old]
    if slow:
        old, new = slow[0]
        fail(
            f"append() grew the file from {old:,} to {new:,} bytes, less than double: growing by a fixed step "
            "(or by what the record needs) grows the file and maps it again once per step, so n appends cost O(n) "
            "ftruncates and remaps. Grow geometrically, size = max(needed, 2 * size), so that n appends "
            "cost O(log n) ftruncates and remaps, in the writer and in every reader that must map again"
        )


@task(3, on_timeout=HANG_HINT)
def test_reader_mapped_before_growth_sees_everything(impl, names):
    path = names.path("log")
    with closing(impl.MappedLog.create(path, 64)) as writer, closing(impl.MappedLog.open(path)) as reader:
        expected: list[bytes] = []
        for stage, count in enumerate((1, 5, 50, 500)):
            for i in range(count):
                record = payload(100 + i % 50, seed=stage * 1000 + i)
                writer.append(record)
                expected.append(record)
            check_records(
                expect_returns(reader.records, "records() in a reader opened before the file grew", GROWTH_WHY, impl),
                expected,
                f"records() in a reader opened at 80 bytes, after the writer grew the file to "
                f"{os.stat(path).st_size} bytes",
                GROWTH_WHY,
            )


@task(3, on_timeout=HANG_HINT)
def test_unrelated_writer_grows_the_log(impl, names, python_processes):
    path = names.path("log")
    with closing(impl.MappedLog.create(path, 4096)) as reader:
        reader.append(b"first")
        done = python_processes.run(
            """
            log = impl.MappedLog.open(os.environ["LOG_PATH"])
            for i in range(2000):
                log.append(i.to_bytes(4, "little") * 100)
            log.close()
            """,
            timeout=30,
            what="an unrelated process appending 800 KB",
            env={"LOG_PATH": path},
        )
        if done.returncode != 0:
            other_process_failed(done.stderr, "an unrelated process appending to the log")
        expected = [b"first"] + [i.to_bytes(4, "little") * 100 for i in range(2000)]
        got = expect_returns(reader.records, "records() in a reader opened before the file grew", GROWTH_WHY, impl)
        check_records(got, expected, "records() after an unrelated process grew the log", GROWTH_WHY)
        reader.append(b"last")
        check_records(
            file_records(path),
            [*expected, b"last"],
            "the file after the first process appended to the log another process had grown",
            "Before appending, check the file's size (fstat) and the header's end: another process may have "
            "grown the file and written past your mapping.",
        )


# --- task 4: truncation under the mapping ------------------------------------------------


def survive(impl, body, step_w: int) -> NoReturn:
    """In a forked child: run body(step), where step(what) says on the pipe which call comes next; the
    last line says how it ended ("done", "failed: ...", "raised: ...")."""
    faulthandler.disable()  # SIGBUS is the learner's bug here, reported by the parent
    status = 1
    try:

        def step(what: str) -> None:
            os.write(step_w, (what + "\n").encode())

        try:
            body(step)
            step("done")
        except pytest.fail.Exception as exc:
            step(f"failed: {exc}")
        except NotImplementedError as exc:
            name = learner_frame(exc, impl).rsplit(" in ", 1)[-1] or "a method"
            step(f"failed: `{name}` is not implemented yet (it raises NotImplementedError): write it as the spec says.")
        except BaseException as exc:  # reported by the parent with the step it happened in
            step(f"raised: {raised(exc, impl)}")
        status = 0
    finally:
        os._exit(status)


def run_surviving(impl, body) -> None:
    """Run body(step) in a child process, so that a SIGBUS kills the child and not the suite; fail with
    the call that died or raised."""
    step_r, step_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(step_r)
        survive(impl, body, step_w)
    os.close(step_w)
    try:
        steps = read_to_eof(step_r).decode(errors="replace").splitlines()
    finally:
        os.close(step_r)
    _, status = os.waitpid(pid, 0)
    last = steps[-1] if steps else "(before the first step)"
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGBUS:
        fail(
            f"the process died of SIGBUS in {last} it touched a page of the mapping that lies past the end "
            "of the truncated file. Python cannot catch SIGBUS: check os.fstat(fd).st_size first (the file must "
            "hold the header and everything up to end) and raise LogTruncatedError instead of touching the mapping."
        )
    expect(not os.WIFSIGNALED(status), f"the process was {describe_status(status)} in {last}")
    if last.startswith("failed: "):
        fail(last[len("failed: ") :])
    if last.startswith("raised: "):
        where = steps[-2] if len(steps) > 1 else "setting up the log"
        fail(f"{where} raised {last[len('raised: ') :]}; expected LogTruncatedError")
    expect(last == "done", f"the child process ended with status {os.waitstatus_to_exitcode(status)} after {last}")


def check_truncation(impl, path: str, truncate_to: int, step) -> None:
    """A writer fills three pages, a reader opens the log, the file is truncated to `truncate_to` bytes;
    both must raise LogTruncatedError and close cleanly."""
    writer = impl.MappedLog.create(path, 3 * PAGE)
    for i in range(3 * PAGE // 108):
        writer.append(payload(100, seed=i))
    reader = impl.MappedLog.open(path)
    reader.records()
    os.truncate(path, truncate_to)  # another process could do this just the same
    for who, log in (("the reader", reader), ("the writer", writer)):
        step(f"records() in {who}, after the file was truncated to {truncate_to} bytes,")
        try:
            log.records()
        except impl.LogTruncatedError:
            pass
        else:
            fail(
                f"records() in {who} returned after the file was truncated to {truncate_to} bytes: raise "
                "LogTruncatedError when the file no longer holds the header and the committed records"
            )
        step(f"append() in {who}, after the file was truncated to {truncate_to} bytes,")
        try:
            log.append(b"into a truncated file")
        except impl.LogTruncatedError:
            pass
        else:
            fail(
                f"append() in {who} returned after the file was truncated to {truncate_to} bytes: raise "
                "LogTruncatedError (check the size and the header's end against the file before writing)"
            )
        step(f"close() in {who}, after LogTruncatedError,")
        log.close()


@task(4, on_timeout=HANG_HINT + "; or a Python handler for SIGBUS: the faulting access is retried forever")
def test_truncated_to_zero_raises_instead_of_sigbus(impl, names):
    path = names.path("log")
    run_surviving(impl, functools.partial(check_truncation, impl, path, 0))


@task(4, on_timeout=HANG_HINT + "; or a Python handler for SIGBUS: the faulting access is retried forever")
def test_truncated_into_the_records_raises_instead_of_sigbus(impl, names):
    path = names.path("log")
    run_surviving(impl, functools.partial(check_truncation, impl, path, PAGE))


# --- task 5: performance -------------------------------------------------------------------

PERF_RECORDS, PERF_RECORD = 10_000, payload(64, seed=51)


def raw_appends(folder: str, count: int, record: bytes) -> Elapsed:
    """The baseline: the plainest correct log, one mapping, the same checks per append (fstat, header,
    growth by doubling); the file is made before and removed after the timed section."""
    path = os.path.join(folder, f"raw-{os.getpid()}-{clock()}")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    os.ftruncate(fd, HEADER + 4096)
    mm = mmap.mmap(fd, HEADER + 4096)
    struct.pack_into("<8sQ", mm, 0, MAGIC, HEADER)
    try:
        start = clock()
        for _ in range(count):
            size = os.fstat(fd).st_size
            (end,) = struct.unpack_from("<Q", mm, 8)
            if end > size:
                raise OSError("truncated")
            new_end = end + 4 + len(record)
            if new_end > size:
                size = max(new_end, 2 * size)
                os.ftruncate(fd, size)
                mm.close()
                mm = mmap.mmap(fd, size)
            struct.pack_into("<I", mm, end, len(record))
            mm[end + 4 : new_end] = record
            struct.pack_into("<Q", mm, 8, new_end)
        return Elapsed(clock() - start)
    finally:
        mm.close()
        os.close(fd)
        os.unlink(path)


@task(5, on_timeout=HANG_HINT)
def test_append_rate(impl, names, perf, scratch):
    paths = iter(range(1_000_000))

    def learner_appends() -> Elapsed:
        path = names.path(f"perf{next(paths)}")
        log = impl.MappedLog.create(path, 4096)
        try:
            start = clock()
            for _ in range(PERF_RECORDS):
                log.append(PERF_RECORD)
            return Elapsed(clock() - start)
        finally:
            log.close()
            os.unlink(path)

    check_path = names.path("check")
    with impl.MappedLog.create(check_path, 4096) as log:
        for _ in range(100):
            log.append(PERF_RECORD)
        check_records(log.records(), [PERF_RECORD] * 100, "records() after 100 appends")
    os.unlink(check_path)
    perf.check(
        "append_rate",
        learner_appends,
        functools.partial(raw_appends, str(scratch), PERF_RECORDS, PERF_RECORD),
        units=PERF_RECORDS,
        causes="opening and mapping the file again for every append, growing the file by only what one record "
        "needs (a new mapping per append), copying the records already there again for every append, or msync "
        "after every append (on a disk)",
    )
