"""Grades of the same kata at once: every verdict right, no collision of names or keys,
nothing of any run left. Kept light (no perf, one task) for a 2-core CI machine.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
from katalib import ROOT
from zoolib import RECORD_PID, assert_run_left_nothing

from grader import grade
from grader.catalog import load_kata
from grader.mutants import declared_mutants, mutant_source
from grader.report import render_text

KATA = "message-queue"
LEAKY = dataclasses.replace(
    next(m for m in declared_mutants(KATA) if m.name == "unlink_does_nothing"),
    message="after unlink() the queue must be gone",
)


def recording(folder: Path, source: str) -> Path:
    """`source` that records, when imported, the test process's pid and the run's token."""
    folder.mkdir()
    path = folder / "impl.py"
    path.write_text(source + RECORD_PID + "\n_record_pid()\n")
    return path


def test_four_grades_of_the_same_kata_in_threads_keep_their_own_names(tmp_path):
    """Two references and two leaky mutants at once: the references pass clean, each mutant
    is blamed for its own queue (named with its own run's token), and every run is swept."""
    solution = load_kata(KATA).solution_path.read_text()
    leaky = mutant_source(LEAKY)
    folders = [tmp_path / f"run{i}" for i in range(4)]
    paths = [recording(folder, leaky if i % 2 else solution) for i, folder in enumerate(folders)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda p: grade(KATA, p, tasks=(1,), perf=False), paths))
    tokens = [(folder / "token").read_text() for folder in folders]
    assert len(set(tokens)) == 4
    for i, (result, token) in enumerate(zip(results, tokens, strict=False)):
        report = render_text(result)
        if i % 2 == 0:
            assert result.status == "pass" and not result.hygiene, report
        else:
            assert result.status == "fail", report
            first = next(t for t in result.tests if t.name == LEAKY.tests[0])
            assert first.status == "fail" and LEAKY.message in first.message, report
            leaked = [f.name for f in result.hygiene]
            assert leaked and all(name.startswith(f"/kata_{token}_") for name in leaked), report
    for folder in folders:
        assert_run_left_nothing(folder)


def test_four_kata_grade_commands_at_once_all_pass_and_leave_no_process(tmp_path):
    """Task 3 uses System V queues under keys from `names.key()`: four runs must not collide."""
    marker = uuid.uuid4().hex
    env = dict(os.environ, ZOO_PARALLEL_MARK=marker, KATA_HOME=str(tmp_path / "home"))
    command = [sys.executable, "-m", "kata.cli", "grade", KATA, "--solution", "--no-perf", "--task", "3", "--json"]
    procs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
        for _ in range(4)
    ]
    outcomes = [proc.communicate(timeout=120) for proc in procs]
    for proc, (out, err) in zip(procs, outcomes, strict=False):
        assert proc.returncode == 0, out[-2000:] + err[-2000:]
        result = json.loads(out)
        assert result["status"] == "pass" and not result["hygiene"], out[-2000:]
        assert [t["status"] for t in result["tests"]] == ["pass"] * 6
    left = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("ZOO_PARALLEL_MARK") == marker:
                left.append(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            continue
    assert not left, f"processes of the four grades still there: {left}"
