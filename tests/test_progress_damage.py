"""One policy for a progress store that cannot be written: damaged pages, a damaged
table, another program's database, a read-only folder.

- verbs that only read (list, stats, next, solution, progress export) work from
  what can be read and say, in one line on stderr, what is wrong;
- verbs that record (grade of your file, hint, quiz, watch, the app) refuse with
  one line before doing anything;
- `kata progress repair` asks, keeps a copy of the file as it was and rebuilds
  the store from what could be read;
- the file itself is never changed by anything but a confirmed repair.

Damage is real: pages cut off, a leaf page of one table overwritten, a read-only
bind mount (as root) or a chmod'ed folder (as anyone else).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from katalib import ROOT

from kata.cli import main
from kata.progress import ProgressError, ProgressStore, Review

REVIEWS = 3000  # enough rows for the reviews table to span many leaf pages


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("KATA_HOME", str(home))
    return home


def fake_result(kata="pipe", status="pass"):
    return SimpleNamespace(
        kata=kata,
        status=status,
        duration=1.0,
        implementation="/ws/pipe.py",
        tasks=[SimpleNamespace(status=status, perf=False)],
        perf=[],
    )


def filled_store(home: Path) -> Path:
    """A store with an attempt, a hint and REVIEWS reviews, folded into one file (no WAL)."""
    with ProgressStore.open() as store:
        store.record_attempt(fake_result())
        store.reveal_hint("pipe", 0)
        rows = [(f"q{i}", "pipes", 1.0 + i, 3, 1, "2", 4.0, "drill") for i in range(REVIEWS)]
        with store._write() as conn:
            conn.executemany(
                "INSERT INTO reviews (question, topic, at, rating, correct, answer, seconds, mode)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
    path = home / "progress.db"
    fold_wal(path)
    return path


def fold_wal(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()


def corrupt_a_leaf(path: Path, table: str) -> None:
    """Overwrite the second leaf page of `table`'s b-tree: the rows on it are lost, the others readable."""
    conn = sqlite3.connect(path)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    conn.close()
    data = bytearray(path.read_bytes())
    page = data[(root - 1) * page_size : root * page_size]
    assert page[0] == 0x05, "the table must be big enough to have an interior root page"
    first_cell = int.from_bytes(page[12:14], "big")
    second_cell = int.from_bytes(page[14:16], "big")
    assert first_cell and second_cell
    child = int.from_bytes(page[second_cell : second_cell + 4], "big")
    start = (child - 1) * page_size
    data[start : start + page_size] = b"\xa5" * page_size
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def foreign(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE recipes (name TEXT)")
    conn.execute("INSERT INTO recipes VALUES ('soup')")
    conn.commit()
    conn.close()


# --- the store ------------------------------------------------------------------------


def test_a_damaged_table_is_read_around_and_never_written(home):
    path = filled_store(home)
    corrupt_a_leaf(path, "reviews")
    before = path.read_bytes()
    with pytest.raises(ProgressError) as refused:
        ProgressStore.open()
    assert "damaged" in str(refused.value) and "kata progress repair" in str(refused.value)
    with ProgressStore.open_readable() as store:
        assert store.problem is not None and "damaged" in store.problem
        assert store.has_passed("pipe") and store.hints_revealed("pipe") == 1
        readable = store.review_count()
        assert REVIEWS // 2 < readable < REVIEWS, readable
        questions = {r.question for r in store.reviews()}
        assert f"q{REVIEWS - 1}" in questions, "rows after the damaged page are read too"
        with pytest.raises(ProgressError, match="nothing was recorded"):
            store.reveal_hint("pipe", 1)
    assert path.read_bytes() == before


def test_cut_off_pages_are_read_as_far_as_they_go(home):
    path = filled_store(home)
    truncate(path)
    with ProgressStore.open_readable() as store:
        assert "damaged" in store.problem
        assert 0 < store.review_count() < REVIEWS


def test_a_foreign_database_reads_as_empty_and_is_kept(home):
    home.mkdir(parents=True)
    path = home / "progress.db"
    foreign(path)
    before = path.read_bytes()
    with ProgressStore.open_readable() as store:
        assert "not an ipc-kata progress store" in store.problem
        assert sum(store.counts().values()) == 0
    assert path.read_bytes() == before


def test_a_missing_store_reads_as_empty_without_creating_it(home):
    with ProgressStore.open_readable() as store:
        assert store.problem is None and store.counts()["attempts"] == 0
    assert not (home / "progress.db").exists()


def test_a_healthy_store_reads_as_itself(home):
    filled_store(home)
    with ProgressStore.open_readable() as store:
        assert store.problem is None and store.review_count() == REVIEWS


# --- every verb, one policy -------------------------------------------------------------


@pytest.mark.parametrize("damage", [corrupt_a_leaf, truncate, foreign], ids=["leaf", "truncated", "foreign"])
def test_read_verbs_work_and_recording_verbs_refuse(home, capsys, damage):
    if damage is foreign:
        home.mkdir(parents=True)
        path = home / "progress.db"
        foreign(path)
    else:
        path = filled_store(home)
        damage(path, "reviews") if damage is corrupt_a_leaf else damage(path)
    before = path.read_bytes()
    work = home / "workspace" / "pipe.py"
    work.parent.mkdir(parents=True)
    work.write_text("raise SystemExit('must never be graded')\n")
    for argv in (["list"], ["stats"], ["progress", "export"], ["next"]):
        assert main(argv) == 0, argv
        err = capsys.readouterr().err
        assert err.startswith("kata: warning: ") and err.count("\n") == 1, (argv, err)
        assert "kata progress repair" in err
    for argv in (["hint", "pipe"], ["grade", "pipe"], ["quiz"], ["watch", "pipe"]):
        assert main(argv) == 2, argv
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err.count("\n") == 1, (argv, captured)
        assert "nothing was recorded" in captured.err and "kata progress repair" in captured.err
    assert path.read_bytes() == before


def test_export_saves_what_can_be_read_and_says_what_could_not(home, capsys):
    path = filled_store(home)
    corrupt_a_leaf(path, "reviews")
    assert main(["progress", "export"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["attempts"]) == 1 and len(data["hints"]) == 1
    assert REVIEWS // 2 < len(data["reviews"]) < REVIEWS
    assert data["unreadable"] and "reviews" in data["unreadable"][0]


# --- repair -----------------------------------------------------------------------------


def test_repair_asks_keeps_the_damaged_file_and_rebuilds(home, monkeypatch, capsys):
    path = filled_store(home)
    corrupt_a_leaf(path, "reviews")
    damaged = path.read_bytes()
    monkeypatch.setattr("sys.stdin", io.StringIO("no\n"))
    assert main(["progress", "repair"]) == 1
    out = capsys.readouterr().out
    assert "1 attempt," in out and "could not be read" in out and "nothing was changed" in out
    assert path.read_bytes() == damaged

    monkeypatch.setattr("sys.stdin", io.StringIO("yes\n"))
    assert main(["progress", "repair"]) == 0
    out = capsys.readouterr().out
    [kept] = home.glob("progress.db.*.damaged")
    assert kept.read_bytes() == damaged and str(kept) in out
    with ProgressStore.open() as store:  # healthy again, with everything that could be read
        assert store.has_passed("pipe") and store.hints_revealed("pipe") == 1
        assert REVIEWS // 2 < store.review_count() < REVIEWS
        store.reveal_hint("pipe", 1)
    assert main(["progress", "repair", "--yes"]) == 0
    assert "Nothing to repair" in capsys.readouterr().out
    assert len(list(home.glob("progress.db.*.damaged"))) == 1


def test_repair_moves_a_foreign_database_aside(home, capsys):
    home.mkdir(parents=True)
    path = home / "progress.db"
    foreign(path)
    theirs = path.read_bytes()
    assert main(["progress", "repair", "--yes"]) == 0
    [kept] = home.glob("progress.db.*.damaged")
    assert kept.read_bytes() == theirs
    with ProgressStore.open() as store:
        assert sum(store.counts().values()) == 0


# --- a read-only KATA_HOME ----------------------------------------------------------------


def run_read_only(home: Path, *argv: str) -> subprocess.CompletedProcess:
    """Run `kata ARGV` with `home` read-only for it: a read-only bind mount in a
    private mount namespace as root (root ignores file modes), the folder's mode otherwise."""
    env = {"KATA_HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(home.parent)}
    kata = [sys.executable, "-m", "kata.cli", *argv]
    if os.geteuid() == 0:
        if not shutil.which("unshare"):
            pytest.skip("needs unshare(1) to make a read-only folder as root")
        script = 'mount --bind -o ro "$0" "$0" && exec "$@"'
        command = ["unshare", "-m", "sh", "-c", script, str(home), *kata]
    else:
        command = kata
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)


@pytest.fixture
def read_only_home(home):
    filled_store(home)
    with ProgressStore.open() as store:  # a WAL and its index next to the file, as a live store has
        store.reveal_hint("pipe", 1)
    if os.geteuid() != 0:
        home.chmod(0o555)
    yield home
    home.chmod(0o755)


def test_read_only_home_reads_and_refuses_to_record(read_only_home):
    probe = run_read_only(read_only_home, "progress", "repair", "--yes")
    if probe.returncode == 2 and "mount" in probe.stderr:
        pytest.skip(f"cannot make a read-only mount here: {probe.stderr.strip()}")
    path = read_only_home / "progress.db"
    before = path.read_bytes()
    assert probe.returncode == 2 and "read-only" in probe.stderr
    for argv in (["list"], ["stats"], ["progress", "export"]):
        proc = run_read_only(read_only_home, *argv)
        assert proc.returncode == 0, (argv, proc.stderr)
        assert "unable to open" not in proc.stderr
        assert proc.stderr.startswith("kata: warning: ") and "read-only" in proc.stderr, (argv, proc.stderr)
    export = json.loads(run_read_only(read_only_home, "progress", "export").stdout)
    assert len(export["hints"]) == 2 and len(export["reviews"]) == REVIEWS
    for argv in (["hint", "pipe"], ["quiz"]):
        proc = run_read_only(read_only_home, *argv)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, (argv, proc.stderr)
        assert "read-only" in proc.stderr and "nothing was recorded" in proc.stderr
    assert path.read_bytes() == before


def test_undo_and_override_are_recorded_as_such(home):
    with ProgressStore.open() as store:
        first = store.record_review(Review("q1", "pipes", False, 1, answer="x"), card={"n": 1}, due=None)
        store.undo_review(first, before=None)
        assert store.reviews() == [] and store.card("q1") is None
        second = store.record_review(Review("q1", "pipes", False, 1, answer="fifo"), card={"n": 2}, due=None)
        store.override_review(second, rating=3, card={"n": 3}, due=None)
        [review] = store.reviews()
        assert review.correct and review.rating == 3 and review.overridden
        assert store.card("q1").card == {"n": 3}
        corrections = store.export()["corrections"]
        assert [c["kind"] for c in corrections] == ["undo", "override"]
        assert corrections[0]["review"]["answer"] == "x" and corrections[1]["review"]["answer"] == "fifo"
