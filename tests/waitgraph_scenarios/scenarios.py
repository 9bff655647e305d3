"""Small programs that deadlock on purpose, for tests/test_waitgraph.py.

Usage: python scenarios.py NAME TOKEN WORKDIR

This process is a launcher: it becomes a child subreaper, forks the scenario's
first process and then only waits for its stdin to close, reaping whatever the
test killed. The scenario's processes print one JSON line of facts each (pids,
fds, inodes) on stdout before they block, so the test can check the evidence
the graph names. IPC names derive from TOKEN (unique per test); the test
removes them.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import select
import signal
import socket
import struct
import sys

BIG = 1 << 20  # far more than a pipe's 64 KiB buffer


F_OFD_SETLK, F_OFD_SETLKW = 37, 38  # fcntl(2); Python's fcntl module names them from 3.12 on


def emit(role: str, **facts: object) -> None:
    os.write(1, (json.dumps({"role": role, "pid": os.getpid(), **facts}) + "\n").encode())


def pipe_inode(fd: int) -> int:
    return os.fstat(fd).st_ino


def fork_writer(payload: bytes) -> tuple[int, int, int]:
    """A pipe and a child that writes `payload` into it and exits: (read end, write end, child)."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read_end)
        os.write(write_end, payload)
        os._exit(0)
    return read_end, write_end, child


