"""Reference solution of the `message-queue` kata: POSIX and System V message queues."""

from __future__ import annotations

import os
import time

import posix_ipc
import sysv_ipc

REQUEST_TYPE = 1  # every request travels on type 1; replies on the caller's own type (its pid)
HEADER = 8  # a request starts with the reply type, 8 bytes big-endian
MAX_PAYLOAD = 8000  # largest request or reply
MAX_MESSAGE = 8192  # the kernel's msgmax; sysv_ipc's receive buffer defaults to 2048: raise it


class JobQueue:
    """Jobs with priorities on a POSIX message queue, shared by name between processes."""

    def __init__(self, name: str, capacity: int, max_size: int):
        if capacity < 1 or max_size < 1:
            raise ValueError("capacity and max_size must be at least 1")
        self.name = name
        try:
            self._mq = posix_ipc.MessageQueue(
                name, posix_ipc.O_CREX, mode=0o600, max_messages=capacity, max_message_size=max_size
            )
        except posix_ipc.ExistentialError:  # another process created it: join it
            self._mq = posix_ipc.MessageQueue(name)
        self.capacity = self._mq.max_messages
        self.max_size = self._mq.max_message_size

    def put(self, job: bytes, priority: int = 0, timeout: float | None = None) -> None:
        if len(job) > self.max_size:
            raise ValueError(f"a job of {len(job)} bytes exceeds max_size={self.max_size}")
        try:
            self._mq.send(job, timeout, priority)
        except posix_ipc.BusyError:
            raise TimeoutError(f"{self.name} stayed full for {timeout} s") from None

    def get(self, timeout: float | None = None) -> tuple[bytes, int]:
        try:
            return self._mq.receive(timeout)
        except posix_ipc.BusyError:
            raise TimeoutError(f"{self.name} stayed empty for {timeout} s") from None

    def close(self) -> None:
        self._mq.close()

    def unlink(self) -> None:
        posix_ipc.unlink_message_queue(self.name)


class RpcServer:
    """Serves handler(request) -> reply on the System V queue `key` (which it creates)."""

    def __init__(self, key: int, handler):
        self.key = key
        self.handler = handler
        self._stopping = False
        self._mq = sysv_ipc.MessageQueue(key, sysv_ipc.IPC_CREX, mode=0o600, max_message_size=MAX_MESSAGE)

    def serve_forever(self) -> None:
        while not self._stopping:
            try:
                message, _ = self._mq.receive(type=REQUEST_TYPE)
                reply_type = int.from_bytes(message[:HEADER], "big")
                reply = self.handler(message[HEADER:])
                self._mq.send(reply, type=reply_type)
            except sysv_ipc.ExistentialError:  # stop() removed the queue: we are done
                return

    def stop(self) -> None:
        """Make serve_forever() return (from another thread) and remove the queue."""
        self._stopping = True
        try:
            self._mq.remove()  # wakes a receive() blocked in serve_forever with EIDRM
        except sysv_ipc.ExistentialError:
            pass


def rpc_call(key: int, request: bytes, timeout: float | None) -> bytes:
    if len(request) > MAX_PAYLOAD:
        raise ValueError(f"a request of {len(request)} bytes exceeds {MAX_PAYLOAD}")
    try:
        mq = sysv_ipc.MessageQueue(key, max_message_size=MAX_MESSAGE)
    except sysv_ipc.ExistentialError:
        raise FileNotFoundError(f"no message queue with key {key:#x}: is the server running?") from None
    me = os.getpid()
    _drain(mq, me)  # a late reply to an earlier call that timed out is not ours any more
    mq.send(me.to_bytes(HEADER, "big") + request, type=REQUEST_TYPE)
    if timeout is None:
        return mq.receive(type=me)[0]
    # msgrcv has no timeout: try with IPC_NOWAIT, back off, until the deadline.
    deadline = time.monotonic() + timeout
    pause = 0.0001
    while True:
        try:
            return mq.receive(block=False, type=me)[0]
        except sysv_ipc.BusyError:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no reply from the server on key {key:#x} within {timeout} s") from None
            time.sleep(min(pause, left))
            pause = min(pause * 2, 0.005)


def _drain(mq: sysv_ipc.MessageQueue, reply_type: int) -> None:
    while True:
        try:
            mq.receive(block=False, type=reply_type)
        except sysv_ipc.BusyError:
            return
