"""The tamper zoo's throwaway install (tests/test_tamper.py, tests/tamper/).

An attack plants files in the installation it is graded by, so it is graded by an
install of its own: ipc-kata built into a wheel once per test session (shared by
the xdist workers, under a lock), installed with the grader's dependencies into a
venv per worker, graded through its `kata grade` as a learner would, and put back
to its pristine files after each attack (`Install.restore` says what the attack
had changed, which proves it did its part).

An attack file is the pipe kata's starter, then PRELUDE (zoolib's `_record_pid()`
writes the pid and the run's token next to the file; `_site()` and `_grader()` find
the installation; `FORGER` and `_forge_events()` are what attacks plant or send; a
`child_to_parent` that records the pid, for attacks that only plant files), then
the attack's body from tests/tamper/<name>.py.
"""

from __future__ import annotations

import fcntl
import filecmp
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from katalib import ROOT
from zoolib import RECORD_PID

STARTER = ROOT / "kata" / "exercises" / "pipe" / "starter.py"
ATTACKS = ROOT / "tests" / "tamper"
# What the grader and `kata grade` import, pinned to the versions this environment runs.
TASK_1 = ("pipe", "--task", "1", "--no-perf")  # what an attack's grade runs: five quick tests
DEPENDENCIES = ("pytest", "posix_ipc", "sysv_ipc", "psutil", "pyyaml", "platformdirs")

PRELUDE = (
    RECORD_PID
    + '''
import sys as _sys


def _site():
    """The site-packages folder of the install grading this file."""
    import pytest
    return _os.path.dirname(_os.path.dirname(pytest.__file__))


def _grader():
    import grader
    return _os.path.dirname(grader.__file__)


# Loaded by the grader, this would make every test pass: what the planted files below carry.
FORGER = """
try:
    from grader import explain as _explain, plugin as _plugin
    _plugin.GradingPlugin._verdict = staticmethod(lambda *args, **kwargs: _explain.PASSED)
except Exception:
    pass
"""

_TASK_1 = [
    "test_child_to_parent_small",
    "test_child_to_parent_empty",
    "test_child_to_parent_binary",
    "test_child_to_parent_larger_than_pipe_buffer",
    "test_child_to_parent_many_calls",
]


# What an attack that only plants or rewrites files is graded on: the starter's stub, its pid recorded.
# An attack that acts while it is graded defines child_to_parent again.
def child_to_parent(payload):
    _record_pid()
    raise NotImplementedError


def _forge_events(events_path, current=None):
    """Events in the old protocol's plain JSON (all a process without the run's key can send):
    task 1's tests started and passed, the session ended; for sessions 1 to 5."""
    import json, socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        for session in range(1, 6):
            events = []
            for name in _TASK_1:
                nodeid = f"test_pipe.py::{name}"
                if name != current:
                    events.append({"ev": "test_start", "nodeid": nodeid})
                result = {"name": name, "task": 1, "status": "pass", "nodeid": nodeid}
                events.append({"ev": "test_result", "result": result, "perf": [], "hygiene": []})
            events.append({"ev": "session_end"})
            for event in events:
                try:
                    sock.sendto(json.dumps({"v": 1, "session": session, **event}).encode(), events_path)
                except OSError:
                    pass
'''
)


def attack_source(name: str, base: Path = STARTER) -> str:
    """The attack file: `base` (the pipe starter, or a reference), the prelude, the attack's body."""
    return base.read_text() + PRELUDE + "\n" + (ATTACKS / f"{name}.py").read_text()


RUNTIMES = "/tmp"  # where runtime folders go: a short path (the install fixture gives one of its own)
WHEEL_ENV = "KATA_TAMPER_WHEEL"  # a wheel of this checkout built already (.ci/run builds one for every pass)


