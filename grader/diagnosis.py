"""Naming what a wait-for graph shows, in a sentence a learner understands.

Starting from the process the grader waits on (the test process: it called the
learner's function), follow what it waits for to the process that could provide
it, and on, until the chain closes on itself (a cycle: a deadlock) or ends at a
wait nobody can satisfy (a semaphore nobody posts, a queue nobody writes, a FIFO
nobody opens) or at a process that is not blocked (a busy loop, a long sleep).
On the way, a reader whose pipe's write end is held by itself, or by a process
that writes elsewhere, is the classic missing close(): that is named first.

Only when the graph names nothing does the test's own hint speak, flagged as a
guess. `Diagnosis.deadlock` is True only when nothing at all can wake the
process: the runner may then stop waiting for the time limit.
"""

from __future__ import annotations

import signal
from dataclasses import asdict, dataclass, field
from typing import Any

from grader.procfs import FdEntry
from grader.waitgraph import Need, ProcessNode, Wait, WaitGraph, describe_wait, signal_names

PATTERNS = {  # pattern -> what it is, in a few words (the one-line report of a recurrence)
    "no-eof": "a reader that cannot see EOF",  # a write end (or socket end) kept open where it is not used
    "cycle": "processes waiting for each other",
    "no-waker": "a wait nobody will satisfy",  # an object nobody will post, write or send
    "fifo-no-peer": "an open() of a FIFO whose other side nobody opens",
    "lost-wakeup": "a wait for a signal that may already have been handled",
    "busy-loop": "a busy loop",  # not blocked at all: spinning on a CPU
    "sleeping": "a sleep where a wait was meant",
    "threads": "threads of one process waiting for each other",
    "self-lock": "a process waiting for a file lock it holds itself",
    "hint": "no pattern the wait-for graph could name",  # the test's hint speaks, as a guess
    "unknown": "no pattern the wait-for graph could name",  # and there is no hint
}

OBJECT_WORDS = {  # Need.key kinds, for a learner
    "child": "a child's exit",
    "pipe": "a pipe",
    "fifo": "a FIFO",
    "socket": "a socket",
    "posix-sem": "a POSIX semaphore",
    "shm-futex": "a lock in shared memory",
    "sysv-sem": "a System V semaphore",
    "sysv-msg": "a System V message queue",
    "mqueue": "a POSIX message queue",
    "signal": "a signal",
    "thread": "another thread",
    "file": "a file",
}

POLL_NAP = 1.0  # a sleep shorter than this is one nap of a try-and-sleep loop, not a wait in itself
# Handlers nobody waits on: Python's SIGINT, and faulthandler's fatal-error ones (pytest enables it).
_ORDINARY_HANDLERS = {signal.SIGINT, signal.SIGSEGV, signal.SIGFPE, signal.SIGABRT, signal.SIGBUS, signal.SIGILL}


@dataclass(frozen=True)
class Diagnosis:
    pattern: str  # one of PATTERNS
    sentence: str  # one or two sentences, with pids and fds
    evidence: tuple[str, ...] = ()  # the facts the sentence rests on, one per line
    confidence: str = "likely"  # certain (a proven deadlock), likely, guess (the hint)
    pids: tuple[int, ...] = ()  # the processes the sentence is about
    deadlock: bool = False  # nothing can wake the process waited on: waiting longer is pointless
    unreadable: tuple[str, ...] = ()  # what /proc refused, which may hide the real cause
    objects: tuple[str, ...] = ()  # kinds of object the named processes wait on ('child', 'pipe', 'posix-sem' ...)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Step:
    pid: int
    node: ProcessNode
    wait: Wait | None
    need: Need | None
    next_pid: int | None = None


@dataclass
class _Story:
    """What the walk found, before it becomes a sentence."""

    pattern: str
    text: str
    pids: list[int] = field(default_factory=list)


