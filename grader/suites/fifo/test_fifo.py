"""Hidden suite of the `fifo` kata: a named pipe between unrelated processes.
Writers are separate `python -c` processes (not forks) that use the learner's
`send`. Hygiene (FIFOs left in the scratch folder, fds, processes) is checked
by the grader after every test; these tests check behaviour."""

from __future__ import annotations

import fcntl
import functools
import inspect
import os
import random
import select
import stat
import struct
import termios
import threading
from collections.abc import Callable
from pathlib import Path

from grader.perf import Elapsed, clock
from grader.testing import (
    PAGE,
    StartingLine,
    Watch,
    check_no_spin,
    close_again,
    expect,
    fail,
    last_error_line,
    task,
    thread_state,
    wait_until,
    watch_for,
)

PIPE_BUF = select.PIPE_BUF


def writer_lines(writer: int, count: int, low: int, high: int, seed: int = 0) -> list[str]:
    """The lines writer `writer` sends: recognisable prefix, then filler, `low`..`high` bytes with the newline."""
    rng = random.Random(seed * 7919 + writer)
    lines = []
    for i in range(count):
        head = f"w{writer}:{i}:"
        size = rng.randint(max(low, len(head) + 1), high) - 1  # without the newline
        lines.append(head + chr(ord("a") + (writer + i) % 26) * (size - len(head)))
    return lines


# the writer processes (python -c) rebuild their lines with the same function
WRITER_LINES_SOURCE = "import random\n" + inspect.getsource(writer_lines)


def make_server(impl, path):
    server = impl.FifoServer(path)
    expect(
        os.path.exists(path),
        f"FifoServer({path!r}) returned but created nothing at that path: it must "
        "create the FIFO (os.mkfifo(path, 0o600)) before returning",
    )
    return server


def receive(server, count: int, timeout: float) -> list[str]:
    got = server.receive(count, timeout)
    expect(
        isinstance(got, list) and all(isinstance(line, str) for line in got),
        f"`receive` must return a list of str (the lines without their newline), got {got!r:.200}",
    )
    expect(
        len(got) <= count,
        f"`receive({count}, ...)` returned {len(got)} lines: at most `count`, keep the others for the next call",
    )
    return got


def check_lines(expected: list[str], got: list[str], what: str) -> None:
    if got == expected:
        return
    if any(line.endswith("\n") for line in got):
        fail(f"{what}: the lines came back with their newline; `receive` returns each line without it")
    glued = [line for line in got if line not in expected]
    for n, line in enumerate(got):
        if n < len(expected) and line != expected[n]:
            want = expected[n]
            if want.startswith(line) or (line and want.endswith(line)):
                fail(
                    f"{what}: line {n} came back cut ({len(line)} of its {len(want)} characters). A read() "
                    "returns whatever bytes are in the pipe, not whole lines: keep the incomplete tail of "
                    "each read and complete it with the next one"
                )
            if glued:
                fail(
                    f"{what}: line {n} came back as {line[:60]!r}... ({len(line)} characters), which is not a "
                    f"line that was sent; expected {want[:60]!r}... ({len(want)} characters): lines must come "
                    "back whole, split at each newline only"
                )
            break
    if len(got) < len(expected) and expected[: len(got)] == got:
        fail(f"{what}: `receive` returned {len(got)} of the {len(expected)} lines that were sent")
    fail(
        f"{what}: `receive` returned {len(got)} lines {got[:3]!r:.300}..., expected {len(expected)} lines "
        f"{expected[:3]!r:.300}..."
    )


FIFO_UNLINK = "close() must close the FIFO's fds and os.unlink() it"
OPEN_READ_HINT = (
    "Opening a FIFO for reading blocks until some process opens it for writing (and the other way round). "
    "The server must not wait for a writer in its constructor: open the read end with "
    "os.O_RDONLY | os.O_NONBLOCK, then open a write end of your own (os.O_WRONLY) so that read() never "
    "sees EOF, and wait for data with select() in receive()."
)
RECEIVE_HINT = (
    "receive(count, timeout) must return after `timeout` seconds even when fewer lines came: wait with "
    "select.select([fd], [], [], remaining) rather than a blocking read. " + OPEN_READ_HINT
)


