"""The zoo: hostile implementations of the `pipe` kata (tests/zoo/) get the right verdict
within (the sum of their selected tests' limits + 5 s), and the grader leaves nothing:
no process of the run (by recorded pid and by run token), no run folder, no IPC object,
FIFO or socket file. Each case grades one to three tests, so the whole zoo stays fast.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import posix_ipc
import pytest
from katalib import ROOT
from zoolib import (
    assert_run_left_nothing,
    marked_lines,
    recorded_pids,
    sysv_ids,
    unique_of,
    zoo_impl,
)

from grader import grade
from grader.catalog import load_kata
from grader.protocol import MAX_FINDINGS_SENT
from grader.report import Result, render_text
from grader.report import TestResult as GradedTest  # not collected by pytest

PIPE = load_kata("pipe")
SMALL = "test_child_to_parent_small"
OTHERS = ("test_round_trip_small", "test_gather_more_tasks_than_workers")
TASK_OF = {SMALL: 1, OTHERS[0]: 2, OTHERS[1]: 3}
MARGIN = 5.0  # the issue's bound: sum of the selected tests' limits + 5 s
WATCHDOG_FACTOR = 4  # a grade this far past its bound is a hang, whatever the load


def limit_of(test: str) -> float:
    return PIPE.time_limit(test, TASK_OF[test])


def grade_timed(path: Path, tests: tuple[str, ...], bound: float | None = None) -> Result:
    """Grade `tests` of `path` (no perf); a grader that never returns is a hang, caught by a
    watchdog far above the limits (a hang detector, not a timing assertion: the verdict's
    own promptness is pinned by the tests' statuses, e.g. `timeout` at the limit)."""
    bound = bound if bound is not None else sum(limit_of(t) for t in tests) + MARGIN
    done: list[Result] = []
    worker = threading.Thread(target=lambda: done.append(grade("pipe", path, tests=tests, perf=False)), daemon=True)
    worker.start()
    worker.join(WATCHDOG_FACTOR * bound)
    assert done, f"the grader did not return within {WATCHDOG_FACTOR} x {bound:g} s: it hangs"
    return done[0]


def grade_zoo(tmp_path: Path, name: str, *tests: str) -> Result:
    """Grade tests/zoo/<name>.py, then prove the run left nothing behind."""
    path = zoo_impl(tmp_path, name)
    result = grade_timed(path, tests)
    assert_run_left_nothing(tmp_path)
    return result


def named(result: Result, name: str) -> GradedTest:
    found = [t for t in result.tests if t.name == name]
    assert found, f"no result for {name}:\n" + render_text(result, verbose=True)
    return found[0]


def assert_rest_pass(result: Result, tests=OTHERS) -> None:
    for name in tests:
        assert named(result, name).status == "pass", f"{name} after a hostile test:\n" + render_text(
            result, verbose=True
        )


# --- hangs: timeout, with where each process was -----------------------------------------


@dataclass(frozen=True)
class Hang:
    zoo: str
    where: dict  # role ("test process" / "child") -> (mark of the line, or None: no Python stack; kernel state)
    deadlock: bool = False  # the wait-for graph proves it: the test is stopped then, not at its limit

    def __str__(self) -> str:
        return self.zoo


HANGS = [
    Hang("caller_infinite_loop", {"test process": ("spin", "running on a CPU")}),
    # Signals blocked: faulthandler cannot answer, the kernel view must.
    Hang(
        "signals_blocked_busy_loop", {"test process": (None, "running on a CPU"), "child": (None, "blocked in read()")}
    ),
    Hang(
        "sigterm_ignored",
        {"test process": ("caller waits", "blocked in wait4()"), "child": ("child sleeps", "blocked in")},
    ),
    Hang(
        "pipe_deadlock",
        {"test process": ("caller reads", "blocked in read()"), "child": ("child reads", "blocked in read()")},
        deadlock=True,
    ),
]


@pytest.mark.parametrize("hang", HANGS, ids=str)
def test_a_hang_times_out_saying_where_each_process_was(tmp_path, hang):
    result = grade_zoo(tmp_path, hang.zoo, SMALL)
    report = render_text(result)
    test = result.tests[0]
    assert test.status == "timeout", report
    assert test.diagnosis is not None and test.diagnosis.stopped_early is hang.deadlock, report
    if hang.deadlock:
        assert test.diagnosis.deadlock, report
        assert test.message.startswith("stopped after ") and f"of its {limit_of(SMALL):g} s limit" in test.message
    else:
        assert test.message.startswith(f"timed out after {limit_of(SMALL):g} s"), report
    assert result.status == "fail" and result.exit_code == 1
    roles = {"test process" if p.role == "test process" else "child": p for p in test.blocked}
    assert set(roles) == set(hang.where), report
    impl = tmp_path / "impl.py"
    for role, (mark, state) in hang.where.items():
        proc = roles[role]
        assert state in proc.state, f"{role}: {proc.describe()}"
        if mark is None:
            assert not proc.stack and "no Python stack available" in proc.describe(), proc.describe()
        else:
            lines = {f"impl.py:{n} in child_to_parent   <- your code" for n in marked_lines(impl, mark)}
            assert proc.stack and proc.stack[0] in lines, f"{role}: {proc.stack} (expected one of {lines})"
    assert len(recorded_pids(tmp_path)) == len(hang.where)


def test_a_setsid_double_fork_escapee_is_found_and_killed(tmp_path):
    result = grade_zoo(tmp_path, "setsid_escapee", SMALL)
    assert result.tests[0].status == "timeout", render_text(result)
    pids = recorded_pids(tmp_path)
    assert len(pids) == 2  # the caller and the escaped grandchild; assert_run_left_nothing saw both gone
    escapee = next(p for p in result.tests[0].blocked if p.pid == pids[1])
    lines = {
        f"impl.py:{n} in child_to_parent   <- your code" for n in marked_lines(tmp_path / "impl.py", "escapee sleeps")
    }
    assert escapee.stack[0] in lines, escapee.describe()


# --- processes left behind ------------------------------------------------------------------


def test_a_fork_that_returns_in_the_child_fails_naming_it(tmp_path):
    result = grade_zoo(tmp_path, "fork_returns_in_child", SMALL)
    test = result.tests[0]
    caller, child = recorded_pids(tmp_path)
    assert test.status == "fail", render_text(result)
    assert test.message.startswith(
        f"a forked child (pid {child}, parent {caller}) returned from `child_to_parent` "
        "instead of ending with os._exit()"
    ), test.message


def test_a_fork_storm_is_found_and_killed(tmp_path):
    storm = int((ROOT / "tests" / "zoo" / "fork_storm.py").read_text().split("STORM = ")[1].split()[0])
    result = grade_zoo(tmp_path, "fork_storm", SMALL)
    assert result.tests[0].status == "fail", render_text(result)
    assert len(recorded_pids(tmp_path)) == storm + 1  # the caller and every child: all gone
    left = [f for f in result.hygiene if f.kind == "process"]  # capped, so that the result event fits
    assert len(left) == MAX_FINDINGS_SENT, [f.name for f in left[-3:]]
    assert left[-1].name == f"and {storm - MAX_FINDINGS_SENT + 1} more", left[-1]
    named = {f.name for f in left[:-1]}
    assert named <= {f"pid {pid}" for pid in recorded_pids(tmp_path)[1:]}


# --- the caller ends or kills its own process, or its parent ------------------------------------


@pytest.mark.parametrize(
    "zoo, status, message",
    [
        ("exit_in_caller", "error", "the test process ended in the middle of this test (exit status 0)"),
        ("sys_exit_in_caller", "fail", "the implementation called sys.exit() in the caller's process"),
        ("kill_parent", "fail", "the grader's supervisor) was killed during this test"),
        ("kill_parent_late", "fail", "the grader's supervisor) was killed during this test"),
        ("killpg_zero", "error", "the test process ended in the middle of this test (killed"),
    ],
)
def test_ending_the_callers_process_is_named_and_the_grader_goes_on(tmp_path, zoo, status, message):
    result = grade_zoo(tmp_path, zoo, SMALL, OTHERS[0])
    test = named(result, SMALL)
    assert test.status == status and message in test.message, render_text(result)
    assert_rest_pass(result, OTHERS[:1])
    assert result.status == "fail" and result.exit_code == 1


def test_a_child_that_signals_up_the_tree_cannot_reach_the_grader(tmp_path):
    """Without the fence (grader/fence.py) the child, re-parented to the runner once the test process
    and the supervisor are dead, would kill the grader itself: here the grade must come back."""
    result = grade_zoo(tmp_path, "child_signals_up_the_tree", SMALL, OTHERS[0])
    test = named(result, SMALL)
    # The test process dies first; whether its supervisor could report that before it died too is a race.
    died = ("ended in the middle of this test (killed by SIGKILL)", "the grader's supervisor) was killed")
    assert test.status in ("error", "fail") and any(d in test.message for d in died), render_text(result)
    assert_rest_pass(result, OTHERS[:1])
    assert len(recorded_pids(tmp_path)) == 2


def test_signals_to_the_grader_or_to_everyone_are_refused(tmp_path):
    result = grade_zoo(tmp_path, "signal_everyone", SMALL)
    assert result.status == "pass", render_text(result)
    outcomes = json.loads((tmp_path / "outcomes.json").read_text())
    assert outcomes == dict.fromkeys(("everyone", "runner", "runner's group"), "Operation not permitted")


# --- resources -----------------------------------------------------------------------------------


def test_a_memory_hog_fails_at_the_memory_limit(tmp_path):
    result = grade_zoo(tmp_path, "memory_hog", SMALL)
    test = result.tests[0]
    assert test.status == "fail", render_text(result)
    assert f"hit the memory limit ({PIPE.memory_limit_mb} MiB)" in test.message


FLOOD_GRADER = """
import json, resource, sys
from grader import grade
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
result = grade("pipe", sys.argv[1], tests=(sys.argv[2],), perf=False)
growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
print(json.dumps({"status": result.status, "output": result.tests[0].output, "growth": growth}))
"""


def test_an_output_flood_is_truncated_and_the_grader_memory_stays_bounded(tmp_path):
    """The grade runs in a process of its own so that its peak RSS is the grader's alone."""
    path = zoo_impl(tmp_path, "output_flood")
    flood = 2 * int(path.read_text().split("FLOOD_MIB = ")[1].split()[0]) << 20  # stdout and stderr
    proc = subprocess.run(  # the timeout is a hang watchdog
        [sys.executable, "-c", FLOOD_GRADER, str(path), SMALL], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["status"] == "pass"
    assert report["output"].startswith("flood flood")
    cut = int(report["output"].split("[... output truncated: ")[1].split()[0])
    assert len(report["output"]) < 16 * 1024 and cut > flood - 16 * 1024
    # The peak's growth during the grade, not the interpreter's own size (which varies with
    # what the environment imports): the grader keeps OUTPUT_CAP bytes and reads 64 KiB at a time.
    assert report["growth"] < flood / 4, (
        f"grader peak RSS grew by {report['growth'] >> 20} MiB for a {flood >> 20} MiB flood"
    )
    assert_run_left_nothing(tmp_path)


# --- process state the caller changes: the grader and the other tests are unaffected ---------


@pytest.mark.parametrize(
    "zoo, first",
    [
        ("closes_all_fds", "pass"),
        ("chdir_root", "pass"),
        ("umask", "pass"),
        ("setpgrp", "pass"),
        # SIGCHLD ignored: the kernel reaps the children, the learner's own waitpid fails; the
        # next tests must get the dispositions back.
        ("signal_handlers", "fail"),
    ],
)
def test_changing_the_callers_process_state_does_not_affect_the_grader(tmp_path, zoo, first):
    result = grade_zoo(tmp_path, zoo, SMALL, *OTHERS)
    assert named(result, SMALL).status == first, render_text(result, verbose=True)
    assert_rest_pass(result)


# --- leaks of the IPC kinds under the learner's own names -------------------------------------------


def test_leaked_posix_queue_and_system_v_shm_and_queue_fail_by_name_and_are_removed(tmp_path):
    path = zoo_impl(tmp_path, "leak_ipc")
    unique = unique_of(path)
    result = grade_timed(path, (SMALL,))
    test = result.tests[0]
    assert test.status == "fail" and "left things behind" in test.message, render_text(result)
    shm_id, msg_id = (int(i) for i in (tmp_path / "sysv_ids").read_text().split())
    names = {f.kind: f.name for f in result.hygiene}
    assert names == {
        "posix-mq": f"/leak_{unique}",
        "sysv-shm": f"key {names['sysv-shm'].split()[1]} (id {shm_id})",
        "sysv-msg": f"key {names['sysv-msg'].split()[1]} (id {msg_id})",
    }, render_text(result)
    for name in names.values():
        assert name in test.message
    with pytest.raises(posix_ipc.ExistentialError):
        posix_ipc.MessageQueue(f"/leak_{unique}")
    assert shm_id not in sysv_ids("sysv-shm") and msg_id not in sysv_ids("sysv-msg")
    assert_run_left_nothing(tmp_path, unique)


# --- modules that do not load: error, one line ------------------------------------------------------


def assert_one_line_error(result: Result, *pieces: str) -> None:
    assert result.status == "error" and result.exit_code == 2, render_text(result)
    assert result.message and "\n" not in result.message, result.message
    for piece in pieces:
        assert piece in result.message, result.message
    assert not result.tests


def test_an_import_time_infinite_loop_is_an_error_saying_where(tmp_path):
    path = zoo_impl(tmp_path, "import_infinite_loop")
    result = grade_timed(path, (SMALL,), bound=PIPE.import_time_limit + MARGIN)
    lines = marked_lines(path, "spin")
    assert_one_line_error(result, f"importing impl.py did not finish within {PIPE.import_time_limit:g} s")
    assert any(f"impl.py:{n} in <module>" in result.message for n in lines), result.message
    assert_run_left_nothing(tmp_path)


def test_an_import_time_fork_is_an_error_and_both_processes_are_gone(tmp_path):
    result = grade_zoo(tmp_path, "import_fork", SMALL)
    assert_one_line_error(result, "importing impl.py started a process (pid ", "fork inside a function")
    assert len(recorded_pids(tmp_path)) == 2


def make_directory(path: Path) -> str:
    path.mkdir()
    return "is a directory, not a Python file"


def make_binary(path: Path) -> str:
    shutil.copyfile("/bin/true", path)
    return "not a Python source file"


def make_fifo(path: Path) -> str:
    os.mkfifo(path)
    return "not a regular file"


@pytest.mark.parametrize("make", [make_directory, make_binary, make_fifo], ids=lambda f: f.__name__)
def test_a_module_that_is_not_a_python_file_is_an_error_in_one_line(tmp_path, make):
    path = tmp_path / "impl.py"
    expected = make(path)
    result = grade_timed(path, (SMALL,), bound=MARGIN)
    assert_one_line_error(result, f"{path}: {expected}")
