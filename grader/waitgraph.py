"""The wait-for graph of a set of processes, read from /proc.

For each process of a run: the system call each of its threads is blocked in,
what that call waits for (data in a pipe, room in a full pipe, a child's exit, a
semaphore post, a message, a FIFO's other end, a signal) and which processes
could provide it (who holds the other end of that pipe or socket, which child
it waits for, who has that semaphore mapped). From that, which processes are
stuck for good: blocked, with every possible waker stuck too.

Nothing here changes the processes: no signal is sent, no pipe or FIFO opened
(opening a FIFO would itself wake a process blocked in open()). What cannot be
read (another user's process, Yama, a non-dumpable process) is listed in
`unreadable` and treated as possibly alive, so a deadlock is never claimed on
missing evidence. `grader.diagnosis` names the pattern.
"""

from __future__ import annotations

import errno
import os
import signal
import stat
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from grader import procfs, syscalls

CPU_SAMPLE = 0.05  # seconds between the two CPU-time readings that tell a spin from a sleep
MAX_PROCESSES = 128  # a fork storm is not read in full: the first ones tell the story
# Runnable at both looks and using at least this share of a CPU in between: spinning. Runnable is the
# main evidence (a blocked process sleeps); on a loaded machine a spinner gets only a small share.
SPIN_SHARE = 0.02
# A process on a CPU at both looks that blocked in between (a poller between naps: on a busy machine
# a nap's end is followed by a wait for a CPU) is looked at again this often, up to this long, until
# it is caught in the call it naps in.
NAP_LOOK_PAUSE = 0.002
NAP_LOOK_PATIENCE = 0.5

_POLLIN, _POLLOUT = 0x1 | 0x2 | 0x40, 0x4 | 0x100  # POLLIN|POLLPRI|POLLRDNORM, POLLOUT|POLLWRNORM
_FUTEX_PRIVATE, _FUTEX_REALTIME = 128, 256
_FUTEX_WAIT, _FUTEX_WAIT_BITSET = 0, 9
_TIMER_ABSTIME = 1
_AT_FDCWD = -100
_F_SETLKW, _F_OFD_SETLKW = 7, 38  # fcntl(2) commands that wait for a lock


@dataclass(frozen=True)
class Holder:
    """A process that has an object open: the pid, the fd (-1: mapped or no fd) and how."""

    pid: int
    fd: int
    access: str  # r, w, rw; 'child' for a child waited for; 'map' for a mapped semaphore


@dataclass
class Need:
    """One thing a blocked call waits for, and who could provide it."""

    what: str  # data, room, exit, post, message, room-in-queue, open-peer, connection, signal, thread
    obj: str  # what it is, for a learner: 'pipe 4411', 'child 812', 'POSIX semaphore /jobs'
    key: tuple[str, int | str] = ("", 0)  # identity of the object: ('pipe', 4411), ('sysv-sem', 3)
    fd: int | None = None
    wakers: list[Holder] = field(default_factory=list)  # processes that could satisfy it
    anyone: bool = False  # a named object: any live process may open it and post
    unknown_wakers: bool = False  # we could not tell who can (peer unknown, outside our view)
    state: str = ""  # 'value 0, 1 waiter', 'empty', ...
    signals: int = 0  # for a signal wait: the mask of signals that end it


@dataclass
class Wait:
    """What one thread of a process is doing."""

    pid: int
    tid: int
    call: str  # the system call's name, 'running', or '' when unreadable
    wchan: str = ""
    needs: list[Need] = field(default_factory=list)
    timeout: float | None = None  # seconds; None: waits forever
    timeout_is_remaining: bool = False  # an absolute deadline: `timeout` is what is left of it
    understood: bool = True  # False: a call (or argument) we cannot interpret
    inferred: bool = False  # the fd was guessed from the kernel's wait channel: evidence, not proof
    note: str = ""  # what could not be read about this wait

    @property
    def running(self) -> bool:
        return self.call == "running"

    @property
    def internal(self) -> bool:
        """A wait for another thread of the same process (a lock, a join, the GIL)."""
        return bool(self.needs) and all(need.what == "thread" for need in self.needs)

    @property
    def sleeping(self) -> bool:
        return self.call in ("nanosleep", "clock_nanosleep")


@dataclass
class ProcessNode:
    pid: int
    ppid: int
    comm: str
    state: str  # the process's state letter; Z for a zombie
    waits: list[Wait] = field(default_factory=list)  # main thread first
    fds: dict[int, procfs.FdEntry] = field(default_factory=dict)
    cpu_share: float | None = None  # share of one CPU used while the graph was read
    at_eof: list[procfs.FdEntry] = field(default_factory=list)  # a spinner's FIFO read ends no process can write to
    signals: procfs.SignalMasks | None = None
    unreadable: list[str] = field(default_factory=list)

    @property
    def zombie(self) -> bool:
        return self.state in ("Z", "X")

    @property
    def blocked(self) -> bool:
        """Every thread waits, untimed, for something we understand: it cannot move by itself.
        Stopped, uninterruptible, unreadable, running or timed processes may still progress."""
        if self.zombie or self.state in ("T", "t", "D") or (self.unreadable and not self.waits):
            return False
        return not any(w.running or w.timeout is not None or not w.understood or w.inferred for w in self.waits)

    @property
    def spinning(self) -> bool:
        """Still running at the second look, after using a good share of a CPU in between."""
        running = any(wait.running for wait in self.waits)
        return running and self.cpu_share is not None and self.cpu_share >= SPIN_SHARE

    def primary_wait(self) -> Wait | None:
        """The wait that explains the process: the main thread's, unless it only waits for another thread."""
        if not self.waits:
            return None
        useful = [wait for wait in self.waits if not wait.internal]
        return self.waits[0] if not self.waits[0].internal or not useful else useful[0]