def build_wheel(shared: Path) -> Path:
    """The project's wheel, built once for every worker of this test session (or $KATA_TAMPER_WHEEL)."""
    given = os.environ.get(WHEEL_ENV)
    if given and Path(given).is_file():
        return Path(given)
    shared.mkdir(parents=True, exist_ok=True)
    with open(shared / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        wheels = sorted(shared.glob("ipc_kata-*.whl"))
        if not wheels:
            _pip("wheel", "--no-deps", "-w", str(shared), str(ROOT))
            wheels = sorted(shared.glob("ipc_kata-*.whl"))
        return wheels[-1]


def _pip(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "-q", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"pip {' '.join(args)} failed:\n{done.stderr[-2000:]}")


@dataclass
class Graded:
    """One `kata grade --json` of the throwaway install."""

    exit_code: int
    result: dict
    stderr: str

    @property
    def status(self) -> str:
        return self.result.get("status", "?")

    def messages(self) -> list[str]:
        return [test["message"] for test in self.result.get("tests", [])]

    def __str__(self) -> str:
        tests = "\n".join(f"  {t['status']:>7} {t['name']}: {t['message'][:160]}" for t in self.result.get("tests", []))
        return f"exit {self.exit_code}, {self.status}: {self.result.get('message', '')}\n{tests}\n{self.stderr[-1500:]}"


class Install:
    """A venv with ipc-kata installed from the wheel, and a pristine copy of it."""

    def __init__(self, folder: Path, wheel: Path):
        self.venv = folder / "venv"
        self.pristine = folder / "pristine"
        self.wheel = wheel.resolve()
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", "--without-pip", str(self.venv)], check=True)
        python = str(self.venv / "bin" / "python")
        pins = [f"{name}=={importlib.metadata.version(name)}" for name in DEPENDENCIES]
        _pip("--python", python, "install", *pins)
        _pip("--python", python, "install", "--no-deps", str(wheel))
        shutil.copytree(self.venv, self.pristine, symlinks=True)

    def start(
        self, impl: Path, home: Path, env: dict[str, str] | None = None, grade: tuple[str, ...] = TASK_1
    ) -> subprocess.Popen[str]:
        """`kata grade pipe --impl IMPL --task 1 --no-perf --json` (or `grade` for the part after
        `kata grade`), as a learner would, started. Its runtime folder (`runtime_of(home)`) is a
        short path: its run folders hold a socket."""
        home.mkdir(parents=True, exist_ok=True)
        runtime = runtime_of(home)
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST_", "KATA_"))}
        full = {**clean, "KATA_HOME": str(home), "XDG_RUNTIME_DIR": str(runtime), "PYTHONDONTWRITEBYTECODE": "1"}
        full.update(env or {})
        command = [str(self.venv / "bin" / "kata"), "grade", *grade, "--impl", str(impl), "--json"]
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full)

    def grade(
        self, impl: Path, home: Path, env: dict[str, str] | None = None, grade: tuple[str, ...] = TASK_1
    ) -> Graded:
        return finish(self.start(impl, home, env, grade))

    def restore(self) -> list[str]:
        """Put the venv back as installed; what differed (relative paths: "+ added", "~ changed", "- removed")."""
        found = []
        for folder, dirs, files in os.walk(self.venv, topdown=True):
            here = Path(folder)
            twin = self.pristine / here.relative_to(self.venv)
            for name in dirs + files:
                path, original = here / name, twin / name
                if not original.exists() and not original.is_symlink():
                    found.append(f"+ {path.relative_to(self.venv)}")
                    shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
                    if name in dirs:
                        dirs.remove(name)
                elif path.is_file() and not path.is_symlink() and not filecmp.cmp(path, original):  # size, mtime
                    found.append(f"~ {path.relative_to(self.venv)}")
                    shutil.copy2(original, path)
        for folder, _dirs, files in os.walk(self.pristine):
            for name in files:
                original = Path(folder, name)
                path = self.venv / original.relative_to(self.pristine)
                if not path.exists() and not path.is_symlink():
                    found.append(f"- {path.relative_to(self.venv)}")
                    shutil.copy2(original, path, follow_symlinks=False)
        return sorted(found)


def runtime_of(home: Path) -> Path:
    """A grade's $XDG_RUNTIME_DIR: one per home, with a short path (`home/runtime` links to it)."""
    link = home / "runtime"
    if not link.exists():
        link.symlink_to(tempfile.mkdtemp(prefix="rt-", dir=RUNTIMES))
    return link.resolve()


def finish(proc: subprocess.Popen[str], timeout: float = 240) -> Graded:
    """Wait for a started grade (the timeout is a hang watchdog, not a bound on its duration)."""
    out, err = proc.communicate(timeout=timeout)
    try:
        result = json.loads(out)
    except ValueError:
        result = {"status": "?", "message": f"no JSON: {out[-500:]!r}"}
    return Graded(proc.returncode, result, err)
