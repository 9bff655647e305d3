"""`kata questions check|stats` as a learner or author runs them: exit codes
0 clean / 1 problems / 2 bad usage, one `file:line: message` per problem."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kata.cli import main

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "questions"


def test_check_shipped_bank_exits_0(capsys):
    assert main(["questions", "check"]) == 0
    out = capsys.readouterr().out
    assert out.endswith(": no problems\n") and out.split()[1] == "questions", out


def test_check_broken_bank_exits_1_with_file_line(tmp_path, capsys):
    bank = tmp_path / "bank"
    shutil.copytree(FIXTURES / "valid", bank)
    shutil.copy(FIXTURES / "broken" / "duplicate-id.yaml", bank / "pipes.yaml")
    assert main(["questions", "check", str(bank), "--katas", "pipe"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("pipes.yaml:12: duplicate id 'pipes-tf' (first at pipes.yaml:3)")
    assert lines[-1].startswith("1 problem in ")


def test_malformed_yaml_is_one_line_without_traceback(tmp_path):
    """Run the real command in a subprocess: nothing may escape as a traceback."""
    bank = tmp_path / "bank"
    shutil.copytree(FIXTURES / "valid", bank)
    shutil.copy(FIXTURES / "broken" / "malformed-yaml.yaml", bank / "pipes.yaml")
    proc = subprocess.run(
        [sys.executable, "-m", "kata.cli", "questions", "check", str(bank), "--katas", "pipe"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert f"{bank / 'pipes.yaml'}:6: malformed YAML" in proc.stdout


@pytest.mark.parametrize(
    "argv",
    [["questions"], ["questions", "check", "/nonexistent/bank"], ["questions", "check", "--bogus"]],
    ids=["no-subcommand", "missing-directory", "unknown-option"],
)
def test_bad_usage_exits_2(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exit:  # argparse's own usage errors
        code = exit.code
    assert code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_stats_counts_topics_kinds_and_difficulty(capsys):
    assert main(["questions", "stats"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("topic"))
    assert header.split() == [
        "topic",
        "total",
        "choice",
        "multi",
        "t/f",
        "short",
        "order",
        "code",
        "design",
        "d1",
        "d2",
        "d3",
    ]
    assert any(line.split()[0] == "all" for line in out.splitlines() if line.strip())
    assert "right choice strictly the longest:" in out and "within bounds: yes" in out


def test_stats_json(capsys):
    assert main(["questions", "stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["total"] == sum(t["total"] for t in stats["topics"].values())
    assert stats["code_questions"] == stats["kinds"]["code"] >= 20
    assert sum(stats["difficulty"].values()) == stats["total"]


@pytest.mark.parametrize(
    ("original", "changed", "reported"),
    [
        ('print("hi")', 'print("bye")', "pipes.yaml:75: pipes-code: stdout differs"),
        ("print(os.read(r, 10))", "print(os.read(r, 10), 'extra')", "pipes.yaml:95: pipes-proven: stdout differs"),
    ],
    ids=["code-question", "proof"],
)
def test_check_run_catches_a_program_that_does_not_do_what_it_says(tmp_path, capsys, original, changed, reported):
    """The static check trusts `expect`; --run executes code questions and proofs and catches the lie."""
    bank = tmp_path / "bank"
    shutil.copytree(FIXTURES / "valid", bank)
    pipes = bank / "pipes.yaml"
    pipes.write_text(pipes.read_text().replace(original, changed))
    assert main(["questions", "check", str(bank), "--katas", "pipe"]) == 0
    assert main(["questions", "check", str(bank), "--katas", "pipe", "--run"]) == 1
    assert reported in capsys.readouterr().out


def test_stats_json_reports_the_cue_figures_within_bounds(capsys):
    """The issue's done-when figures: >= 225 questions, >= 20 design, the cues in bounds."""
    assert main(["questions", "stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    cues = stats["cues"]
    assert stats["total"] >= 225 and stats["kinds"]["design"] >= 20 and stats["proofs"] >= 10
    assert cues["within_bounds"] is True
    assert cues["longest_correct"]["count"] <= 0.30 * cues["longest_correct"]["of"]
    assert 0.40 <= cues["true_answers"]["count"] / cues["true_answers"]["of"] <= 0.60


def test_stats_reports_the_claims(capsys):
    assert main(["questions", "stats", "--json"]) == 0
    claims = json.loads(capsys.readouterr().out)["claims"]
    assert claims["total"] >= 20 and claims["verdicts"]["imprecise"] > 0
