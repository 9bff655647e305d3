"""Reading what the kernel shows about processes and IPC objects, one file at a time.

Every function reads one thing and raises OSError when it cannot: the caller
decides what a missing piece means and says so. What needs which access, for a
user who is not root:
- world-readable: stat, status, schedstat, /proc/net/*, /proc/sysvipc/*;
- PTRACE_MODE_READ (same uid, process dumpable): fd, fdinfo, maps, wchan;
- PTRACE_MODE_ATTACH (that, plus Yama's ptrace_scope 1 allows it only to an
  ancestor of the process): syscall, mem.
The grader's runner is an ancestor (through the sandbox's subreapers) of every
process of a run, so all of it is readable unless Yama is at 2 or the learner's
code made a process non-dumpable.
"""

from __future__ import annotations

import ctypes
import os
import socket
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


# --- tasks ----------------------------------------------------------------------


@dataclass(frozen=True)
class TaskStat:
    state: str  # R, S, D, T, t, Z, X, I
    ppid: int
    comm: str


@dataclass(frozen=True)
class Syscall:
    number: int  # -1: blocked in the kernel but not in a system call
    args: tuple[int, ...]  # six raw register values


@dataclass(frozen=True)
class SignalMasks:
    blocked: int  # of this thread
    pending: int  # to this thread
    shared_pending: int  # to the process
    caught: int
    ignored: int


def _task_dir(pid: int, tid: int | None) -> Path:
    return PROC / str(pid) if tid is None or tid == pid else PROC / str(pid) / "task" / str(tid)


def all_pids() -> list[int]:
    return sorted(int(entry.name) for entry in PROC.iterdir() if entry.name.isdigit())


def thread_ids(pid: int) -> list[int]:
    return sorted(int(entry.name) for entry in (PROC / str(pid) / "task").iterdir())


def children(pid: int) -> list[int]:
    """The process's children, zombies included (each thread's /proc/<pid>/task/<tid>/children)."""
    found: list[int] = []
    for tid in thread_ids(pid):
        found += [int(child) for child in (PROC / str(pid) / "task" / str(tid) / "children").read_text().split()]
    return sorted(set(found))


def task_stat(pid: int, tid: int | None = None) -> TaskStat:
    text = (_task_dir(pid, tid) / "stat").read_text()
    comm = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return TaskStat(state=fields[0], ppid=int(fields[1]), comm=comm)


def uid(pid: int) -> int:
    return (PROC / str(pid)).stat().st_uid


def syscall(pid: int, tid: int | None = None) -> Syscall | None:
    """The system call the task is blocked in; None while it runs (needs ptrace attach access)."""
    text = (_task_dir(pid, tid) / "syscall").read_text().split()
    if not text or text[0] == "running":
        return None
    number = int(text[0])
    return Syscall(number=number, args=tuple(int(value, 16) for value in text[1:7]))


def wchan(pid: int, tid: int | None = None) -> str:
    """The kernel function the task sleeps in ('pipe_read', 'do_wait'), '' when none."""
    text = (_task_dir(pid, tid) / "wchan").read_text().strip()
    return "" if text == "0" else text


