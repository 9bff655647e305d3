"""A grade killed outright (SIGKILL) is cleaned up by the next grade; a grade that lives is never
touched, and no process but its runner holds its lease (grader/sweep.py).

Each test keeps its run folders in a private runtime folder of its own ($XDG_RUNTIME_DIR), so
that no other grade on the machine sweeps its runs, or is swept by it.
"""

from __future__ import annotations

import functools
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from katalib import ROOT
from zoolib import SOLUTION, stuck_learner

from grader import grade, hygiene, ipc_objects, proctree, protocol, sweep
from grader.report import Result, render_text

WAIT = 90.0  # seconds a step may take on a busy machine before the test gives up (a hang watchdog)


@pytest.fixture
def runtime(monkeypatch):
    """A private runtime folder: the run folders of this test's grades, and only theirs, go in it."""
    folder = Path(tempfile.mkdtemp(prefix="ks-", dir="/tmp"))  # short: socket paths go under it
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))
    yield folder
    shutil.rmtree(folder)


@pytest.fixture
def objects():
    """A unique POSIX segment name and an unused System V key; whatever is left of them is removed."""
    used = {obj.key for obj in ipc_objects.sysv_objects()}
    key = next(k for k in iter(lambda: 0x5E000000 | secrets.randbits(24), None) if k not in used)
    segment = f"/sweep_{secrets.token_hex(6)}"
    yield segment, key
    for obj in ipc_objects.posix_objects(lambda name: name == segment[1:]) + ipc_objects.sysv_objects([key]):
        ipc_objects.remove(obj)


def wait_for(path: Path, proc: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + WAIT
    while not path.exists():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the grade ended before the learner's code ran: {proc.communicate()}")
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def segment_exists(segment: str) -> bool:
    return ipc_objects.posix_exists("posix-shm", segment)


def key_exists(key: int) -> bool:
    return bool(ipc_objects.sysv_objects([key]))


def kata_grade(*argv: str) -> list[str]:
    """`kata grade ...` as a learner runs it."""
    return [sys.executable, "-m", "kata.cli", "grade", *argv]


def run_folders(runtime: Path) -> list[Path]:
    return sorted((runtime / protocol.RUNS_FOLDER).glob("kata-*"))


# --- a grade killed outright ------------------------------------------------------------------


@pytest.mark.parametrize("killed", ["runner", "runner and sandbox"])
def test_a_grade_killed_outright_is_cleaned_up_by_the_next_one(runtime, objects, tmp_path, killed):
    """`kill -9` of `kata grade` left the learner's segment, semaphore and the run folder behind
    until reboot. The next grade removes them, kills what is left of the run (all of the learner's
    processes, when its sandbox was killed too), and says so."""
    segment, key = objects
    pids = tmp_path / "pids"
    impl = tmp_path / "stuck.py"
    impl.write_text(stuck_learner(segment, pids, key))
    env = {**os.environ, "KATA_HOME": str(tmp_path / "home")}
    command = kata_grade("pipe", "--impl", str(impl), "--no-perf")
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    token, run = "", []
    try:
        wait_for(pids, first)
        test_process, child = pids.read_text().split()
        (folder,) = run_folders(runtime)
        token = folder.name.split("-")[1]
        run = sorted({int(test_process), int(child), *hygiene.run_processes(token)})
        supervisor = proctree.stat(int(test_process)).ppid
        if killed == "runner and sandbox":
            os.kill(supervisor, signal.SIGSTOP)  # it would kill the run when it sees the runner gone
        first.kill()
        first.communicate(timeout=WAIT)
        if killed == "runner and sandbox":
            os.kill(supervisor, signal.SIGKILL)
            assert proctree.alive(int(child)), "the learner's child should have outlived its grade"
        assert segment_exists(segment) and key_exists(key), "the killed grade's objects should still be there"
        assert [folder.name.split("-")[1] for folder in run_folders(runtime)] == [token], "its run folder stays"

        command = kata_grade("pipe", "--solution", "--no-perf", "--task", "1", "--json")
        second = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=WAIT)
        result = json.loads(second.stdout)
        assert result["status"] == "pass", second.stdout[-2000:] + second.stderr[-2000:]
        swept = [notice for notice in result["notices"] if notice.startswith("cleaned up after")]
        processes = r"\d+ process(es)?, " + ("" if killed == "runner and sandbox" else "|")
        expected = (
            re.escape(f"cleaned up after an earlier grade that was killed (pid {first.pid}): ")
            + f"({processes})"
            + re.escape(f"2 IPC objects (/dev/shm{segment}, System V semaphore set key {key:#x} (id ")
            + r"\d+"
            + re.escape(")) and its run folder")
        )
        assert len(swept) == 1 and re.fullmatch(expected, swept[0]), result["notices"]
        assert not segment_exists(segment), "the killed grade's segment is still in /dev/shm"
        assert not key_exists(key), "the killed grade's semaphore is still in `ipcs -s`"
        assert run_folders(runtime) == [], "a run folder is left"
        assert not hygiene.run_processes(token), "a process of the killed grade is left"
        assert not any(proctree.alive(pid) for pid in run), "a process of the killed grade is left"
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
        if token:
            hygiene.kill_run(token)
        proctree.reap(run)  # ours to reap when this process is a subreaper above them