# --- task 1: the server --------------------------------------------------------------------------


@task(1, on_timeout=OPEN_READ_HINT)
def test_creates_a_fifo_with_mode_0600(impl, names):
    path = names.path("fifo")
    old = os.umask(0o022)
    try:
        server = make_server(impl, path)
    finally:
        os.umask(old)
    try:
        mode = os.lstat(path).st_mode
        expect(
            stat.S_ISFIFO(mode),
            f"FifoServer created {path} but it is not a FIFO (mode {stat.filemode(mode)}): use os.mkfifo(path, 0o600)",
        )
        expect(
            stat.S_IMODE(mode) == 0o600,
            f"the FIFO has mode {stat.S_IMODE(mode):04o}, expected 0600: anyone allowed to open it can write "
            "lines into your server (or read them). os.mkfifo(path, 0o600); the mode passes through the "
            "umask, so a reused FIFO or a strict umask needs os.chmod(path, 0o600)",
        )
    finally:
        server.close()
    expect(not os.path.lexists(path), f"close() left {path} behind: {FIFO_UNLINK}")
    close_again(impl, server)


@task(1, on_timeout=OPEN_READ_HINT)
def test_constructor_does_not_wait_for_a_writer(impl, names):
    path = names.path("fifo")
    made: list = []

    def construct():
        try:
            made.append(impl.FifoServer(path))
        except BaseException as exc:  # reported below
            made.append(exc)

    thread = threading.Thread(target=construct, daemon=True)
    thread.start()
    polls = [0]

    def returned_or_blocked() -> bool:
        if not thread.is_alive():
            return True
        # sleeping poll after poll while this thread sleeps too (so it is not waiting for the GIL)
        polls[0] = polls[0] + 1 if thread_state(os.getpid(), thread.native_id) == "S" else 0
        return polls[0] >= 10

    try:
        wait_until(returned_or_blocked, 10, "FifoServer() neither returned nor blocked within 10 s")
        blocked = thread.is_alive()
    finally:
        try:  # a writer of our own releases a constructor blocked in open()
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
        thread.join(10)
        for server in made:
            if not isinstance(server, BaseException):
                server.close()
    if blocked:
        fail("FifoServer(path) blocked in its constructor until a writer opened the FIFO. " + OPEN_READ_HINT)
    if made and isinstance(made[0], BaseException):
        raise made[0]


@task(1, on_timeout=OPEN_READ_HINT)
def test_refuses_a_path_that_is_not_a_fifo(impl, names):
    path = names.path("notes.txt")
    with open(path, "w") as f:
        f.write("precious data\n")
    try:
        server = impl.FifoServer(path)
    except FileExistsError:
        pass
    else:
        server.close()
        fail(
            f"FifoServer({path!r}) accepted a path that holds a regular file: it must raise FileExistsError "
            "and leave the file alone (only an existing FIFO may be reused)"
        )
    finally:
        intact = os.path.isfile(path) and Path(path).read_text() == "precious data\n"
        if os.path.lexists(path) and not os.path.isdir(path):
            os.unlink(path)
    expect(
        intact,
        "FifoServer replaced or changed a regular file that was at its path: a server must never "
        "delete what is not its own FIFO (check with os.lstat and stat.S_ISFIFO, raise FileExistsError)",
    )


@task(1, on_timeout=OPEN_READ_HINT)
def test_reuses_a_stale_fifo(impl, names):
    path = names.path("stale")
    os.mkfifo(path, 0o644)  # left behind by a server that crashed
    try:
        server = make_server(impl, path)
    except FileExistsError:
        os.unlink(path)
        fail(
            "FifoServer raised FileExistsError for a path that already holds a FIFO: a FIFO left behind by a "
            "server that crashed is reused (mkfifo fails with EEXIST; check that the path is a FIFO and go on)"
        )
    try:
        mode = stat.S_IMODE(os.lstat(path).st_mode)
        impl.send(path, "still works")
        check_lines(["still works"], receive(server, 1, 5), "a line sent into a reused FIFO")
        expect(mode == 0o600, f"the reused FIFO kept mode {mode:04o}: set it to 0600 (os.chmod)")
    finally:
        server.close()
    expect(not os.path.lexists(path), f"close() left {path} behind: {FIFO_UNLINK}")