@dataclass
class WaitGraph:
    processes: dict[int, ProcessNode]
    outside_holders: dict[tuple[str, int | str], list[Holder]] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)  # pid-independent gaps (sock_diag, sysvipc)

    def live(self) -> set[int]:
        """Processes that may still make progress: running, in a timed or not-understood wait,
        or waiting for something a live process (or one outside our view) could provide."""
        live = {pid for pid, node in self.processes.items() if not node.zombie and not node.blocked}
        changed = True
        while changed:
            changed = False
            for pid, node in self.processes.items():
                if pid in live or node.zombie:
                    continue
                if any(self._wakeable(node, wait, live) for wait in node.waits if not wait.internal):
                    live.add(pid)
                    changed = True
        return live

    def stuck(self) -> set[int]:
        """Blocked processes nothing can wake: a proven deadlock for each of them."""
        live = self.live()
        return {pid for pid, node in self.processes.items() if not node.zombie and pid not in live}

    def _wakeable(self, node: ProcessNode, wait: Wait, live: set[int]) -> bool:
        for need in wait.needs:
            if need.unknown_wakers or any(can_wake(need, h) for h in self.outside_holders.get(need.key, [])):
                return True
            if need.anyone and live - {node.pid}:
                return True
            if any(holder.pid in live for holder in need.wakers):
                return True
        return False

    def describe(self, pid: int) -> str:
        """One line: what the process waits for ('waits to read pipe 4411 (fd 3), written by ...')."""
        node = self.processes[pid]
        if node.zombie:
            return "has exited; not yet reaped by its parent (a zombie)"
        wait = node.primary_wait()
        if wait is None:
            return "could not be inspected: " + "; ".join(node.unreadable or ["no thread readable"])
        line = describe_wait(wait, node)
        if wait.tid != pid:
            line = f"in thread {wait.tid}: {line}; its main thread waits for another thread (a lock or a join)"
        others = [w for w in node.waits if w is not wait and not w.internal and not w.running]
        if others:
            line += f" (and {len(others)} other thread{'s' if len(others) > 1 else ''}: " + "; ".join(
                f"thread {w.tid} {describe_wait(w, node)}" for w in others[:2]
            )
            line += ")"
        return line


def describe_wait(wait: Wait, node: ProcessNode) -> str:
    if wait.running:
        if node.spinning and node.cpu_share is not None:
            return f"is running, not blocked: it used {node.cpu_share:.0%} of a CPU while we looked (a busy loop)"
        return "is running (not blocked in a system call)"
    if not wait.call:
        return "is blocked" + (f" in the kernel's {wait.wchan}()" if wait.wchan else "") + f" ({wait.note})"
    text = f"is blocked in {wait.call}()"
    if wait.needs:
        text = "; ".join(_describe_need(need, node.pid) for need in wait.needs[:4])
        if len(wait.needs) > 4:
            text += f"; and {len(wait.needs) - 4} more fds"
        text = f"{wait.call}(): " + text
    elif wait.sleeping:
        text = f"sleeps in {wait.call}()"
    if wait.timeout is not None:
        text += f", {'times out in' if wait.timeout_is_remaining else 'with a timeout of'} {wait.timeout:.3g} s"
    if wait.note:
        text += f" ({wait.note})"
    return text


_VERBS = {
    "data": "waits to read {obj}",
    "room": "waits to write into {obj} (full)",
    "exit": "waits for {obj} to exit",
    "post": "waits for {obj} to be posted",
    "message": "waits for a message on {obj}",
    "room-in-queue": "waits for room in {obj} (full)",
    "open-peer": "waits in open() for the other end of {obj}",
    "connection": "waits for a client to connect to {obj}",
    "accepted": "waits for the server to accept on {obj}",
    "signal": "waits for {obj}",
    "thread": "waits for another thread of its own ({obj})",
}


def _describe_need(need: Need, pid: int) -> str:
    text = _VERBS.get(need.what, "waits for {obj}").format(obj=need.obj)
    if need.fd is not None:
        text += f" (fd {need.fd})"
    if need.state:
        text += f", {need.state}"
    holders = ", ".join(
        f"{'this process' if h.pid == pid else f'pid {h.pid}'} (fd {h.fd})"
        for h in sorted(need.wakers, key=lambda h: (h.pid == pid, h.pid, h.fd))
    )
    role = {"data": "write end", "room": "read end"}.get(need.what)
    if role and need.key[0] in ("pipe", "fifo"):
        text += f"; its {role} is open in {holders or 'no process'}"
    elif need.key[0] == "socket" and need.what in ("data", "room"):
        peer = "its peer could not be identified" if need.unknown_wakers else f"the other end is open in {holders}"
        text += "; " + (peer if holders or need.unknown_wakers else "the other end is closed")
    return text


# --- building -----------------------------------------------------------------------


def build(pids: list[int], *, sample: float = CPU_SAMPLE) -> WaitGraph:
    """Read the wait-for graph of these processes (the live processes of one run) and of their
    children: the unreaped ones (zombies) and any the caller could not attribute to the run."""
    return _Builder(pids).build(sample)


