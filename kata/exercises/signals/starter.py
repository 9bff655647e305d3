"""The `signals` kata: counting signals, reliable notification, graceful shutdown.

Read the spec first: `kata start signals` printed where it is, or `kata show signals`.
Run `kata grade signals` after each step; every task is graded on its own.
Only the standard library is needed (os, signal, time).

Never use SIGALRM (the grader's limits come from outside) nor SIGRTMAX - 1
(reserved by the grader). Handlers run in the main thread only.
"""

from __future__ import annotations

from collections.abc import Callable


class SignalCounter:
    """Counts deliveries of one signal to this process.

    SignalCounter(signum) installs a handler for `signum` (from the main thread);
    close() puts back the disposition that was there before. Also a context manager.
    """

    def __init__(self, signum: int):
        raise NotImplementedError

    @property
    def count(self) -> int:
        """How many times the signal was delivered since the counter was created."""
        raise NotImplementedError

    def wait_for(self, n: int, timeout: float) -> int:
        """Block until `count >= n` or `timeout` seconds have passed; return `count`.

        Sleep in the kernel while waiting: no busy loop, no sleep-and-check loop.
        """
        raise NotImplementedError

    def close(self) -> None:
        """Restore the previous disposition of the signal (a second call does nothing)."""
        raise NotImplementedError

    def __enter__(self) -> SignalCounter:
        raise NotImplementedError

    def __exit__(self, *exc) -> None:
        raise NotImplementedError


def reliable_notify(n: int) -> int:
    """Fork a child that notifies the parent `n` times with signals, as fast as it can;
    the parent counts the notifications, reaps the child and returns the count, which
    must be exactly `n`. The caller's signal mask and handlers are unchanged afterwards.
    """
    raise NotImplementedError


class GracefulWorker:
    """A child process that runs `job()` again and again until it gets SIGTERM.

    On SIGTERM the worker finishes the job in progress and exits with status 0; a
    second SIGTERM does not cut the job short. If `job()` raises, it exits with 1.
    """

    def __init__(self, job: Callable[[], object]):
        """Fork the worker (and return at once). `self.pid` is its process id."""
        raise NotImplementedError

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait until the worker exits (learning of it through SIGCHLD, without polling)
        and reap it. Return its status: the exit code, or -N if signal N killed it.
        Return None if it is still running after `timeout` seconds (None: no limit).
        """
        raise NotImplementedError

    def stop(self, timeout: float | None = None) -> int:
        """Send SIGTERM (unless the worker already exited) and return wait()'s status.
        Raise TimeoutError if it is still running after `timeout` seconds. Calling it
        again returns the same status.
        """
        raise NotImplementedError

    def __enter__(self) -> GracefulWorker:
        raise NotImplementedError

    def __exit__(self, *exc) -> None:
        raise NotImplementedError
