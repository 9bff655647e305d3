"""The `semaphore` kata: POSIX named semaphores and System V semaphores.

Read the spec first: `kata start semaphore` printed where it is, or `kata show semaphore`.
Run `kata grade semaphore` after each step; every task is graded on its own.
You need `posix_ipc` and `sysv_ipc` (both installed with ipc-kata) and the standard library.
"""

from __future__ import annotations

from contextlib import contextmanager


def locked_increments(path: str, processes: int, iterations: int, name: str) -> int:
    """Fork `processes` workers; each adds one to the decimal integer stored in the
    file `path`, `iterations` times (read, add one, write back), holding the POSIX
    named semaphore `name` around each read-modify-write.

    Create the semaphore (mode 0o600, O_CREX: an existing name is an error), reap
    every worker, unlink the semaphore, and return the final value of the counter.
    """
    raise NotImplementedError


class Pool:
    """A counting POSIX named semaphore: at most `slots` holders at once, across
    every process that opens a Pool with the same `name`.

    The first Pool(name, slots) creates the semaphore (mode 0o600, value `slots`);
    a Pool opened with an existing name joins it.
    """

    def __init__(self, name: str, slots: int):
        raise NotImplementedError

    def acquire(self, timeout: float | None = None) -> None:
        """Take a slot; wait at most `timeout` seconds (None: forever), then raise TimeoutError."""
        raise NotImplementedError

    def release(self) -> None:
        """Give a slot back."""
        raise NotImplementedError

    @contextmanager
    def slot(self, timeout: float | None = None):
        """`with pool.slot():` holds a slot for the body, and releases it even if the body raises."""
        raise NotImplementedError

    def close(self) -> None:
        """Close this process's handle (the semaphore stays for the others)."""
        raise NotImplementedError

    def unlink(self) -> None:
        """Remove the name from the system."""
        raise NotImplementedError


class RobustLock:
    """A lock on a System V semaphore identified by `key`: the first RobustLock(key)
    creates it (mode 0o600, free), later ones open it. Operations use SEM_UNDO, so
    a holder killed with SIGKILL releases the lock.
    """

    def __init__(self, key: int):
        raise NotImplementedError

    def acquire(self, timeout: float | None = None) -> None:
        """Take the lock; wait at most `timeout` seconds (None: forever), then raise TimeoutError."""
        raise NotImplementedError

    def release(self) -> None:
        """Give the lock back."""
        raise NotImplementedError

    def remove(self) -> None:
        """Remove the semaphore set from the system (IPC_RMID)."""
        raise NotImplementedError