class _Builder:
    def __init__(self, pids: list[int]) -> None:
        self.pids = list(dict.fromkeys(pids))  # the caller's order: the first ones are read even in a storm
        self.graph = WaitGraph(processes={})
        self._unix: dict[int, procfs.UnixSocket] | None = None
        self._tcp: dict[int, procfs.TcpSocket] | None = None
        self._holders: dict[tuple[str, int | str], list[Holder]] = {}
        self.ofd_locked: set[int] = set()  # inodes of files an OFD lock is held on, by an unknown holder

    def build(self, sample: float) -> WaitGraph:
        started = time.monotonic()
        cpu_before = {pid: (_cpu(pid), started) for pid in self.pids}
        blocks_before = {pid: _blocks(pid) for pid in self.pids}
        queue = list(self.pids)
        while queue:
            pid = queue.pop(0)
            if pid in self.graph.processes:
                continue
            if len(self.graph.processes) >= MAX_PROCESSES:
                self.graph.unreadable.append(f"only the first {MAX_PROCESSES} processes were inspected")
                break
            cpu_before.setdefault(pid, (_cpu(pid), time.monotonic()))
            blocks_before.setdefault(pid, _blocks(pid))
            node = self._read_process(pid)
            if node is None:
                continue
            self.graph.processes[pid] = node
            try:
                queue += [child for child in procfs.children(pid) if child not in self.graph.processes]
            except OSError:
                pass  # no /proc/<pid>/task/<tid>/children (CONFIG_PROC_CHILDREN): the given pids only
        last_start = max((since for _, since in cpu_before.values()), default=started)
        remaining = sample - (time.monotonic() - last_start)  # every process gets the whole window
        if remaining > 0:
            time.sleep(remaining)
        for pid, node in list(self.graph.processes.items()):
            before, since = cpu_before[pid]
            after, elapsed = _cpu(pid), max(time.monotonic() - since, 1e-6)
            share = (after - before) / 1e9 / elapsed if before is not None and after is not None else None
            if any(wait.running for wait in node.waits):
                # Caught between two blocking calls, or spinning: a second look tells.
                node = self._read_process(pid) or node
                blocked_since = _blocks(pid) != blocks_before[pid]
                if any(wait.running for wait in node.waits) and blocked_since:
                    node = self._catch_napping(pid, node)
                self.graph.processes[pid] = node
            node.cpu_share = share
        self._index_holders()
        for node in self.graph.processes.values():
            for wait in node.waits:
                for need in wait.needs:
                    self._resolve_wakers(node, need)
        self._find_outside_holders()
        self._find_reads_at_eof()
        return self.graph

    def _catch_napping(self, pid: int, node: ProcessNode) -> ProcessNode:
        """A process seen on a CPU twice that blocked in between: look until it is caught blocked
        (the call it naps or polls in), or NAP_LOOK_PATIENCE is over."""
        deadline = time.monotonic() + NAP_LOOK_PATIENCE
        while any(wait.running for wait in node.waits) and time.monotonic() < deadline:
            time.sleep(NAP_LOOK_PAUSE)
            node = self._read_process(pid) or node
        return node

    # --- one process ---

    def _read_process(self, pid: int) -> ProcessNode | None:
        try:
            main = procfs.task_stat(pid)
        except OSError:
            return None  # gone
        node = ProcessNode(pid=pid, ppid=main.ppid, comm=main.comm, state=main.state)
        if node.zombie:
            return node
        try:
            node.signals = procfs.signal_masks(pid)
        except OSError:
            pass
        try:
            node.fds = procfs.fds(pid)
        except OSError as err:
            node.unreadable.append(f"its open files (/proc/{pid}/fd: {_why(err)})")
        try:
            tids = procfs.thread_ids(pid)
        except OSError:
            tids = [pid]
        for tid in [pid] + [t for t in tids if t != pid]:
            wait = self._read_wait(node, tid)
            if wait is not None:
                node.waits.append(wait)
        return node

    def _read_wait(self, node: ProcessNode, tid: int) -> Wait | None:
        pid = node.pid
        try:
            task = procfs.task_stat(pid, tid)
        except OSError:
            return None
        if task.state == "R":
            return Wait(pid=pid, tid=tid, call="running")
        try:
            wchan = procfs.wchan(pid, tid)
        except OSError:
            wchan = ""
        try:
            call = procfs.syscall(pid, tid)
        except OSError as err:
            if tid == pid:
                node.unreadable.append(f"its system call (/proc/{pid}/syscall: {_why(err)})")
            return self._wait_from_wchan(node, tid, wchan, f"system call unreadable: {_why(err)}")
        if call is None:
            return Wait(pid=pid, tid=tid, call="running", wchan=wchan)
        if call.number < 0:
            return Wait(pid=pid, tid=tid, call="", wchan=wchan, understood=False, note="not in a system call")
        if call.number not in syscalls.table():  # an architecture we have no table for, or a rare call
            return self._wait_from_wchan(node, tid, wchan, f"system call {call.number} is not in our table")
        wait = Wait(pid=pid, tid=tid, call=syscalls.name(call.number), wchan=wchan)
        self._interpret(node, wait, call.args)
        return wait

    def _interpret(self, node: ProcessNode, wait: Wait, args: tuple[int, ...]) -> None:
        """Turn a system call and its arguments into what it waits for."""
        handler = _HANDLERS.get(wait.call)
        if handler is None:
            wait.understood = False
            return
        try:
            handler(self, node, wait, args)
        except OSError as err:
            wait.note = f"its arguments could not be read: {_why(err)}"
            wait.understood = False

    def _wait_from_wchan(self, node: ProcessNode, tid: int, wchan: str, note: str) -> Wait:
        """Without the system call (ptrace access refused), the kernel's wait channel still says
        what kind of wait it is; the fd is inferred when only one fd fits."""
        guess = _WCHAN.get(wchan)
        wait = Wait(pid=node.pid, tid=tid, call="", wchan=wchan, note=note, understood=False)
        if guess is None:
            return wait
        call, what, kinds = guess
        wait.call = call
        if what == "exit":
            wait.needs.append(_child_need(-1))
            wait.understood = wait.inferred = True
            wait.note = f"inferred from the kernel wait channel {wchan}; {note}"
            return wait
        access = "r" if what == "data" else "w"
        candidates = [e for e in node.fds.values() if e.kind in kinds and access in e.access]
        if len(candidates) == 1:
            wait.needs.append(self._fd_need(node, candidates[0].fd, what))
            wait.understood = wait.inferred = True
            wait.note = f"fd inferred from the kernel wait channel {wchan}, the only one that fits; {note}"
        return wait

    # --- needs of one call ---

    def _fd_need(self, node: ProcessNode, fd: int, what: str) -> Need:
        entry = node.fds.get(fd)
        if entry is None:
            return Need(what=what, obj=f"fd {fd}", fd=fd, unknown_wakers=True)
        if entry.kind == "pipe":
            return Need(what=what, obj=f"pipe {entry.inode}", key=("pipe", entry.inode), fd=fd)
        if entry.kind == "fifo":  # named: a new writer (or reader) may still open the path
            label = f"FIFO {entry.target} (inode {entry.inode})"
            return Need(what=what, obj=label, key=("fifo", entry.inode), fd=fd, anyone=True)
        if entry.kind == "socket":
            return self._socket_need(entry, what)
        if entry.kind == "mqueue":
            return self._mqueue_need(entry, "message" if what == "data" else "room-in-queue")
        return Need(what=what, obj=entry.target, fd=fd, key=("file", entry.target), unknown_wakers=True)

    def _socket_need(self, entry: procfs.FdEntry, what: str) -> Need:
        unix = self._unix_table().get(entry.inode)
        if unix is not None:
            label = f"{unix.type} socket {entry.inode}" + (f" ({unix.path})" if unix.path else "")
            if unix.listening:
                queued = f"{unix.queued} pending connections" if unix.queued is not None else ""
                return Need(
                    what="connection", obj=label, key=("socket", entry.inode), fd=entry.fd, anyone=True, state=queued
                )
            need = Need(what=what, obj=label, key=("socket", entry.inode), fd=entry.fd)
            if not unix.peer:
                need.unknown_wakers = True
            else:
                need.key = ("socket", unix.peer)  # the wakers hold the other end
                need.state = f"other end: socket {unix.peer}"
                if what == "data" and unix.queued is not None:
                    need.state += f"; {unix.queued} bytes queued"
            return need
        tcp = self._tcp_table().get(entry.inode)
        if tcp is not None:
            label = f"TCP socket {entry.inode}"
            if tcp.listening:
                return Need(what="connection", obj=label, key=("socket", entry.inode), fd=entry.fd, anyone=True)
            peer = next((s for s in self._tcp_table().values() if (s.local, s.remote) == (tcp.remote, tcp.local)), None)
            if peer is None:
                return Need(what=what, obj=label, key=("socket", entry.inode), fd=entry.fd, unknown_wakers=True)
            return Need(
                what=what, obj=label, key=("socket", peer.inode), fd=entry.fd, state=f"other end: socket {peer.inode}"
            )
        return Need(
            what=what, obj=f"socket {entry.inode}", key=("socket", entry.inode), fd=entry.fd, unknown_wakers=True
        )

    def _mqueue_need(self, entry: procfs.FdEntry, what: str) -> Need:
        need = Need(what=what, obj=f"POSIX message queue {entry.target}", key=("mqueue", entry.inode), fd=entry.fd)
        need.anyone = True
        try:
            size = procfs.mqueue_bytes(entry.target)
            need.state = "empty" if size == 0 else f"{size} bytes queued"
        except (OSError, IndexError, ValueError):
            pass
        return need

    # --- holders ---

    def _index_holders(self) -> None:
        """Who has what open (fds) or mapped (semaphores in shared memory), over the whole run."""
        mapped_wanted = any(
            need.key[0] in ("posix-sem", "shm-futex")
            for node in self.graph.processes.values()
            for wait in node.waits
            for need in wait.needs
        )
        for node in self.graph.processes.values():
            for entry in node.fds.values():
                key = _holder_key(entry)
                if key is not None:
                    self._holders.setdefault(key, []).append(Holder(node.pid, entry.fd, entry.access))
            if mapped_wanted and not node.zombie:
                for inode in {m.inode for m in _maps_or_empty(node.pid) if m.shared and m.inode}:
                    self._holders.setdefault(("mapped", inode), []).append(Holder(node.pid, -1, "map"))

    def _resolve_wakers(self, node: ProcessNode, need: Need) -> None:
        kind, ident = need.key
        if kind == "child":
            self._resolve_children(node, need, int(ident))
        elif kind in ("posix-sem", "shm-futex"):
            need.wakers = list(self._holders.get(("mapped", ident), []))
        elif kind in ("pipe", "fifo", "socket", "mqueue") and need.what != "open-peer":
            need.wakers = [h for h in self._holders.get(need.key, []) if can_wake(need, h)]
        elif kind == "file-lock" and ident in self.ofd_locked:
            need.wakers += [
                Holder(pid, entry.fd, "lock")
                for pid, other in self.graph.processes.items()
                for entry in other.fds.values()
                if entry.kind == "file" and entry.inode == ident and (pid, entry.fd) != (node.pid, need.fd)
            ]

    def _resolve_children(self, node: ProcessNode, need: Need, target: int) -> None:
        if target > 0:
            need.wakers = [Holder(target, -1, "child")]
            need.unknown_wakers = target not in self.graph.processes
            return
        children = sorted(pid for pid, other in self.graph.processes.items() if other.ppid == node.pid)
        need.wakers = [Holder(child, -1, "child") for child in children]
        need.unknown_wakers = not children  # its children are outside the set we were given

    def _find_reads_at_eof(self) -> None:
        """A spinner's FIFO read ends whose write end no process holds, in the run or outside it (this one
        included): a read there returns b'' (EOF) at once and select() reports it readable, so a loop that
        waits on it never sleeps. Not anonymous pipes: a test process holds pipes of the grader's helpers
        whose writers have gone, at EOF too but read by nobody, and which fd a spinner reads cannot be
        seen (/proc shows no system call of a process on a CPU); a FIFO is named, and the learner's."""
        for node in self.graph.processes.values():
            if node.spinning:
                node.at_eof = [
                    entry
                    for entry in node.fds.values()
                    if entry.kind == "fifo"
                    and entry.access == "r"
                    and entry.inode
                    and not _written(self._holders.get((entry.kind, entry.inode), []))
                ]
        wanted = {
            entry.target: (entry.kind, entry.inode) for node in self.graph.processes.values() for entry in node.at_eof
        }
        outside = _holders_outside(wanted, set(self.graph.processes))
        for node in self.graph.processes.values():
            node.at_eof = [entry for entry in node.at_eof if not _written(outside.get((entry.kind, entry.inode), []))]

    def _find_outside_holders(self) -> None:
        """Holders of the waited-for objects among processes outside the run (the grader itself,
        an unrelated program): they make a deadlock unprovable."""
        links = {
            entry.target: key
            for node in self.graph.processes.values()
            for entry in node.fds.values()
            if (key := _holder_key(entry)) is not None
        }
        wanted: dict[str, tuple[str, int | str]] = {}
        for node in self.graph.processes.values():
            for wait in node.waits:
                for need in wait.needs:
                    kind, ident = need.key
                    if kind in ("pipe", "socket"):
                        wanted[f"{kind}:[{ident}]"] = need.key
                    elif kind in ("fifo", "mqueue") and need.what != "open-peer":
                        wanted.update({target: key for target, key in links.items() if key == need.key})
        self.graph.outside_holders = _holders_outside(wanted, set(self.graph.processes) | {os.getpid()})

    def _unix_table(self) -> dict[int, procfs.UnixSocket]:
        if self._unix is None:
            try:
                self._unix = procfs.unix_sockets()
            except OSError as err:
                self._unix = {}
                self.graph.unreadable.append(f"unix sockets: {_why(err)}")
        return self._unix

    def _tcp_table(self) -> dict[int, procfs.TcpSocket]:
        if self._tcp is None:
            self._tcp = procfs.tcp_sockets()
        return self._tcp


