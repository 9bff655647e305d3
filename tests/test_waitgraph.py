"""The wait-for graph on real processes in real deadlocks.

Each test starts a scenario program (tests/waitgraph_scenarios/scenarios.py)
whose processes report their pids, fds and inodes and then block; the test
polls /proc until they are blocked where expected, builds the graph, checks the
named pattern and its evidence, and kills and reaps everything (IPC names are
unique per test and removed even when the test fails).
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import random
import select
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import posix_ipc
import psutil
import pytest
import sysv_ipc

from grader import blocked, deadlock, procfs, syscalls, waitgraph
from grader.deadlock import DeadlockWatch
from grader.diagnosis import Diagnosis, diagnose
from grader.testing import blocked_in
from grader.waitgraph import WaitGraph, build

SCRIPT = Path(__file__).parent / "waitgraph_scenarios" / "scenarios.py"
PATIENCE = 15.0  # seconds for a scenario to reach its blocking call on a busy machine
HINT = "the test's own hint"


class Scenario:
    """One launched scenario: its facts, its processes, and their cleanup."""

    def __init__(self, name: str, workdir: Path) -> None:
        self.key = random.randint(1 << 20, 1 << 30)
        self.token = f"{uuid.uuid4().hex[:10]}-{self.key}"
        self.launcher = subprocess.Popen(
            [sys.executable, str(SCRIPT), name, self.token, str(workdir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.facts: dict[str, dict] = {}
        self._buffer = b""

    def fact(self, role: str) -> dict:
        deadline = time.monotonic() + PATIENCE
        assert self.launcher.stdout is not None
        while role not in self.facts:
            left = deadline - time.monotonic()
            assert left > 0, f"the scenario never reported its {role}: {self.facts}"
            ready, _, _ = select.select([self.launcher.stdout], [], [], left)
            if ready:
                chunk = os.read(self.launcher.stdout.fileno(), 1 << 16)
                assert chunk, f"the scenario ended before reporting its {role}"
                self._buffer += chunk
                while b"\n" in self._buffer:
                    line, self._buffer = self._buffer.split(b"\n", 1)
                    record = json.loads(line)
                    self.facts[record["role"]] = record
        return self.facts[role]

    def pid(self, role: str) -> int:
        return int(self.fact(role)["pid"])

    @property
    def focus(self) -> int:
        return int(self.fact("launcher")["first"])

    def processes(self) -> list[int]:
        try:
            return [child.pid for child in psutil.Process(self.launcher.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def wait_blocked(self, pids: dict[int, str] | None = None, **calls: str) -> None:
        """Poll /proc until each process (by pid, or by role) sits in the named system call ('running':
        on a CPU; 'sleeping': in any sleep, when its system call is not ours to read; 'zombie': exited)."""
        deadline = time.monotonic() + PATIENCE
        pending = dict(pids or {}) | {self.pid(role): call for role, call in calls.items()}
        while pending:
            pending = {pid: call for pid, call in pending.items() if not _in_call(pid, call)}
            if pending:
                assert time.monotonic() < deadline, f"never blocked as expected: {pending}"
                time.sleep(0.01)

    def diagnose(self, hint: str = HINT) -> tuple[WaitGraph, Diagnosis]:
        graph = build(self.processes())
        return graph, diagnose(graph, self.focus, hint)

    def diagnosed(self, pattern: str, pids: dict[int, str] | None = None, **calls: str) -> tuple[WaitGraph, Diagnosis]:
        """wait_blocked, then diagnose: the graph and a diagnosis that must name `pattern`."""
        self.wait_blocked(pids, **calls)
        graph, found = self.diagnose()
        assert found.pattern == pattern, found.sentence
        return graph, found

    def cleanup(self) -> None:
        for _ in range(50):
            alive = [pid for pid in self.processes() if _kill(pid)]
            if not alive:
                break
            time.sleep(0.01)
        assert self.launcher.stdin is not None and self.launcher.stdout is not None
        self.launcher.stdin.close()
        try:
            self.launcher.wait(timeout=PATIENCE)
        except subprocess.TimeoutExpired:
            self.launcher.kill()
            self.launcher.wait()
        self.launcher.stdout.close()
        for unlink in (posix_ipc.unlink_semaphore, posix_ipc.unlink_message_queue):
            try:
                unlink(f"/wg-{self.token}")
            except posix_ipc.ExistentialError:
                pass
        for kind in (sysv_ipc.Semaphore, sysv_ipc.MessageQueue):
            try:
                kind(self.key).remove()
            except sysv_ipc.ExistentialError:
                pass


def _in_call(pid: int, call: str) -> bool:
    state = procfs.task_stat(pid).state
    if call == "running":
        return state == "R"
    if call in ("sleeping", "zombie"):
        return state == {"sleeping": "S", "zombie": "Z"}[call]
    try:
        current = procfs.syscall(pid)
    except OSError:
        return False
    return state == "S" and current is not None and syscalls.name(current.number) == call


def _kill(pid: int) -> bool:
    """SIGKILL; True while the process is not yet dead (a zombie is dead: the launcher reaps it)."""
    try:
        os.kill(pid, signal.SIGKILL)
        return procfs.task_stat(pid).state != "Z"
    except OSError:
        return False


@pytest.fixture
def scenario(tmp_path):
    started: list[Scenario] = []

    def start(name: str) -> Scenario:
        run = Scenario(name, tmp_path)
        started.append(run)
        return run

    yield start
    for run in started:
        run.cleanup()


# --- pipes -------------------------------------------------------------------------------


def test_a_parent_that_waits_before_reading_is_a_cycle(scenario):
    run = scenario("wait_before_read")
    graph, found = run.diagnosed("cycle", parent="wait4", child="write")
    parent, child, pipe = run.pid("parent"), run.pid("child"), run.fact("parent")["pipe"]
    assert f"the parent (pid {parent}) waits for child {child} to exit" in found.sentence
    assert f"child {child} waits to write into pipe {pipe} (fd {run.fact('child')['write_fd']})" in found.sentence
    assert f"whose only reader is the parent (pid {parent}, fd {run.fact('parent')['read_fd']})" in found.sentence
    assert "read before you wait" in found.sentence
    assert (found.deadlock, found.confidence, set(found.pids)) == (True, "certain", {parent, child})
    assert graph.describe(parent) == f"wait4(): waits for child {child} to exit"


def test_a_parent_that_keeps_the_write_end_never_sees_eof(scenario):
    run = scenario("parent_keeps_write_end")
    facts = run.fact("parent")
    graph, found = run.diagnosed("no-eof", {facts["child"]: "zombie"}, parent="read")
    assert f"reads pipe {facts['pipe']} (fd {facts['read_fd']}) until EOF" in found.sentence
    assert f"still open in the parent itself (pid {facts['pid']}, fd {facts['write_fd']})" in found.sentence
    assert found.deadlock and found.confidence == "certain"
    assert graph.processes[facts["child"]].zombie  # the writer is gone: nobody else could write
    alone = build([facts["pid"]])  # as from the runner, whose process list cannot see zombies
    assert alone.processes[facts["child"]].zombie, "children are found through /proc/<pid>/task/<tid>/children"
    assert diagnose(alone, facts["pid"]).sentence == found.sentence


def test_a_sibling_that_inherited_the_write_end_holds_back_eof(scenario):
    run = scenario("sibling_inherits_write_end")
    _, found = run.diagnosed("no-eof", {run.fact("parent")["child1"]: "zombie"}, parent="read", child2="write")
    facts, sibling = run.fact("parent"), run.fact("child2")
    assert f"reads pipe {facts['pipe']}" in found.sentence
    assert f"still open in child {sibling['pid']} (fd {sibling['kept_fd']})" in found.sentence
    assert "the parent itself" not in found.sentence  # the parent did close its copy
    assert found.deadlock


def test_writing_all_input_before_reading_output_is_a_cycle_of_full_pipes(scenario):
    run = scenario("write_all_then_read")
    facts = run.fact("parent")
    run.wait_blocked({facts["child"]: "write"}, parent="write")  # the child is cat: no facts line of its own
    _, found = run.diagnose()
    assert found.pattern == "cycle", found.sentence
    assert f"waits to write into pipe {facts['in_pipe']} (fd {facts['in_fd']})" in found.sentence
    assert f"child {facts['child']} (cat, fd 0)" in found.sentence
    assert f"pipe {facts['out_pipe']} (fd 1)" in found.sentence
    assert "read and write at the same time" in found.sentence
    assert found.deadlock


# --- sockets -----------------------------------------------------------------------------


def test_a_child_that_kept_the_parents_socket_end_never_sees_eof(scenario):
    run = scenario("socketpair_child_keeps_parent_end")
    _, found = run.diagnosed("no-eof", parent="wait4", child="recvfrom")
    parent, child = run.fact("parent"), run.fact("child")
    assert found.sentence.startswith(f"The parent (pid {parent['pid']}) waits for child {child['pid']} to exit; ")
    assert f"reads stream socket {child['socket']} (fd {child['fd']}) until the other end closes" in found.sentence
    assert (
        f"(socket {parent['parent_socket']}) is still open in child {child['pid']} itself (fd {child['kept_fd']})"
        in (found.sentence)
    )
    assert found.deadlock


# --- FIFOs, semaphores, queues: waits nobody will satisfy ---------------------------------------

NOBODY_WILL_ACT = [
    (
        "fifo_open_no_writer",
        {"reader": "openat"},
        "fifo-no-peer",
        ["waits in open() on FIFO {path} (inode {inode}) for a writer, and no process opens it"],
    ),
    (
        "posix_semaphore_zero",
        {"waiter": "futex"},
        "no-waker",
        [
            "waits on POSIX semaphore {name} (value 0, 1 waiter), and no other process of the run has it open "
            "or is running to post it",
            "Nobody will ever release it",
        ],
    ),
    (
        "sysv_semaphore_zero",
        {"waiter": "semtimedop"},
        "no-waker",
        ["waits on System V semaphore {semid}[0] (key {key:#x}) (value 0, 1 waiter"],
    ),
    (
        "posix_queue_empty",
        {"receiver": "mq_timedreceive"},
        "no-waker",
        [
            "waits for a message on POSIX message queue {name} (empty), and no other process of the run has it "
            "open or is running to send one"
        ],
    ),
    (
        "sysv_queue_empty",
        {"receiver": "msgrcv"},
        "no-waker",
        ["waits for a message on System V message queue {msqid} (key {key:#x}) (empty), and no other process"],
    ),
    (
        "accept_nobody",
        {"server": "accept4"},
        "no-waker",
        ["waits in accept() on stream socket {socket} ({path}) (0 pending connections), and no other process"],
    ),
]


def test_an_ofd_lock_wanted_again_through_a_second_open_is_held_by_the_waiter(scenario):
    run = scenario("lock_through_a_second_open")
    _graph, found = run.diagnosed("self-lock", locker="fcntl")
    locker, facts = run.pid("locker"), run.fact("locker")
    assert f"waits for a lock on {facts['path']} (fd {facts['second_fd']}; OFDLCK WRITE lock" in found.sentence
    assert f"through fd {facts['first_fd']}" in found.sentence and "two open()s of one file conflict" in found.sentence
    assert list(found.pids) == [locker]


@pytest.mark.parametrize(
    ("name", "calls", "pattern", "fragments"), NOBODY_WILL_ACT, ids=[row[0] for row in NOBODY_WILL_ACT]
)
def test_a_wait_that_nobody_will_satisfy(scenario, name, calls, pattern, fragments):
    run = scenario(name)
    _, found = run.diagnosed(pattern, **calls)
    facts = run.fact(next(iter(calls)))
    for fragment in fragments:
        assert fragment.format(**facts) in found.sentence
    assert (found.deadlock, found.confidence, found.pids[0]) == (True, "certain", facts["pid"])


# --- signals and CPU -----------------------------------------------------------------------------


def test_sigtimedwait_for_a_signal_nobody_sends(scenario):
    run = scenario("sigtimedwait_never_sent")
    _, found = run.diagnosed("no-waker", waiter="rt_sigtimedwait")
    assert "waits in sigtimedwait() for SIGUSR1 (not pending, for up to 300 s)" in found.sentence
    assert not found.deadlock  # it has a timeout: it will end by itself, the graph cannot prove more


def test_pause_with_a_handler_is_a_possible_lost_wakeup(scenario):
    run = scenario("pause_with_handler")
    _, found = run.diagnosed("lost-wakeup", waiter="pause")
    assert "waits in pause() for SIGUSR1 (not pending)" in found.sentence  # not SIGINT: Python's own handler
    assert "lost wake-up" in found.sentence


def test_a_busy_child_is_named_at_the_end_of_the_chain(scenario):
    run = scenario("busy_child")
    graph, found = run.diagnosed("busy-loop", parent="wait4", child="running")
    child = run.pid("child")
    assert f"waits for child {child} to exit; child {child} is not blocked" in found.sentence
    assert child in found.pids and not found.deadlock
    assert graph.processes[child].spinning
    assert "EOF" not in found.sentence


def test_a_spinner_reading_a_fifo_whose_writers_are_gone_is_told_it_reads_eof(scenario):
    run = scenario("spin_on_a_fifo_at_eof")
    graph, found = run.diagnosed("busy-loop", reader="running")
    reader = run.fact("reader")
    assert [entry.fd for entry in graph.processes[reader["pid"]].at_eof] == [reader["read_fd"]]
    assert f"It holds the read end of FIFO {reader['path']} (fd {reader['read_fd']}), whose write end no process" in (
        found.sentence
    )
    assert "hold a write end of your own" in found.sentence


def test_a_spinner_whose_fifo_has_a_writer_outside_the_run_is_not_told_it_reads_eof(scenario):
    run = scenario("spin_polling_a_fifo")
    reader = run.fact("reader")
    hold = "import os, sys; os.open(sys.argv[1], os.O_WRONLY | os.O_NONBLOCK); print(flush=True); sys.stdin.read()"
    writer = subprocess.Popen(  # a process outside the run, as an unrelated program would be
        [sys.executable, "-c", hold, reader["path"]], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline() == b"\n"
        graph, found = run.diagnosed("busy-loop", reader="running")
    finally:
        writer.communicate()
    assert graph.processes[reader["pid"]].at_eof == [] and "EOF" not in found.sentence


def test_a_spinner_holding_a_pipe_at_eof_is_not_told_it_reads_it(scenario):
    # Which fd a spinner reads cannot be seen, and a test process holds the grader's helper pipes at EOF
    # too: only a FIFO, named and the learner's, is worth the claim.
    run = scenario("spin_on_a_pipe_at_eof")
    graph, found = run.diagnosed("busy-loop", reader="running")
    assert graph.processes[run.pid("reader")].at_eof == [] and "EOF" not in found.sentence


def test_a_polling_caller_is_explained_by_the_process_stuck_behind_it(scenario):
    run = scenario("poll_for_a_reply_nobody_sends")
    _, found = run.diagnosed("no-waker", server="msgrcv", caller="clock_nanosleep")
    caller, server = run.pid("caller"), run.pid("server")
    assert found.sentence.startswith(f"The parent (pid {caller}) polls, sleeping in short naps between tries")
    assert f"meanwhile child {server} waits for a message on System V message queue {run.fact('server')['msqid']}" in (
        found.sentence
    )
    assert "(1 message, 7 bytes, none of the type it asks for (1))" in found.sentence
    assert f"only the parent (pid {caller}) still runs and might send one" in found.sentence
    assert not found.deadlock  # the caller's loop is alive: only the evidence says it is hopeless


def test_a_poller_caught_on_a_cpu_at_both_looks_is_looked_at_until_it_naps(scenario, monkeypatch):
    """On a busy machine a poller's nap ends in a wait for a CPU: it can be runnable at both of the
    builder's looks (a loop of `make test` beside two busy loops saw it). It blocked in between, so it is
    looked at again until it is caught in its nap; here the first two looks are made to see it running."""
    run = scenario("poll_for_a_reply_nobody_sends")
    run.wait_blocked(server="msgrcv", caller="clock_nanosleep")
    caller = run.pid("caller")
    real = waitgraph._Builder._read_process
    looks: list[int] = []

    def on_a_cpu_twice(self, pid):
        node = real(self, pid)
        if pid == caller and node is not None and len(looks) < 2:
            looks.append(pid)
            node = dataclasses.replace(node, waits=[dataclasses.replace(w, call="running") for w in node.waits])
        return node

    monkeypatch.setattr(waitgraph._Builder, "_read_process", on_a_cpu_twice)
    graph, found = run.diagnose()
    assert len(looks) == 2 and not graph.processes[caller].spinning
    assert found.pattern == "no-waker", found.sentence
    assert found.sentence.startswith(f"The parent (pid {caller}) polls, sleeping in short naps between tries")


NAPPING_THREAD = """
import threading, time
def poll():
    while True:
        time.sleep(0.002)
