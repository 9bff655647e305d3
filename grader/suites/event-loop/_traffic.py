"""The suite's side of the traffic in the `event-loop` suite: a thread beside the learner's loop (which
runs in the main thread, where Python delivers signals), the suite's own pump of many fds, and the echo
clients and plain loop of the performance task."""

from __future__ import annotations

import os
import selectors
import threading
import time
from collections.abc import Callable

from grader.testing import counters, fail, thread_state, wait_until

WAIT = 3.0  # seconds the suite waits for the loop to move bytes or to return before calling it stuck


def pump(
    writes: dict[int, bytes], reads: dict[int, int | None], timeout: float = WAIT
) -> tuple[dict[int, bytes], set[int]]:
    """Write each fd of `writes` its data and read each fd of `reads` until it holds the expected number of
    bytes (None: until EOF), all at once, for at most `timeout` seconds. A write-only fd is closed once
    written, or at the deadline (the producer is done: EOF for the loop); an fd that is written and read (a
    socket) stays open. Returns what each read fd received and which of them reached EOF; the caller judges."""
    left = {fd: memoryview(data) for fd, data in writes.items()}
    got = {fd: bytearray() for fd in reads}
    eof: set[int] = set()

    def done(fd: int) -> bool:
        expected = reads[fd]
        return fd in eof or (expected is not None and len(got[fd]) >= expected)

    def interest(fd: int) -> int:
        return (selectors.EVENT_WRITE if fd in left else 0) | (
            selectors.EVENT_READ if fd in reads and not done(fd) else 0
        )

    with selectors.DefaultSelector() as sel:
        for fd in set(left) | set(reads):
            os.set_blocking(fd, False)
            if interest(fd):
                sel.register(fd, interest(fd))
        deadline = time.monotonic() + timeout
        while sel.get_map() and time.monotonic() < deadline:
            for key, events in sel.select(deadline - time.monotonic()):
                fd = key.fd
                if events & selectors.EVENT_WRITE and fd in left:
                    try:
                        sent = os.write(fd, left[fd][:65536])
                    except BlockingIOError:
                        sent = 0
                    except (BrokenPipeError, ConnectionResetError):
                        sent = len(left[fd])  # the loop dropped it: the readers will tell
                    left[fd] = left[fd][sent:]
                    if not len(left[fd]):
                        del left[fd]
                        if fd not in reads:
                            sel.unregister(fd)
                            os.close(fd)
                            continue
                if events & selectors.EVENT_READ and fd in reads and not done(fd):
                    try:
                        chunk = os.read(fd, 65536)
                    except BlockingIOError:
                        chunk = None
                    except ConnectionResetError:
                        chunk = b""
                    if chunk:
                        got[fd] += chunk
                    elif chunk is not None:
                        eof.add(fd)
                if interest(fd):
                    sel.modify(fd, interest(fd))
                else:
                    sel.unregister(fd)
    for fd in left:
        if fd not in reads:
            os.close(fd)
    return {fd: bytes(data) for fd, data in got.items()}, eof