@task(1, on_timeout=RECEIVE_HINT)
def test_receive_lines_in_order(impl, names):
    path = names.path("fifo")
    with impl.FifoServer(path) as server:
        sent = ["first", "", "ünïcödé ✓", "last line"]
        for line in sent:
            impl.send(path, line)
        check_lines(sent, receive(server, len(sent), 5), "four lines sent one after the other")


@task(1, on_timeout=RECEIVE_HINT)
def test_receive_keeps_incomplete_lines(impl, names):
    path = names.path("fifo")
    # At most 16 writes fit in an unread pipe (one page each when they do not share one): send 12.
    sent = writer_lines(0, 12, 500, 3500, seed=3)
    with impl.FifoServer(path) as server:
        for line in sent:
            impl.send(path, line)
        first = receive(server, 4, 5)
        check_lines(sent[:4], first, "12 lines of 500-3500 bytes, the first 4 of them")
        check_lines(sent[4:], receive(server, 8, 5), "12 lines of 500-3500 bytes, the last 8 of them")


@task(1, on_timeout=RECEIVE_HINT)
def test_receive_returns_fewer_lines_when_the_timeout_expires(impl, names):
    path = names.path("fifo")
    with impl.FifoServer(path) as server:
        impl.send(path, "one")
        impl.send(path, "two")
        check_lines(
            ["one", "two"],
            receive(server, 5, 0.1),
            "receive(5, 0.1) when only 2 lines come (it returns what came once the timeout expires)",
        )
        impl.send(path, "three")
        check_lines(["three"], receive(server, 1, 5), "a line sent after an earlier receive timed out")
        check_lines([], receive(server, 3, 0), "receive(3, 0) on an idle FIFO")


@task(1, on_timeout=RECEIVE_HINT)
def test_receive_sleeps_while_nothing_comes(impl, names):
    path = names.path("fifo")
    with impl.FifoServer(path) as server:
        with Watch() as watch:
            got = receive(server, 1, 0.3)
        check_lines([], got, "receive(1, 0.3) on an idle FIFO")
        expect(
            watch.usage.elapsed >= 0.27,
            f"receive(1, 0.3) on an idle FIFO returned after {watch.usage.elapsed:.3f} s: it must wait until the "
            "timeout expires",
        )
        check_no_spin(
            "receive(1, 0.3) on an idle FIFO",
            watch.usage,
            "select.select([fd], [], [], remaining) sleeps until a writer writes or the timeout expires",
        )


# --- task 2: send ----------------------------------------------------------------------------------