worker = threading.Thread(target=poll)
worker.start()
worker.join()
"""


def test_a_thread_napping_while_the_main_thread_joins_it_counts_as_blocking():
    """A poller may nap in a thread while the main thread sits in join(): the naps are what tells
    a poller from a spinner, so every thread's blocking counts, not only the main thread's."""
    proc = subprocess.Popen([sys.executable, "-c", NAPPING_THREAD])
    try:
        deadline = time.monotonic() + PATIENCE
        while True:  # the main thread in join(): a futex wait that no switch ends (a wait for the GIL would)
            main_before = procfs.context_switches(proc.pid, voluntary_only=True)
            time.sleep(0.1)
            settled = procfs.context_switches(proc.pid, voluntary_only=True) == main_before
            if settled and blocked_in(proc.pid) == "futex":
                break
            assert time.monotonic() < deadline, "the main thread never settled in join()"
        all_before = waitgraph._blocks(proc.pid)
        time.sleep(0.2)
        assert procfs.context_switches(proc.pid, voluntary_only=True) == main_before  # the premise
        assert all_before is not None and waitgraph._blocks(proc.pid) > all_before
    finally:
        proc.kill()
        proc.wait()


def test_a_sleep_that_a_signal_handler_does_not_end(scenario):
    run = scenario("sleep_instead_of_waiting")
    _, found = run.diagnosed("sleeping", sleeper="clock_nanosleep")
    assert "sleeps in clock_nanosleep() for" in found.sentence
    assert "It has a handler for SIGUSR1, but a handler does not end time.sleep()" in found.sentence
    assert not found.deadlock


def test_a_worker_thread_is_followed_past_the_main_threads_join(scenario):
    run = scenario("worker_thread_never_sees_eof")
    facts = run.fact("process")
    run.wait_blocked(process="futex")
    deadline = time.monotonic() + PATIENCE
    while _thread_call(facts["pid"], facts["worker"]) != "read":
        assert time.monotonic() < deadline, "the worker thread never blocked in read()"
        time.sleep(0.01)
    graph, found = run.diagnose()
    assert found.pattern == "no-eof", found.sentence
    assert f"reads pipe {facts['pipe']} (fd {facts['read_fd']}) until EOF" in found.sentence
    assert f"pid {facts['pid']} itself (pid" not in found.sentence  # one label per process
    assert f"still open in the caller itself (pid {facts['pid']}, fd {facts['write_fd']})" in found.sentence
    assert found.deadlock
    assert graph.describe(facts["pid"]).startswith(f"in thread {facts['worker']}: read(): waits to read pipe")
    assert "its main thread waits for another thread" in graph.describe(facts["pid"])


def test_threads_of_one_process_that_wait_for_each_other(scenario):
    run = scenario("threads_read_each_others_ends")
    facts = run.fact("process")
    run.wait_blocked(process="futex")
    deadline = time.monotonic() + PATIENCE
    while not all(_thread_call(facts["pid"], tid) == "recvfrom" for tid in facts["threads"]):
        assert time.monotonic() < deadline, "the threads never blocked in recv()"
        time.sleep(0.01)
    _, found = run.diagnose()
    assert found.pattern == "threads", found.sentence
    assert found.sentence.startswith(f"The threads of the caller (pid {facts['pid']}) wait for one another: ")
    for tid, fd in zip(facts["threads"], (facts["client_fd"], facts["server_fd"]), strict=True):
        assert f"thread {tid} recvfrom(): waits to read stream socket" in found.sentence
        assert f"(fd {fd})" in found.sentence
    assert "itself" not in found.sentence  # not a forgotten close(): another thread is meant to write
    assert "the other end is open in this process (fd" in found.sentence
    assert found.deadlock


def _thread_call(pid: int, tid: int) -> str:
    if procfs.task_stat(pid, tid).state != "S":
        return "running"
    current = procfs.syscall(pid, tid)
    return syscalls.name(current.number) if current else "running"


# --- what cannot be read ------------------------------------------------------------------------


def test_a_process_we_may_not_inspect_falls_back_to_the_hint_and_says_why(scenario):
    run = scenario("undumpable_reader")
    run.wait_blocked({run.fact("parent")["child"]: "zombie"}, parent="sleeping")
    found = _diagnose_unprivileged(run.processes(), run.focus)
    parent = run.pid("parent")
    assert found.pattern == "hint" and found.confidence == "guess", found.sentence
    assert found.sentence.endswith(f"A guess from this test: {HINT}")
    assert f"pid {parent}'s system call could not be read" in found.sentence
    assert any(
        gap.startswith(f"pid {parent}: its open files") and "permission denied" in gap for gap in found.unreadable
    )
    assert not found.deadlock  # never claimed on missing evidence


def test_without_ptrace_attach_the_fd_is_inferred_from_the_wait_channel(scenario, monkeypatch):
    """Yama's ptrace_scope 1 refuses /proc/<pid>/syscall and mem to a non-ancestor but not fd or
    wchan: the wait is inferred (the only read end it holds), named, and not called proven."""
    run = scenario("parent_keeps_write_end")
    run.wait_blocked({run.fact("parent")["child"]: "zombie"}, parent="read")

    def refused(*args: object) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(procfs, "syscall", refused)
    monkeypatch.setattr(procfs, "read_memory", refused)
    graph, found = run.diagnose()
    facts = run.fact("parent")
    assert found.pattern == "no-eof", found.sentence
    assert f"still open in the parent itself (pid {facts['pid']}, fd {facts['write_fd']})" in found.sentence
    assert (found.deadlock, found.confidence) == (False, "likely")
    assert "fd inferred from the kernel wait channel" in graph.describe(facts["pid"])
    assert any("its system call" in gap and "permission denied" in gap for gap in found.unreadable)


def test_system_call_numbers_are_named_per_architecture():
    assert syscalls.name(61, "x86_64") == "wait4" and syscalls.name(260, "aarch64") == "wait4"
    assert syscalls.name(98, "aarch64") == "futex" and syscalls.name(202, "x86_64") == "futex"
    assert syscalls.name(61, "sparc64") == "syscall 61"  # no table: the wait channel speaks instead


def test_no_process_at_all_names_nothing():
    found = diagnose(build([]), None, "")
    assert (found.pattern, found.confidence) == ("unknown", "guess")
    assert "no process of the run was left to inspect" in found.sentence


def _diagnose_unprivileged(pids: list[int], focus: int) -> Diagnosis:
    """Build the graph as an ordinary user: directly when we are one, else in a child that
    drops root (the non-dumpable target stays readable to root through CAP_SYS_PTRACE)."""
    if os.geteuid() != 0:
        return diagnose(build(pids), focus, HINT)
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            os.write(write_end, json.dumps(diagnose(build(pids), focus, HINT).to_dict()).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    data = b""
    while chunk := os.read(read_end, 1 << 16):
        data += chunk
    os.close(read_end)
    os.waitpid(child, 0)
    fields = json.loads(data)
    return Diagnosis(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})


# --- the where-blocked report -------------------------------------------------------------------


def test_where_blocked_keeps_each_process_state_and_adds_the_graph(scenario, tmp_path):
    run = scenario("wait_before_read")
    run.wait_blocked(parent="wait4", child="write")
    parent, child = run.pid("parent"), run.pid("child")
    procs = [psutil.Process(pid) for pid in run.processes()]
    where = blocked.inspect(procs, parent, tmp_path / "stacks.log", "impl.py", signal.SIGRTMAX - 1, hint=HINT)
    assert [(p.pid, p.role) for p in where.processes] == [(parent, "test process"), (child, f"child of {parent}")]
    assert "blocked in wait4()" in where.processes[0].state and "blocked in write()" in where.processes[1].state
    assert where.waits[parent] == f"wait4(): waits for child {child} to exit"
    assert where.waits[child].startswith(f"write(): waits to write into pipe {run.fact('parent')['pipe']} (full)")
    assert where.diagnosis.pattern == "cycle"
    assert where.cause().startswith("Cause, from what each process waits for (a proven deadlock: nothing can wake")
    guess = Diagnosis("hint", f"The wait-for graph names no pattern (...). A guess from this test: {HINT}", (), "guess")
    assert blocked.WhereBlocked([], guess).cause() == guess.sentence  # a guess is never dressed as a cause


# --- stopping a test early: a deadlock proven by two quiet looks --------------------------------


def test_a_deadlock_is_proven_by_two_looks_with_no_thread_switched_between(scenario):
    run = scenario("wait_before_read")
    run.wait_blocked(parent="wait4", child="write")
    watch = DeadlockWatch(run.focus, now=0.0)
    assert not watch.proven(now=deadlock.GRACE / 2)  # within the grace period nothing is read
    assert not watch.proven(now=deadlock.GRACE)  # one look proves nothing: the graph is not one instant
    assert not watch.proven(now=deadlock.GRACE + deadlock.LOOK_EVERY / 2)  # not due yet
    assert watch.proven(now=deadlock.GRACE + deadlock.LOOK_EVERY)


def test_a_thread_that_ran_between_the_looks_is_no_proof(scenario, monkeypatch):
    run = scenario("wait_before_read")
    run.wait_blocked(parent="wait4", child="write")
    counts = iter(range(1_000_000))
    monkeypatch.setattr(procfs, "context_switches", lambda pid, tid=None, **_: next(counts))
    watch = DeadlockWatch(run.focus, now=0.0)
    assert not any(watch.proven(now=deadlock.GRACE + n * deadlock.LOOK_EVERY) for n in range(4))


@pytest.mark.parametrize(
    ("name", "calls"),
    [
        ("sleep_instead_of_waiting", {"sleeper": "clock_nanosleep"}),  # a timed wait: it will wake
        ("busy_child", {"parent": "wait4", "child": "running"}),  # a running process may still act
        ("read_with_alarm_armed", {"parent": "read"}),  # an alarm's handler may end the read
    ],
)
def test_what_may_still_wake_is_never_stopped_early(scenario, name, calls):
    run = scenario(name)
    run.wait_blocked(**calls)
    watch = DeadlockWatch(run.focus, now=0.0)
    assert not any(watch.proven(now=deadlock.GRACE + n * deadlock.LOOK_EVERY) for n in range(4))
    if name == "read_with_alarm_armed":
        assert run.diagnose()[1].deadlock  # the graph alone would call it stuck: the timer is invisible


def test_without_the_system_calls_nothing_is_proven(scenario, monkeypatch):
    """Where Yama (or a non-dumpable process) hides /proc/<pid>/syscall, the fd is only inferred:
    evidence enough for a likely cause, never for stopping a test early."""
    run = scenario("wait_before_read")
    run.wait_blocked(parent="wait4", child="write")

    def refused(pid: int, tid: int | None = None) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(procfs, "syscall", refused)
    watch = DeadlockWatch(run.focus, now=0.0)
    assert not any(watch.proven(now=deadlock.GRACE + n * deadlock.LOOK_EVERY) for n in range(4))