class Beside:
    """Runs `body()` in a suite thread while the learner's `loop.run()` runs in the calling (main) thread.

    After the body, the thread waits `WAIT` s for run() to return (by itself, or after the body's stop() or
    signal); if it does not, that is recorded and stop() (then `rescue`) unsticks the loop so the test can
    fail with a message instead of timing out. A body that failed is rescued at once."""

    def __init__(self, loop, body: Callable[[], object], rescue: Callable[[], object] | None = None):
        self.loop = loop
        self.body = body
        self.rescue = rescue
        self.returned = threading.Event()
        self.error: BaseException | None = None
        self.stuck = False
        self.main_tid = threading.get_native_id()

    def _side(self) -> None:
        try:
            self.body()
        except BaseException as exc:  # a failed check of the body: raised again in the main thread
            self.error = exc
        if self.returned.wait(0 if self.error else WAIT):
            return
        self.stuck = self.error is None
        for unstick in (self.loop.stop, self.rescue):
            if unstick is None:
                continue
            try:
                unstick()
            except Exception:
                pass
            if self.returned.wait(WAIT):
                return

    def run(self, stuck: str) -> None:
        """loop.run() beside the body; fails with the body's failure, or with `stuck` when run() did not
        return in time after the body was done."""
        thread = threading.Thread(target=self._side, name="suite-side", daemon=True)
        thread.start()
        try:
            self.loop.run()
        finally:
            self.returned.set()
            thread.join(4 * WAIT)
        if self.error is not None:
            raise self.error
        if thread.is_alive():
            fail("run() returned while the suite was still sending and receiving: it must serve until done")
        if self.stuck:
            fail(stuck)

    def asleep(self) -> bool:
        """Whether the loop's thread sleeps in the kernel (its wait for events): in state S, with neither CPU
        time nor a wake-up over 50 ms while this thread leaves it the GIL."""
        pid = os.getpid()
        before = counters(pid, self.main_tid)
        time.sleep(0.05)
        after = counters(pid, self.main_tid)
        return thread_state(pid, self.main_tid) == "S" and (after.cpu, after.wakeups) == (
            before.cpu,
            before.wakeups,
        )

    def wait_asleep(self) -> None:
        """Until the loop's thread sleeps (`asleep`); fails when it never does within `WAIT` s."""
        wait_until(self.asleep, WAIT, f"the loop never went to sleep waiting for events within {WAIT:g} s", interval=0)

    def settle(self, timeout: float = 1.0) -> None:
        """Until the loop's thread sleeps, or `timeout` s: before a `watch_for` that judges the loop's wait, so
        that the window does not catch the end of its last piece of work; a loop that spins never settles,
        and the check after the window says so."""
        deadline = time.monotonic() + timeout
        while not self.asleep() and time.monotonic() < deadline:
            pass


def returned_early(side: Beside) -> str:
    """A clause for a message about bytes that never came, when run() had already returned."""
    return (
        " (run() had already returned: it must keep serving until every relay is done)"
        if side.returned.is_set()
        else ""
    )


# --- performance: echo clients and the plain loop --------------------------------------------------


def echo_clients(fds: list[int], messages: int, size: int, in_flight: int) -> None:
    """`messages` round trips of a `size`-byte message over the connections `fds`, `in_flight` at a time: many
    connections, few of them busy at once, like most servers. Each echo, once whole, sends the next message
    on the connection `in_flight` further on. Every fd is closed at the end (the loop then sees EOF)."""
    message = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    index = {fd: i for i, fd in enumerate(fds)}
    received = dict.fromkeys(fds, 0)
    sent = 0
    with selectors.DefaultSelector() as sel:
        for fd in fds:
            sel.register(fd, selectors.EVENT_READ)
        for fd in fds[:in_flight]:
            os.write(fd, message)
            sent += 1
        done = 0
        while done < messages:
            for key, _ in sel.select():
                fd = key.fd
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise ConnectionError(f"the loop closed a connection after {done} of {messages} round trips")
                received[fd] += len(chunk)
                if received[fd] < size:
                    continue
                if received[fd] > size:
                    raise ConnectionError("the loop echoed more bytes than were sent")
                received[fd] = 0
                done += 1
                if sent < messages:
                    os.write(fds[(index[fd] + in_flight) % len(fds)], message)
                    sent += 1
    for fd in fds:
        os.close(fd)


def plain_echo_loop(fds: list[int]) -> None:
    """The baseline: the plainest correct echo loop for this traffic (a client waits for each echo, so a
    write always finds room), selectors, level-triggered, one read per event. Takes the fds out of `fds`."""
    with selectors.DefaultSelector() as sel:
        while fds:
            fd = fds.pop()  # this loop's from now on: it closes it
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ)
        while sel.get_map():
            for key, _ in sel.select():
                data = os.read(key.fd, 65536)
                if data:
                    os.write(key.fd, data)
                else:
                    sel.unregister(key.fd)
                    os.close(key.fd)
