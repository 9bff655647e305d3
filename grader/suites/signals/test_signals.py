"""Hidden suite of the `signals` kata. Hygiene (zombies, fds, escaped children) is
checked by the grader after every test; these tests check behaviour and say why
it is wrong when it is.

Signals are process-wide state: every test starts with SIGUSR1/SIGUSR2 ignored
(a stray signal must not kill the test process) and ends with every disposition
and the signal mask put back as they were, pending signals drained, whatever the
learner's code did. Nothing here sleeps to synchronise: helpers watch the target
process's state in /proc (sleeping, signal pending or blocked) before acting.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import resource
import signal
import struct
import time

import pytest

from grader.perf import Elapsed, best_rate, clock
from grader.testing import (
    Usage,
    Watch,
    check_held_parent,
    check_no_spin,
    close_again,
    end_helper,
    expect,
    expect_raises,
    fail,
    fork_helper,
    held_children,
    lowered_limit,
    one_cpu,
    task,
    thread_state,
    wait_until,
)

USR1, USR2, TERM, CHLD, KILL = signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM, signal.SIGCHLD, signal.SIGKILL
# SIGRTMAX - 1 belongs to the grader (stack dumps): never touched here.
WATCHED = [USR1, USR2, TERM, CHLD, signal.SIGPIPE] + [signal.SIGRTMIN + k for k in range(8)]


def name_of(signum: int) -> str:
    if signum == signal.SIGRTMIN:
        return "SIGRTMIN"
    if signal.SIGRTMIN < signum < signal.SIGRTMAX - 1:
        return f"SIGRTMIN+{signum - signal.SIGRTMIN}"
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def describe_handler(h) -> str:
    if h is signal.SIG_DFL or h == signal.SIG_DFL:
        return "SIG_DFL"
    if h is signal.SIG_IGN or h == signal.SIG_IGN:
        return "SIG_IGN"
    return getattr(h, "__qualname__", repr(h))


@pytest.fixture(autouse=True)
def signal_state():
    """Start from a known state, and let no test poison the next one."""
    handlers = {s: signal.getsignal(s) for s in WATCHED}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    signal.signal(USR1, signal.SIG_IGN)
    signal.signal(USR2, signal.SIG_IGN)
    yield
    signal.pthread_sigmask(signal.SIG_BLOCK, WATCHED)
    while signal.sigtimedwait(WATCHED, 0) is not None:
        pass  # drain whatever is pending (real-time signals queue: loop)
    for s, h in handlers.items():
        if h is not None:
            signal.signal(s, h)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)


# --- helpers ---------------------------------------------------------------------------


def current_mask() -> set:
    return set(signal.pthread_sigmask(signal.SIG_BLOCK, []))


def signal_masks(pid: int) -> dict[str, int]:
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("SigPnd", "ShdPnd", "SigBlk", "SigCgt"):
                fields[key] = int(value.strip(), 16)
    return fields


def signal_settled(pid: int, signum: int) -> bool:
    """True once `signum` sent to pid was dealt with: the process is gone, or it keeps the
    signal blocked (pending, to be collected later), or it was delivered and the process
    went back to sleep in a system call (its handler has run)."""
    state = thread_state(pid)
    if state in ("", "Z"):
        return True
    try:
        masks = signal_masks(pid)
    except (FileNotFoundError, ProcessLookupError):
        return True
    bit = 1 << (signum - 1)
    pending = (masks["SigPnd"] | masks["ShdPnd"]) & bit
    if pending:
        return bool(masks["SigBlk"] & bit)
    return thread_state(pid) == "S"


@contextlib.contextmanager
def started_worker(impl, job):
    """GracefulWorker(job); if the test fails, the worker is ended too, so that the report
    shows the failure rather than a process left behind because of it."""
    worker = impl.GracefulWorker(job)
    try:
        yield worker
    except BaseException:
        end_helper(getattr(worker, "pid", None))
        raise


def wait_until_sleeping(pid: int, limit: float = 10.0) -> None:
    """In a helper: wait until the test process blocks in a system call (or give up)."""
    deadline = time.monotonic() + limit
    while thread_state(pid) != "S" and time.monotonic() < deadline:
        time.sleep(0.0005)


def check_waited(what: str, usage: Usage, timeout: float, how: str) -> None:
    """A wait that must last `timeout` seconds (nothing happens) and sleep meanwhile."""
    expect(
        usage.elapsed >= timeout * 0.9,
        f"{what} returned after {usage.elapsed:.3f} s although nothing happened: it must wait until the "
        f"timeout ({timeout:g} s) expires",
    )
    check_no_spin(what, usage, how)


# --- task 1: SignalCounter ---------------------------------------------------------------

COUNTER_WAIT_HOW = (
    "block the signal and take it with signal.sigtimedwait(), or wake up through a self-pipe "
    "written by the handler (signal.set_wakeup_fd or os.write in the handler) and select() on it"
)

WAIT_FOR_HANG = (
    "wait_for did not return although the signal had arrived (or the timeout passed). time.sleep(), select() "
    "and most blocking calls are *restarted* after a Python handler runs (PEP 475): sleeping for the whole "
    "timeout never wakes up early. signal.pause() has no timeout and sleeps forever if the signal came just "
    "before it. Use sigtimedwait() on the blocked signal, or a self-pipe the handler writes to."
)


@task(1, on_timeout=WAIT_FOR_HANG)
def test_counter_counts_its_own_signals(impl):
    counter = impl.SignalCounter(USR1)
    try:
        handler = signal.getsignal(USR1)
        expect(
            callable(handler),
            f"after SignalCounter(SIGUSR1) the disposition of SIGUSR1 is {describe_handler(handler)}: the "
            "counter must install a handler of its own with signal.signal(signum, handler)",
        )
        expect(counter.count == 0, f"a new counter's count is {counter.count!r}, expected 0")
        for i in range(1, 4):
            os.kill(os.getpid(), USR1)
            got = counter.wait_for(i, 5)
            expect(
                got == i,
                f"after {i} SIGUSR1 sent to this process (each delivered before the next was sent), "
                f"wait_for({i}, 5) returned {got!r}: the handler must add one per delivery, and wait_for "
                "return the count it reached",
            )
        expect(counter.count == 3, f"`count` is {counter.count!r} after 3 deliveries, expected 3")
    finally:
        counter.close()


@task(1, on_timeout=WAIT_FOR_HANG)
def test_counter_counts_signals_from_a_child(impl):
    counter = impl.SignalCounter(USR2)
    go_r, go_w = os.pipe()
    helper = None
    try:
        parent = os.getpid()

        def sender():
            os.close(go_w)
            while os.read(go_r, 1) == b"g":
                os.kill(parent, USR2)

        helper = fork_helper(sender)
        for i in range(1, 31):
            os.write(go_w, b"g")  # one signal at a time: none can merge with a pending one
            got = counter.wait_for(i, 5)
            expect(
                got == i,
                f"a child sent SIGUSR2 number {i} (the previous ones were already counted); "
                f"wait_for({i}, 5) returned {got!r}",
            )
        expect(counter.count == 30, f"`count` is {counter.count!r} after 30 deliveries, expected 30")
    finally:
        os.close(go_w)
        os.close(go_r)
        end_helper(helper)
        counter.close()


@task(1, on_timeout=WAIT_FOR_HANG)
def test_two_counters_at_once(impl):
    one, two = impl.SignalCounter(USR1), None
    try:
        two = impl.SignalCounter(USR2)
        for _ in range(2):
            os.kill(os.getpid(), USR1)
        got1 = one.wait_for(2, 5)
        os.kill(os.getpid(), USR2)
        got2 = two.wait_for(1, 5)
        expect(
            (got1, got2) == (2, 1),
            f"two counters, SIGUSR1 sent twice and SIGUSR2 once (each delivered before the next): the counts "
            f"are {got1} and {got2}, expected 2 and 1. Each counter keeps its own count (no class-level or "
            "global state) and counts only its own signal",
        )
    finally:
        one.close()
        if two is not None:
            two.close()


@task(1, on_timeout=WAIT_FOR_HANG)
def test_wait_for_times_out_without_spinning(impl):
    counter = impl.SignalCounter(USR1)
    try:
        mask = current_mask()
        with Watch() as watch:
            got = counter.wait_for(1, 0.3)
        expect(
            got == 0,
            f"wait_for(1, 0.3) returned {got!r} although no signal was sent: on timeout it returns "
            "the count reached (0 here)",
        )
        check_waited("wait_for(1, 0.3)", watch.usage, 0.3, COUNTER_WAIT_HOW)
        expect(
            current_mask() == mask,
            "wait_for left the signal mask changed: if you block the signal to wait "
            "for it, put the old mask back (pthread_sigmask(SIG_SETMASK, old)) before returning",
        )
    finally:
        counter.close()


@task(1, on_timeout=WAIT_FOR_HANG)
def test_wait_for_wakes_up_when_the_signal_arrives(impl):
    counter = impl.SignalCounter(USR1)
    helper = None
    try:
        parent = os.getpid()

        def sender():  # sends once the test process sleeps inside wait_for
            wait_until_sleeping(parent)
            os.kill(parent, USR1)

        helper = fork_helper(sender)
        got = counter.wait_for(1, 60)
        expect(got == 1, f"wait_for(1, 60) returned {got!r} after one SIGUSR1 arrived, expected 1")
    finally:
        end_helper(helper)
        counter.close()


def signalled_wait(call, timeout: float, signum: int, after: float) -> tuple[float, float]:
    """call(timeout) in the test process while a helper sends it one `signum`, `after` seconds after it went to
    sleep in the call; returns (how long the call took, when the signal was sent), both from the call's start."""
    parent = os.getpid()
    sent_r, sent_w = os.pipe()
    helper = None
    try:

        def sender():
            wait_until_sleeping(parent)
            time.sleep(after)  # the scenario: a signal well into the wait, not a synchronisation
            os.write(sent_w, struct.pack("d", time.monotonic()))  # stamped before the kill: never after it
            os.kill(parent, signum)

        start = time.monotonic()
        try:
            helper = fork_helper(sender)
        finally:
            os.close(sent_w)  # the helper's alone now: EOF if it never stamps
        call(timeout)
        elapsed = time.monotonic() - start
        stamp = os.read(sent_r, 8)
        return elapsed, (struct.unpack("d", stamp)[0] - start if len(stamp) == 8 else math.inf)
    finally:
        end_helper(helper)
        os.close(sent_r)