# --- a grade that lives -------------------------------------------------------------------------

LIVING_LEARNER = """
import os, time, posix_ipc, sysv_ipc
_reference = child_to_parent
def child_to_parent(payload):
    posix_ipc.SharedMemory({segment!r}, posix_ipc.O_CREX, size=4096).close_fd()
    semaphore = sysv_ipc.Semaphore({key}, sysv_ipc.IPC_CREX, mode=0o600)
    with open({ready!r} + ".part", "w") as f:
        f.write(os.environ["KATA_RUN_TOKEN"])
    os.rename({ready!r} + ".part", {ready!r})
    while not os.path.exists({gate!r}):
        time.sleep(0.01)
    posix_ipc.SharedMemory({segment!r}).close_fd()  # ExistentialError if another grade removed it
    sysv_ipc.Semaphore({key})
    posix_ipc.unlink_shared_memory({segment!r})
    semaphore.remove()
    return _reference(payload)
"""
ONE_TEST = "test_child_to_parent_binary"


@pytest.mark.parametrize("where", ["process", "thread"])
def test_a_grade_running_beside_another_is_left_alone(runtime, objects, tmp_path, monkeypatch, where):
    """While a grade (another `kata grade`, or another thread of this process: the app, these tests)
    holds its objects, a new grade starts, sweeps, and runs: the first one keeps its objects and
    its processes and passes; only its runner holds its lease, never a process of its sandbox."""
    segment, key = objects
    ready, gate = tmp_path / "ready", tmp_path / "gate"
    impl = tmp_path / "impl.py"
    learner = LIVING_LEARNER.format(segment=segment, key=key, ready=str(ready), gate=str(gate))
    impl.write_text(SOLUTION.read_text() + learner)
    first = FirstGrade(where, impl, tmp_path)
    try:
        wait_for(ready, first.proc)
        token = ready.read_text()
        (lock,) = [folder / "lock" for folder in run_folders(runtime) if folder.name.split("-")[1] == token]
        holders = [pid for pid in [first.runner, *hygiene.run_processes(token)] if holds(pid, lock)]
        assert holders == [first.runner], f"the lease of the first grade is held by {holders}"

        real_sweep = sweep.sweep_dead_runs

        def sweep_then_open_the_gate() -> list[str]:
            try:
                return real_sweep()
            finally:
                gate.touch()  # the first grade goes on once the second one has swept

        monkeypatch.setattr(sweep, "sweep_dead_runs", sweep_then_open_the_gate)
        second = grade("pipe", SOLUTION, tasks=(1,), perf=False)
        assert gate.exists(), "the second grade never swept"
        assert second.status == "pass", render_text(second)
        assert not [notice for notice in second.notices if notice.startswith("cleaned up after")], second.notices

        status, tests, report = first.result()
        assert status == "pass" and tests == [ONE_TEST], report
    finally:
        gate.touch()
        first.stop()
    assert run_folders(runtime) == []


