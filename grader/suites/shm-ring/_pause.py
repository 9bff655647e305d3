"""Stop a process of the learner at any line: the shm-ring suite's race maker.

Races between processes are rare under load and need luck to show. `paused_at_every_line`
makes them happen on purpose: for step 1, 2, ... a fresh ring and a forked process that
attached to it and runs `method(*args)`, stopped (sys.settrace) at the step-th line event
of the learner's file. While it is stopped, the test acts on the ring from outside, then
resumes or kills it.
"""

from __future__ import annotations

import os
import signal
import sys

from grader.testing import fail

MAX_STEPS = 300


class Paused:
    """A forked child that attached to a ring and runs put or get, stopped at the n-th line
    it executes in the learner's file, until resumed or killed."""

    def __init__(self, impl, name: str, op: str, args: tuple, stop_at: int):
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
                    result = getattr(ring, op)(*args)
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