def check_deadline_kept(call, signum: int, what: str, event: str) -> None:
    """call(1.0), a wait for something that does not come, must return at its timeout although one `signum` (an
    `event` that does not end the wait) comes 0.5 s into it. One that starts its timeout again after the signal
    sleeps a whole timeout more: it cannot return before `sent + 1`. A correct one returns at the timeout, plus
    however late it runs: it fails only if it is that late twice in a row."""
    for _ in range(2):
        elapsed, sent = signalled_wait(call, 1.0, signum, after=0.5)
        if elapsed < sent + 1.0:
            return
    fail(
        f"{what} returned after {elapsed:.2f} s: {event} came {sent:.2f} s into the wait, and the wait then lasted "
        "another whole timeout. The timeout covers the whole call: compute a deadline once (time.monotonic() + "
        "timeout) and after each signal wait only for the time left (deadline - now)"
    )


@task(1, on_timeout=WAIT_FOR_HANG)
def test_wait_for_keeps_its_deadline_when_a_signal_comes(impl):
    counter = impl.SignalCounter(USR1)
    try:
        check_deadline_kept(
            lambda timeout: counter.wait_for(counter.count + 2, timeout),
            USR1,
            "wait_for(n, 1)",
            "one signal (not enough to reach n)",
        )
    finally:
        counter.close()


