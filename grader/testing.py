"""Public helpers for hidden suites: assertions that teach, unique names,
unrelated `python -c` processes that load the learner's file, and the tools that
watch how a learner's code waits (CPU time and wake-ups while it should sleep)
or copes with lowered kernel limits.

Suites import only this module, `grader.perf` and pytest; the learner's module
comes from the `impl` fixture (see grader/plugin.py for every fixture).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import resource
import select
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import traceback
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NoReturn, TypeVar

import pytest

from grader.perf import Elapsed, clock

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., object])
E = TypeVar("E", bound=BaseException)


def task(number: int, on_timeout: str = "") -> Callable[[F], F]:
    """`@task(2, on_timeout=HINT)`: the kata task a test grades, and what a timeout of it most likely means
    (the runner adds it to the timeout message, next to where each process was blocked)."""

    if not isinstance(on_timeout, str):
        raise TypeError(f"on_timeout must be a str, got {type(on_timeout).__name__} (a stray comma?)")

    def mark(test: F) -> F:
        marked: F = pytest.mark.task(number)(test)
        return pytest.mark.on_timeout(on_timeout)(marked) if on_timeout else marked

    return mark


# --- assertions that teach --------------------------------------------------------------------


def fail(message: str) -> NoReturn:
    """Fail the test with a message that teaches: expected, got, the concept."""
    pytest.fail(message, pytrace=False)


def expect(condition: object, message: str) -> None:
    if not condition:
        fail(message)


def wait_until(predicate: Callable[[], T], timeout: float, message: str, interval: float = 0.01) -> T:
    """Poll `predicate` until it returns something truthy; fail with `message` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            fail(message)
        time.sleep(interval)


def expect_raises(exc_type: type[E], call: Callable[[], object], what: str, why: str) -> E:
    """`call()` must raise `exc_type` (returned, for checks of its message); anything else fails with `what`
    and `why` (except NotImplementedError)."""
    try:
        value = call()
    except exc_type as exc:
        return exc
    except NotImplementedError:
        raise
    except Exception as err:
        fail(f"{what} raised {type(err).__name__}: {err}; expected {exc_type.__name__}. {why}")
    fail(f"{what} returned {value!r:.80} instead of raising {exc_type.__name__}. {why}")


def expect_returns(call: Callable[[], T], what: str, why: str, impl: types.ModuleType) -> T:
    """What `call()` returns where it has to succeed; if it raises, a failure that says what it raised and
    where in the learner's file, then `why` (the concept to revisit). NotImplementedError passes through,
    as in expect_raises, so that an unfinished task reads as one."""
    try:
        return call()
    except NotImplementedError:
        raise
    except Exception as exc:
        fail(f"{what} raised {raised(exc, impl)}. {why}")


def expect_timeout(call: Callable[[], object], what: str, why: str) -> None:
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


def expect_quiet_timeout(
    call: Callable[[], object], what: str, why: str, how: str, *, max_wakeups: int | None = None
) -> None:
    """`call()` must raise TimeoutError, and sleep while it waits: expect_timeout, then check_no_spin on the
    calling thread (`how` says how to block; `max_wakeups` allows a back-off, see check_no_spin)."""
    with Watch() as watch:
        expect_timeout(call, what, why)
    check_no_spin(what, watch.usage, how, max_wakeups=MAX_WAKEUPS if max_wakeups is None else max_wakeups)


def learner_frame(exc: BaseException, impl: types.ModuleType) -> str:
    """Where in the learner's file `exc` was raised ("file.py:41 in serve_forever"), or ""."""
    path = getattr(impl, "__file__", None)
    mine = [frame for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == path]
    if not mine:
        return ""
    return f"{os.path.basename(mine[-1].filename)}:{mine[-1].lineno} in {mine[-1].name}"


def raised(exc: BaseException, impl: types.ModuleType) -> str:
    """An exception from the learner's code, for a message: `ValueError: text (file.py:41 in serve_forever)`."""
    where = learner_frame(exc, impl)
    return f"{type(exc).__name__}: {exc}" + (f" ({where})" if where else "")