def diagnose(graph: WaitGraph, focus: int | None = None, hint: str = "", quiet_signals: int = 0) -> Diagnosis:
    """Name the blocking pattern seen from `focus` (the test process), with its evidence.

    quiet_signals: a mask of signals the grader itself catches (not the learner's handlers).
    """
    stuck = graph.stuck()
    start = _start(graph, focus, stuck)
    unreadable = tuple(_unreadable(graph))
    if start is None:
        return _fallback(hint, "no process of the run was left to inspect", (), unreadable)
    namer = _Namer(graph, start, stuck, quiet_signals)
    steps, back = namer.walk()
    story = namer.name(steps, back)
    evidence = tuple(namer.evidence(steps))
    if story is None:
        why = _why_unnamed(steps)
        return _fallback(hint, why, evidence, unreadable)
    deadlock = start in stuck
    involved = story.pids or [s.pid for s in steps]
    inferred = any(s.wait is not None and s.wait.inferred for s in steps)
    if deadlock:
        evidence += (_deadlock_line(stuck),)
    return Diagnosis(
        pattern=story.pattern,
        sentence=story.text,
        evidence=evidence,
        confidence="certain" if deadlock and not inferred and set(involved) <= stuck else "likely",
        pids=tuple(dict.fromkeys(involved)),
        deadlock=deadlock,
        unreadable=unreadable,
        objects=namer.objects(involved),
    )


def _start(graph: WaitGraph, focus: int | None, stuck: set[int]) -> int | None:
    if focus is not None and focus in graph.processes and not graph.processes[focus].zombie:
        return focus
    candidates = sorted(pid for pid, node in graph.processes.items() if not node.zombie)
    return min(candidates, key=lambda pid: (pid not in stuck, pid)) if candidates else None


def _fallback(hint: str, why: str, evidence: tuple[str, ...], unreadable: tuple[str, ...]) -> Diagnosis:
    if hint:
        sentence = f"The wait-for graph names no pattern ({why}). A guess from this test: {hint}"
        return Diagnosis("hint", sentence, evidence, "guess", unreadable=unreadable)
    return Diagnosis(
        "unknown", f"The wait-for graph names no pattern: {why}.", evidence, "guess", unreadable=unreadable
    )


def _unreadable(graph: WaitGraph) -> list[str]:
    gaps = [f"pid {pid}: {gap}" for pid, node in sorted(graph.processes.items()) for gap in node.unreadable]
    return gaps + graph.unreadable


def _why_unnamed(steps: list[_Step]) -> str:
    last = steps[-1]
    if last.wait is None:
        return f"pid {last.pid} could not be inspected"
    if not last.wait.call:
        return f"pid {last.pid}'s system call could not be read ({last.wait.note})"
    if _napping(last.wait):
        return f"pid {last.pid} polls in short sleeps, and what it tries is not visible to the kernel"
    if not last.wait.understood:
        detail = f": {last.wait.note}" if last.wait.note else ""
        return f"pid {last.pid} is blocked in {last.wait.call}(), a wait the graph does not interpret{detail}"
    return f"pid {last.pid} waits for something another process may still provide"


def _deadlock_line(stuck: set[int]) -> str:
    pids = ", ".join(str(pid) for pid in sorted(stuck))
    return f"nothing can wake pids {pids}: each is blocked on something only blocked processes could provide"