@task(1, on_timeout=WAIT_FOR_HANG)
def test_close_restores_the_previous_handler(impl):
    seen = []

    def previous_handler(signum, frame):
        seen.append(signum)

    signal.signal(USR1, previous_handler)
    counter = impl.SignalCounter(USR1)
    counter.close()
    now = signal.getsignal(USR1)
    expect(
        now is previous_handler,
        f"after close() the disposition of SIGUSR1 is {describe_handler(now)}, but before the counter it was "
        f"{describe_handler(previous_handler)}: close() must put back exactly what signal.signal() returned "
        "when the counter installed its handler (another part of the program owned the signal first)",
    )
    os.kill(os.getpid(), USR1)
    close_again(impl, counter)
    expect(signal.getsignal(USR1) is previous_handler, "a second close() changed the disposition of SIGUSR1 again")

    with impl.SignalCounter(USR2) as counter2:
        expect(
            isinstance(counter2, impl.SignalCounter),
            f"`with SignalCounter(...) as c` gave {counter2!r}: __enter__ must return the counter itself",
        )
        os.kill(os.getpid(), USR2)
        expect(counter2.wait_for(1, 5) == 1, "inside `with`, the counter did not count one SIGUSR2")
    expect_usr2_put_back(
        signal.SIG_IGN, "leaving the block (__exit__) must close the counter and restore the previous disposition"
    )

    signal.signal(USR2, signal.SIG_DFL)
    with impl.SignalCounter(USR2):
        pass
    expect_usr2_put_back(signal.SIG_DFL, "restore the previous disposition, whatever it was")
    signal.signal(USR2, signal.SIG_IGN)


def expect_usr2_put_back(before, why: str) -> None:
    """After a `with SignalCounter(USR2)` block, SIGUSR2's disposition is `before` again."""
    now = signal.getsignal(USR2)
    expect(
        now == before,
        f"after the `with` block the disposition of SIGUSR2 is {describe_handler(now)}, but before it was "
        f"{describe_handler(before)}: {why}",
    )


# --- task 2: reliable_notify ------------------------------------------------------------------