def signal_masks(pid: int, tid: int | None = None) -> SignalMasks:
    fields: dict[str, int] = {}
    for line in (_task_dir(pid, tid) / "status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("SigBlk", "SigPnd", "ShdPnd", "SigCgt", "SigIgn"):
            fields[key] = int(value.strip(), 16)
    return SignalMasks(
        blocked=fields.get("SigBlk", 0),
        pending=fields.get("SigPnd", 0),
        shared_pending=fields.get("ShdPnd", 0),
        caught=fields.get("SigCgt", 0),
        ignored=fields.get("SigIgn", 0),
    )


def context_switches(pid: int, tid: int | None = None, *, voluntary_only: bool = False) -> int:
    """How many times the task has been switched out, voluntarily or not (status): a task
    whose count did not change between two readings did not run in between. Voluntary ones
    only: how many times it blocked (a spinner never does; a poller does at every nap)."""
    counted = (
        ("voluntary_ctxt_switches",) if voluntary_only else ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")
    )
    total = 0
    for line in (_task_dir(pid, tid) / "status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in counted:
            total += int(value)
    return total


def cpu_ns(pid: int) -> int:
    """CPU time used so far, in ns (schedstat; stat's clock ticks are too coarse to see a spin)."""
    try:
        return int((PROC / str(pid) / "schedstat").read_text().split()[0])
    except (OSError, IndexError, ValueError):
        fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


# --- memory ---------------------------------------------------------------------


def read_memory(pid: int, address: int, size: int) -> bytes:
    """Bytes of the process's memory (needs ptrace attach access), e.g. a poll() array."""
    fd = os.open(PROC / str(pid) / "mem", os.O_RDONLY)
    try:
        data = os.pread(fd, size, address)
    finally:
        os.close(fd)
    if len(data) != size:
        raise OSError(f"short read of {size} bytes at {address:#x} in pid {pid}")
    return data


def read_string(pid: int, address: int, limit: int = 4096) -> str:
    """A NUL-terminated string of the process's memory (a path passed to open)."""
    chunks = b""
    while len(chunks) < limit:
        page_left = 4096 - (address + len(chunks)) % 4096
        chunk = read_memory(pid, address + len(chunks), min(page_left, limit - len(chunks)))
        end = chunk.find(b"\0")
        if end >= 0:
            return (chunks + chunk[:end]).decode(errors="replace")
        chunks += chunk
    return chunks.decode(errors="replace")


@dataclass(frozen=True)
class Mapping:
    start: int
    end: int
    offset: int
    shared: bool
    inode: int
    path: str  # may end with " (deleted)"


def maps(pid: int) -> list[Mapping]:
    found = []
    for line in (PROC / str(pid) / "maps").read_text().splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) < 5:
            continue
        start, end = (int(x, 16) for x in parts[0].split("-"))
        found.append(
            Mapping(
                start=start,
                end=end,
                offset=int(parts[2], 16),
                shared=parts[1].endswith("s"),
                inode=int(parts[4]),
                path=parts[5] if len(parts) > 5 else "",
            )
        )
    return found


# --- file descriptors -----------------------------------------------------------


@dataclass(frozen=True)
class FdEntry:
    fd: int
    target: str  # the fd link: 'pipe:[4411]', 'socket:[90]', '/tmp/x/fifo', 'anon_inode:[eventfd]'
    kind: str  # pipe, fifo, socket, mqueue, anon, file
    access: str  # r, w, rw
    inode: int  # 0 when unknown


_ACCESS = {os.O_RDONLY: "r", os.O_WRONLY: "w", os.O_RDWR: "rw"}


def _mqueue_dev() -> int | None:
    try:
        return os.stat("/dev/mqueue").st_dev
    except OSError:
        return None


def fd_links(pid: int) -> dict[int, str]:
    """fd -> link text ('pipe:[4411]', a path): cheap, for scanning every process (needs ptrace read)."""
    directory = PROC / str(pid) / "fd"
    links = {}
    for entry in os.listdir(directory):
        try:
            links[int(entry)] = os.readlink(directory / entry)
        except FileNotFoundError:
            continue  # closed meanwhile
    return links


def fds(pid: int) -> dict[int, FdEntry]:
    """The open descriptors of a process, with what each is and how it was opened (needs ptrace read)."""
    mqueue_dev = _mqueue_dev()
    table = {}
    for fd, target in fd_links(pid).items():
        try:
            access = fd_access(pid, fd)
        except FileNotFoundError:
            continue
        kind, inode = _classify(PROC / str(pid) / "fd" / str(fd), target, mqueue_dev)
        table[fd] = FdEntry(fd=fd, target=target, kind=kind, access=access, inode=inode)
    return table


@dataclass(frozen=True)
class FileLock:
    """One line of /proc/locks: a lock held (or, `blocked`, waited for) on a file."""

    kind: str  # POSIX (classic fcntl), OFDLCK (open file description), FLOCK
    mode: str  # READ or WRITE
    pid: int  # the holder; -1 for an OFD lock (it belongs to an open file description, not a process)
    device: tuple[int, int]  # major, minor
    inode: int
    span: str  # '0 EOF', '16 31'
    blocked: bool


def file_locks() -> list[FileLock]:
    """The kernel's table of file locks, readable by anyone (proc(5): /proc/locks)."""
    found = []
    for line in (PROC / "locks").read_text().splitlines():
        fields = line.split()
        blocked = len(fields) > 1 and fields[1] == "->"
        rest = fields[2:] if blocked else fields[1:]
        if len(rest) < 7:
            continue
        major, minor, inode = rest[4].split(":")
        found.append(
            FileLock(
                rest[0],
                rest[2],
                int(rest[3]),
                (int(major, 16), int(minor, 16)),
                int(inode),
                " ".join(rest[5:7]),
                blocked,
            )
        )
    return found


def fd_access(pid: int, fd: int) -> str:
    """'r', 'w' or 'rw': how the fd was opened, from the flags of its fdinfo."""
    for line in (PROC / str(pid) / "fdinfo" / str(fd)).read_text().splitlines():
        if line.startswith("flags:"):
            return _ACCESS.get(int(line.split()[1], 8) & os.O_ACCMODE, "rw")
    return "rw"


def _classify(link: Path, target: str, mqueue_dev: int | None) -> tuple[str, int]:
    for prefix, kind in (("pipe:[", "pipe"), ("socket:[", "socket")):
        if target.startswith(prefix):
            return kind, int(target[len(prefix) : -1])
    if target.startswith("anon_inode:"):
        return "anon", 0
    try:
        info = os.stat(link)
    except OSError:
        return "file", 0
    if stat.S_ISFIFO(info.st_mode):
        return "fifo", info.st_ino
    if mqueue_dev is not None and info.st_dev == mqueue_dev:
        return "mqueue", info.st_ino
    return "file", info.st_ino


def epoll_targets(pid: int, fd: int) -> list[tuple[int, int]]:
    """(watched fd, event mask) of an epoll instance, from its fdinfo's tfd lines."""
    targets = []
    for line in (PROC / str(pid) / "fdinfo" / str(fd)).read_text().splitlines():
        if line.startswith("tfd:"):
            parts = line.split()
            targets.append((int(parts[1]), int(parts[3], 16)))
    return targets


# --- sockets --------------------------------------------------------------------


@dataclass(frozen=True)
class UnixSocket:
    inode: int
    type: str  # stream, dgram, seqpacket
    listening: bool
    path: str
    peer: int | None  # the other end's inode; None when unknown (no sock_diag)
    queued: int | None  # bytes (stream) waiting in this socket's receive queue, or pending connections


_UNIX_TYPES = {1: "stream", 2: "dgram", 5: "seqpacket"}
_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_UDIAG_SHOW = 0x1 | 0x4 | 0x10  # name, peer, receive-queue length
_UNIX_LISTEN = 10  # TCP_LISTEN, the state sock_diag reports for a listening unix socket


def unix_sockets() -> dict[int, UnixSocket]:
    """Every AF_UNIX socket of this network namespace, with its peer when sock_diag answers."""
    try:
        return _unix_sockets_diag()
    except OSError:
        return _unix_sockets_proc()


def _unix_sockets_diag() -> dict[int, UnixSocket]:
    request = struct.pack("=BBHIII2I", socket.AF_UNIX, 0, 0, 0xFFFFFFFF, 0, _UDIAG_SHOW, 0, 0)
    header = struct.pack("=IHHII", 16 + len(request), _SOCK_DIAG_BY_FAMILY, 0x1 | 0x300, 1, 0)
    found: dict[int, UnixSocket] = {}
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_SOCK_DIAG) as diag:
        diag.settimeout(2.0)
        diag.send(header + request)
        while True:
            data = diag.recv(1 << 16)
            offset = 0
            while offset + 16 <= len(data):
                length, kind = struct.unpack_from("=IH", data, offset)
                if kind == 3:  # NLMSG_DONE
                    return found
                if kind == 2:  # NLMSG_ERROR
                    raise OSError("sock_diag refused the unix socket dump")
                found_socket = _parse_unix_diag(data, offset, length)
                found[found_socket.inode] = found_socket
                offset += (length + 3) & ~3