def close_again(impl: types.ModuleType, closable: Any) -> None:
    """A second close(), which the specs call harmless: a `with` block calls it again after an
    explicit close(), and a clean-up path may too. An error there is named as such, not as close()'s."""
    try:
        closable.close()
    except Exception as err:
        fail(
            f"a second close() raised {raised(err, impl)}: close() must do nothing the second time (a `with` "
            "block calls it again after an explicit close()). Remember what is closed, e.g. set the fd to -1"
        )


# --- what the learner's code calls -------------------------------------------------------------


_NOT_IN_MODULE = object()  # no value of the learner's module is this: a name `module` lacks matches nothing


class _StandIn:
    """A module with some attributes replaced; every other one is the real module's."""

    def __init__(self, real: types.ModuleType, replacements: dict[str, Any]):
        self.__dict__.update(replacements)
        self._real = real

    def __getattr__(self, name: str) -> Any:  # only for what is not replaced
        return getattr(self._real, name)


def stand_in(
    impl: types.ModuleType, monkeypatch: pytest.MonkeyPatch, module: types.ModuleType, **replacements: Any
) -> bool:
    """For one test, the learner's file sees `module` (time, os, mmap...) with `replacements` in place of some of
    its attributes (e.g. sleep=a recorder that sleeps too): as the module it imported (`import time`, under any
    name) and as each replaced name it imported from it (`from time import sleep`). False when the file uses
    neither, so that the test cannot watch those calls (and must not blame it)."""
    found = False
    for attr in dir(impl):
        value = getattr(impl, attr, None)
        if value is module:
            monkeypatch.setattr(impl, attr, _StandIn(module, replacements))
            found = True
            continue
        for name, replacement in replacements.items():
            if value is getattr(module, name, _NOT_IN_MODULE):
                monkeypatch.setattr(impl, attr, replacement)
                found = True
    return found


# --- data -----------------------------------------------------------------------------------


def payload(size: int, seed: int = 7) -> bytes:
    """Reproducible binary test data: every byte value, no structure to lean on."""
    return random.Random(seed).randbytes(size)


def describe_bytes(data: bytes, limit: int = 40) -> str:
    """A short, readable picture of a payload for messages."""
    if len(data) <= limit:
        return f"{len(data)} bytes {data!r}"
    return f"{len(data)} bytes starting {data[:limit]!r}"


def check_bytes(expected: bytes, got: bytes, shown: str, *, cut_short: str, differ: str = "") -> None:
    """`got` must be `expected`. When it is only a beginning of it, the message says so ("`shown` returned
    only the first 10 of 20 bytes" + `cut_short`); when it differs otherwise, it shows both (+ `differ`).
    `cut_short` and `differ` carry on the sentence: they start with their punctuation."""
    if got == expected:
        return
    if len(got) < len(expected) and expected.startswith(got):
        fail(f"{shown} returned only the first {len(got)} of {len(expected)} bytes{cut_short}")
    fail(f"{shown} returned {describe_bytes(got)}, expected {describe_bytes(expected)}{differ}")


def recv_exact(sock: socket.socket, size: int) -> bytes | None:
    """Exactly `size` bytes from a stream socket, or None if the peer closed first."""
    buf = bytearray(size)
    view, got = memoryview(buf), 0
    while got < size:
        n = sock.recv_into(view[got:])
        if not n:
            return None
        got += n
    return bytes(buf)