NOTIFY_HANG = (
    "the parent waits for notifications that never come. Standard signals merge while pending, so a parent "
    "waiting for n of them can wait forever: count real-time signals (they queue), or acknowledge each one. "
    "Block the signals before fork() so none arrives before you wait for it, and stop waiting when the child "
    "is gone (SIGCHLD)."
)


def caller_state() -> tuple:
    return current_mask(), {s: signal.getsignal(s) for s in WATCHED}


def check_caller_state(before: tuple, what: str) -> None:
    mask, handlers = caller_state()
    if mask != before[0]:
        extra = sorted(name_of(s) for s in mask - before[0])
        missing = sorted(name_of(s) for s in before[0] - mask)
        fail(
            f"{what} changed the caller's signal mask (now blocked: {extra or 'nothing new'}; no longer "
            f"blocked: {missing or 'none'}): save the mask pthread_sigmask() returns and restore it with "
            "SIG_SETMASK before returning, in a finally"
        )
    for s, h in handlers.items():
        if h != before[1][s]:
            fail(
                f"{what} left {name_of(s)}'s disposition as {describe_handler(h)} (it was "
                f"{describe_handler(before[1][s])}): restore every handler you install"
            )


def check_count(n: int, got) -> None:
    expect(isinstance(got, int), f"reliable_notify({n}) must return the count (int), got {type(got).__name__}")
    if got < n:
        fail(
            f"reliable_notify({n}) counted {got} notifications, expected exactly {n}: {n - got} were lost. "
            "Standard signals (SIGUSR1, SIGUSR2, ...) merge while pending: the kernel keeps one pending bit per "
            "signal, so a signal sent while the same one is still pending is lost. Real-time signals "
            "(signal.SIGRTMIN + k) queue one instance per kill(); or acknowledge each notification before the "
            "next one (a handshake)."
        )
    expect(
        got == n,
        f"reliable_notify({n}) counted {got} notifications, more than the {n} the child sent: count "
        "only your child's notifications (sigwaitinfo() tells the sender in si_pid)",
    )


@task(2, on_timeout=NOTIFY_HANG)
def test_notify_a_few(impl):
    for n in (1, 2, 100):
        before = caller_state()
        check_count(n, impl.reliable_notify(n))
        check_caller_state(before, f"reliable_notify({n})")


@task(2, on_timeout=NOTIFY_HANG)
def test_notify_zero(impl):
    got = impl.reliable_notify(0)
    expect(got == 0, f"reliable_notify(0) returned {got!r}, expected 0")


@task(2, on_timeout=NOTIFY_HANG)
def test_notify_ten_thousand_exactly(impl):
    before = caller_state()
    check_count(10_000, impl.reliable_notify(10_000))
    check_caller_state(before, "reliable_notify(10000)")


@task(2, on_timeout=NOTIFY_HANG)
def test_notify_with_a_small_signal_queue(impl):
    limit, n = 64, 2000
    with lowered_limit(resource.RLIMIT_SIGPENDING, limit):
        got = impl.reliable_notify(n)
    if isinstance(got, int) and got < n:
        fail(
            f"with RLIMIT_SIGPENDING lowered to {limit} (`ulimit -i`), reliable_notify({n}) counted {got}: "
            f"{n - got} notifications were lost. Real-time signals queue only up to RLIMIT_SIGPENDING per user "
            "(counted over all of the user's processes); past it, kill() still succeeds, but the signal merges "
            "with the one already pending. Never have more than a fraction of the limit in flight: acknowledge "
            "every window of at most resource.getrlimit(resource.RLIMIT_SIGPENDING)[0] // 4 notifications."
        )
    check_count(n, got)


YOURS = [USR1, USR2] + [signal.SIGRTMIN + k for k in range(8)]  # the signals the spec gives the learner


def take_pending(signals: list[int]) -> list[tuple[int, int]]:
    """Take every one of `signals` (blocked) pending for the test process: (signal, sender's pid) each."""
    taken = []
    while (info := signal.sigtimedwait(signals, 0)) is not None:
        taken.append((info.si_signo, info.si_pid))
    return taken