# --- one handler per system call family ----------------------------------------------


def _h_read(b: _Builder, node: ProcessNode, wait: Wait, args: tuple[int, ...]) -> None:
    wait.needs.append(b._fd_need(node, _int32(args[0]), "data"))


def _h_write(b: _Builder, node: ProcessNode, wait: Wait, args: tuple[int, ...]) -> None:
    wait.needs.append(b._fd_need(node, _int32(args[0]), "room"))


def _h_poll(b: _Builder, node: ProcessNode, wait: Wait, args: tuple[int, ...]) -> None:
    count = min(args[1], 256)
    if wait.call == "poll":
        timeout_ms = _int32(args[2])
        wait.timeout = timeout_ms / 1000 if timeout_ms >= 0 else None
    else:
        _relative_timeout(node.pid, wait, args[2])
    raw = procfs.read_memory(node.pid, args[0], 8 * count) if count else b""
    for i in range(count):
        fd, events, _ = struct.unpack_from("=ihh", raw, 8 * i)
        _add_fd_events(b, node, wait, fd, events)


def _h_select(b: _Builder, node: ProcessNode, wait: Wait, args: tuple[int, ...]) -> None:
    nfds = min(args[0], 1024)
    size = (nfds + 63) // 64 * 8
    if args[4]:
        sec, sub = struct.unpack("=qq", procfs.read_memory(node.pid, args[4], 16))
        wait.timeout = sec + sub / (1e6 if wait.call == "select" else 1e9)
    for what, address in (("data", args[1]), ("room", args[2])):
        if not address or not size:
            continue
        bits = int.from_bytes(procfs.read_memory(node.pid, address, size), "little")
        for fd in range(nfds):
            if bits >> fd & 1:
                wait.needs.append(b._fd_need(node, fd, what))


