"""The tools the hidden suites build on (grader/perf.py, grader/testing.py), tested both ways:
a portable baseline is accepted and a closure refused; a parent that sleeps while its children
are held passes the spinning check, one that polls or spins fails it with the words that name it;
lowered limits are put back."""

from __future__ import annotations

import fcntl
import functools
import os
import resource
import time
import types

import pytest

from grader.catalog import load_kata
from grader.perf import Elapsed, PerfRecorder, clock, compare, require_portable, run_once
from grader.report import PerfFigure
from grader.testing import (
    Usage,
    check_held_parent,
    check_no_spin,
    fork_helper,
    held_children,
    lowered_limit,
    small_pipes,
    task,
)


def plain_work(data: bytes, rounds: int) -> int:
    return len(data) * rounds


def test_a_partial_of_a_module_level_function_with_plain_arguments_is_portable():
    require_portable(functools.partial(plain_work, b"x" * 10, 3))
    require_portable(plain_work)


@pytest.mark.parametrize(
    "baseline, words",
    [
        (lambda: plain_work(b"", 1), "not a module-level function"),
        (functools.partial(plain_work, types.ModuleType("learner"), 1), "not plain data"),
        (functools.partial(str.upper, "x"), "not a module-level function"),
    ],
    ids=["closure", "module argument", "method"],
)
def test_a_baseline_that_needs_the_test_state_is_refused(baseline, words):
    with pytest.raises(TypeError, match=words):
        require_portable(baseline)


def test_a_self_timed_round_reports_its_own_seconds():
    def round_with_setup():
        time.sleep(0.05)  # setup that must not count
        return Elapsed(0.001)

    assert run_once(round_with_setup) == pytest.approx(0.001)


def child_writes_then_parent_reads(how: str) -> bytes:
    """A parent waiting for its child's pipe: with a blocking read, a sleep-and-retry poll, or a spin."""
    read_end, write_end = os.pipe()

    def child() -> None:
        os.close(read_end)
        os.write(write_end, b"done")

    pid = fork_helper(child)
    os.close(write_end)
    if how != "blocking":
        os.set_blocking(read_end, False)
    chunks = []
    while True:
        try:
            chunk = os.read(read_end, 100)
        except BlockingIOError:
            if how == "poll":
                time.sleep(0.001)
            continue
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    return b"".join(chunks)


@pytest.mark.parametrize("how, verdict", [("blocking", None), ("poll", "it polls"), ("spin", "it spins")])
def test_held_children_tell_a_sleeping_parent_from_a_polling_or_spinning_one(how, verdict):
    fds_before = set(os.listdir("/proc/self/fd"))
    with held_children(0.2) as held:
        assert child_writes_then_parent_reads(how) == b"done"
    assert set(os.listdir("/proc/self/fd")) == fds_before
    assert held.usage is not None and held.usage.elapsed >= 0.19
    if verdict is None:
        check_held_parent(held, "the parent", "a blocking read")
    else:
        with pytest.raises(pytest.fail.Exception, match=verdict):
            check_held_parent(held, "the parent", "a blocking read")


@pytest.mark.parametrize(
    "usage, verdict",
    [
        (Usage(0.30, 0.004, 0.002, 3, 24), None),  # forked its workers in the window on a busy machine (CI)
        (Usage(0.30, 0.001, 0.0, 1, 0), None),  # slept through
        (Usage(0.30, 0.25, 0.04, 0, 30), "it spins"),  # spun on an idle machine
        (Usage(0.30, 0.01, 0.28, 0, 3), "it spins"),  # spun on a crowded one: queued for a CPU, never slept
        (Usage(0.30, 0.02, 0.28, 0, 5), "it spins"),  # spun among 30 busy processes on 2 cores (measured)
        (Usage(0.30, 0.0, 0.30, 1, 0), None),  # woke to a crowded machine and waited for a CPU (CI, mq get)
        (Usage(0.30, 0.02, 0.25, 4, 45), "it spins"),  # spun and yielded now and then
        (Usage(0.30, 0.01, 0.0, 40, 0), "it polls"),
    ],
)
def test_a_spin_is_told_by_the_time_it_wanted_a_cpu_not_by_preemptions_alone(usage, verdict):
    if verdict is None:
        check_no_spin("the parent", usage, "a blocking read")
    else:
        with pytest.raises(pytest.fail.Exception, match=verdict):
            check_no_spin("the parent", usage, "a blocking read")


def test_no_child_means_nothing_to_watch():
    with held_children(0.2) as held:
        pass
    assert held.usage is None
    with pytest.raises(pytest.fail.Exception, match="no child was forked"):
        check_held_parent(held, "the parent", "a blocking read")


def test_small_pipes_shrink_the_pipes_made_in_the_block_only():
    before_r, before_w = os.pipe()
    try:
        with small_pipes():
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            os.waitpid(pid, 0)
        assert fcntl.fcntl(read_end, fcntl.F_GETPIPE_SZ) == 4096
        assert fcntl.fcntl(before_r, fcntl.F_GETPIPE_SZ) > 4096
        os.close(read_end)
        os.close(write_end)
    finally:
        os.close(before_r)
        os.close(before_w)


def test_a_lowered_limit_is_put_back():
    before = resource.getrlimit(resource.RLIMIT_SIGPENDING)
    with lowered_limit(resource.RLIMIT_SIGPENDING, 64):
        assert resource.getrlimit(resource.RLIMIT_SIGPENDING)[0] == 64
    assert resource.getrlimit(resource.RLIMIT_SIGPENDING) == before


@pytest.mark.filterwarnings("ignore::pytest.PytestUnknownMarkWarning")  # registered by the grader's plugin only
def test_task_marks_a_test_and_refuses_a_hint_that_is_not_text():
    @task(2, on_timeout="a hint")
    def test_something():
        pass

    marks = {mark.name: mark.args for mark in test_something.pytestmark}
    assert marks == {"task": (2,), "on_timeout": ("a hint",)}
    with pytest.raises(TypeError, match="stray comma"):
        task(1, on_timeout=("a hint",))  # type: ignore[arg-type]


class CountedWork:
    """A perf callable that takes `seconds` per call and counts its calls."""

    def __init__(self, seconds: float):
        self.seconds, self.calls = seconds, 0

    def __call__(self) -> Elapsed:
        self.calls += 1
        time.sleep(self.seconds)
        return Elapsed(self.seconds)


def test_no_round_starts_that_would_end_past_the_deadline():
    unbounded, bounded = CountedWork(0.2), CountedWork(0.2)
    compare(unbounded, CountedWork(0), 1, rounds=3)
    compare(bounded, CountedWork(0), 1, rounds=3, deadline=clock() + 0.3)
    assert (unbounded.calls, bounded.calls) == (3, 1)


def test_a_slow_round_is_not_profiled_when_the_limit_is_near():
    pipe = load_kata("pipe")
    recorder = PerfRecorder(pipe, "test_child_to_parent_throughput", [])
    figure = PerfFigure("child_to_parent_mbps", "", 1.0, "MB/s", 10.0, 0.1, 0.4, False)
    learner = CountedWork(0)
    round_seconds = pipe.time_limit("test_child_to_parent_throughput", 4) * 0.7  # a profiled one would pass it
    recorder._profile(figure, learner, round_seconds)
    assert learner.calls == 0
    assert figure.profiled.startswith(f"not profiled: one round takes {round_seconds:.1f} s")