@task(2, on_timeout=NOTIFY_HANG)
def test_notify_counts_only_its_childs_signals(impl):
    n = 20
    parent = os.getpid()
    signal.pthread_sigmask(signal.SIG_BLOCK, YOURS)  # the caller's own mask: pending, not delivered (put back after)
    stranger = fork_helper(lambda: [os.kill(parent, signum) for signum in YOURS])
    try:
        # Unreaped until the end, the stranger keeps its pid: the learner's child cannot get it.
        wait_until(lambda: thread_state(stranger) == "Z", 10, "the suite's own helper did not finish within 10 s")
        got = impl.reliable_notify(n)
        left = take_pending(YOURS)
        taken = [signum for signum in YOURS if (signum, stranger) not in left]
        childs_left = [signum for signum, pid in left if pid != stranger and signum in taken]
        if childs_left or (isinstance(got, int) and got > n):
            what = (
                f"it returned {got} while a {name_of(childs_left[0])} of its child was still pending, unread: it "
                f"had counted the other process's {name_of(childs_left[0])} in its place"
                if childs_left
                else f"it returned {got}, more than the {n} its child sent"
            )
            fail(
                f"reliable_notify({n}) counted a signal sent by another process: before the call, process "
                f"{stranger} (not your child) sent the caller one each of SIGUSR1, SIGUSR2 and SIGRTMIN to "
                f"SIGRTMIN+7 (the caller had them blocked), and {what}. Count only your child's notifications: "
                "sigwaitinfo() tells the sender in si_pid; compare it with your child's pid"
            )
        check_count(n, got)
    finally:
        end_helper(stranger)


@task(2, on_timeout=NOTIFY_HANG)
def test_notify_parent_sleeps_while_it_waits(impl):
    with held_children() as held:
        got = impl.reliable_notify(5)
    check_count(5, got)
    check_held_parent(
        held,
        "reliable_notify, while its child had not sent anything yet",
        "block the signals before fork() and take them with signal.sigwaitinfo() (no timeout, no sleep)",
    )


# --- task 3: GracefulWorker -------------------------------------------------------------------

WORKER_HANG = (
    "the worker never exited, or the parent missed its exit. On SIGTERM the worker finishes its job and "
    "exits; the parent waits for SIGCHLD (blocked, then sigtimedwait), and after each SIGCHLD asks "
    "waitpid(pid, WNOHANG) about its own child (SIGCHLD merges and may come from other children)."
)


class GatedJob:
    """A job that reports its start, waits for the test's go-ahead, and reports its end.

    Markers on the report pipe: S = started, E = ended, x = ended without a go-ahead,
    !Name; = the job was interrupted by exception Name.
    """

    def __init__(self):
        self.report_r, self.report_w = os.pipe()
        self.gate_r, self.gate_w = os.pipe()
        self.owner = os.getpid()
        self.in_worker = False
        self.closed: set[int] = set()

    def __call__(self):  # runs in the worker
        if not self.in_worker and os.getpid() != self.owner:
            self.in_worker = True
            os.close(self.gate_w)
            os.close(self.report_r)
        os.write(self.report_w, b"S")
        try:
            got = os.read(self.gate_r, 1)
        except BaseException as exc:
            os.write(self.report_w, b"!" + type(exc).__name__.encode() + b";")
            raise
        os.write(self.report_w, b"E" if got else b"x")

    def _close(self, fd: int) -> None:
        if fd not in self.closed:
            self.closed.add(fd)
            os.close(fd)

    def started(self) -> None:
        """In the test: drop the worker's ends, wait for the first job to start."""
        self._close(self.report_w)
        self._close(self.gate_r)
        first = os.read(self.report_r, 1)
        expect(
            first == b"S",
            "the worker never started a job (or died first): the child must call job() in a loop right after fork()",
        )

    def open_gate(self) -> None:
        try:
            os.write(self.gate_w, b"g")
        except BrokenPipeError:
            pass  # the worker is gone already: its markers tell why
        self._close(self.gate_w)

    def markers(self) -> str:
        """Everything the worker reported after the first S, until it exited (EOF)."""
        chunks = [b"S"]
        while chunk := os.read(self.report_r, 4096):
            chunks.append(chunk)
        return b"".join(chunks).decode()

    def close(self) -> None:
        for fd in (self.report_r, self.report_w, self.gate_r, self.gate_w):
            self._close(fd)