@task(2, on_timeout=RECEIVE_HINT)
def test_send_rejects_lines_larger_than_pipe_buf(impl, names):
    path = names.path("fifo")
    with impl.FifoServer(path) as server:
        fits = ["x" * (PIPE_BUF - 1), "é" * ((PIPE_BUF - 1) // 2)]
        for line in fits:
            try:
                impl.send(path, line)
            except ValueError:
                fail(
                    f"send refused a line of {len((line + chr(10)).encode())} bytes with its newline: up to "
                    f"PIPE_BUF ({PIPE_BUF}) bytes, newline included, are allowed"
                )
        check_lines(fits, receive(server, 2, 5), "lines of exactly PIPE_BUF bytes with their newline")
        too_big = [
            ("x" * PIPE_BUF, "4096 ASCII characters + newline = 4097 bytes"),
            (
                "é" * (PIPE_BUF // 2),
                f"{PIPE_BUF // 2} characters 'é' (2 bytes each in UTF-8) + newline = "
                f"{PIPE_BUF + 1} bytes, although only {PIPE_BUF // 2 + 1} characters",
            ),
        ]
        for line, why in too_big:
            try:
                impl.send(path, line)
            except ValueError:
                continue
            fail(
                f"send accepted a line of {why}: raise ValueError when the encoded line with its newline is "
                f"larger than PIPE_BUF ({PIPE_BUF} bytes). Only a write() of at most PIPE_BUF bytes is atomic; a "
                "longer one can be split and mixed with other writers' lines. Measure the bytes, not the str"
            )
        try:
            impl.send(path, "two\nlines")
        except ValueError:
            pass
        else:
            fail(
                "send accepted 'two\\nlines': a newline inside a line would make the reader see two lines; "
                "raise ValueError"
            )
        leftover = receive(server, 5, 0.05)
        expect(not leftover, f"a refused line still reached the FIFO: {leftover!r:.200}; check before writing")


@task(
    2,
    on_timeout=(
        "send must fail at once with FileNotFoundError when there is no FIFO at the path: do not "
        "wait for one to appear, and do not create anything"
    ),
)
def test_send_without_a_fifo_raises_file_not_found(impl, names):
    path = names.path("missing")
    try:
        impl.send(path, "hello?")
    except FileNotFoundError:
        pass
    else:
        what = "a regular file" if os.path.isfile(path) else "nothing"
        fail(
            f"send to a path where no FIFO exists returned without error and created {what}: raise "
            "FileNotFoundError. Open the FIFO without O_CREAT (os.open(path, os.O_WRONLY | os.O_NONBLOCK)); "
            "open(path, 'w') creates a regular file and writes the line into it"
        )
    finally:
        if os.path.isfile(path):
            os.unlink(path)
    expect(not os.path.lexists(path), f"send created {path}: a writer must never create the FIFO")


NO_READER_HINT = (
    "Opening a FIFO for writing blocks until a reader opens it, forever if no server runs. Open it with "
    "os.O_WRONLY | os.O_NONBLOCK: without a reader that fails at once with ENXIO (map it to a clear "
    "BrokenPipeError), with a reader it succeeds."
)


@task(2, on_timeout=NO_READER_HINT)
def test_send_without_a_reader_does_not_block(impl, names):
    path = names.path("orphan")
    os.mkfifo(path, 0o600)
    try:
        impl.send(path, "anyone there?")
    except FileNotFoundError:
        fail(
            "send raised FileNotFoundError although the FIFO exists (nobody reads it): that error is for a "
            "missing FIFO; raise BrokenPipeError (or let the ENXIO OSError through)"
        )
    except OSError:
        pass
    else:
        fail(
            "send returned normally although no process has the FIFO open for reading: the line went nowhere. "
            + NO_READER_HINT
        )
    finally:
        os.unlink(path)


FULL_HINT = (
    "While the FIFO is full, send must wait for room. If it opens with O_NONBLOCK (right, to detect a "
    "missing reader), it must then clear it with os.set_blocking(fd, True) before writing; otherwise "
    "write() fails with BlockingIOError (EAGAIN) as soon as the pipe is full."
)


def pipe_state(fd: int) -> tuple[int, int]:
    """(bytes waiting in the pipe, its capacity)."""
    waiting = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
    return waiting, fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)


@task(2, on_timeout=FULL_HINT)
def test_send_waits_while_the_fifo_is_full(impl, names, python_processes):
    path = names.path("fifo")
    line_size = 4000
    count = 40  # 160 kB: far more than the FIFO holds while nobody reads
    with impl.FifoServer(path) as server:
        spy = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # only to look at how full the pipe is
        try:  # one page, as for a user past /proc/sys/fs/pipe-user-pages-soft: full after one line
            fcntl.fcntl(spy, fcntl.F_SETPIPE_SZ, PAGE)
            writer = python_processes.start(
                f"for i in range({count}):\n    impl.send({path!r}, f'{{i:04d}}' + 'f' * {line_size - 5})\n"
            )

            def full_or_gone() -> bool:
                waiting, capacity = pipe_state(spy)
                return writer.poll() is not None or waiting + line_size > capacity

            wait_until(full_or_gone, 20, "the writer neither filled the FIFO nor ended within 20 s")
            usage = watch_for(0.3, writer.pid) if writer.poll() is None else None
        finally:
            os.close(spy)
        if writer.poll() is not None and writer.returncode != 0:
            last = last_error_line(writer.stderr.read())
            if "BlockingIOError" in last or "EAGAIN" in last or "Resource temporarily unavailable" in last:
                fail(f"a writer's send failed on a full FIFO ({last}): {FULL_HINT}")
            fail(f"a writer process failed while the FIFO was full: {last}. " + FULL_HINT)
        if usage is not None:
            check_no_spin(
                "a writer's send, while the FIFO was full",
                usage,
                "a blocking write() sleeps until the reader makes room (clear O_NONBLOCK with "
                "os.set_blocking(fd, True) after the open)",
            )
        got = receive(server, count, 10)
        expected = [f"{i:04d}" + "f" * (line_size - 5) for i in range(count)]
        check_lines(expected, got, f"{count} lines of {line_size} bytes sent while the server was not reading")
        writer.wait(10)
        expect(
            writer.returncode == 0,
            f"the writer exited with status {writer.returncode}: {last_error_line(writer.stderr.read())}",
        )


# --- task 3: many writers ---------------------------------------------------------------------------


def writer_code(path: str, writer: int, count: int, low: int, high: int, seed: int) -> str:
    return WRITER_LINES_SOURCE + (
        f"for line in writer_lines({writer}, {count}, {low}, {high}, {seed}):\n    impl.send({path!r}, line)\n"
    )


def check_writer_exits(procs) -> None:
    for n, proc in enumerate(procs):
        proc.wait(20)
        if proc.returncode != 0:
            fail(f"writer {n} (a separate process calling send) failed: {last_error_line(proc.stderr.read())}")


EOF_HINT = (
    "When the last writer closes the FIFO, the server's read() returns b'' (EOF), although more writers may "
    "come later. A server that keeps a write end of its own open never sees EOF; otherwise it must reopen "
    "the FIFO. EOF is not the end of the server."
)


@task(3, on_timeout=EOF_HINT)
def test_writers_come_and_go(impl, names, python_processes):
    path = names.path("fifo")
    first = writer_lines(1, 3, 10, 60)
    second = writer_lines(2, 3, 10, 60)
    with impl.FifoServer(path) as server:
        procs = [python_processes.start(writer_code(path, 1, 3, 10, 60, 0))]

        def later():  # the second writer starts only once the first one has gone
            procs[0].wait()
            procs.append(python_processes.start(writer_code(path, 2, 3, 10, 60, 0)))

        starter = threading.Thread(target=later)
        starter.start()
        try:
            got = receive(server, 6, 15)
        finally:
            starter.join()
        check_writer_exits(procs)
        if got == first:
            fail(f"receive(6, ...) returned after the 3 lines of the first writer: {EOF_HINT}")
        expect(
            sorted(got) == sorted(first + second),
            f"two writers, one after the other, sent 6 lines; `receive` returned {len(got)}: {got!r:.300}. " + EOF_HINT,
        )


@task(3, on_timeout=EOF_HINT)
def test_receive_sleeps_after_the_last_writer_left(impl, names, python_processes):
    """EOF is not data: once the only writer has gone, `receive` waits for the next one, asleep.
    A server with no write end of its own is woken at once by every select() (EOF is readable)."""
    path = names.path("fifo")
    with impl.FifoServer(path) as server:
        writer = python_processes.start(writer_code(path, 1, 1, 10, 60, 0))
        check_writer_exits([writer])  # its line is in the FIFO, and the FIFO has no writer any more
        with Watch() as watch:
            got = receive(server, 2, 0.3)
        check_lines(writer_lines(1, 1, 10, 60), got, "receive(2, 0.3) after the only writer sent one line and left")
        expect(
            watch.usage.elapsed >= 0.27,
            f"receive(2, 0.3) returned after {watch.usage.elapsed:.3f} s, once the only writer had left: {EOF_HINT}",
        )
        check_no_spin(
            "receive(2, 0.3) after the only writer left",
            watch.usage,
            "once the last writer has closed its end, select() reports the FIFO readable and read() returns b'' "
            "(EOF) at once, again and again. Hold a write end of your own (opened right after the read end) "
            "and EOF never comes; or reopen the read end on EOF",
        )


@task(3, on_timeout=EOF_HINT)
def test_eight_writers_lose_split_or_mix_no_line(impl, names, python_processes):
    path = names.path("fifo")
    writers, count = 8, 1000
    expected = {w: writer_lines(w, count, 1, PIPE_BUF, seed=11) for w in range(writers)}
    with impl.FifoServer(path) as server:
        procs = [python_processes.start(writer_code(path, w, count, 1, PIPE_BUF, 11)) for w in range(writers)]
        got = receive(server, writers * count, 25)
        check_writer_exits(procs)
    known = {line: (w, i) for w, lines in expected.items() for i, line in enumerate(lines)}
    strangers = [line for line in got if line not in known]
    if strangers:
        odd = strangers[0]
        fail(
            f"{len(strangers)} received lines are not lines any writer sent, e.g. {odd[:70]!r}... "
            f"({len(odd)} characters): lines were split or mixed. Each line must reach the FIFO with ONE "
            f"write() of at most PIPE_BUF ({PIPE_BUF}) bytes, newline included (such writes are atomic), and "
            "the server must split what it reads at newlines only, keeping an incomplete tail for the next read"
        )
    seen: dict[str, int] = {}
    for line in got:
        seen[line] = seen.get(line, 0) + 1
    twice = [line for line, n in seen.items() if n > 1]
    expect(not twice, f"{len(twice)} lines were received twice, e.g. {twice[:1]!r:.80}")
    missing = len(known) - len(seen)
    expect(
        missing == 0,
        f"{missing} of the {len(known)} lines sent by {writers} writers never came out of "
        "`receive` (lost, or `receive` gave up early)",
    )
    for w in range(writers):
        order = [known[line][1] for line in got if known[line][0] == w]
        expect(
            order == sorted(order),
            f"the lines of writer {w} came out of order: a FIFO keeps each writer's "
            "lines in the order they were written; keep the server's lines in arrival order",
        )


# --- task 4: performance -----------------------------------------------------------------------------

PERF_WRITERS, PERF_LINES, PERF_LOW, PERF_HIGH = 8, 250, 100, 400
PERF_TOTAL = PERF_WRITERS * PERF_LINES


def fan_in(path: str, send: Callable[[str, str], object], receive_all: Callable[[int], list]) -> Elapsed:
    """PERF_WRITERS forked writers send their lines with `send`, all released at once; the time from the
    release until `receive_all` has every line."""
    lines = [writer_lines(writer, PERF_LINES, PERF_LOW, PERF_HIGH, seed=5) for writer in range(PERF_WRITERS)]

    def write_lines(writer: int, _message: str) -> None:
        for line in lines[writer]:
            send(path, line)

    with StartingLine(PERF_WRITERS, write_lines) as writers:
        start = clock()
        writers.go()
        got = receive_all(PERF_TOTAL)
        elapsed = clock() - start
        failed = writers.finish()
    expect(not failed, f"a writer process failed while sending its lines: {failed[:1]}")
    expect(len(got) == PERF_TOTAL, f"{len(got)} of {PERF_TOTAL} lines came out of receive({PERF_TOTAL}, 20)")
    return Elapsed(elapsed)


def raw_send(path: str, line: str) -> None:
    """The plainest correct send: non-blocking open (no reader: an error), blocking again, one write, close."""
    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    try:
        os.set_blocking(fd, True)
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def raw_fan_in(path: str) -> Elapsed:
    """The baseline: the plainest correct FIFO reader (its own write end, select, 64 KiB reads) and raw_send."""
    os.mkfifo(path, 0o600)
    read_fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    write_fd = os.open(path, os.O_WRONLY)
    partial = [b""]

    def receive_all(count: int) -> list[bytes]:
        lines: list[bytes] = []
        while len(lines) < count:
            select.select([read_fd], [], [])
            *complete, partial[0] = (partial[0] + os.read(read_fd, 65536)).split(b"\n")
            lines.extend(complete)
        return lines

    try:
        return fan_in(path, raw_send, receive_all)
    finally:
        os.close(read_fd)
        os.close(write_fd)
        os.unlink(path)


@task(4, on_timeout=EOF_HINT)
def test_lines_per_second_from_eight_writers(impl, names, perf):
    path = names.path("fifo")
    with impl.FifoServer(path) as server:
        perf.check(
            "lines_per_second",
            lambda: fan_in(path, impl.send, lambda count: server.receive(count, 20)),
            functools.partial(raw_fan_in, names.path("baseline")),
            units=PERF_TOTAL,
            causes="a read per byte (or per line) instead of 64 KiB reads split at newlines, a sleep in send() or "
            "receive(), or a FIFO opened more often than once per line",
        )