class _Namer:
    def __init__(self, graph: WaitGraph, focus: int, stuck: set[int], quiet_signals: int) -> None:
        self.graph = graph
        self.focus = focus
        self.stuck = stuck
        self.quiet_signals = quiet_signals | sum(1 << (s - 1) for s in _ORDINARY_HANDLERS)
        self._polling_now: set[int] = set()  # pollers whose story is being told: a walk may lead back to one

    # --- the walk ---

    def walk(self, start: int | None = None) -> tuple[list[_Step], int | None]:
        """Follow the waits from the focus (or `start`); returns the steps and, when the chain
        closes on itself, the index of the step it returns to."""
        steps: list[_Step] = []
        seen: dict[int, int] = {}
        pid: int | None = self.focus if start is None else start
        while pid is not None and pid not in seen:
            seen[pid] = len(steps)
            node = self.graph.processes[pid]
            wait = node.primary_wait()
            need = self._pick_need(pid, wait)
            step = _Step(pid=pid, node=node, wait=wait, need=need)
            step.next_pid = self._next(pid, need)
            steps.append(step)
            if self._self_held(step):
                break
            pid = step.next_pid
        return steps, seen.get(pid) if pid is not None and steps[-1].next_pid == pid else None

    def _pick_need(self, pid: int, wait: Wait | None) -> Need | None:
        if wait is None or not wait.needs:
            return None

        def rank(need: Need) -> tuple[int, int]:
            others = [h.pid for h in need.wakers if h.pid != pid and h.pid in self.graph.processes]
            self_held = need.what == "data" and any(h.pid == pid for h in need.wakers)
            return (0 if self_held else 1, 0 if any(p in self.stuck for p in others) else 1)

        return min(wait.needs, key=rank)

    def _next(self, pid: int, need: Need | None) -> int | None:
        if need is None:
            return None
        others = sorted(
            {h.pid for h in need.wakers if h.pid != pid and h.pid in self.graph.processes},
            key=lambda p: (p not in self.stuck, p),
        )
        return others[0] if others else None

    def _self_held(self, step: _Step) -> bool:
        need = step.need
        return (
            need is not None
            and need.what == "data"
            and need.key[0] in ("pipe", "socket")
            and any(h.pid == step.pid for h in need.wakers)
        )

    # --- naming ---

    def name(self, steps: list[_Step], back: int | None) -> _Story | None:
        for step in steps:
            if self._self_held(step) and len(_active_threads(step.node)) > 1:
                return self._threads(steps, step)
            if self._self_held(step):
                return self._no_eof(steps, step, self._stray_holders(step, include_self=True))
        if back is not None:
            return self._cycle(steps, steps[back:])
        return self._end(steps)

    def _threads(self, steps: list[_Step], step: _Step) -> _Story:
        """A process whose threads wait on each other's ends: another thread, not a forgotten
        close(), is the one meant to write, and it is blocked too."""
        waits = "; ".join(f"thread {w.tid} {describe_wait(w, step.node)}" for w in _active_threads(step.node)[:3])
        text = (
            f"the threads of {self.who(step.pid)} wait for one another: {waits}. No other process holds "
            "those objects, so none of the threads can move: one of them must write (or close) first."
        )
        return _Story("threads", self._after(steps, step, text), [step.pid])

    def _stray_holders(self, step: _Step, include_self: bool) -> list[tuple[int, int, int]]:
        """(score, pid, fd) of the holders of a read pipe's write end (or a socket's other end)
        that are not writing into it: 3 the reader itself, 2 a process writing elsewhere or
        holding both ends, 1 a process blocked on something else, 0 a command's stdout."""
        need = step.need
        assert need is not None
        found = []
        for holder in need.wakers:
            if holder.pid == step.pid:
                if include_self:
                    found.append((3, holder.pid, holder.fd))
                continue
            node = self.graph.processes.get(holder.pid)
            wait = node.primary_wait() if node else None
            if node is None or wait is None:
                continue
            if any(n.key == need.key and n.what == "room" for n in wait.needs):
                continue  # a real writer, blocked on a full pipe
            writes_elsewhere = any(n.what == "room" for n in wait.needs)
            both_ends = need.key[0] == "pipe" and any(
                e.kind == "pipe" and e.inode == need.key[1] and "r" in e.access for e in node.fds.values()
            )
            if writes_elsewhere or both_ends:
                found.append((2, holder.pid, holder.fd))
            elif holder.fd > 2:
                found.append((1, holder.pid, holder.fd))
            else:
                found.append((0, holder.pid, holder.fd))
        return sorted(found, key=lambda item: (-item[0], item[1]))

    def _no_eof(self, steps: list[_Step], step: _Step, strays: list[tuple[int, int, int]]) -> _Story:
        need = step.need
        assert need is not None
        named = [s for s in strays if s[0] >= max(1, strays[0][0] - 1)] if strays else []
        holders = _and([self.who(pid, fd=fd, subject=step.pid) for _, pid, fd in named]) or "no process"
        reader = self.who(step.pid)
        if need.key[0] == "socket":
            text = (
                f"{reader} reads {need.obj} (fd {need.fd}) until the other end closes, but the other end "
                f"(socket {need.key[1]}) is still open in {holders}, which will not close it: close it in every "
                "process that does not use it (a child closes the parent's end right after fork())."
            )
        else:
            text = (
                f"{reader} reads {need.obj} (fd {need.fd}) until EOF, but its write end is still open in {holders}, "
                "which will not write to it: EOF comes only when every copy of the write end is closed. Close the "
                "ends a process does not use, right after fork()."
            )
        return _Story("no-eof", self._after(steps, step, text), [step.pid] + [pid for _, pid, _ in named])

    def _cycle(self, steps: list[_Step], loop: list[_Step]) -> _Story:
        for step in loop:
            if step.need is not None and step.need.what == "data" and step.need.key[0] in ("pipe", "socket"):
                strays = self._stray_holders(step, include_self=False)
                if strays and strays[0][0] >= 2:
                    return self._no_eof(steps, step, strays)
        if all(s.need is not None and s.need.what == "data" for s in loop):
            strays = self._stray_holders(loop[0], include_self=False)
            if strays and strays[0][0] >= 1:
                return self._no_eof(steps, loop[0], strays)
        edges = "; ".join(self._edge(step) for step in loop)
        kinds = {s.need.what for s in loop if s.need is not None}
        if "exit" in kinds and "room" in kinds:
            lesson = "read before you wait: a child blocked writing into a full pipe never exits"
        elif kinds == {"unlock"}:
            lesson = (
                "each holds a lock the other wants: take locks in one order everywhere (the kernel reports "
                "EDEADLK for classic fcntl locks of two processes, never for OFD locks or flock)"
            )
        elif kinds == {"room"}:
            lesson = (
                "every process waits to write and none reads: read and write at the same time "
                "(select/poll with non-blocking writes, or a thread that feeds the input)"
            )
        else:
            lesson = "each waits for the next, so none can move"
        text = f"a deadlock: {edges}: {lesson}."
        return _Story("cycle", self._after(steps, loop[0], text), [s.pid for s in loop])

    def _end(self, steps: list[_Step]) -> _Story | None:
        """The chain ends at a process that waits for nothing another process of the run could give."""
        last = steps[-1]
        node, wait, need = last.node, last.wait, last.need
        who = self.who(last.pid)
        if wait is None:
            return None
        if wait.running:
            if not node.spinning or node.cpu_share is None:
                return None
            text = (
                f"{who} is not blocked: it used {node.cpu_share:.0%} of a CPU while the graph was read, a busy "
                "loop. A wait that polls without blocking burns a core and starves the process it waits for: "
                "block in the call that waits (read, wait, acquire with a timeout) instead."
            )
            if node.at_eof:
                text += " " + _reads_at_eof(node.at_eof)
            return _Story("busy-loop", self._after(steps, last, text), [last.pid])
        if _napping(wait):
            return self._polling(steps, last)
        if wait.sleeping:
            return _Story("sleeping", self._after(steps, last, self._sleep_text(who, node, wait)), [last.pid])
        if wait.internal and all(w.internal for w in node.waits):
            text = f"the threads of {who} wait for one another (a lock or a join that never comes)."
            return _Story("threads", self._after(steps, last, text), [last.pid])
        if need is None or not wait.understood or need.unknown_wakers:
            return None
        return self._sink(steps, last, need, wait)  # no other process holds it: the walk stopped here

    def _polling(self, steps: list[_Step], last: _Step) -> _Story | None:
        """A try-and-sleep loop: what it tries is invisible to the kernel, but a process that is
        stuck for good elsewhere in the run is what it most likely waits for. (When that process
        waits for the poller itself, the walk comes back here: the poller's story is then no story.)"""
        if last.pid in self._polling_now:
            return None
        self._polling_now.add(last.pid)
        try:
            return self._polling_story(steps, last)
        finally:
            self._polling_now.discard(last.pid)

    def _polling_story(self, steps: list[_Step], last: _Step) -> _Story | None:
        assert last.wait is not None and last.wait.timeout is not None
        nap = last.wait.timeout
        length = f"the current one ends in {nap:.2g} s" if last.wait.timeout_is_remaining else f"{nap:.2g} s each"
        naps = f"{self.who(last.pid)} polls, sleeping in short naps between tries ({length})"
        shown = {s.pid for s in steps}
        for pid in sorted(p for p, node in self.graph.processes.items() if node.blocked and p not in shown):
            other_steps, back = self.walk(pid)
            story = self.name(other_steps, back)
            if story is not None:
                text = f"{naps}; meanwhile {story.text[:1].lower()}{story.text[1:]}"
                return _Story(story.pattern, self._after(steps, last, text), [last.pid, *story.pids])
        return None

    def _sink(self, steps: list[_Step], step: _Step, need: Need, wait: Wait) -> _Story | None:
        who = self.who(step.pid)
        state = f" ({need.state})" if need.state else ""
        if need.what == "open-peer":
            side = "writer" if "writer" in need.state else "reader"
            text = (
                f"{who} waits in open() on {need.obj} for a {side}, and no process opens it: open() of a FIFO "
                "blocks until the other side opens it too. Open with O_NONBLOCK (a reader succeeds at once; a "
                "writer gets ENXIO when no reader is there) or make sure the other side exists first."
            )
            return _Story("fifo-no-peer", self._after(steps, step, text), [step.pid])
        if need.what == "signal":
            return self._signal_story(steps, step, need, wait)
        if need.what == "unlock":
            return self._lock_story(steps, step, need)
        opens = need.key[0] in ("posix-sem", "shm-futex", "mqueue", "fifo")  # holders are visible
        if need.what == "data" and need.key[0] == "fifo":
            text = f"{who} reads {need.obj} (fd {need.fd}), and {self._nobody(step.pid, 'write to it', opens)}."
            return _Story("no-waker", self._after(steps, step, text), [step.pid])
        actions = {
            "post": ("waits on", "post it"),
            "message": ("waits for a message on", "send one"),
            "data": ("waits for a message on", "send one"),
            "room": ("waits for room in", "take a message out"),
            "room-in-queue": ("waits for room in", "take a message out"),
            "connection": ("waits in accept() on", "connect"),
        }
        if need.what not in actions:
            return None
        verb, remedy = actions[need.what]
        text = f"{who} {verb} {need.obj}{state}, and {self._nobody(step.pid, remedy, opens)}."
        if need.what == "post":
            text += " Nobody will ever release it: post where the work is done, or give it the right initial value."
        return _Story("no-waker", self._after(steps, step, text), [step.pid])

    def _lock_story(self, steps: list[_Step], step: _Step, need: Need) -> _Story | None:
        """A lock wait that no other process of the run can end: held by the waiter itself (through
        another open of the file), or by a process outside the run."""
        who, held = self.who(step.pid), f"{need.obj} (fd {need.fd}; {need.state})"
        mine = sorted({h.fd for h in need.wakers if h.pid == step.pid and h.fd >= 0})
        if mine:
            text = (
                f"{who} waits for {held}, and the holder is {who} itself, through fd {_and([str(f) for f in mine])}: "
                "an OFD lock or a flock belongs to an open file description, so two open()s of one file conflict "
                "even in one process. Release the first lock, or lock through the same fd."
            )
            return _Story("self-lock", self._after(steps, step, text), [step.pid])
        outside = sorted({h.pid for h in need.wakers if h.pid != step.pid})
        if not outside:
            return None
        holders = _and([f"pid {pid}" for pid in outside])
        text = f"{who} waits for {held}, which {holders} holds, and {holders} is not a process of this run."
        return _Story("no-waker", self._after(steps, step, text), [step.pid])

    def _nobody(self, pid: int, remedy: str, opens: bool) -> str:
        """Why nobody will act: '... no other process of the run has it open or is running to post it'.
        `opens`: the object is held through an fd or a mapping, so "has it open" is evidence too."""
        live = sorted(p for p, n in self.graph.processes.items() if p != pid and not n.zombie and p not in self.stuck)
        if live:
            running = f"only {_and([self.who(p) for p in live])} still runs and might {remedy}"
            return f"no other process of the run has it open; {running}" if opens else running
        return f"no other process of the run {'has it open or ' if opens else ''}is running to {remedy}"

    def _signal_story(self, steps: list[_Step], step: _Step, need: Need, wait: Wait) -> _Story:
        how = {"rt_sigtimedwait": "sigtimedwait()", "rt_sigsuspend": "sigsuspend()", "pause": "pause()"}.get(
            wait.call, f"{wait.call}()"
        )
        wanted = need.signals & ~self.quiet_signals or need.signals
        names = _or(signal_names(wanted)) or "a signal"
        limit = f", for up to {wait.timeout:.3g} s" if wait.timeout is not None else ""
        nobody = self._nobody(step.pid, "send it", opens=False)
        text = f"{self.who(step.pid)} waits in {how} for {names} ({need.state}{limit}), and {nobody}."
        caught = self.graph.processes[step.pid].signals
        handled = wait.call in ("pause", "rt_sigsuspend") or bool(caught and caught.caught & wanted)
        if not handled:
            return _Story("no-waker", self._after(steps, step, text), [step.pid])
        text += (
            " If it was sent before the wait began, its handler already ran and this wait was lost (a lost "
            "wake-up): block the signal first (pthread_sigmask), then wait with sigtimedwait() or sigsuspend()."
        )
        return _Story("lost-wakeup", self._after(steps, step, text), [step.pid])

    def _sleep_text(self, who: str, node: ProcessNode, wait: Wait) -> str:
        length = ""
        if wait.timeout is not None:
            length = f" for {wait.timeout:.3g} s more" if wait.timeout_is_remaining else f" for {wait.timeout:.3g} s"
        text = f"{who} sleeps in {wait.call}(){length} instead of waiting for an event."
        caught = (node.signals.caught if node.signals else 0) & ~self.quiet_signals
        if caught:
            text += (
                f" It has a handler for {_and(signal_names(caught))}, but a handler does not end time.sleep(): the "
                "sleep resumes (PEP 475). Wait with signal.sigtimedwait() on the blocked signal, or an Event the "
                "handler sets."
            )
        return text

    def objects(self, pids: list[int]) -> tuple[str, ...]:
        """The kinds of object these processes wait on: with the pattern, what makes two
        timeouts "the same bug" (a parent waiting for a child that writes into a full pipe)."""
        kinds = set()
        for pid in pids:
            node = self.graph.processes.get(pid)
            wait = node.primary_wait() if node else None
            need = self._pick_need(pid, wait)
            if need is not None and need.key[0]:
                kinds.add(str(need.key[0]))
        return tuple(sorted(kinds))

    # --- words ---

    def who(self, pid: int, *, fd: int | None = None, subject: int | None = None) -> str:
        """'the parent (pid 810)', 'the caller (pid 810)' (no child), 'child 812 (cat, fd 1)',
        'the parent itself (pid 810, fd 6)'."""
        node = self.graph.processes.get(pid)
        details: list[str] = []
        if node is None:
            name = f"pid {pid}"
        elif pid == self.focus and any(other.ppid == pid for other in self.graph.processes.values()):
            name, details = "the parent", [f"pid {pid}"]
        elif pid == self.focus:
            name, details = "the caller", [f"pid {pid}"]  # the process that called the learner's function
        elif node.ppid == self.focus:
            name = f"child {pid}"
            if node.comm != self.graph.processes[self.focus].comm:
                details.append(node.comm)
        else:
            name, details = f"pid {pid}", [node.comm]
        if pid == subject:
            name += " itself"
        if fd is not None and fd >= 0:
            details.append(f"fd {fd}")
        return name + (f" ({', '.join(details)})" if details else "")

    def _edge(self, step: _Step) -> str:
        need = step.need
        who = self.who(step.pid)
        if need is None:
            return f"{who} is blocked"
        fd = f" (fd {need.fd})" if need.fd is not None else ""
        if step.next_pid is None:
            return f"{who} waits for {need.obj}{fd}"
        fds = [h.fd for h in need.wakers if h.pid == step.next_pid]
        nxt = self.who(step.next_pid, fd=fds[0] if fds else None)
        if need.what == "exit":
            return f"{who} waits for {self.who(step.next_pid)} to exit"
        if need.what == "room":
            return f"{who} waits to write into {need.obj}{fd}, which is full and whose only reader is {nxt}"
        if need.what == "data":
            return f"{who} waits to read {need.obj}{fd}, whose write end {nxt} holds"
        if need.what == "unlock":
            return f"{who} waits for {need.obj}{fd}, which {self.who(step.next_pid)} holds"
        return f"{who} waits for {need.obj}, which only {nxt} could provide"

    def _after(self, steps: list[_Step], target: _Step, text: str) -> str:
        """The sentence about `target`, after how the focus comes to depend on it:
        'The parent (pid 9) waits for child 12 to exit; child 12 reads ...'."""
        index = steps.index(target)
        prefix = "".join(self._edge(step) + "; " for step in steps[:index])
        return _capital(prefix + text)

    def evidence(self, steps: list[_Step]) -> list[str]:
        order = [s.pid for s in steps] + sorted(set(self.graph.processes) - {s.pid for s in steps})
        return [f"pid {pid} ({self.graph.processes[pid].comm}) {self.graph.describe(pid)}" for pid in order]