def check_graceful(markers: str, code, terms: int) -> None:
    if "!" in markers:
        exc = markers.split("!", 1)[1].split(";", 1)[0]
        fail(
            f"the job was interrupted by {exc} when SIGTERM arrived: the handler must not raise (and must not "
            "do the job's work). Since Python 3.5 (PEP 475) a system call interrupted by a signal is retried "
            "after the handler runs, so EINTR never reaches the job unless the handler raises. Record the "
            "request (a flag, or keep SIGTERM blocked) and check it between jobs."
        )
    if not markers.startswith("SE"):
        if code == -signal.SIGTERM:
            if terms == 1:
                fail(
                    "SIGTERM killed the worker in the middle of a job (exit status -15): the job wrote its start "
                    "marker but never its end. In the child, catch SIGTERM (a handler that only sets a flag) or "
                    "keep it blocked and check for it between jobs, and block it before fork() so it cannot "
                    "arrive before the child is ready."
                )
            fail(
                "the second SIGTERM killed the worker in the middle of its job (exit status -15), after the first "
                "one had been handled: the handler was gone (reset to SIG_DFL, or a one-shot handler). A second "
                "SIGTERM during shutdown must not cut the job short: keep the handler (or the block) until exit."
            )
        fail(
            f"the job was cut in half: the worker exited (status {code}) after the job's start marker but before "
            "its end marker. On SIGTERM only record the request; let the current job finish and exit between "
            "jobs (never os._exit() or sys.exit() in the handler)."
        )
    expect(
        markers == "SE",
        f"after SIGTERM the worker finished its job, then started another one (markers "
        f"{markers!r}): check for the stop request after each job and exit before starting the next",
    )
    expect(
        code is not None,
        "wait(10) returned None although the worker had exited (its pipe reached EOF): "
        "after each SIGCHLD call waitpid(pid, WNOHANG) for your child and return its status",
    )
    expect(
        code == 0,
        f"the worker finished its job but exited with status {code}, expected 0: a graceful stop is a "
        "success (os._exit(0) in the child)",
    )


def run_gated(impl, terms: int):
    job = GatedJob()
    try:
        with started_worker(impl, job) as worker:
            job.started()
            for _ in range(terms):
                os.kill(worker.pid, TERM)
                wait_until(
                    lambda: signal_settled(worker.pid, TERM),
                    10,
                    "the worker neither handled SIGTERM nor kept it blocked within 10 s",
                )
            job.open_gate()
            markers = job.markers()
            code = worker.wait(10)
            check_graceful(markers, code, terms)
    finally:
        job.close()


@task(3, on_timeout=WORKER_HANG)
def test_worker_finishes_the_current_job_on_sigterm(impl):
    run_gated(impl, terms=1)


@task(3, on_timeout=WORKER_HANG)
def test_second_sigterm_does_not_kill_the_worker_early(impl):
    run_gated(impl, terms=2)


def busy_job():
    sum(range(2000))


def stop_again(worker, what: str) -> int:
    """worker.stop() once the worker is reaped (`what` names the call): it returns the status collected, and
    never signals the pid."""
    try:
        return worker.stop()
    except ProcessLookupError:
        fail(
            f"{what} raised ProcessLookupError: it sent SIGTERM to the worker's pid again after the worker "
            "was reaped. That pid is free now, and may belong to another process by the time you signal it: "
            "signal the worker only while it is not reaped, and return the status already collected"
        )


@task(3, on_timeout=WORKER_HANG)
def test_stop_returns_zero_and_reaps(impl):
    for _ in range(5):
        before = caller_state()
        with started_worker(impl, busy_job) as worker:
            expect(isinstance(worker.pid, int) and worker.pid > 0, f"`pid` is {worker.pid!r}: the worker's process id")
            code = worker.stop()  # at once: SIGTERM may reach the child before it has started
            if code == -signal.SIGTERM:
                fail(
                    "stop() right after GracefulWorker() returned -15: SIGTERM killed the child before it had "
                    "installed its handler. Block SIGTERM in the parent before fork() (the child inherits the "
                    "mask), install the handler in the child, then unblock; restore the parent's mask after fork()."
                )
            expect(code == 0, f"stop() returned {code!r}, expected 0: the worker finishes its job and exits 0")
            expect(
                stop_again(worker, "a second stop()") == 0,
                "a second stop() must return the same status (the worker is already reaped: "
                "do not signal its pid again, it may belong to another process by now)",
            )
            check_caller_state(before, "GracefulWorker + stop()")


@task(3, on_timeout=WORKER_HANG)
def test_stop_leaves_the_callers_other_children_alone(impl):
    own = fork_helper(lambda: None)  # a child of the caller's own, which has exited and waits to be reaped
    try:
        wait_until(lambda: thread_state(own) == "Z", 10, "the suite's own child did not exit within 10 s")
        with started_worker(impl, busy_job) as worker:
            code = worker.stop()
        expect(code == 0, f"stop() returned {code!r}, expected 0: the worker finishes its job and exits 0")
        try:
            reaped = os.waitpid(own, os.WNOHANG)[0]
        except ChildProcessError:
            reaped = 0
        expect(
            reaped == own,
            "the caller's own child, which had exited before the worker was made, was reaped by the worker's "
            "stop()/wait(): its exit status is lost to the code that started it. waitpid(-1, ...) or os.wait() "
            "reaps any child: ask waitpid(self.pid, os.WNOHANG) about your own child only",
        )
        own = 0
    finally:
        end_helper(own)


