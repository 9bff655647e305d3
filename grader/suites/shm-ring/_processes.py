"""Processes for the shm-ring suite: forked workers that report back, and the race maker.

Races between processes are rare under load and need luck to show. `paused_at_every_line`
makes them happen on purpose: for step 1, 2, ... a fresh ring and a forked process that
attached to it and runs `method(*args)`, stopped (sys.settrace) at the step-th line event
of the learner's file. While it is stopped, the test acts on the ring from outside, then
resumes or kills it.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys

from grader.testing import fail, fork_helper

MAX_STEPS = 300


def fork_worker(body) -> tuple[int, int]:
    """Fork a child running body(write_fd); returns (pid, read end of its result pipe)."""
    r, w = os.pipe()

    def run() -> None:
        os.close(r)
        try:
            body(w)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.write(w, pickle.dumps(("error", f"{type(exc).__name__}: {exc}")))
            raise

    pid = fork_helper(run)
    os.close(w)
    return pid, r


def read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def send_result(fd: int, value) -> None:
    view = memoryview(pickle.dumps(value))
    while view:
        view = view[os.write(fd, view) :]


def worker_result(pid: int, fd: int, what: str):
    """Wait for a fork_worker child and return what it sent; fail with its error."""
    out = read_all(fd)
    os.waitpid(pid, 0)
    if not out:
        fail(f"{what} died without a word")
    value = pickle.loads(out)
    if isinstance(value, tuple) and value and value[0] == "error":
        fail(f"{what} failed: {value[1]}")
    return value


class Paused:
    """A forked child that attached to a ring and runs put or get, stopped at the n-th line
    it executes in the learner's file, until resumed or killed. It reports on its pipe, one
    line each: "P <function>:<line>" (stopped), "D <result as hex, or ->" (done), "E <error>"."""

    def __init__(self, impl, name: str, op: str, args: tuple, stop_at: int):
        go_r, go_w = os.pipe()

        def body(ctl: int) -> None:
            os.close(go_w)
            try:
                ring = impl.RingBuffer.attach(name)
                path, count = impl.__file__, 0

                def local(frame, event, _arg):
                    nonlocal count
                    if event == "line":
                        count += 1
                        if count == stop_at:
                            os.write(ctl, f"P {frame.f_code.co_name}:{frame.f_lineno}\n".encode())
                            os.read(go_r, 1)
                    return local

                sys.settrace(lambda frame, event, _a: local if frame.f_code.co_filename == path else None)
                try:
                    result = getattr(ring, op)(*args)
                finally:
                    sys.settrace(None)
                ring.close()
                os.write(ctl, b"D " + (result.hex().encode() if isinstance(result, bytes) else b"-") + b"\n")
            except BaseException as exc:
                os.write(ctl, f"E {type(exc).__name__}: {exc}\n".encode())

        self.pid, self._ctl = fork_worker(body)
        os.close(go_r)
        self._go = go_w
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
        """Let it run to the end: ("D", result as hex or "-") or ("E", the error)."""
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
