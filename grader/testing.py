"""Public helpers for hidden suites: assertions that teach, unique names, and
unrelated `python -c` processes that load the learner's file.

Suites import only this module, `grader.perf` and pytest; the learner's module
comes from the `impl` fixture (see grader/plugin.py for every fixture).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest


def fail(message: str):
    """Fail the test with a message that teaches: expected, got, the concept."""
    pytest.fail(message, pytrace=False)


def expect(condition: object, message: str) -> None:
    if not condition:
        fail(message)


def wait_until(predicate, timeout: float, message: str, interval: float = 0.01):
    """Poll `predicate` until it returns something truthy; fail with `message` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            fail(message)
        time.sleep(interval)


def payload(size: int, seed: int = 7) -> bytes:
    """Reproducible binary test data: every byte value, no structure to lean on."""
    return random.Random(seed).randbytes(size)


def expect_timeout(call, what: str, why: str) -> None:
    """`call()` must raise the built-in TimeoutError; `why` says what it means when it does not."""
    import posix_ipc
    import sysv_ipc

    try:
        call()
    except TimeoutError:
        return
    except (posix_ipc.BusyError, sysv_ipc.BusyError) as err:
        fail(
            f"{what} raised {type(err).__module__}.{type(err).__name__} ({err}): the API promises the "
            "built-in TimeoutError; catch the library's BusyError and raise TimeoutError from it"
        )
    fail(f"{what} returned instead of raising TimeoutError: {why}")


def recv_exact(sock, size: int) -> bytes | None:
    """Exactly `size` bytes from a stream socket, or None if the peer closed first."""
    buf = bytearray(size)
    view, got = memoryview(buf), 0
    while got < size:
        n = sock.recv_into(view[got:])
        if not n:
            return None
        got += n
    return bytes(buf)


def describe_bytes(data: bytes, limit: int = 40) -> str:
    """A short, readable picture of a payload for messages."""
    if len(data) <= limit:
        return f"{len(data)} bytes {data!r}"
    return f"{len(data)} bytes starting {data[:limit]!r}"


def first_difference(expected: bytes, got: bytes) -> str:
    if len(got) != len(expected):
        return f"expected {len(expected)} bytes, got {len(got)}"
    for i, (a, b) in enumerate(zip(expected, got, strict=False)):
        if a != b:
            return f"same length ({len(got)} bytes) but they differ from byte {i}"
    return "identical"


class Names:
    """Unique names for one test: they carry the run's token and the test's ordinal,
    so parallel runs never collide and the grader can find every leak."""

    def __init__(self, token: str, ordinal: int, scratch: Path, keys: list[int], keys_log: Path):
        self._prefix = f"kata_{token}_{ordinal}_"
        self._token = token
        self._ordinal = ordinal
        self._scratch = scratch
        self._keys = keys
        self._keys_log = keys_log
        self._used: dict[str, int] = {}

    def _unique(self, label: str) -> str:
        n = self._used.get(label, 0)
        self._used[label] = n + 1
        return label if n == 0 else f"{label}{n}"

    def posix(self, label: str = "obj") -> str:
        """A POSIX IPC name ("/kata_<token>_<n>_<label>") for shm, semaphores and queues."""
        return "/" + self._prefix + self._unique(label)

    def path(self, label: str = "fifo") -> str:
        """A filesystem path in this test's scratch folder (for FIFOs and socket files)."""
        return str(self._scratch / self._unique(label))

    def key(self) -> int:
        """A System V key unused on this machine, recorded so that a leak is found."""
        seed = int(self._token, 16) * 7919 + self._ordinal * 257 + len(self._keys)
        key = 0x4B000000 + seed % 0x00FFFFFF
        in_use = _sysv_keys_in_use()
        while key in in_use or key in self._keys:
            key = 0x4B000000 + (key + 1 - 0x4B000000) % 0x00FFFFFF
        self._keys.append(key)
        with open(self._keys_log, "a") as log:
            log.write(f"{key}\n")
        return key

    def register_key(self, key: int) -> int:
        """Record a System V key the learner derives from a name by a rule the spec
        gives (e.g. shm-ring's lock), so that a leak is found and removed like one of key()'s."""
        if key not in self._keys:
            self._keys.append(key)
            with open(self._keys_log, "a") as log:
                log.write(f"{key}\n")
        return key


def _sysv_keys_in_use() -> set[int]:
    keys = set()
    for table in ("/proc/sysvipc/shm", "/proc/sysvipc/sem", "/proc/sysvipc/msg"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        keys.update(int(line.split()[0]) for line in lines if line.strip())
    return keys


_PRELUDE = """\
import os, sys
from grader.loader import load_impl
impl = load_impl(os.environ["KATA_IMPL"])
"""


class PythonProcesses:
    """Unrelated processes (`python -c`, not fork) that use the learner's module as `impl`."""

    def __init__(self, impl_path: str):
        self._impl_path = impl_path
        self._procs: list[subprocess.Popen] = []

    def start(
        self,
        code: str,
        *,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env: dict | None = None,
    ) -> subprocess.Popen:
        full_env = dict(os.environ, KATA_IMPL=self._impl_path, **(env or {}))
        proc = subprocess.Popen(
            [sys.executable, "-c", _PRELUDE + textwrap.dedent(code)],
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            env=full_env,
        )
        self._procs.append(proc)
        return proc

    def run(self, code: str, timeout: float, what: str, **kwargs) -> subprocess.CompletedProcess:
        """Start a process and wait for it; fail with a message naming `what` on timeout."""
        proc = self.start(code, **kwargs)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            fail(f"{what} did not finish within {timeout:g} s")
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def kill_all(self) -> None:
        """Kill and reap every process started; a suite may already have closed their pipes."""
        for proc in self._procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait()
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None and not stream.closed:
                    stream.close()
        self._procs.clear()


def open_fds_of(pid: int) -> dict[int, str]:
    """fd -> target of another process (for checks that a child inherited nothing extra)."""
    from grader.hygiene import fd_snapshot

    return fd_snapshot(pid)