@task(3, on_timeout=WORKER_HANG)
def test_stop_with_a_timeout_raises_timeout_error(impl):
    job = GatedJob()
    try:
        with started_worker(impl, job) as worker:
            job.started()  # the worker now sleeps inside its job: it cannot exit before the gate opens
            expect_raises(
                TimeoutError,
                lambda: worker.stop(timeout=0.2),
                "stop(timeout=0.2), while the worker was still in its job,",
                "stop() returns the worker's status (an int), or raises TimeoutError when the worker has not "
                "exited within the timeout; only wait() answers None",
            )
            job.open_gate()
            code = worker.stop()
            expect(code == 0, f"stop() after a stop() that timed out returned {code!r}, expected 0")
    finally:
        job.close()


@task(3, on_timeout=WORKER_HANG)
def test_wait_learns_of_the_exit_through_sigchld(impl):
    job = GatedJob()
    try:
        with started_worker(impl, job) as worker:
            job.started()  # the worker now sleeps inside its job
            with Watch() as watch:
                got = worker.wait(0.3)
            expect(
                got is None,
                f"wait(0.3) returned {got!r} while the worker was still running: on timeout it returns None",
            )
            check_waited(
                "wait(0.3)",
                watch.usage,
                0.3,
                "block SIGCHLD, wait for it with signal.sigtimedwait(), then waitpid(pid, WNOHANG) once per SIGCHLD",
            )
            os.kill(worker.pid, KILL)
            code = worker.wait(60)
            expect(
                code == -signal.SIGKILL,
                f"after SIGKILL, wait() returned {code!r}, expected -9 (killed by "
                "signal 9: a negative signal number, like subprocess's returncode; os.waitstatus_to_exitcode)",
            )
            code = stop_again(worker, "stop(), after the worker died and wait() returned its status,")
            expect(
                code == -signal.SIGKILL,
                f"stop() after the worker died returned {code!r}: it must return the "
                "status already collected (-9) without signalling the pid again",
            )
    finally:
        job.close()


@task(3, on_timeout=WORKER_HANG)
def test_wait_keeps_its_deadline_when_another_sigchld_comes(impl):
    job = GatedJob()
    try:
        with started_worker(impl, job) as worker:
            job.started()  # the worker now sleeps inside its job: it cannot exit before the gate opens
            check_deadline_kept(worker.wait, CHLD, "wait(1)", "a SIGCHLD that was not the worker's")
            job.open_gate()
            code = worker.stop()
            expect(code == 0, f"stop() returned {code!r} for a worker that finished its job, expected 0")
    finally:
        job.close()


@task(3, on_timeout=WORKER_HANG)
def test_stop_survives_other_signals(impl):
    handled = []
    signal.signal(USR1, lambda signum, frame: handled.append(signum))
    job = GatedJob()
    helper = None
    try:
        with started_worker(impl, job) as worker:
            parent = os.getpid()

            def interrupter():  # interrupts stop() with SIGUSR1s, then lets the job finish
                for _ in range(10):
                    wait_until_sleeping(parent)
                    os.kill(parent, USR1)
                job.open_gate()

            job.started()
            helper = fork_helper(interrupter)
            job._close(job.gate_w)  # the helper holds the gate now
            try:
                code = worker.stop()
            except InterruptedError:
                fail(
                    "stop() raised InterruptedError (EINTR) when a SIGUSR1 handler ran while it waited: retry "
                    "the interrupted call (Python >= 3.5 does it for you, PEP 475, unless you catch it yourself)"
                )
            expect(code == 0, f"stop() returned {code!r} while other signals arrived, expected 0")
            expect(
                handled,
                "the caller's SIGUSR1 handler never ran during stop(): do not block or ignore signals "
                "that are not yours",
            )
    finally:
        end_helper(helper)
        job.close()


@task(3, on_timeout=WORKER_HANG)
def test_stop_sleeps_while_the_job_finishes(impl):
    job = GatedJob()
    helper = None
    try:
        with started_worker(impl, job) as worker:
            parent = os.getpid()

            def opener():  # lets the job finish 0.3 s after stop() went to sleep
                wait_until_sleeping(parent, limit=1)
                time.sleep(0.3)
                job.open_gate()

            job.started()
            helper = fork_helper(opener)
            job._close(job.gate_w)  # the helper holds the gate now
            with Watch() as watch:
                code = worker.stop()
            expect(code == 0, f"stop() returned {code!r} for a worker that finished its job, expected 0")
            check_no_spin(
                "stop(), while the worker finished its job",
                watch.usage,
                "block SIGCHLD, wait for it with signal.sigwaitinfo() (or sigtimedwait with the time left), then "
                "waitpid(pid, WNOHANG) once per SIGCHLD",
            )
    finally:
        end_helper(helper)
        job.close()