def _h_epoll(b: _Builder, node: ProcessNode, wait: Wait, args: tuple[int, ...]) -> None:
    if wait.call == "epoll_pwait2":
        _relative_timeout(node.pid, wait, args[3])
    else:
        timeout_ms = _int32(args[3])
        wait.timeout = timeout_ms / 1000 if timeout_ms >= 0 else None
    for fd, events in procfs.epoll_targets(node.pid, _int32(args[0])):
        _add_fd_events(b, node, wait, fd, events)


def _add_fd_events(b: _Builder, node: ProcessNode, wait: Wait, fd: int, events: int) -> None:
    if fd < 0:
        return
    if events & _POLLIN:
        wait.needs.append(b._fd_need(node, fd, "data"))
    if events & _POLLOUT:
        wait.needs.append(b._fd_need(node, fd, "room"))


def _h_wait4(b: _Builder, node: ProcessNode, wait: Wait, args: tuple[int, ...]) -> None:
    wait.needs.append(_child_need(_int32(args[0])))


def _h_waitid(b: _Builder, node: ProcessNode, wait: Wait, args: tuple[int, ...]) -> None:
    idtype, ident = args[0], _int32(args[1])
    wait.needs.append(_child_need(ident if idtype == 1 else -1))  # P_PID = 1


