"""The `message-queue` kata: POSIX and System V message queues.

Read the spec first: `kata start message-queue` printed where it is, or `kata show message-queue`.
Run `kata grade message-queue` after each step; every task is graded on its own.
You need `posix_ipc` and `sysv_ipc` (both installed with ipc-kata) and the standard library.
"""

from __future__ import annotations

REQUEST_TYPE = 1  # every request travels on type 1; replies on the caller's own type (its pid)
HEADER = 8  # a request starts with the reply type, 8 bytes big-endian
MAX_PAYLOAD = 8000  # largest request or reply
MAX_MESSAGE = 8192  # the kernel's msgmax (/proc/sys/kernel/msgmax)


class JobQueue:
    """Jobs with priorities on the POSIX message queue `name`.

    The first JobQueue(name, ...) creates the queue (mode 0o600, at most `capacity`
    jobs of at most `max_size` bytes); a JobQueue opened with an existing name, in
    any process, joins it.
    """

    def __init__(self, name: str, capacity: int, max_size: int):
        raise NotImplementedError

    def put(self, job: bytes, priority: int = 0, timeout: float | None = None) -> None:
        """Queue `job`; wait while the queue is full, at most `timeout` seconds (None:
        forever), then raise TimeoutError. ValueError when the job exceeds max_size."""
        raise NotImplementedError

    def get(self, timeout: float | None = None) -> tuple[bytes, int]:
        """(job, priority) of the highest priority, oldest first within a priority; wait
        while the queue is empty, at most `timeout` seconds, then raise TimeoutError."""
        raise NotImplementedError

    def close(self) -> None:
        """Close this process's descriptor (the queue stays)."""
        raise NotImplementedError

    def unlink(self) -> None:
        """Remove the queue's name from the system."""
        raise NotImplementedError


class RpcServer:
    """Answers `handler(request) -> reply` on the System V message queue `key`,
    which it creates (mode 0o600, exclusive). Requests arrive on type 1 and start
    with the caller's reply type (8 bytes, big-endian); each reply goes on that type.
    """

    def __init__(self, key: int, handler):
        raise NotImplementedError

    def serve_forever(self) -> None:
        """Serve requests one after the other until stop() is called (from another thread)."""
        raise NotImplementedError

    def stop(self) -> None:
        """Make serve_forever() return and remove the queue."""
        raise NotImplementedError


def rpc_call(key: int, request: bytes, timeout: float | None) -> bytes:
    """Send `request` to the server on queue `key` and return its reply, waiting at
    most `timeout` seconds (None: forever) before raising TimeoutError.
    FileNotFoundError when no queue exists for `key`."""
    raise NotImplementedError
