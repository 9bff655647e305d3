"""Stopping a test as soon as its deadlock is proven, instead of at its time limit.

While a test runs, the runner asks `DeadlockWatch.proven()` on every turn of its
loop. After a grace period, every LOOK_EVERY seconds, the watch looks at the test
process and its descendants; only when every one of their threads sleeps does
it read the wait-for graph (grader/waitgraph.py), where the test process is
*stuck* when it is blocked, untimed, on something only stuck processes could
provide (docs/decisions.md, "A timeout is explained from /proc").

One look proves nothing: the graph is read one process after the other, not at
one instant, so two states that never coexisted could seem to form a cycle. The
proof is two looks in a row that find the same stuck processes, with not one of
their threads switched in or out in between (the context-switch counts of
/proc/<pid>/task/<tid>/status, read before each graph): the stuck threads did not
run between the two readings, so the first graph shows them all blocked at once,
and nothing of the run could wake them.

A timer armed with alarm() or setitimer() is not visible in /proc: a stuck process
that catches SIGALRM, SIGVTALRM or SIGPROF, or waits for one (sigwait), is never
called proven (the timer may fire). A timer left at its default action kills the
process when it fires; that one case is not seen here (a kata's code has no reason
for it).
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass

from grader import procfs, waitgraph

GRACE = 1.0  # seconds a test runs before its processes are first looked at
LOOK_EVERY = 0.5  # seconds between two looks (the two of a proof)
_TIMER_SIGNALS = sum(1 << (sig - 1) for sig in (signal.SIGALRM, signal.SIGVTALRM, signal.SIGPROF))
_Thread = tuple[int, int]  # (pid, tid)


@dataclass(frozen=True)
class _Look:
    stuck: frozenset[int]  # the processes nothing can wake, the test process among them
    switches: dict[_Thread, int]  # context switches of each of their threads, read before the graph


class DeadlockWatch:
    """Watches one test process (and its descendants) for a proven deadlock."""

    def __init__(self, test_pid: int, now: float | None = None) -> None:
        self.test_pid = test_pid
        self._next_look = (time.monotonic() if now is None else now) + GRACE
        self._last: _Look | None = None

    def proven(self, now: float | None = None) -> bool:
        """True once two looks in a row prove the test process deadlocked (cheap until a look is due)."""
        now = time.monotonic() if now is None else now
        if now < self._next_look:
            return False
        self._next_look = now + LOOK_EVERY
        look, last = self._look(), self._last
        self._last = look
        return look is not None and last is not None and look.stuck == last.stuck and look.switches == last.switches

    def _look(self) -> _Look | None:
        """The stuck processes with their threads' switch counts, or None when something can still move."""
        threads = _sleeping_threads(self.test_pid)
        if threads is None:
            return None
        try:
            switches = {(pid, tid): procfs.context_switches(pid, tid) for pid, tid in threads}
        except OSError:
            return None  # a thread ended meanwhile: something moves
        graph = waitgraph.build([self.test_pid], sample=0.0)
        stuck = graph.stuck()
        if self.test_pid not in stuck:
            return None
        if any(_timer_may_wake(graph.processes[pid]) for pid in stuck):
            return None
        return _Look(frozenset(stuck), {thread: n for thread, n in switches.items() if thread[0] in stuck})


def _timer_may_wake(node: waitgraph.ProcessNode) -> bool:
    """The process catches a timer's signal, or waits for one (sigwait): an alarm() or setitimer()
    we cannot see may end its wait. True as well when its signal masks could not be read."""
    if node.signals is None:
        return True
    awaited = 0
    for wait in node.waits:
        for need in wait.needs:
            awaited |= need.signals
    return bool((node.signals.caught | awaited) & _TIMER_SIGNALS)


def _sleeping_threads(root: int) -> list[_Thread] | None:
    """Every thread of `root` and its descendants, when all of them sleep (zombies aside);
    None when one runs, waits uninterruptibly, is stopped, or cannot be read."""
    threads: list[_Thread] = []
    queue, seen = [root], set()
    try:
        while queue:
            pid = queue.pop()
            if pid in seen:
                continue
            seen.add(pid)
            if len(seen) > waitgraph.MAX_PROCESSES:
                return None  # a storm: the graph would not be read in full
            if procfs.task_stat(pid).state in ("Z", "X"):
                continue  # exited, not reaped: it waits for nothing
            for tid in procfs.thread_ids(pid):
                if procfs.task_stat(pid, tid).state != "S":
                    return None
                threads.append((pid, tid))
            queue += procfs.children(pid)
    except (OSError, ValueError):
        return None
    return threads