def read_to_eof(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


# --- unique names -------------------------------------------------------------------------------


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
        return self.register_key(key)

    def register_key(self, key: int) -> int:
        """Record a System V key the learner derives from a name by a rule the spec
        gives (e.g. shm-ring's lock), so that a leak is found and removed like one of key()'s."""
        if key not in self._keys:
            self._keys.append(key)
            with open(self._keys_log, "a") as log:
                log.write(f"{key}\n")
        return key


def _sysv_keys_in_use() -> set[int]:
    keys: set[int] = set()
    for table in ("/proc/sysvipc/shm", "/proc/sysvipc/sem", "/proc/sysvipc/msg"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        keys.update(int(line.split()[0]) for line in lines if line.strip())
    return keys


# --- processes ------------------------------------------------------------------------------------

_PRELUDE = """\
import os, sys
from grader.loader import load_impl
impl = load_impl(os.environ["KATA_IMPL"])
"""

Stream = int | IO[Any] | None


class PythonProcesses:
    """Unrelated processes (`python -c`, not fork) that use the learner's module as `impl`."""

    def __init__(self, impl_path: str):
        self._impl_path = impl_path
        self._procs: list[subprocess.Popen[bytes]] = []

    def start(
        self,
        code: str,
        *,
        stdin: Stream = subprocess.DEVNULL,
        stdout: Stream = subprocess.PIPE,
        stderr: Stream = subprocess.PIPE,
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
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

    def run(
        self, code: str, timeout: float, what: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        """Start a process and wait for it; fail with a message naming `what` on timeout."""
        proc = self.start(code, env=env)
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


def last_error_line(stderr: bytes) -> str:
    """The last line a failed process wrote on stderr (usually `Type: message`)."""
    lines = stderr.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "(no error output)"


def open_fds_of(pid: int) -> dict[int, str]:
    """fd -> target of another process (for checks that a child inherited nothing extra)."""
    from grader.hygiene import fd_snapshot

    return fd_snapshot(pid)


def pipe_write_ends_of(pid: int) -> set[str]:
    """The pipes ('pipe:[4411]') whose write end process `pid` holds (its fds open write-only on a pipe)."""
    from grader.procfs import fds

    return {entry.target for entry in fds(pid).values() if entry.kind == "pipe" and entry.access == "w"}


def lock_requests_waiting(path: str) -> int:
    """How many lock requests (fcntl, classic or OFD, or flock; of any process) sleep waiting for a lock on
    the file at `path`: the kernel's own answer (/proc/locks) to "is this call blocked on a lock?"."""
    from grader.procfs import file_locks

    info = os.stat(path)
    device = (os.major(info.st_dev), os.minor(info.st_dev))
    return sum(1 for lock in file_locks() if lock.blocked and lock.inode == info.st_ino and lock.device == device)


def thread_state(pid: int, tid: int | None = None) -> str:
    """The scheduler state letter of a thread (the main thread by default): R running, S sleeping in a
    system call, Z zombie; "" once gone."""
    try:
        with open(f"/proc/{pid}/task/{tid or pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def blocked_in(pid: int, tid: int | None = None) -> str:
    """The system call a thread sleeps in ('sendto', 'recvfrom', ...): "" while it runs, when it sleeps
    outside a system call, or once it is gone."""
    from grader import procfs, syscalls

    try:
        if procfs.task_stat(pid, tid).state != "S":
            return ""
        call = procfs.syscall(pid, tid)
    except OSError:
        return ""
    return "" if call is None or call.number < 0 else syscalls.name(call.number)


def fork_helper(body: Callable[[], object]) -> int:
    """A helper child of the suite running body(); it always ends with os._exit."""
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            body()
            status = 0
        finally:
            os._exit(status)
    return pid


def reap_child(pid: int) -> str:
    """Make sure a child of the test process is gone, and say what it was before: "" when it had been reaped
    already (by the code under test, which is what a test of cleanup wants to hear), "a zombie" when it had
    exited unreaped, "still running" when it had to be killed. A pid that is no child of ours (any more) is
    never signalled: while it is our unreaped child, its pid cannot have been reused."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return "a zombie"
    except ChildProcessError:
        return ""
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return "still running"


def end_helper(pid: int | None) -> None:
    """Kill and reap a child of the test process, if it still is one (never a pid we do not own)."""
    if pid:
        reap_child(pid)


def run_in_child(body: Callable[[], T], impl: types.ModuleType, what: str, timeout: float = 10) -> T:
    """body() in a forked child of the suite (a context the test process must not enter itself, e.g.
    with fewer privileges); returns what it returned (it must pickle), or fails with what it raised."""
    import pickle

    read_end, write_end = os.pipe()

    def report() -> None:
        os.close(read_end)
        try:
            outcome: tuple[bool, object] = (True, body())
        except BaseException as exc:  # reported by the parent
            outcome = (False, raised(exc, impl) if not isinstance(exc, pytest.fail.Exception) else str(exc))
        with os.fdopen(write_end, "wb") as out:
            pickle.dump(outcome, out)

    pid = fork_helper(report)
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], timeout)
        data = read_to_eof(read_end) if ready else b""
    finally:
        os.close(read_end)
        end_helper(pid)
    if not data:
        fail(f"{what} did not finish within {timeout:g} s (it ran in a child process of the grader)")
    ok, value = pickle.loads(data)
    if not ok:
        fail(f"{what} raised {value}")
    return value  # type: ignore[no-any-return]


def drop_root_file_powers() -> None:
    """In a child of the suite run as root: give up root's right to open and search any file or folder
    (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so that permissions apply as they would for a learner who is
    not root. Nothing happens for a user who is not root."""
    if os.geteuid() != 0:
        return
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    libc = ctypes.CDLL(None, use_errno=True)
    header, data = Header(0x20080522, 0), (Data * 2)()  # _LINUX_CAPABILITY_VERSION_3: two 32-bit words
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    dac = (1 << 1) | (1 << 2)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
    data[0].effective &= ~dac
    data[0].permitted &= ~dac
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


class StartingLine:
    """`count` forked children that wait until `go(message)`, then each runs body(index, message) once and reports
    how it went: a fan-out of client or writer processes released at the same moment. Fork them before the
    process starts threads (a process with threads must not fork). Use as a context manager: leaving it
    kills and reaps whatever is left."""

    RECORD = 256  # bytes of the message each child reads: `count` records go out in one atomic pipe write

    def __init__(self, count: int, body: Callable[[int, str], object]):
        self.count = count
        self._go_r, self._go_w = os.pipe()
        self._done_r, done_w = os.pipe()
        self.pids: list[int] = []
        try:
            for index in range(count):
                pid = os.fork()
                if pid == 0:
                    self._run_child(body, index, done_w)
                self.pids.append(pid)
        finally:
            os.close(done_w)
            os.close(self._go_r)

    def _run_child(self, body: Callable[[int, str], object], index: int, done_w: int) -> None:
        status = 1
        try:
            os.close(self._go_w)
            os.close(self._done_r)
            message = os.read(self._go_r, self.RECORD).rstrip(b"\0").decode()
            try:
                body(index, message)
                report = b"ok\n"
            except Exception as err:
                report = f"{type(err).__name__}: {err}"[:200].encode(errors="replace") + b"\n"
            os.write(done_w, report)
            status = 0
        finally:
            os._exit(status)

    def go(self, message: str = "") -> None:
        """Release every child with `message` (at most RECORD bytes)."""
        os.write(self._go_w, message.encode().ljust(self.RECORD, b"\0") * self.count)
        os.close(self._go_w)
        self._go_w = -1

    def finish(self) -> list[str]:
        """Wait until every child is done; what went wrong in each child that failed."""
        reports = read_to_eof(self._done_r).decode(errors="replace").splitlines()
        missing = ["the process ended without reporting"] * (self.count - len(reports))
        return [report for report in reports if report != "ok"] + missing

    def timed(self, message: str, stop: Callable[[], object], who: str = "client processes") -> Elapsed:
        """A perf round: release the children with `message`, wait for every one, then `stop()` (whatever
        happened); the time from the release to the last one. A child that failed fails the test."""
        try:
            start = clock()
            self.go(message)
            failed = self.finish()
            elapsed = clock() - start
        finally:
            stop()
        expect(not failed, f"{len(failed)} of {self.count} {who} failed; the first one: {failed[:1]}")
        return Elapsed(elapsed)

    def __enter__(self) -> StartingLine:
        return self

    def __exit__(self, *exc: object) -> None:
        for pid in self.pids:  # first: a child released by the closing of its pipe must not start
            end_helper(pid)
        for fd in (self._go_w, self._done_r):
            if fd >= 0:
                os.close(fd)


@contextlib.contextmanager
def one_cpu(*pids: int) -> Iterator[None]:
    """Pin the caller and `pids` to one CPU while measuring: a round trip costs a different amount when
    two processes share a CPU than when one must wake the other on an idle one, and the scheduler's
    placement must not decide a verdict."""
    mine = os.sched_getaffinity(0)
    cpu = {min(mine)}
    try:
        for pid in (0, *pids):
            os.sched_setaffinity(pid, cpu)
        yield
    finally:
        os.sched_setaffinity(0, mine)
        for pid in pids:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(pid, mine)


# --- how a wait waits: CPU time and wake-ups ---------------------------------------------------


@dataclass(frozen=True)
class Counters:
    """What the kernel counts for a thread (or every thread of a process) at one moment."""

    at: float  # time.monotonic()
    cpu: float  # seconds on a CPU
    queued: float  # seconds runnable but waiting for a CPU (on a busy machine a spinning thread waits there)
    wakeups: int  # voluntary context switches: went to sleep, was woken up
    preempted: int  # involuntary context switches: was running, the scheduler took the CPU


@dataclass(frozen=True)
class Usage:
    """Counters between two moments."""

    elapsed: float
    cpu: float
    queued: float
    wakeups: int
    preempted: int

    @staticmethod
    def between(start: Counters, end: Counters) -> Usage:
        return Usage(
            end.at - start.at,
            end.cpu - start.cpu,
            end.queued - start.queued,
            end.wakeups - start.wakeups,
            end.preempted - start.preempted,
        )

    @property
    def runnable(self) -> float:
        """The share of the time it wanted a CPU (running or queued for one): about 1 for a spinning thread
        however busy the machine is, about 0 for a sleeping one."""
        return (self.cpu + self.queued) / self.elapsed if self.elapsed > 0 else 0.0


def counters(pid: int, tid: int | None = None) -> Counters:
    """Counters of one thread of `pid` (tid), or summed over all its threads; zeros once it is gone."""
    at = time.monotonic()
    try:
        tids = [str(tid)] if tid is not None else os.listdir(f"/proc/{pid}/task")
    except OSError:
        return Counters(at, 0.0, 0.0, 0, 0)
    cpu, queued, wakeups, preempted = 0.0, 0.0, 0, 0
    for task in tids:
        base = f"/proc/{pid}/task/{task}"
        try:
            with open(f"{base}/schedstat") as f:
                on_cpu, on_queue = f.read().split()[:2]  # nanoseconds
            with open(f"{base}/status") as f:
                status = f.read().splitlines()
        except (OSError, ValueError):
            continue  # the thread ended meanwhile
        cpu += int(on_cpu) / 1e9
        queued += int(on_queue) / 1e9
        for line in status:
            if line.startswith("voluntary_ctxt_switches:"):
                wakeups += int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches:"):
                preempted += int(line.split()[1])
    return Counters(at, cpu, queued, wakeups, preempted)


class Watch:
    """`with Watch() as watch: call()` then `watch.usage`: what the calling thread (or another
    thread or process) spent while the block ran."""

    def __init__(self, pid: int | None = None, tid: int | None = None):
        self.pid = os.getpid() if pid is None else pid
        self.tid = threading.get_native_id() if pid is None and tid is None else tid
        self.usage = Usage(0.0, 0.0, 0.0, 0, 0)

    def __enter__(self) -> Watch:
        self._start = counters(self.pid, self.tid)
        return self

    def __exit__(self, *exc: object) -> None:
        self.usage = Usage.between(self._start, counters(self.pid, self.tid))


def watch_for(seconds: float, pid: int, tid: int | None = None) -> Usage:
    """What process `pid` (or one of its threads) spent during the next `seconds` (a window in which
    it has nothing to do but wait)."""
    with Watch(pid, tid) as watch:
        time.sleep(seconds)
    return watch.usage


MAX_WAKEUPS = 5  # a blocked wait wakes up once, when its event comes; allow some noise
MAX_CPU = 0.03  # seconds of CPU a sleeping thread never reaches in a fraction of a second
MAX_RUNNABLE = 0.5  # share of the time wanting a CPU: a spinning thread ~1 even on a crowded machine
MAX_PREEMPTED = 20  # a spinning thread is preempted often; so is a sleeper's fork (cond_resched), but briefly


def check_no_spin(what: str, usage: Usage, how: str, *, max_wakeups: int = MAX_WAKEUPS) -> None:
    """Fail when `usage`, measured while `what` had nothing to do but wait, shows a poll (many wake-ups) or a
    spin (CPU burnt; or, on a crowded machine where a spinning thread mostly waits for a CPU, always wanting
    one and never going to sleep); `how` says how to block instead. `max_wakeups` allows the back-off that a
    wait without a kernel timeout needs (a poll whose pause doubles up to a few ms)."""
    if usage.wakeups > max_wakeups:
        fail(
            f"{what}: it woke up {usage.wakeups} times in {usage.elapsed:.2f} s while nothing happened: it polls (a "
            "loop with a short sleep or timeout), which burns wake-ups and adds latency. Sleep until the event "
            f"itself: {how}"
        )
    # Preemptions alone prove nothing: a parent forking its workers in the window is preempted at every
    # cond_resched() of the fork on a busy machine (24 times in under 5 ms of CPU, seen in CI). They count only
    # with the time: a thread that wanted a CPU most of the window and was taken off it often was spinning.
    # Time queued alone proves nothing either: a sleeper woken to a crowded machine waits for a CPU too (CI saw
    # a get(timeout=0.3) queued 0.30 s of 0.30 s, 0.00 s on a CPU). A spinner never sleeps, so it leaves a CPU
    # only when the scheduler takes it: among 30 busy processes on 2 cores it was still preempted 5-7 times in
    # 0.3 s. Queued time with no preemption at all came after a wake-up.
    wanted_the_cpu = usage.runnable >= MAX_RUNNABLE and usage.preempted > 0
    spun = wanted_the_cpu and (usage.wakeups <= 2 or usage.preempted > MAX_PREEMPTED)
    if usage.cpu >= MAX_CPU or spun:
        fail(
            f"{what}: it used {usage.cpu:.2f} s of CPU, and waited {usage.queued:.2f} s more for one, in "
            f"{usage.elapsed:.2f} s of waiting (preempted {usage.preempted} times): it spins (a busy-wait: a "
            "loop that retries a non-blocking call, or checks a condition, without sleeping). Block in the "
            f"kernel instead: {how}"
        )


# --- children held at birth ------------------------------------------------------------------------


class _Gate:
    """The state of one held_children block (also inherited by the children forked in it)."""

    def __init__(self, window: float):
        self.window = window
        self.release_r, self.release_w = os.pipe()
        self.report_r, self.report_w = os.pipe()
        self.first = True
        self.parent_tid = 0


_gate: list[_Gate] = []  # the active gate, if any


def _before_fork() -> None:
    if _gate and _gate[0].first:
        _gate[0].parent_tid = threading.get_native_id()


def _in_parent_after_fork() -> None:
    if _gate and _gate[0].first:  # the first child alone now holds the release and report write ends
        gate = _gate[0]
        gate.first = False
        os.close(gate.release_w)
        os.close(gate.report_w)


def _in_child_after_fork() -> None:
    """A child born while a gate is active waits here; the first one also watches its parent wait."""
    if not _gate:
        return
    gate = _gate.pop()
    try:
        if gate.first:
            os.close(gate.report_r)
            usage = watch_for(gate.window, os.getppid(), gate.parent_tid)
            report = f"{usage.elapsed} {usage.cpu} {usage.queued} {usage.wakeups} {usage.preempted}"
            os.write(gate.report_w, report.encode())
            for fd in (gate.report_w, gate.release_w):
                os.close(fd)
        else:
            os.close(gate.report_r)
            while os.read(gate.release_r, 1):  # EOF once the first child has watched
                pass
    finally:
        os.close(gate.release_r)


os.register_at_fork(before=_before_fork, after_in_parent=_in_parent_after_fork, after_in_child=_in_child_after_fork)


class HeldChildren:
    """See held_children(); `usage` is what the parent spent while its first child was held,
    None if nothing was forked."""

    def __init__(self, window: float):
        self.window = window
        self.usage: Usage | None = None


@contextlib.contextmanager
def held_children(window: float = 0.3) -> Iterator[HeldChildren]:
    """Every child that the calling process forks (os.fork) in the block waits at birth until its first
    child has watched, for `window` seconds, how the forking thread waits for children that do nothing
    yet: a parent that sleeps in read()/waitpid()/sigwaitinfo() spends no CPU and wakes up once or never;
    one that polls or spins shows it. After the block, `held.usage` says what the parent spent."""
    gate = _Gate(window)
    held = HeldChildren(window)
    _gate.append(gate)
    try:
        yield held
    finally:
        _gate.clear()
        if gate.first:  # nothing was forked
            os.close(gate.release_w)
            os.close(gate.report_w)
        else:
            ready, _, _ = select.select([gate.report_r], [], [], window + 10)
            report = os.read(gate.report_r, 256).split() if ready else []
            if len(report) == 5:
                elapsed, cpu, queued, wakeups, preempted = report
                held.usage = Usage(float(elapsed), float(cpu), float(queued), int(wakeups), int(preempted))
        os.close(gate.release_r)
        os.close(gate.report_r)


def check_held_parent(held: HeldChildren, what: str, how: str, *, max_wakeups: int = MAX_WAKEUPS) -> None:
    """check_no_spin for the parent of a held_children block: how it waited while its children were held."""
    if held.usage is None:
        fail(f"{what}: no child was forked, so there was nothing to wait for: the work belongs in a child")
    check_no_spin(what, held.usage, how, max_wakeups=max_wakeups)


# --- lowered limits ---------------------------------------------------------------------------------

PAGE = 4096
_small_pipes: list[tuple[int, set[int]]] = []  # (capacity, fds open before the block)


def _pipe_fds() -> list[int]:
    fds = []
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}").startswith("pipe:"):
                fds.append(int(name))
        except OSError:
            continue
    return fds


def _shrink_new_pipes() -> None:
    if not _small_pipes:
        return
    capacity, before = _small_pipes[0]
    for fd in _pipe_fds():
        if fd not in before:
            with contextlib.suppress(OSError):  # EBUSY: it already holds more than that
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, capacity)


os.register_at_fork(before=_shrink_new_pipes)


@contextlib.contextmanager
def small_pipes(capacity: int = PAGE) -> Iterator[None]:
    """Pipes the calling process creates in the block hold only `capacity` bytes (one page by default),
    as they do for a user past /proc/sys/fs/pipe-user-pages-soft or after fcntl(F_SETPIPE_SZ): each
    new pipe is shrunk before every fork, so a child and its parent see the small pipe."""
    _small_pipes.append((capacity, set(_pipe_fds())))
    try:
        yield
    finally:
        _small_pipes.clear()


@contextlib.contextmanager
def lowered_limit(which: int, soft: int) -> Iterator[None]:
    """The soft resource limit `which` lowered to `soft` for the block (inherited by children forked in
    it), then put back: the hard limit never changes, so the soft one can be raised again."""
    old_soft, hard = resource.getrlimit(which)
    resource.setrlimit(which, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(which, (old_soft, hard))
