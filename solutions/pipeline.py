"""Reference solution of the `pipeline` kata: the shell's `a | b | c` with pipe, fork, dup2 and exec."""

from __future__ import annotations

import os
import select
import signal

CHUNK = 1 << 16  # the default pipe capacity: one read empties a full pipe


def run_pipeline(commands: list[list[str]], stdin: bytes = b"") -> tuple[bytes, list[int]]:
    if not commands or any(not command for command in commands):
        raise ValueError("a pipeline needs at least one command, and every command a program name")
    # n + 1 pipes: ours -> command 0 -> command 1 -> ... -> command n-1 -> ours.
    # os.pipe() fds are close-on-exec: the copies a child does not dup2 vanish at exec.
    pipes = [os.pipe() for _ in range(len(commands) + 1)]
    pids = []
    try:
        for index, argv in enumerate(commands):
            pid = os.fork()
            if pid == 0:
                _exec_child(argv, stdin_fd=pipes[index][0], stdout_fd=pipes[index + 1][1])
            pids.append(pid)
    finally:
        # Keep only our ends: the write end of the first pipe and the read end of the last.
        # Any other copy we keep open would hold back an EOF some command waits for.
        for index, (read_end, write_end) in enumerate(pipes):
            if index != len(commands):
                os.close(read_end)
            if index != 0:
                os.close(write_end)
    try:
        output = _feed_and_collect(pipes[0][1], pipes[-1][0], stdin)
    finally:
        codes = [_wait(pid) for pid in pids]
    return output, codes


def _exec_child(argv: list[str], stdin_fd: int, stdout_fd: int) -> None:
    """In the child: wire stdin/stdout, restore SIGPIPE, exec. Never returns."""
    status = 127
    try:
        os.dup2(stdin_fd, 0)  # dup2'd fds are inheritable: they survive exec
        os.dup2(stdout_fd, 1)
        # Python ignores SIGPIPE and exec keeps ignored signals ignored: give the
        # command the default action back, or `yes | head` never ends by SIGPIPE.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        try:
            os.execvp(argv[0], argv)
        except OSError as err:
            # The shell's rule: 126 when the file exists but cannot be executed, 127 when it is
            # nowhere. execvp's own error is not enough: it reports EACCES from a PATH directory
            # we may not search, although the command is simply not there.
            status = 126 if _exists(argv[0]) else 127
            reason = err.strerror if status == 126 else "command not found"
            os.write(2, f"{argv[0]}: {reason}\n".encode())
    finally:
        os._exit(status)


def _exists(name: str) -> bool:
    """Is there a file `name` (a path), or one by that name in a $PATH directory we can search?"""
    if "/" in name:
        return os.path.exists(name)
    return any(os.path.exists(os.path.join(directory, name)) for directory in os.get_exec_path())


def _feed_and_collect(write_fd: int, read_fd: int, data: bytes) -> bytes:
    """Write `data` into the first command while reading the last one's output.

    Doing one after the other deadlocks as soon as both exceed the pipe buffers:
    we block writing while the last command blocks writing to us.
    """
    view = memoryview(data)
    chunks = []
    if not view:
        os.close(write_fd)
        write_fd = -1
    else:
        os.set_blocking(write_fd, False)  # a write takes what fits instead of blocking
    try:
        while read_fd >= 0:
            wanted = [write_fd] if write_fd >= 0 else []
            readable, writable, _ = select.select([read_fd], wanted, [])
            if writable:
                try:
                    view = view[os.write(write_fd, view[:CHUNK]) :]
                except BlockingIOError:
                    pass
                except BrokenPipeError:  # the first command exited without reading everything
                    view = view[:0]
                if not view:
                    os.close(write_fd)  # EOF for the first command
                    write_fd = -1
            if readable:
                chunk = os.read(read_fd, CHUNK)
                if chunk:
                    chunks.append(chunk)
                else:
                    os.close(read_fd)
                    read_fd = -1
    finally:
        for fd in (write_fd, read_fd):
            if fd >= 0:
                os.close(fd)
    return b"".join(chunks)


def _wait(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    # the exit code, or minus the signal number for a command killed by a signal (like subprocess)
    return os.waitstatus_to_exitcode(status)