def wait_before_read(token: str, workdir: str) -> None:
    """The parent reaps before reading; the child blocks writing 1 MiB into the 64 KiB pipe."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read_end)
        emit("child", write_fd=write_end)
        os.write(write_end, b"x" * BIG)
        os._exit(0)
    os.close(write_end)
    emit("parent", read_fd=read_end, pipe=pipe_inode(read_end), child=child)
    os.waitpid(child, 0)


def parent_keeps_write_end(token: str, workdir: str) -> None:
    """The parent forgot to close its copy of the write end, then reads to EOF."""
    _read_with_own_write_end(dumpable=True)


def undumpable_reader(token: str, workdir: str) -> None:
    """The same, in a process made non-dumpable: its /proc files become root's, so an
    unprivileged reader can see its state but not its fds or system call."""
    _read_with_own_write_end(dumpable=False)


def _read_with_own_write_end(dumpable: bool) -> None:
    read_end, write_end, child = fork_writer(b"hello")
    if not dumpable:
        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0
    emit("parent", read_fd=read_end, write_fd=write_end, pipe=pipe_inode(read_end), child=child)
    while os.read(read_end, 4096):
        pass


def read_with_alarm_armed(token: str, workdir: str) -> None:
    """The parent keeps its write end and reads, but a SIGALRM handler and an alarm would end
    the wait: stuck as far as /proc shows, yet not a deadlock anyone may stop early."""

    def on_alarm(signum: int, frame: object) -> None:
        raise TimeoutError

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(600)
    _read_with_own_write_end(dumpable=True)


def sibling_inherits_write_end(token: str, workdir: str) -> None:
    """Child 2 is forked while the parent still holds child 1's write end, and keeps it;
    child 2 then blocks writing its big output, which the parent reads only later."""
    read_1, write_1, child_1 = fork_writer(b"one")
    read_2, write_2 = os.pipe()
    child_2 = os.fork()
    if child_2 == 0:
        os.close(read_2)  # but not write_1: the bug
        emit("child2", kept_fd=write_1, write_fd=write_2)
        os.write(write_2, b"y" * BIG)
        os._exit(0)
    os.close(write_1)
    os.close(write_2)
    emit("parent", read_fd=read_1, pipe=pipe_inode(read_1), child1=child_1, child2=child_2)
    while os.read(read_1, 4096):
        pass
    os.read(read_2, BIG)


def socketpair_child_keeps_parent_end(token: str, workdir: str) -> None:
    """The child serves requests until EOF but never closed the parent's end; the parent
    closes its end and waits for the child to exit."""
    parent_end, child_end = socket.socketpair()
    child = os.fork()
    if child == 0:
        emit("child", kept_fd=parent_end.fileno(), fd=child_end.fileno(), socket=os.fstat(child_end.fileno()).st_ino)
        while child_end.recv(4096):
            pass
        os._exit(0)
    parent_socket = os.fstat(parent_end.fileno()).st_ino
    child_end.close()
    parent_end.sendall(b"request")
    parent_end.close()
    emit("parent", child=child, parent_socket=parent_socket)
    os.waitpid(child, 0)


def fifo_open_no_writer(token: str, workdir: str) -> None:
    path = os.path.join(workdir, "requests.fifo")
    os.mkfifo(path, 0o600)
    emit("reader", path=path, inode=os.stat(path).st_ino)
    os.open(path, os.O_RDONLY)


def posix_semaphore_zero(token: str, workdir: str) -> None:
    import posix_ipc

    name = f"/wg-{token}"
    sem = posix_ipc.Semaphore(name, posix_ipc.O_CREX, 0o600, 0)
    emit("waiter", name=name)
    sem.acquire()


def sysv_semaphore_zero(token: str, workdir: str) -> None:
    import sysv_ipc

    key = int(token.rsplit("-", 1)[1])
    sem = sysv_ipc.Semaphore(key, sysv_ipc.IPC_CREX, 0o600, 0)
    emit("waiter", key=key, semid=sem.id)
    sem.acquire()


def posix_queue_empty(token: str, workdir: str) -> None:
    import posix_ipc

    name = f"/wg-{token}"
    queue = posix_ipc.MessageQueue(name, posix_ipc.O_CREX, 0o600, max_messages=4, max_message_size=64)
    emit("receiver", name=name, fd=queue.mqd)
    queue.receive()


def sysv_queue_empty(token: str, workdir: str) -> None:
    import sysv_ipc

    key = int(token.rsplit("-", 1)[1])
    queue = sysv_ipc.MessageQueue(key, sysv_ipc.IPC_CREX, 0o600)
    emit("receiver", key=key, msqid=queue.id)
    queue.receive()


def busy_child(token: str, workdir: str) -> None:
    """The parent waits for a child that spins instead of blocking."""
    child = os.fork()
    if child == 0:
        emit("child")
        while True:
            pass
    emit("parent", child=child)
    os.waitpid(child, 0)


def spin_on_a_fifo_at_eof(token: str, workdir: str) -> None:
    """A FIFO server without a write end of its own: once its only writer has gone, select() says
    readable and read() returns b'' at once, for ever, and its wait loop spins."""
    path = os.path.join(workdir, f"fifo-{token}")
    os.mkfifo(path, 0o600)
    read_end = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    writer = os.fork()
    if writer == 0:
        os.write(os.open(path, os.O_WRONLY), b"hello\n")
        os._exit(0)
    os.waitpid(writer, 0)
    emit("reader", read_fd=read_end, path=path)
    while True:
        select.select([read_end], [], [], 1.0)
        os.read(read_end, 4096)


def spin_polling_a_fifo(token: str, workdir: str) -> None:
    """A FIFO reader that polls with non-blocking reads while a writer is there (a process the test
    starts, outside the run): a busy loop, but not at EOF."""
    path = os.path.join(workdir, f"fifo-{token}")
    os.mkfifo(path, 0o600)
    read_end = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    emit("reader", read_fd=read_end, path=path)
    while True:
        try:
            os.read(read_end, 4096)
        except BlockingIOError:
            pass


def spin_on_a_pipe_at_eof(token: str, workdir: str) -> None:
    """A reader that takes b'' for "nothing yet" on a pipe whose writer has exited: spins, at EOF."""
    read_end, write_end, child = fork_writer(b"all of it")
    os.close(write_end)
    os.waitpid(child, 0)
    emit("reader", read_fd=read_end, pipe=pipe_inode(read_end))
    while True:
        os.read(read_end, 4096)


def sigtimedwait_never_sent(token: str, workdir: str) -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    emit("waiter")
    signal.sigtimedwait({signal.SIGUSR1}, 300)


def pause_with_handler(token: str, workdir: str) -> None:
    """The check-then-pause race: a handler is installed, then pause() waits for a signal
    that (in the real bug) arrived between the check and the pause."""
    signal.signal(signal.SIGUSR1, lambda signum, frame: None)
    emit("waiter")
    signal.pause()


def sleep_instead_of_waiting(token: str, workdir: str) -> None:
    """A handler counts the signal, but the wait is a sleep that the handler does not end."""
    import faulthandler
    import time

    faulthandler.enable()  # as under pytest: handlers for SIGSEGV and friends, which nobody waits on
    signal.signal(signal.SIGUSR1, lambda signum, frame: None)
    emit("sleeper")
    time.sleep(300)


def worker_thread_never_sees_eof(token: str, workdir: str) -> None:
    """The main thread joins a worker that reads a pipe whose write end the process still holds."""
    import threading

    read_end, write_end = os.pipe()

    def drain() -> None:
        while os.read(read_end, 4096):
            pass

    worker = threading.Thread(target=drain)
    worker.start()
    emit("process", read_fd=read_end, write_fd=write_end, pipe=pipe_inode(read_end), worker=worker.native_id)
    worker.join()


def threads_read_each_others_ends(token: str, workdir: str) -> None:
    """A client thread and a server thread of one process each wait to read the other's
    socketpair end: both expect the other to speak first."""
    import threading

    client, server = socket.socketpair()
    threads = [threading.Thread(target=end.recv, args=(4096,)) for end in (client, server)]
    for thread in threads:
        thread.start()
    emit("process", client_fd=client.fileno(), server_fd=server.fileno(), threads=[t.native_id for t in threads])
    for thread in threads:
        thread.join()


def poll_for_a_reply_nobody_sends(token: str, workdir: str) -> None:
    """rpc_call as a try-and-sleep loop: the caller polls its reply type with IPC_NOWAIT; the
    server child waits for requests on type 1, but the caller sent its request on type 2."""
    import time

    import sysv_ipc

    key = int(token.rsplit("-", 1)[1])
    queue = sysv_ipc.MessageQueue(key, sysv_ipc.IPC_CREX, 0o600)
    server = os.fork()
    if server == 0:
        emit("server", msqid=queue.id)
        queue.receive(type=1)
        os._exit(0)
    queue.send(b"request", type=2)  # the bug: requests go on type 1
    emit("caller", server=server)
    while True:
        try:
            queue.receive(block=False, type=os.getpid())
            break
        except sysv_ipc.BusyError:
            time.sleep(0.01)


def write_all_then_read(token: str, workdir: str) -> None:
    """`cat` as a filter: the parent writes all its input before reading any output."""
    in_read, in_write = os.pipe()
    out_read, out_write = os.pipe()
    child = os.fork()
    if child == 0:
        os.dup2(in_read, 0)
        os.dup2(out_write, 1)
        for fd in (in_read, in_write, out_read, out_write):
            os.close(fd)
        os.execvp("cat", ["cat"])
    os.close(in_read)
    os.close(out_write)
    emit("parent", child=child, in_fd=in_write, in_pipe=pipe_inode(in_write), out_pipe=pipe_inode(out_read))
    data = memoryview(b"z" * (4 * BIG))
    while data:
        data = data[os.write(in_write, data) :]
    os.read(out_read, BIG)


def accept_nobody(token: str, workdir: str) -> None:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    path = os.path.join(workdir, "server.sock")
    server.bind(path)
    server.listen()
    emit("server", fd=server.fileno(), socket=os.fstat(server.fileno()).st_ino, path=path)
    server.accept()


def lock_through_a_second_open(token: str, workdir: str) -> None:
    """An OFD lock taken through one open() of a file, then wanted again through a second open()."""
    path = os.path.join(workdir, "table")
    first, second = os.open(path, os.O_RDWR | os.O_CREAT, 0o600), os.open(path, os.O_RDWR)
    fcntl.fcntl(first, F_OFD_SETLK, struct.pack("hhqqi", fcntl.F_WRLCK, 0, 0, 0, 0))
    emit("locker", first_fd=first, second_fd=second, path=path)
    fcntl.fcntl(second, F_OFD_SETLKW, struct.pack("hhqqi", fcntl.F_WRLCK, 0, 0, 0, 0))


SCENARIOS = {
    function.__name__: function
    for function in (
        spin_on_a_fifo_at_eof,
        spin_polling_a_fifo,
        spin_on_a_pipe_at_eof,
        wait_before_read,
        parent_keeps_write_end,
        undumpable_reader,
        read_with_alarm_armed,
        sibling_inherits_write_end,
        socketpair_child_keeps_parent_end,
        fifo_open_no_writer,
        posix_semaphore_zero,
        sysv_semaphore_zero,
        posix_queue_empty,
        sysv_queue_empty,
        busy_child,
        sigtimedwait_never_sent,
        pause_with_handler,
        sleep_instead_of_waiting,
        worker_thread_never_sees_eof,
        threads_read_each_others_ends,
        poll_for_a_reply_nobody_sends,
        write_all_then_read,
        accept_nobody,
        lock_through_a_second_open,
    )
}


def main() -> None:
    name, token, workdir = sys.argv[1:4]
    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans come back to us
    first = os.fork()
    if first == 0:
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)  # the scenario's pipes must not land on fd 0
        os.close(devnull)
        try:
            SCENARIOS[name](token, workdir)
        finally:
            os._exit(0)
    emit("launcher", first=first)
    while os.read(0, 1024):  # the test closes our stdin once it has killed the scenario
        pass
    while True:
        try:
            os.wait()
        except ChildProcessError:
            break


if __name__ == "__main__":
    main()