def _parse_unix_diag(data: bytes, offset: int, length: int) -> UnixSocket:
    _, sock_type, state, _, inode = struct.unpack_from("=BBBBI", data, offset + 16)
    attrs: dict[int, bytes] = {}
    position = offset + 32
    while position + 4 <= offset + length:
        attr_length, attr_type = struct.unpack_from("=HH", data, position)
        attrs[attr_type] = data[position + 4 : position + attr_length]
        position += (attr_length + 3) & ~3
    name = attrs.get(0, b"")
    if name[:1] == b"\0":
        path = "@" + name[1:].decode(errors="replace")  # an abstract address
    else:
        path = name.rstrip(b"\0").decode(errors="replace")
    return UnixSocket(
        inode=inode,
        type=_UNIX_TYPES.get(sock_type, str(sock_type)),
        listening=state == _UNIX_LISTEN,
        path=path,
        peer=struct.unpack("=I", attrs[2])[0] if 2 in attrs else None,
        queued=struct.unpack("=II", attrs[4])[0] if 4 in attrs else None,
    )


def _table_rows(path: Path, fields: int) -> list[list[str]]:
    """The rows of a /proc table (a header line, then whitespace-separated columns)."""
    rows = [line.split() for line in path.read_text().splitlines()[1:]]
    return [row for row in rows if len(row) >= fields]


