"""Helpers for the grader's own tests: write a hostile implementation, prove the run left nothing.

An implementation file is the `pipe` solution (optionally) followed by a body:
inline text or a file of tests/zoo/. `UNIQUE` in the body becomes a fresh id,
so names never collide between runs. Bodies that start processes call
`_record_pid()` (defined here, prepended to the body): it appends the pid to
`pids` next to the file and writes the run's token (KATA_RUN_TOKEN) to
`token`, so a test can prove that every process of the run is gone.
"""

from __future__ import annotations

import os
import stat
import textwrap
import uuid
from pathlib import Path

import psutil
import pytest
from katalib import ROOT

from grader import hygiene, ipc_objects, protocol

SOLUTION = ROOT / "solutions" / "pipe.py"
ZOO = ROOT / "tests" / "zoo"

RECORD_PID = """
import os as _os
def _record_pid():
    folder = _os.path.dirname(__file__)
    with open(_os.path.join(folder, "pids"), "a") as f:
        f.write(f"{_os.getpid()}\\n")
    with open(_os.path.join(folder, "token"), "w") as f:
        f.write(_os.environ.get("KATA_RUN_TOKEN", ""))
"""


STUCK_LEARNER = """
import os, time, posix_ipc, sysv_ipc
def child_to_parent(payload):
    posix_ipc.SharedMemory({segment!r}, posix_ipc.O_CREAT, size=4096)
    if {key!r} is not None:
        sysv_ipc.Semaphore({key!r}, sysv_ipc.IPC_CREX, mode=0o600)
    child = os.fork()
    if child == 0:
        time.sleep(120)
        os._exit(0)
    with open({pids!r} + ".part", "w") as f:
        f.write(f"{{os.getpid()}} {{child}}")
    os.rename({pids!r} + ".part", {pids!r})
    time.sleep(120)
    return payload
def round_trip_digest(payload): return ""
def gather(tasks, workers): return []
"""


def stuck_learner(segment: str, pids: Path, key: int | None = None) -> str:
    """A pipe implementation whose child_to_parent makes a POSIX segment (and a System V semaphore
    under `key`), forks a child, writes "<its pid> <the child's>" to `pids` and hangs: a grade to stop."""
    return STUCK_LEARNER.format(segment=segment, pids=str(pids), key=key)


def write_impl(tmp_path: Path, body: str, *, with_solution: bool = True, record_pids: bool = False) -> Path:
    """An implementation file: the pipe solution (optionally) followed by `body`."""
    source = SOLUTION.read_text() + "\n" if with_solution else ""
    source += RECORD_PID if record_pids else ""
    path = tmp_path / "impl.py"
    path.write_text(source + textwrap.dedent(body).replace("UNIQUE", uuid.uuid4().hex[:12]))
    return path


def zoo_impl(tmp_path: Path, name: str) -> Path:
    """tests/zoo/<name>.py appended to the pipe solution, with _record_pid available."""
    return write_impl(tmp_path, (ZOO / f"{name}.py").read_text(), record_pids=True)


def unique_of(path: Path) -> str:
    """The id that replaced UNIQUE in the file (bodies name their objects `..._<id>`)."""
    source = path.read_text()
    marker = source.index("_RUN_ID = ")
    return source[marker:].split('"')[1]


def marked_lines(path: Path, mark: str) -> set[int]:
    """Line numbers of `path` that carry the comment `# where: <mark>`."""
    lines = path.read_text().splitlines()
    return {n for n, line in enumerate(lines, start=1) if f"# where: {mark}" in line}


def sysv_ids(kind: str) -> set[int]:
    """Ids of the System V objects of one kind (sysv-shm, sysv-sem, sysv-msg) that exist now."""
    return {obj.handle for obj in ipc_objects.sysv_objects() if obj.kind == kind}


def recorded_pids(tmp_path: Path) -> list[int]:
    pids_file = tmp_path / "pids"
    return [int(p) for p in pids_file.read_text().split()] if pids_file.exists() else []


def assert_all_gone(pids: list[int], token: str = "") -> None:
    """None of `pids` is alive or an unreaped zombie of ours. With the run's token, a live
    process under a recorded pid that lacks the token is another one (pids are recycled)."""
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            status = proc.status()
            if status == psutil.STATUS_ZOMBIE:
                if proc.ppid() != os.getpid():
                    continue  # not ours to reap: someone else's zombie under a recycled pid
            elif token and proc.environ().get(hygiene.TOKEN_ENV) != token:
                continue
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        pytest.fail(f"process {pid} of the run is still there ({status})")


def assert_run_left_nothing(tmp_path: Path, unique: str = "") -> None:
    """No process of the run (by pid and by token), no run folder, no IPC object or special file."""
    token_file = tmp_path / "token"
    token = token_file.read_text().strip() if token_file.exists() else ""
    assert_all_gone(recorded_pids(tmp_path), token)
    if token:
        left = hygiene.run_processes(token)
        assert not left, f"processes of run {token} still there: {left}"
        assert not list(protocol.private_parent().glob(f"kata-{token}-*")), "run folder left"
    marks = [m for m in (token and f"kata_{token}_", unique) if m]
    for folder in (ipc_objects.POSIX_SHM_DIR, ipc_objects.POSIX_MQ_DIR):
        for entry in os.listdir(folder):
            assert not any(m in entry for m in marks), f"{folder}/{entry} left behind"
    for dirpath, _dirs, files in os.walk(tmp_path):
        for name in files:
            mode = os.lstat(os.path.join(dirpath, name)).st_mode
            assert not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)), f"{dirpath}/{name} left behind"