def _child_need(target: int) -> Need:
    """wait4(pid): one child; -1 any child; 0 or -pgid: a child of a process group (read as any)."""
    if target > 0:
        return Need(what="exit", obj=f"child {target}", key=("child", target))
    label = "any child" if target == -1 else "a child of its process group"
    return Need(what="exit", obj=label, key=("child", target))


def _h_futex(b: _Builder, node: ProcessNode, wait: Wait, args: tuple[int, ...]) -> None:
    address, op = args[0], args[1]
    command = op & ~(_FUTEX_PRIVATE | _FUTEX_REALTIME)
    if command in (_FUTEX_WAIT, _FUTEX_WAIT_BITSET) and args[3]:
        sec, nsec = struct.unpack("=qq", procfs.read_memory(node.pid, args[3], 16))
        if command == _FUTEX_WAIT:
            wait.timeout = sec + nsec / 1e9
        else:
            now = time.time() if op & _FUTEX_REALTIME else time.monotonic()
            wait.timeout, wait.timeout_is_remaining = max(0.0, sec + nsec / 1e9 - now), True
    if op & _FUTEX_PRIVATE:
        wait.needs.append(Need(what="thread", obj="a lock, a join or the interpreter lock", key=("thread", node.pid)))
        return
    mapping = next((m for m in procfs.maps(node.pid) if m.start <= address < m.end), None)
    if mapping is None or not mapping.shared:
        wait.needs.append(Need(what="thread", obj="a lock in its own memory", key=("thread", node.pid)))
        return
    wait.needs.append(_shared_futex_need(mapping, address))


def _shared_futex_need(mapping: procfs.Mapping, address: int) -> Need:
    """A futex in a shared file mapping: a POSIX named semaphore (/dev/shm/sem.NAME) or a lock
    placed in shared memory. Its wakers are the processes that have the same file mapped."""
    name = procfs.shm_name(mapping.inode) if mapping.inode else None
    offset = address - mapping.start + mapping.offset
    if name and name.startswith("sem."):
        need = Need(what="post", obj=f"POSIX semaphore /{name[4:]}", key=("posix-sem", mapping.inode))
        try:
            value, waiters = procfs.posix_semaphore_word(f"/dev/shm/{name}", offset)
            need.state = f"value {value}, {waiters} waiter{'s' if waiters != 1 else ''}"
        except OSError:
            pass
        need.anyone = True
        return need
    path = mapping.path.replace(" (deleted)", "")
    if "/sem." in path:
        label = "an unlinked POSIX semaphore (no name left: only processes that have it open can post it)"
        return Need(what="post", obj=label, key=("posix-sem", mapping.inode))
    label = f"a futex in shared memory {name or path or 'anonymous'} (offset {offset})"
    return Need(what="post", obj=label, key=("shm-futex", mapping.inode), anyone=bool(name))


def _maps_or_empty(pid: int) -> list[procfs.Mapping]:
    try:
        return procfs.maps(pid)
    except OSError:
        return []


def _h_semop(b: _Builder, node: ProcessNode, wait: Wait, args: tuple[int, ...]) -> None:
    semid = _int32(args[0])
    number, op = 0, -1
    try:
        for i in range(min(args[2], 64)):
            num, sem_op, _flags = struct.unpack("=Hhh", procfs.read_memory(node.pid, args[1] + 6 * i, 6))
            if sem_op <= 0:
                number, op = num, sem_op
                break
    except OSError as err:
        wait.note = f"which semaphore of the set could not be read: {_why(err)}"
    if wait.call == "semtimedop" and args[3]:
        _relative_timeout(node.pid, wait, args[3])
    what = "post" if op < 0 else "zero"
    need = Need(what="post", obj=f"System V semaphore {semid}[{number}]", key=("sysv-sem", semid), anyone=True)
    try:
        sem = procfs.sysv_semaphore(semid, number)
        need.state = f"value {sem.value}, {sem.waiters} waiter{'s' if sem.waiters != 1 else ''}"
        if sem.last_pid:
            need.state += f", last operation by pid {sem.last_pid}"
    except OSError as err:
        need.state = f"value unreadable ({_why(err)})"
    if what == "zero":
        need.state = "waits for the value to reach 0; " + need.state
    try:
        keys = procfs.sysv_semaphore_keys()
        if semid in keys:
            need.obj += f" (key {keys[semid]:#x})"
    except OSError:
        pass
    wait.needs.append(need)


def _h_msgrcv(b: _Builder, node: ProcessNode, wait: Wait, args: tuple[int, ...]) -> None:
    msqid = _int32(args[0])
    receiving = wait.call == "msgrcv"
    need = Need(
        what="message" if receiving else "room-in-queue",
        obj=f"System V message queue {msqid}",
        key=("sysv-msg", msqid),
        anyone=True,
    )
    try:
        queue = procfs.sysv_queues().get(msqid)
    except OSError:
        queue = None
    if queue is not None:
        need.obj += f" (key {queue.key:#x})"
        plural = "" if queue.qnum == 1 else "s"
        need.state = "empty" if queue.qnum == 0 else f"{queue.qnum} message{plural}, {queue.cbytes} bytes"
        if receiving:
            msgtyp = args[3] - (1 << 64) if args[3] >= 1 << 63 else args[3]
            if msgtyp and queue.qnum:
                need.state += f", none of the type it asks for ({msgtyp})"
            elif msgtyp:
                need.state += f"; it asks for type {msgtyp}"
    wait.needs.append(need)


