"""Reference solution of the `signals` kata: counting, reliable notification, graceful shutdown.

The one idea behind all three: a signal is a *pending bit* (standard signals) or a
*queue entry* (real-time signals) that the kernel delivers asynchronously. Block the
signal first, then collect it synchronously with sigwaitinfo/sigtimedwait: no race,
no EINTR, no work inside a handler.
"""

from __future__ import annotations

import os
import resource
import signal
import time
from collections.abc import Callable

NOTIFY = signal.SIGRTMIN  # real-time: every kill() queues one instance
ACK = signal.SIGRTMIN + 1  # parent -> child: "I counted a window, go on"
MAX_WINDOW = 512  # at most this many NOTIFY queued at once


def _window() -> int:
    """How many notifications may be in flight. Real-time signals queue only up to
    RLIMIT_SIGPENDING per user (`ulimit -i`, counted over all of the user's processes);
    past it, kill() still succeeds but the signal merges: lost. Stay well below it."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_SIGPENDING)
    if soft == resource.RLIM_INFINITY:
        return MAX_WINDOW
    return max(1, min(MAX_WINDOW, soft // 4))


def _exit_code(status: int) -> int:
    """waitpid status -> returncode: exit code, or -N when killed by signal N."""
    return os.waitstatus_to_exitcode(status)


# --- task 1 ----------------------------------------------------------------------------


class SignalCounter:
    """Counts deliveries of one signal to this process."""

    def __init__(self, signum: int):
        self.signum = signum
        self._count = 0
        self._closed = False
        # signal.signal() returns the disposition it replaces: keep it for close().
        self._previous = signal.signal(signum, self._handle)

    def _handle(self, signum, frame) -> None:
        # Python runs this in the main thread between bytecodes: keep it tiny.
        self._count += 1

    @property
    def count(self) -> int:
        return self._count

    def wait_for(self, n: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        # Blocked, the signal stays pending instead of running the handler; sigtimedwait
        # takes it off the pending set. No window between "check" and "sleep" to lose it.
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {self.signum})
        try:
            while self._count < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                if signal.sigtimedwait([self.signum], remaining) is not None:
                    self._count += 1
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        return self._count

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            signal.signal(self.signum, self._previous)

    def __enter__(self) -> SignalCounter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- task 2 ----------------------------------------------------------------------------


def reliable_notify(n: int) -> int:
    if n < 0:
        raise ValueError("n must be >= 0")
    watched = {NOTIFY, ACK, signal.SIGCHLD}
    window = _window()
    # Block before fork: the child inherits the mask (ACK cannot kill it before it
    # waits for it) and no NOTIFY can arrive in the parent unblocked.
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, watched)
    try:
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                parent = os.getppid()
                for sent in range(1, n + 1):
                    os.kill(parent, NOTIFY)
                    if sent % window == 0 and sent < n:
                        signal.sigwaitinfo([ACK])
                status = 0
            finally:
                os._exit(status)
        count = 0
        try:
            while count < n:
                info = signal.sigwaitinfo([NOTIFY, signal.SIGCHLD])
                if info.si_signo == signal.SIGCHLD:
                    if os.waitpid(pid, os.WNOHANG)[0] == pid:
                        child, pid = pid, 0  # the child is gone: count what it left queued, then stop
                        while (left := signal.sigtimedwait([NOTIFY], 0)) is not None:
                            if left.si_pid == child:  # not somebody else's signal
                                count += 1
                        break
                    continue
                if info.si_pid != pid:
                    continue  # somebody else's signal: not a notification of our child
                count += 1
                if count % window == 0 and count < n:
                    os.kill(pid, ACK)
        finally:
            if pid:
                os.waitpid(pid, 0)
            if signal.SIGCHLD not in old_mask:  # our child's SIGCHLD: not left pending for the caller
                while signal.sigtimedwait([signal.SIGCHLD], 0) is not None:
                    pass
        return count
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)


# --- task 3 ----------------------------------------------------------------------------


class GracefulWorker:
    """A child process running `job()` in a loop until asked to stop with SIGTERM."""

    def __init__(self, job: Callable[[], object]):
        self._returncode: int | None = None
        # Block SIGTERM before fork: a SIGTERM sent right after fork() stays pending
        # in the child instead of killing it with the default action.
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        try:
            pid = os.fork()
            if pid == 0:
                status = 1
                try:
                    # SIGTERM stays blocked: it can only pend, never interrupt a job.
                    # A second SIGTERM merges with the first one. Check between jobs.
                    while True:
                        job()
                        if signal.sigtimedwait([signal.SIGTERM], 0) is not None:
                            break
                    status = 0
                finally:
                    os._exit(status)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        self.pid = pid

    def _reap(self) -> bool:
        if self._returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == 0:
                return False
            self._returncode = _exit_code(status)
        return True

    def wait(self, timeout: float | None = None) -> int | None:
        if self._returncode is not None:
            return self._returncode
        deadline = None if timeout is None else time.monotonic() + timeout
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
        try:
            # SIGCHLD merges too (and may come from another child): after each one,
            # ask waitpid about *our* child without blocking.
            while not self._reap():
                if deadline is None:
                    signal.sigwaitinfo([signal.SIGCHLD])
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                signal.sigtimedwait([signal.SIGCHLD], remaining)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        return self._returncode

    def stop(self, timeout: float | None = None) -> int:
        if self._returncode is None:
            os.kill(self.pid, signal.SIGTERM)  # not reaped yet: the pid is still ours
        code = self.wait(timeout)
        if code is None:
            raise TimeoutError(f"worker {self.pid} did not finish its job within {timeout} s")
        return code

    def __enter__(self) -> GracefulWorker:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