class FirstGrade:
    """The grade that lives: `kata grade` in a process of its own, or `grade()` in a thread of this one."""

    def __init__(self, where: str, impl: Path, tmp_path: Path):
        self.proc: subprocess.Popen[str] | None = None
        self._thread_result: list[Result] = []
        if where == "process":
            command = kata_grade("pipe", "--impl", str(impl), "--no-perf", "-k", ONE_TEST, "--json")
            env = {**os.environ, "KATA_HOME": str(tmp_path / "home")}
            self.proc = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
            )
            self.runner = self.proc.pid
        else:
            self.runner = os.getpid()
            self._thread = threading.Thread(target=self._grade, args=(impl,))
            self._thread.start()

    def _grade(self, impl: Path) -> None:
        self._thread_result.append(grade("pipe", impl, tests=[ONE_TEST], perf=False))

    def result(self) -> tuple[str, list[str], str]:
        """Its status, the names of its tests, and its report."""
        if self.proc is not None:
            out, err = self.proc.communicate(timeout=WAIT)
            assert out, err[-2000:]
            data = json.loads(out)
            return data["status"], [t["name"] for t in data["tests"]], out[-3000:]
        self._thread.join(WAIT)
        assert self._thread_result, "the first grade never ended"
        (result,) = self._thread_result
        return result.status, [t.name for t in result.tests], render_text(result)

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.communicate()
        else:
            self._thread.join(WAIT)


def holds(pid: int, lock: Path) -> bool:
    """Does the process have the lock file open (and so hold the lease it was locked through)?"""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    held = False
    for fd in fds:
        try:
            held |= os.readlink(f"/proc/{pid}/fd/{fd}") == str(lock)
        except OSError:
            continue
    return held


# --- the runner's children --------------------------------------------------------------------


@pytest.mark.parametrize("how", ["fork", "subprocess"])
def test_a_child_of_the_runner_never_holds_its_lease(tmp_path, how):
    """A process the runner starts (os.fork, subprocess) and that outlives it would keep a dead
    grade looking alive: the lease is closed in a forked child and never inherited by a program."""
    folder = protocol.RunFolder(tmp_path / "kata-0badcafe-run")
    folder.root.mkdir()
    lease = sweep.Lease.take(folder)
    read_end, write_end = os.pipe()  # the child waits on it until the test is done
    up_read, up_write = os.pipe()  # the child says it runs: past its at-fork hooks, or its exec
    if how == "fork":
        child = os.fork()
        if child == 0:
            try:
                os.close(write_end)
                os.write(up_write, b"up")
                os.read(read_end, 1)
            finally:
                os._exit(0)
        wait = functools.partial(os.waitpid, child, 0)
    else:
        code = "import os; os.write(1, b'up'); os.read(0, 1)"
        proc = subprocess.Popen([sys.executable, "-c", code], stdin=read_end, stdout=up_write)
        child, wait = proc.pid, proc.wait
    os.close(read_end)
    os.close(up_write)
    assert os.read(up_read, 2) == b"up"
    os.close(up_read)
    try:
        assert sweep.Lease.claim(folder) is None, "the lease of a living grade was taken"
        assert not holds(child, folder.lock), f"the {how} child has the lock file open"
        lease.release()
        claimed = sweep.Lease.claim(folder)
        assert claimed is not None, f"the runner is gone, but the lease is held: by the {how} child"
        assert claimed.holder() == os.getpid()
        claimed.release()
    finally:
        lease.release()
        os.close(write_end)
        wait()


# --- another user's objects ---------------------------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give an object to another user")
def test_a_sweep_never_removes_another_users_object(runtime, objects):
    """A System V key a dead run was handed may since be another user's object (the run removed
    its own, someone else took the key): root's sweep would remove it; it is left alone."""
    import sysv_ipc

    _, key = objects
    semaphore = sysv_ipc.Semaphore(key, sysv_ipc.IPC_CREX, mode=0o600)
    semaphore.uid = 65534  # nobody's now
    folder = protocol.RunFolder.make(secrets.token_hex(4))
    sweep.Lease.take(folder).release()  # its grade is gone
    folder.keys.write_text(f"{key}\n")
    (notice,) = sweep.sweep_dead_runs()
    assert notice.endswith("): its run folder"), notice
    assert key_exists(key), "another user's semaphore was removed"
    assert run_folders(runtime) == []
