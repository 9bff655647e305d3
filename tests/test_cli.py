"""The `kata` command line: the learner's loop, exit codes, and one-line errors.

Most tests call `kata.cli.main` in-process with $KATA_HOME in tmp_path; the ones
about what a terminal sees (no traceback, the console entry point) run it as a
real process.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from katalib import ROOT
from zoolib import stuck_learner

from grader.catalog import kata_ids, load_kata
from grader.report import SCHEMA_VERSION
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
    assert result["status"] == "pass" and result["schema"] == SCHEMA_VERSION
    assert [t["status"] for t in result["tasks"]] == ["pass", "pass", "pass", "skipped"]


def test_grade_starter_fails_with_exit_1_in_a_report_as_wide_as_the_terminal(kata_home, capsys, monkeypatch):
    main(["start", "pipe"])
    capsys.readouterr()
    monkeypatch.setenv("COLUMNS", "64")  # what shutil.get_terminal_size reads first
    assert main(["grade", "pipe", "--task", "1"]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] task 1" in out and "not implemented" in out and "not selected" in out
    assert max(len(line) for line in out.splitlines() if str(kata_home) not in line) <= 64, out


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


def test_a_damaged_progress_store_is_read_around_written_never_and_left_untouched(kata_home):
    kata_home.mkdir()
    damaged = kata_home / "progress.db"
    garbage = b"this is not a database\x00" * 100
    damaged.write_bytes(garbage)
    listing = run_kata("list", home=kata_home)
    assert listing.returncode == 0 and "pipe" in listing.stdout
    assert listing.stderr.startswith("kata: warning: ") and listing.stderr.count("\n") == 1
    hint = run_kata("hint", "pipe", home=kata_home)
    assert hint.returncode == 2 and hint.stdout == ""
    assert hint.stderr.startswith("kata: ") and hint.stderr.count("\n") == 1 and "Traceback" not in hint.stderr
    reference = run_kata("grade", "pipe", "--solution", "--task", "1", home=kata_home)
    assert reference.returncode == 0, "grading the reference does not need the store"
    assert damaged.read_bytes() == garbage


def test_no_command_opens_the_front_door(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "kata start <kata>" in out and "pipe" in out


# --- issue 17: the record is what the learner did -------------------------------------------


def start_with(kata_home, source) -> None:
    work = kata_home / "workspace" / "pipe.py"
    work.parent.mkdir(parents=True, exist_ok=True)
    work.write_text(source.read_text())


def recorded_attempts(kata_home) -> list:
    from kata.progress import ProgressStore

    with ProgressStore.open() as store:
        return store.attempts()


def test_grading_a_scratch_file_is_not_an_attempt(kata_home, tmp_path, capsys):
    scratch = tmp_path / "scratch.py"
    scratch.write_text(PIPE.solution_path.read_text())
    assert main(["grade", "pipe", "--impl", str(scratch), "--no-perf"]) == 0
    out = capsys.readouterr().out
    assert "not recorded" in out and "--impl" in out
    assert recorded_attempts(kata_home) == []
    assert main(["solution", "pipe"]) == 2, "a pass of a scratch file must not unlock the solution"
    start_with(kata_home, scratch)
    work = kata_home / "workspace" / "pipe.py"
    assert main(["grade", "pipe", "--impl", str(work), "--no-perf"]) == 0, "--impl naming your own file counts"
    assert [a.implementation for a in recorded_attempts(kata_home)] == [str(work)]


def test_missing_impl_file_does_not_suggest_kata_start(tmp_path, capsys):
    assert main(["grade", "pipe", "--impl", str(tmp_path / "nope.py")]) == 2
    err = capsys.readouterr().err
    assert err == f"kata: {tmp_path / 'nope.py'}: no such file\n"


def test_totals_without_perf_read_the_same_in_grade_and_watch(kata_home, capsys):
    from grader import grade
    from kata.commands.watch import short_report

    start_with(kata_home, PIPE.solution_path)
    assert main(["grade", "pipe", "--no-perf"]) == 0
    out = capsys.readouterr().out
    result = grade("pipe", PIPE.solution_path, perf=False)
    watched = short_report(result).splitlines()[0]
    graded = len(result.tests)
    assert watched.startswith(f"PASS: 3/3 tasks (1 skipped), {graded}/{graded} tests")
    assert out.rstrip().splitlines()[-1].split(" in ")[0] == watched.split(" in ")[0]


def test_grade_k_runs_only_the_tests_named(kata_home, capsys):
    start_with(kata_home, PIPE.solution_path)
    assert main(["grade", "pipe", "-k", "test_child_to_parent_small", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [t["name"] for t in result["tests"]] == ["test_child_to_parent_small"]
    assert main(["grade", "pipe", "-k", "round_trip", "--json"]) == 0
    names = [t["name"] for t in json.loads(capsys.readouterr().out)["tests"]]
    assert names and all("round_trip" in n for n in names)
    [second, first] = recorded_attempts(kata_home)
    assert not first.complete and not second.complete
    assert main(["solution", "pipe"]) == 2, "some tests passing is not a pass of the kata"


def test_grade_k_unknown_test_suggests_the_close_one(kata_home, capsys):
    start_with(kata_home, PIPE.starter_path)
    assert main(["grade", "pipe", "-k", "test_child_to_parent_smal1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "kata: no test of pipe matches 'test_child_to_parent_smal1'; did you mean test_child_to_parent_small?"
    )
    assert err.count("\n") == 1
    assert recorded_attempts(kata_home) == []


def test_test_names_are_read_from_every_suite():
    import yaml

    from kata.testnames import suite_test_names

    for kata_id in kata_ids():
        names = suite_test_names(load_kata(kata_id))
        assert len(names) == len(set(names)) > 3, kata_id
        mutants = ROOT / "tests" / "mutants" / kata_id / "mutants.yaml"
        if mutants.exists():
            for mutant in yaml.safe_load(mutants.read_text()) or []:
                for name in mutant.get("tests") or []:
                    assert name in names, (kata_id, name)


@pytest.mark.parametrize(
    ("argv", "suggestion"),
    [
        (["grade", "pip"], "did you mean pipe?"),
        (["show", "sockt"], "did you mean socket?"),
        (["hint", "fifi"], "did you mean fifo?"),
        (["quiz", "--topic", "pipe"], "did you mean pipes?"),
    ],
)
def test_a_mistyped_name_gets_a_suggestion(capsys, argv, suggestion):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert suggestion in err and err.startswith("kata: ") and err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "suggestion"),
    [(["grad", "pipe"], "did you mean grade?"), (["progress", "exprot"], "did you mean export?")],
)
def test_a_mistyped_verb_gets_a_suggestion_in_one_line(capsys, argv, suggestion):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert suggestion in err and err.count("\n") == 1, err


def test_grade_all_names_the_katas_not_started_once(kata_home, capsys):
    start_with(kata_home, PIPE.solution_path)
    assert main(["grade", "--all", "--no-perf", "--task", "1"]) == 0
    out = capsys.readouterr().out
    others = [k for k in kata_ids() if k != "pipe"]  # catalog order
    assert "kata pipe:" in out and out.count("PASS: 1/1 tasks (3 skipped)") == 1
    assert "not started (" not in out, "the katas not started are not listed one by one"
    assert out.rstrip().splitlines()[-1] == f"Not graded, not started: {', '.join(others)}."


def test_stats_and_reset_count_in_words(kata_home, capsys, monkeypatch):
    import io

    start_with(kata_home, PIPE.solution_path)
    assert main(["grade", "pipe", "--no-perf"]) == 0
    assert main(["stats"]) == 0
    out = capsys.readouterr().out
    assert "1 attempt" in out and "1 attempts" not in out
    monkeypatch.setattr("sys.stdin", io.StringIO("no\n"))
    assert main(["progress", "reset"]) == 1
    assert "(1 attempt)" in capsys.readouterr().out


def test_next_suggests_the_kata_to_work_on_and_a_quiz(kata_home, capsys):
    assert main(["next"]) == 0
    out = capsys.readouterr().out
    assert "Next kata: pipe" in out and "`kata start pipe`" in out
    assert "Quiz: topic pipes, the ideas behind the pipe kata: `kata quiz --topic pipes`" in out
    start_with(kata_home, PIPE.starter_path)
    assert main(["grade", "pipe", "--task", "1"]) == 1
    capsys.readouterr()
    assert main(["next"]) == 0
    out = capsys.readouterr().out
    assert "Next kata: pipe (started" in out and "`kata grade pipe`" in out
    start_with(kata_home, PIPE.solution_path)
    assert main(["grade", "pipe", "--no-perf"]) == 0
    capsys.readouterr()
    assert main(["next"]) == 0
    out = capsys.readouterr().out
    assert "Next kata: " in out and "Next kata: pipe" not in out


def test_solution_diff_after_a_pass_side_by_side(kata_home, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    start_with(kata_home, PIPE.starter_path)
    assert main(["solution", "pipe", "--diff"]) == 2
    assert "opens once" in capsys.readouterr().err
    work = kata_home / "workspace" / "pipe.py"
    work.write_text(
        "# my version, with a comment long enough to wrap in a column of forty-eight\n" + PIPE.solution_path.read_text()
    )
    assert main(["grade", "pipe", "--no-perf"]) == 0
    capsys.readouterr()
    assert main(["solution", "pipe", "--diff"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["your", "file", "reference"] or (
        lines[0].startswith("your file") and "reference" in lines[0]
    )
    assert all(len(line) <= 100 for line in lines)
    side = (100 - 3) // 2  # two columns and the mark between them
    only_mine = [line for line in lines if line[side : side + 2] == " <"]
    assert only_mine and only_mine[0].startswith("# my version")
    assert "forty-eight" in lines[3], "a long line goes on in its own column"


# --- a grade stopped from outside ------------------------------------------------------------

AS_FROM_A_TERMINAL = (
    "import os, signal, sys; "
    "[signal.signal(sig, signal.SIG_DFL) for sig in (signal.SIGHUP, signal.SIGTERM)]; "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["kill", "terminal-closed"])
def test_a_grade_stopped_from_outside_cleans_up_like_ctrl_c(kata_home, tmp_path, sig):
    """`kill` (SIGTERM) or a closed terminal (SIGHUP) ended kata at once: the learner's segment and
    the run folder stayed behind. Now both stop the grade as Ctrl+C does."""
    segment, pids = f"/kata_cli_{secrets.token_hex(4)}", tmp_path / "pids"
    impl = tmp_path / "stuck.py"
    impl.write_text(stuck_learner(segment, pids))
    runtime = Path(tempfile.mkdtemp(prefix="kr-", dir="/tmp"))  # short: run folders go in it, not in /tmp's
    env = {**os.environ, "KATA_HOME": str(kata_home), "XDG_RUNTIME_DIR": str(runtime)}
    # as a terminal starts kata: SIGHUP and SIGTERM at their defaults, whatever ran this suite (nohup ignores SIGHUP)
    kata = ["-m", "kata.cli", "grade", "pipe", "--impl", str(impl), "--no-perf"]
    command = [sys.executable, "-c", AS_FROM_A_TERMINAL, *kata]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 90
        while not pids.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # until the learner's code runs, holding a segment and a child
        assert pids.exists(), f"the learner's code never ran: {proc.communicate(timeout=60)}"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130 and "kata: interrupted" in err, err
        assert not Path("/dev/shm" + segment).exists(), "the learner's segment outlived the grade"
        assert not any(alive(int(pid)) for pid in pids.read_text().split()), "a learner's process outlived it"
        assert list((runtime / "ipc-kata").iterdir()) == [], "a run folder was left behind"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        Path("/dev/shm" + segment).unlink(missing_ok=True)
        shutil.rmtree(runtime)