def _h_mq(b: _Builder, node: ProcessNode, wait: Wait, args: tuple[int, ...]) -> None:
    if args[4]:
        sec, nsec = struct.unpack("=qq", procfs.read_memory(node.pid, args[4], 16))
        wait.timeout, wait.timeout_is_remaining = max(0.0, sec + nsec / 1e9 - time.time()), True
    what = "data" if wait.call == "mq_timedreceive" else "room"
    wait.needs.append(b._fd_need(node, _int32(args[0]), what))


def _h_lock(b: _Builder, node: ProcessNode, wait: Wait, args: tuple[int, ...]) -> None:
    """fcntl(F_SETLKW / F_OFD_SETLKW) or flock() without LOCK_NB: a wait for a file lock, which the
    holders in /proc/locks (or, for an OFD lock, whoever has the file open) could release."""
    fd = _int32(args[0])
    if wait.call == "fcntl" and args[1] not in (_F_SETLKW, _F_OFD_SETLKW):
        wait.understood, wait.note = False, f"fcntl command {args[1]}"
        return
    info = os.stat(f"/proc/{node.pid}/fd/{fd}")
    device, inode = (os.major(info.st_dev), os.minor(info.st_dev)), info.st_ino
    path = os.readlink(f"/proc/{node.pid}/fd/{fd}")
    need = Need(what="unlock", obj=f"a lock on {path}", key=("file-lock", inode), fd=fd)
    held = [lock for lock in procfs.file_locks() if lock.device == device and lock.inode == inode and not lock.blocked]
    need.wakers = [Holder(lock.pid, -1, "lock") for lock in held if lock.pid > 0]
    if any(lock.pid <= 0 for lock in held):
        b.ofd_locked.add(inode)  # held by an open file description: by whoever has the file open (resolved later)
    need.state = "; ".join(f"{lock.kind} {lock.mode} lock on bytes {lock.span}" for lock in held[:3]) or "no lock held"
    wait.needs.append(need)


def _h_open(b: _Builder, node: ProcessNode, wait: Wait, args: tuple[int, ...]) -> None:
    dirfd, path_at, flags = (
        (_AT_FDCWD, args[0], args[1]) if wait.call == "open" else (_int32(args[0]), args[1], args[2])
    )
    path = procfs.read_string(node.pid, path_at)
    if not path.startswith("/"):
        base = f"/proc/{node.pid}/cwd" if dirfd == _AT_FDCWD else f"/proc/{node.pid}/fd/{dirfd}"
        path = os.path.join(os.readlink(base), path)
    try:
        info = os.stat(path)
    except OSError:
        info = None
    if (info is None or not stat.S_ISFIFO(info.st_mode)) and wait.wchan != "wait_for_partner":
        wait.understood = False
        wait.note = f"opening {path}"
        return
    inode = info.st_ino if info is not None else 0
    reading = flags & os.O_ACCMODE == os.O_RDONLY
    need = Need(
        what="open-peer",
        obj=f"FIFO {path} (inode {inode})",
        key=("fifo", inode),
        anyone=True,
        state="waits for a writer (opened for reading)" if reading else "waits for a reader (opened for writing)",
    )
    wait.needs.append(need)


def _h_accept(b: _Builder, node: ProcessNode, wait: Wait, args: tuple[int, ...]) -> None:
    need = b._fd_need(node, _int32(args[0]), "connection")
    need.what = "connection"
    need.anyone = True
    wait.needs.append(need)


def _h_connect(b: _Builder, node: ProcessNode, wait: Wait, args: tuple[int, ...]) -> None:
    need = b._fd_need(node, _int32(args[0]), "accepted")
    need.what, need.anyone, need.unknown_wakers = "accepted", True, False
    wait.needs.append(need)


def _h_sigtimedwait(b: _Builder, node: ProcessNode, wait: Wait, args: tuple[int, ...]) -> None:
    wanted = struct.unpack("=Q", procfs.read_memory(node.pid, args[0], 8))[0]
    if args[2]:
        _relative_timeout(node.pid, wait, args[2])
    wait.needs.append(_signal_need(node, wanted, "sigtimedwait"))


def _h_sigsuspend(b: _Builder, node: ProcessNode, wait: Wait, args: tuple[int, ...]) -> None:
    mask = struct.unpack("=Q", procfs.read_memory(node.pid, args[0], 8))[0]
    caught = node.signals.caught if node.signals else 0
    wait.needs.append(_signal_need(node, caught & ~mask, "sigsuspend"))


def _h_pause(b: _Builder, node: ProcessNode, wait: Wait, args: tuple[int, ...]) -> None:
    masks = node.signals
    wait.needs.append(_signal_need(node, (masks.caught & ~masks.blocked) if masks else 0, "pause"))


def _signal_need(node: ProcessNode, wanted: int, how: str) -> Need:
    names = signal_names(wanted)
    masks = node.signals
    pending = (masks.pending | masks.shared_pending) & wanted if masks else 0
    need = Need(
        what="signal", obj=", ".join(names) or "a signal", key=("signal", node.pid), anyone=True, signals=wanted
    )
    need.state = f"pending: {', '.join(signal_names(pending))}" if pending else "not pending"
    if masks and how == "sigtimedwait" and masks.caught & wanted:
        need.state += f"; {', '.join(signal_names(masks.caught & wanted))} also has a handler"
    return need


