"""The `kata` command line: the learner's loop, exit codes, and one-line errors.

Most tests call `kata.cli.main` in-process with $KATA_HOME in tmp_path; the ones
about what a terminal sees (no traceback, the console entry point) run it as a
real process.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from katalib import ROOT

from grader.catalog import kata_ids, load_kata
from kata.cli import main

PIPE = load_kata("pipe")


@pytest.fixture(autouse=True)
def kata_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("KATA_HOME", str(home))
    return home


def run_kata(*argv: str, home) -> subprocess.CompletedProcess:
    env = {"KATA_HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    return subprocess.run(
        [sys.executable, "-m", "kata.cli", *argv], capture_output=True, text=True, env=env, timeout=120, cwd=ROOT
    )


def test_help_names_every_verb_of_the_loop(kata_home):
    proc = run_kata("--help", home=kata_home)
    assert proc.returncode == 0
    for verb in ("list", "start", "grade", "hint", "solution", "questions"):
        assert verb in proc.stdout


def test_unknown_kata_is_one_line_listing_the_known_ones(capsys):
    assert main(["grade", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kata: unknown kata 'nope'; known katas: ")
    assert "pipe" in err and err.count("\n") == 1


def test_bad_usage_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["grade", "pipe", "--impl", "a.py", "--solution"])
    assert exit_info.value.code == 2
    assert main(["grade"]) == 2
    assert "name one kata" in capsys.readouterr().err


def test_start_copies_the_starter_and_never_overwrites_work(kata_home, capsys):
    assert main(["start", "pipe"]) == 0
    out = capsys.readouterr().out
    work = kata_home / "workspace" / "pipe.py"
    assert work.read_text() == PIPE.starter_path.read_text()
    assert "# Anonymous pipes" in out and str(work) in out

    work.write_text("my precious work\n")
    assert main(["start", "pipe"]) == 2
    assert "already exists and holds your work; it was not touched" in capsys.readouterr().err
    assert work.read_text() == "my precious work\n"

    assert main(["start", "pipe", "--force"]) == 0
    backups = list(work.parent.glob("pipe.py.*.bak"))
    assert [b.read_text() for b in backups] == ["my precious work\n"]
    assert work.read_text() == PIPE.starter_path.read_text()
    assert str(backups[0]) in capsys.readouterr().out


def test_start_into_another_workspace(tmp_path, capsys):
    assert main(["start", "pipe", "--workspace", str(tmp_path / "ws")]) == 0
    assert (tmp_path / "ws" / "pipe.py").is_file()
    assert f"kata grade pipe --workspace {tmp_path / 'ws'}" in capsys.readouterr().out


def test_grading_a_missing_workspace_file_is_one_line_without_traceback(kata_home):
    proc = run_kata("grade", "pipe", home=kata_home)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == (
        f"kata: {kata_home / 'workspace' / 'pipe.py'}: no such file (`kata start pipe` creates it from the starter)\n"
    )


def test_grade_solution_json_passes(capsys):
    assert main(["grade", "pipe", "--solution", "--json", "--no-perf"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == "pass" and result["schema"] == 2
    assert [t["status"] for t in result["tasks"]] == ["pass", "pass", "pass", "skipped"]


def test_grade_starter_fails_with_exit_1(kata_home, capsys):
    main(["start", "pipe"])
    capsys.readouterr()
    assert main(["grade", "pipe", "--task", "1"]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] task 1" in out and "not implemented" in out and "not selected" in out


def test_grade_all_grades_only_the_katas_started(kata_home, capsys):
    work = kata_home / "workspace" / "pipe.py"
    work.parent.mkdir(parents=True)
    work.write_text((ROOT / "solutions" / "pipe.py").read_text())
    assert main(["grade", "--all", "--no-perf", "--task", "1"]) == 0
    out = capsys.readouterr().out
    assert "kata pipe:" in out and out.count("PASS: 1/1 tasks (3 skipped)") == 1
    for other in set(kata_ids()) - {"pipe"}:
        assert f"kata {other}: not started (`kata start {other}`)" in out


def test_grade_all_solutions(capsys):
    assert main(["grade", "--all", "--solution", "--no-perf", "--task", "1"]) == 0
    out = capsys.readouterr().out
    assert out.count("PASS:") == len(kata_ids())


def test_hints_are_revealed_one_by_one_and_remembered(capsys):
    hints = PIPE.hints()
    assert main(["hint", "pipe"]) == 0
    assert f"Hint 1/{len(hints)}" in capsys.readouterr().out
    assert main(["hint", "pipe"]) == 0
    out = capsys.readouterr().out
    assert f"Hint 2/{len(hints)}" in out and hints[1][:40] in out
    assert main(["hint", "pipe", "--all"]) == 0
    out = capsys.readouterr().out
    assert "Hint 1/" in out and "Hint 2/" in out and "Hint 3/" not in out


def test_solution_opens_only_after_a_pass_of_your_own_file(kata_home, capsys):
    assert main(["solution", "pipe"]) == 2
    assert "opens once `kata grade pipe` passes" in capsys.readouterr().err
    assert main(["grade", "pipe", "--solution", "--no-perf", "--task", "1"]) == 0
    assert main(["solution", "pipe"]) == 2, "grading the reference must not unlock it"
    assert main(["solution", "pipe", "--force"]) == 0
    assert capsys.readouterr().out.endswith((ROOT / "solutions" / "pipe.py").read_text())

    work = kata_home / "workspace" / "pipe.py"
    work.parent.mkdir(parents=True)
    work.write_text((ROOT / "solutions" / "pipe.py").read_text())
    assert main(["grade", "pipe", "--no-perf"]) == 0
    assert main(["solution", "pipe"]) == 0


def test_a_damaged_progress_store_stops_with_one_line_and_is_left_untouched(kata_home):
    kata_home.mkdir()
    damaged = kata_home / "progress.db"
    garbage = b"this is not a database\x00" * 100
    damaged.write_bytes(garbage)
    for argv in (["list"], ["hint", "pipe"], ["grade", "pipe", "--solution", "--task", "1"]):
        proc = run_kata(*argv, home=kata_home)
        if argv[0] == "grade":
            assert proc.returncode == 0, "grading the reference does not need the store"
            continue
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("kata: ") and proc.stderr.count("\n") == 1, proc.stderr
        assert "Traceback" not in proc.stderr
    assert damaged.read_bytes() == garbage


def test_no_command_opens_the_front_door(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "kata start <kata>" in out and "pipe" in out