def _reads_at_eof(entries: list[FdEntry]) -> str:
    """What a spinner's FIFO read ends with no writer left mean: EOF at once, for ever."""
    ends = _and([f"FIFO {entry.target} (fd {entry.fd})" for entry in entries])
    return (
        f"It holds the read end of {ends}, whose write end no process holds any more: there a read returns b'' "
        "(EOF) at once and select() reports it readable, so a loop that waits for data never sleeps. Treat b'' as "
        "the end, or hold a write end of your own (opened right after the read end) so that reads block until a "
        "writer comes."
    )


def describe_objects(kinds: list[str] | tuple[str, ...]) -> str:
    """'a child's exit and a pipe' (Diagnosis.objects, for a learner)."""
    return _and([OBJECT_WORDS.get(kind, kind) for kind in kinds]) or "objects the graph could not name"


def _and(parts: list[str], word: str = "and") -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + f" {word} " + parts[-1]


def _or(parts: list[str]) -> str:
    return _and(parts, "or")


def _napping(wait: Wait) -> bool:
    """One short sleep of a try-and-sleep loop."""
    return wait.sleeping and wait.timeout is not None and wait.timeout < POLL_NAP


def _active_threads(node: ProcessNode) -> list[Wait]:
    """The threads of a process that wait for something outside it (not a lock, a join, the GIL)."""
    return [wait for wait in node.waits if not wait.internal and not wait.running]


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]