def _h_sleep(b: _Builder, node: ProcessNode, wait: Wait, args: tuple[int, ...]) -> None:
    if wait.call == "nanosleep":
        _relative_timeout(node.pid, wait, args[0])
        return
    clock, flags, request = args[0], args[1], args[2]
    sec, nsec = struct.unpack("=qq", procfs.read_memory(node.pid, request, 16))
    if flags & _TIMER_ABSTIME:
        now = time.clock_gettime(clock)
        wait.timeout, wait.timeout_is_remaining = max(0.0, sec + nsec / 1e9 - now), True
    else:
        wait.timeout = sec + nsec / 1e9


def _relative_timeout(pid: int, wait: Wait, address: int) -> None:
    if address:
        sec, nsec = struct.unpack("=qq", procfs.read_memory(pid, address, 16))
        wait.timeout = sec + nsec / 1e9


_HANDLERS = {
    "read": _h_read,
    "readv": _h_read,
    "pread64": _h_read,
    "recvfrom": _h_read,
    "recvmsg": _h_read,
    "write": _h_write,
    "writev": _h_write,
    "sendto": _h_write,
    "sendmsg": _h_write,
    "poll": _h_poll,
    "ppoll": _h_poll,
    "select": _h_select,
    "pselect6": _h_select,
    "epoll_wait": _h_epoll,
    "epoll_pwait": _h_epoll,
    "epoll_pwait2": _h_epoll,
    "wait4": _h_wait4,
    "waitid": _h_waitid,
    "futex": _h_futex,
    "semop": _h_semop,
    "semtimedop": _h_semop,
    "msgrcv": _h_msgrcv,
    "msgsnd": _h_msgrcv,
    "mq_timedreceive": _h_mq,
    "mq_timedsend": _h_mq,
    "open": _h_open,
    "fcntl": _h_lock,
    "flock": _h_lock,
    "openat": _h_open,
    "accept": _h_accept,
    "accept4": _h_accept,
    "connect": _h_connect,
    "rt_sigtimedwait": _h_sigtimedwait,
    "rt_sigsuspend": _h_sigsuspend,
    "pause": _h_pause,
    "nanosleep": _h_sleep,
    "clock_nanosleep": _h_sleep,
}

# Kernel wait channels -> (call, what, fd kinds), for when /proc/<pid>/syscall is refused.
_WCHAN: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "pipe_read": ("read", "data", ("pipe", "fifo")),
    "anon_pipe_read": ("read", "data", ("pipe", "fifo")),
    "pipe_write": ("write", "room", ("pipe", "fifo")),
    "anon_pipe_write": ("write", "room", ("pipe", "fifo")),
    "do_wait": ("wait4", "exit", ()),
    "unix_stream_read_generic": ("recvfrom", "data", ("socket",)),
    "unix_stream_data_wait": ("recvfrom", "data", ("socket",)),
    "wq_sleep": ("mq_timedreceive", "data", ("mqueue",)),
}


# --- helpers ----------------------------------------------------------------------------


def signal_names(mask: int) -> list[str]:
    names = []
    for number in range(1, 65):
        if mask >> (number - 1) & 1:
            try:
                names.append(signal.Signals(number).name)
            except ValueError:
                names.append(f"signal {number}")
    return names


def _written(holders: list[Holder]) -> bool:
    """Does one of them hold a write end (the pipe or FIFO can still get data, or EOF)?"""
    return any("w" in holder.access for holder in holders)


def _holders_outside(
    wanted: Mapping[str, tuple[str, int | str]], skipped: set[int]
) -> dict[tuple[str, int | str], list[Holder]]:
    """The processes, but the skipped ones, that hold one of the wanted fd targets ('pipe:[4411]', a FIFO's
    path), by the object's key: a scan of every process readable to us, so only when something is wanted."""
    found: dict[tuple[str, int | str], list[Holder]] = {}
    if not wanted:
        return found
    my_uid = os.geteuid()
    for pid in procfs.all_pids():
        if pid in skipped:
            continue
        try:
            if my_uid != 0 and procfs.uid(pid) != my_uid:
                continue  # unreadable anyway
            for fd, target in procfs.fd_links(pid).items():
                if target in wanted:
                    found.setdefault(wanted[target], []).append(Holder(pid, fd, procfs.fd_access(pid, fd)))
        except OSError:
            continue
    return found


def _holder_key(entry: procfs.FdEntry) -> tuple[str, int | str] | None:
    if entry.kind in ("pipe", "fifo", "mqueue", "socket") and entry.inode:
        return (entry.kind, entry.inode)
    return None


def can_wake(need: Need, holder: Holder) -> bool:
    """A pipe or FIFO waited on for data is woken by a holder of a write end (writing or closing),
    one waited on for room by a holder of a read end; any holder of a socket's other end will do."""
    if need.key[0] in ("pipe", "fifo"):
        return ("w" if need.what == "data" else "r") in holder.access
    return True


def _blocks(pid: int) -> int | None:
    """How many times the process's threads have blocked so far, all of them summed (None: gone).
    A poller may nap in a thread while the main thread sits in join(): counting the main thread
    alone would take the napping poller for a spinner."""
    try:
        tids = procfs.thread_ids(pid)
    except OSError:
        return None
    total = 0
    for tid in tids:
        try:
            total += procfs.context_switches(pid, tid, voluntary_only=True)
        except OSError:
            continue  # the thread ended meanwhile
    return total


def _cpu(pid: int) -> int | None:
    try:
        return procfs.cpu_ns(pid)
    except OSError:
        return None


def _int32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _why(err: OSError) -> str:
    if err.errno in (errno.EACCES, errno.EPERM):
        return "permission denied (another user's process, a non-dumpable one, or ptrace restricted by Yama)"
    return err.strerror or str(err)