def _unix_sockets_proc() -> dict[int, UnixSocket]:
    found = {}
    for parts in _table_rows(PROC / "net" / "unix", 7):
        inode = int(parts[6])
        found[inode] = UnixSocket(
            inode=inode,
            type=_UNIX_TYPES.get(int(parts[4], 16), parts[4]),
            listening=bool(int(parts[3], 16) & 0x10000),
            path=parts[7] if len(parts) > 7 else "",
            peer=None,
            queued=None,
        )
    return found


@dataclass(frozen=True)
class TcpSocket:
    inode: int
    local: str  # hex address:port as in /proc/net/tcp
    remote: str
    listening: bool
    queued: int  # rx_queue: bytes received and not read


def tcp_sockets() -> dict[int, TcpSocket]:
    found = {}
    for table_name in ("tcp", "tcp6"):
        try:
            rows = _table_rows(PROC / "net" / table_name, 10)
        except OSError:
            continue
        for parts in rows:
            inode = int(parts[9])
            found[inode] = TcpSocket(
                inode=inode,
                local=parts[1],
                remote=parts[2],
                listening=parts[3] == "0A",
                queued=int(parts[4].split(":")[1], 16),
            )
    return found


# --- named IPC objects ----------------------------------------------------------


@dataclass(frozen=True)
class SysvQueue:
    key: int
    msqid: int
    cbytes: int
    qnum: int
    last_send_pid: int
    last_receive_pid: int


def sysv_queues() -> dict[int, SysvQueue]:
    found = {}
    for parts in _table_rows(PROC / "sysvipc" / "msg", 7):
        msqid = int(parts[1])
        found[msqid] = SysvQueue(
            key=int(parts[0]),
            msqid=msqid,
            cbytes=int(parts[3]),
            qnum=int(parts[4]),
            last_send_pid=int(parts[5]),
            last_receive_pid=int(parts[6]),
        )
    return found


@dataclass(frozen=True)
class SysvSemaphore:
    semid: int
    number: int
    value: int
    waiters: int  # processes waiting for it to increase (GETNCNT)
    last_pid: int  # the last process that operated on it (GETPID)


_GETPID, _GETVAL, _GETNCNT = 11, 12, 14


def sysv_semaphore(semid: int, number: int) -> SysvSemaphore:
    """One semaphore of a set, with its value and waiters (semctl needs read permission on the set)."""
    libc = ctypes.CDLL(None, use_errno=True)
    values = []
    for command in (_GETVAL, _GETNCNT, _GETPID):
        result = libc.semctl(ctypes.c_int(semid), ctypes.c_int(number), ctypes.c_int(command))
        if result < 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error))
        values.append(result)
    return SysvSemaphore(semid=semid, number=number, value=values[0], waiters=values[1], last_pid=values[2])


def sysv_semaphore_keys() -> dict[int, int]:
    """semid -> key of every System V semaphore set."""
    return {int(parts[1]): int(parts[0]) for parts in _table_rows(PROC / "sysvipc" / "sem", 2)}


def mqueue_bytes(name: str) -> int:
    """Bytes queued in a POSIX message queue (QSIZE of /dev/mqueue/<name>)."""
    text = (Path("/dev/mqueue") / name.lstrip("/")).read_text()
    return int(text.split("QSIZE:")[1].split()[0])


def shm_name(inode: int) -> str | None:
    """The /dev/shm entry with this inode: a POSIX semaphore 'sem.NAME' or segment 'NAME'."""
    try:
        with os.scandir("/dev/shm") as entries:
            for entry in entries:
                if entry.inode() == inode:
                    return entry.name
    except OSError:
        return None
    return None


def posix_semaphore_word(path: str, offset: int) -> tuple[int, int]:
    """(value, waiters) of a glibc 64-bit semaphore whose futex word is at `offset` of its file."""
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read(8)
    if len(data) != 8:
        raise OSError(f"{path}: short semaphore")
    word = struct.unpack("=Q", data)[0]
    return word & 0xFFFFFFFF, word >> 32
