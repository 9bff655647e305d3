"""`kata questions check` finds each kind of problem at the right file and line.

Each fixture in fixtures/questions/broken/ replaces one file of the valid bank
in fixtures/questions/valid/ and says, in its header, which file it replaces and
the one `line: message` it must produce. The valid bank passes, so every check
is proven both ways.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from kata.quiz.lint import check_bank, count_sentences

FIXTURES = Path(__file__).parent / "fixtures" / "questions"
BROKEN = sorted((FIXTURES / "broken").glob("*.yaml"))
HEADER = re.compile(r"\A# replaces: (?P<target>\S+)\n# expect: (?P<line>\d+): (?P<message>.+)\n")


def broken_bank(fixture: Path, tmp_path: Path) -> tuple[Path, str, str]:
    """A copy of the valid bank with one file replaced by the fixture; returns
    (bank, expected "file:line: " prefix, expected message fragment)."""
    text = fixture.read_text()
    header = HEADER.match(text)
    assert header, f"{fixture.name}: needs '# replaces: FILE' and '# expect: LINE: MESSAGE' on lines 1-2"
    bank = tmp_path / "bank"
    shutil.copytree(FIXTURES / "valid", bank)
    (bank / header["target"]).write_text(text)
    return bank, f"{header['target']}:{header['line']}: ", header["message"]


def test_valid_bank_is_clean():
    assert check_bank(FIXTURES / "valid", kata_ids=["pipe"]) == []


def test_there_is_a_fixture_per_check():
    """Guard against the fixture folder silently going missing or shrinking."""
    assert len(BROKEN) >= 30


@pytest.mark.parametrize("fixture", BROKEN, ids=lambda p: p.stem)
def test_broken_fixture_gives_its_one_problem(fixture, tmp_path):
    bank, where, message = broken_bank(fixture, tmp_path)
    problems = [p.format(bank) for p in check_bank(bank, kata_ids=["pipe"])]
    assert len(problems) == 1, problems
    assert problems[0].startswith(where) and message in problems[0], problems[0]


def test_every_problem_is_reported_not_just_the_first(tmp_path):
    """Two broken files at once: both problems, sorted by file and line."""
    bank, _, _ = broken_bank(FIXTURES / "broken" / "answer-not-a-choice.yaml", tmp_path)
    shutil.copy(FIXTURES / "broken" / "claims-uncovered.yaml", bank / "claims.yaml")
    problems = [p.format(bank) for p in check_bank(bank, kata_ids=["pipe"])]
    assert [p.split(":")[0] for p in problems] == ["claims.yaml", "pipes.yaml"]


def test_unknown_katas_are_checked_against_the_catalog_by_default():
    """Without kata_ids the catalog decides: `pipe` exists in the shipped catalog."""
    assert check_bank(FIXTURES / "valid") == []


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("One. Two.", 2),
        ("Writes up to PIPE_BUF (e.g. 4096 bytes) are atomic. Since Linux 2.6.11 it holds.", 2),
        ("It returns 0, i.e. EOF! Then what? It stops.", 3),
        ("No final stop", 1),
    ],
)
def test_count_sentences(text, sentences):
    """Abbreviations and version numbers do not end a sentence."""
    assert count_sentences(text) == sentences