def failing_job():
    raise ValueError("this job fails")


@task(3, on_timeout=WORKER_HANG)
def test_a_failing_job_ends_the_worker_with_status_1(impl):
    with started_worker(impl, failing_job) as worker:
        code = worker.wait(30)
        expect(
            code == 1,
            f"job() raised in the worker; wait() returned {code!r}, expected 1: the child ends "
            "with os._exit(1) when the job raises (in a finally: it must never return into the caller's code)",
        )


# --- task 4: performance ------------------------------------------------------------------------


def handshake_notify(n: int) -> int:
    """The baseline: n notifications, each acknowledged, both sides in sigwaitinfo."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {USR1, USR2})
    try:
        pid = os.fork()
        if pid == 0:
            try:
                parent = os.getppid()
                for _ in range(n):
                    os.kill(parent, USR1)
                    signal.sigwaitinfo([USR2])
            finally:
                os._exit(0)
        count = 0
        for _ in range(n):
            signal.sigwaitinfo([USR1])
            count += 1
            os.kill(pid, USR2)
        os.waitpid(pid, 0)
        return count
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def handshake_notify_on_one_cpu(n: int) -> int:
    """handshake_notify with both processes on one CPU, as the learner's notify is measured: a handshake
    across two CPUs pays a cross-CPU wake-up per notification, which a busy neighbour or a host with slow
    wake-ups makes dear (a napping notify once reached 0.61x of it), while a nap costs the same everywhere."""
    with one_cpu():
        return handshake_notify(n)


def notify_on_one_cpu(impl, n: int) -> None:
    with one_cpu():
        check_count(n, impl.reliable_notify(n))


PING_SPACING = 0.00005  # seconds between an answer and the next ping: a wait_for that naps would miss it


def ping_pong(rounds: int, wait_ping) -> Elapsed:
    """A child sends SIGUSR1 and waits for SIGUSR2, `rounds` times, pausing PING_SPACING before each ping (a
    signal that arrives while wait_for waits, not before); wait_ping(i) waits for ping i.
    Timed from the first wait to the last answer: the fork and the exit of the child do not count. Both
    run on one CPU, so that a round trip costs the same whatever the scheduler's placement."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {USR2})
    pid = os.fork()
    if pid == 0:
        try:
            parent = os.getppid()
            for _ in range(rounds):
                time.sleep(PING_SPACING)  # the next signal comes a moment later: the parent is waiting by then
                os.kill(parent, USR1)
                signal.sigwaitinfo([USR2])
        finally:
            os._exit(0)
    signal.pthread_sigmask(signal.SIG_SETMASK, old)
    try:
        with one_cpu(pid):
            start = clock()
            for i in range(1, rounds + 1):
                wait_ping(i)
                os.kill(pid, USR2)
            elapsed = clock() - start
        os.waitpid(pid, 0)
        pid = 0
    finally:
        end_helper(pid)
    return Elapsed(elapsed)


def counter_ping_pong(impl, rounds: int) -> Elapsed:
    counter = impl.SignalCounter(USR1)
    try:

        def wait_ping(i):
            got = counter.wait_for(i, 10)
            expect(got >= i, f"wait_for({i}, 10) returned {got} during the ping-pong")

        return ping_pong(rounds, wait_ping)
    finally:
        counter.close()


def sigwait_ping_pong(rounds: int) -> Elapsed:
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {USR1})
    try:
        return ping_pong(rounds, lambda i: signal.sigwaitinfo([USR1]))
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def sized_check(perf, metric: str, learner, baseline, full: int, probe: int) -> None:
    """perf.check of learner(size) against baseline(size). `size` is `full`, unless a first quick
    call at size `probe` shows that the learner's call at full size would take more than ~0.25 s
    (a sleep in a loop): then a smaller size, equal on both sides, keeps the test within its limit."""
    rate = best_rate(lambda: learner(probe), probe, rounds=1)
    size = max(probe, min(full, int(rate * 0.25)))
    perf.check(metric, lambda: learner(size), functools.partial(baseline, size), units=size, rounds=5)


@task(4, on_timeout=NOTIFY_HANG)
def test_reliable_notify_rate(impl, perf):
    sized_check(
        perf,
        "reliable_notify_per_s",
        lambda n: notify_on_one_cpu(impl, n),
        handshake_notify_on_one_cpu,
        full=10_000,
        probe=250,
    )


@task(4, on_timeout=WAIT_FOR_HANG)
def test_counter_round_trip_rate(impl, perf):
    sized_check(
        perf,
        "counter_round_trips_per_s",
        lambda rounds: counter_ping_pong(impl, rounds),
        sigwait_ping_pong,
        full=1000,
        probe=50,
    )
