"""The progress store: records, migrations, concurrent writers, damaged and foreign files."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from kata.progress import SCHEMA_VERSION, ProgressError, ProgressStore, Review

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("KATA_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def fake_result(kata="pipe", status="pass", tasks=("pass", "pass"), perf_ratio=0.8, perf_task_skipped=False):
    task_list = [SimpleNamespace(status=s, perf=False) for s in tasks]
    if perf_task_skipped:
        task_list.append(SimpleNamespace(status="skipped", perf=True))
    perf = [SimpleNamespace(name="throughput", value=120.0, unit="MB/s", ratio=perf_ratio, threshold=3.0, passed=True)]
    return SimpleNamespace(
        kata=kata, status=status, duration=2.5, implementation="/ws/pipe.py", tasks=task_list, perf=perf
    )


def test_open_creates_folders_and_uses_wal(home):
    with ProgressStore.open() as store:
        assert store.path == home / "progress.db"
        assert store.schema_version == SCHEMA_VERSION
    conn = sqlite3.connect(home / "progress.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_attempts_newest_first_with_what_the_tui_needs():
    with ProgressStore.open() as store:
        store.record_attempt(fake_result(status="fail", tasks=("pass", "fail")), at=T0)
        store.record_attempt(fake_result(), at=T0 + timedelta(hours=1))
        store.record_attempt(fake_result(kata="fifo", status="fail"), at=T0 + timedelta(hours=2))
        pipe = store.attempts("pipe")
        assert [a.status for a in pipe] == ["pass", "fail"]
        assert (pipe[1].tasks_passed, pipe[1].tasks_total) == (1, 2)
        assert pipe[0].perf[0].ratio == 0.8 and pipe[0].perf[0].name == "throughput"
        assert pipe[0].duration == 2.5 and pipe[0].implementation == "/ws/pipe.py"
        assert pipe[0].at == T0 + timedelta(hours=1)
        assert [a.kata for a in store.attempts(limit=2)] == ["fifo", "pipe"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        pipe[0].status = "fail"  # frozen


def figure(name, ratio, threshold=0.5, unit="MB/s"):
    return SimpleNamespace(
        name=name, value=ratio * 100, unit=unit, ratio=ratio, threshold=threshold, passed=ratio >= threshold
    )


def test_perf_history_has_every_attempts_ratio_and_the_best_so_far_per_metric():
    def attempt(at, *figures, kata="pipe"):
        result = fake_result(kata=kata)
        result.perf = list(figures)
        store.record_attempt(result, at=T0 + timedelta(minutes=at))

    with ProgressStore.open() as store:
        assert store.perf_history("pipe") == []
        attempt(10, figure("mbps", 0.3), figure("ops", 2.0, threshold=1.0, unit="op/s"))
        attempt(30, figure("mbps", 0.9))  # --no-perf on ops, say: no point for it
        attempt(20, figure("mbps", 1.2), figure("mbps", 0.7))  # recorded late, measured twice: its best counts
        attempt(40)  # no perf figures at all
        attempt(50, figure("mbps", 0.4, threshold=0.6), figure("ops", 3.0, threshold=1.0, unit="op/s"))
        attempt(25, figure("mbps", 9.0), kata="fifo")
        mbps, ops = store.perf_history("pipe")
    assert (mbps.name, mbps.unit, ops.name, ops.unit) == ("mbps", "MB/s", "ops", "op/s")
    assert [p.ratio for p in mbps.points] == [0.3, 1.2, 0.9, 0.4]  # oldest first, by when measured
    assert [p.best for p in mbps.points] == [0.3, 1.2, 1.2, 1.2]
    assert [p.passed for p in mbps.points] == [False, True, True, False]
    assert mbps.points[0].at == T0 + timedelta(minutes=10)
    assert (mbps.best, mbps.threshold) == (1.2, 0.6)  # the latest threshold
    assert [(p.ratio, p.best) for p in ops.points] == [(2.0, 2.0), (3.0, 3.0)]


def test_has_passed_needs_a_full_grade():
    with ProgressStore.open() as store:
        store.record_attempt(fake_result(status="fail"))
        assert not store.has_passed("pipe")
        # `kata grade pipe --task 1`: task 2 was not selected, so the kata is not passed yet
        store.record_attempt(fake_result(tasks=("pass", "skipped")))
        assert not store.has_passed("pipe")
        # --no-perf skips only the perf task: still a pass
        store.record_attempt(fake_result(perf_task_skipped=True))
        assert store.has_passed("pipe")
        assert not store.has_passed("fifo")


def test_hints_are_idempotent_and_survive_reopening(home):
    with ProgressStore.open() as store:
        assert store.hints_revealed("pipe") == 0
        store.reveal_hint("pipe", 0)
        store.reveal_hint("pipe", 0)
        store.reveal_hint("pipe", 1)
    with ProgressStore.open() as store:
        assert store.hints_revealed("pipe") == 2
        assert store.hints_revealed("fifo") == 0
        assert len(store.export()["hints"]) == 2


def test_reviews_cards_and_mistakes():
    with ProgressStore.open() as store:

        def answer(q, ok, hours):
            store.record_review(
                Review(q, "pipes", ok, 3 if ok else 1, at=T0 + timedelta(hours=hours)),
                card={"card_id": 1},
                due=T0 + timedelta(days=1, hours=hours),
            )

        answer("a", False, 0)
        answer("a", True, 1)
        answer("b", False, 2)
        answer("c", False, 3)
        answer("c", True, 4)
        answer("c", True, 5)  # right twice after the mistake: no longer a mistake
        answer("d", True, 6)
        assert store.mistakes(T0 - timedelta(days=1)) == ["b", "a"]
        assert store.mistakes(T0 + timedelta(hours=1)) == ["b"]  # a's mistake is older than the window
        assert store.card("a").due == T0 + timedelta(days=1, hours=1)
        assert set(store.cards()) == {"a", "b", "c", "d"}
        assert store.topic_accuracy() == {"pipes": (4, 7)}
        assert store.reviews_per_day() == {"2026-03-02": 7}
        assert store.new_cards_on(T0, T0 + timedelta(days=1)) == 4
        assert [r.question for r in store.reviews(limit=2)] == ["d", "c"]


def test_mock_results_are_stored():
    with ProgressStore.open() as store:
        store.record_mock(
            duration=600,
            score=0.75,
            correct=3,
            total=4,
            kata="pipe",
            kata_status="pass",
            details={"topics": {"pipes": [3, 4]}},
            at=T0,
        )
        [mock] = store.mocks()
        assert (mock.score, mock.kata_status, mock.details) == (0.75, "pass", {"topics": {"pipes": [3, 4]}})


# --- migrations ---------------------------------------------------------------------

VERSION_1 = """
CREATE TABLE attempts (id INTEGER PRIMARY KEY, kata TEXT NOT NULL, at REAL NOT NULL, status TEXT NOT NULL,
    tasks_passed INTEGER NOT NULL, tasks_total INTEGER NOT NULL, duration REAL NOT NULL);
CREATE INDEX attempts_kata_at ON attempts (kata, at);
CREATE TABLE hints (kata TEXT NOT NULL, idx INTEGER NOT NULL, at REAL NOT NULL, PRIMARY KEY (kata, idx));
CREATE TABLE reviews (id INTEGER PRIMARY KEY, question TEXT NOT NULL, at REAL NOT NULL, rating INTEGER NOT NULL,
    correct INTEGER NOT NULL, answer TEXT NOT NULL, seconds REAL NOT NULL);
CREATE INDEX reviews_question_at ON reviews (question, at);
CREATE TABLE cards (question TEXT PRIMARY KEY, due REAL NOT NULL, card TEXT NOT NULL);
INSERT INTO attempts VALUES (1, 'pipe', 1772442000.0, 'pass', 3, 3, 4.5);
INSERT INTO hints VALUES ('pipe', 0, 1772442000.0);
INSERT INTO reviews VALUES (1, 'pipe-eof', 1772442000.0, 3, 1, '2', 4.0);
INSERT INTO cards VALUES ('pipe-eof', 1772528400.0, '{"card_id": 7}');
PRAGMA application_id = 1262572609;
PRAGMA user_version = 1;
"""


@pytest.fixture
def version_1_file(home) -> Path:
    """A store as the first release wrote it (frozen here, independent of MIGRATIONS)."""
    home.mkdir(parents=True)
    path = home / "progress.db"
    conn = sqlite3.connect(path)
    conn.executescript(VERSION_1)
    conn.close()
    return path


def test_version_1_file_is_migrated_keeping_everything(version_1_file):
    with ProgressStore.open(version_1_file) as store:
        assert store.schema_version == SCHEMA_VERSION
        [attempt] = store.attempts()
        assert (attempt.kata, attempt.tasks_passed, attempt.implementation, attempt.perf) == ("pipe", 3, "", ())
        assert store.has_passed("pipe")
        assert store.hints_revealed("pipe") == 1
        assert store.card("pipe-eof").card == {"card_id": 7}
        assert store.reviews()[0].answer == "2"
        store.record_mock(duration=1, score=1, correct=1, total=1, details={})  # the new table exists
    with ProgressStore.open(version_1_file) as store:  # and reopening is a no-op
        assert store.counts() == {"attempts": 1, "hints": 1, "reviews": 1, "cards": 1, "mocks": 1, "corrections": 0}


# --- damaged and foreign files ------------------------------------------------------------


def _assert_refused(path: Path, words: str) -> None:
    before = path.read_bytes()
    siblings = sorted(p.name for p in path.parent.iterdir())
    with pytest.raises(ProgressError) as err:
        ProgressStore.open(path)
    message = str(err.value)
    assert words in message and "\n" not in message and str(path) in message
    assert path.read_bytes() == before, "the file must not be touched"
    assert sorted(p.name for p in path.parent.iterdir()) == siblings


@pytest.mark.parametrize("content", [b"this is my shopping list\n", b"\x00" * 4096, b"SQLite format 2\x00junk"])
def test_not_sqlite_is_refused_untouched(home, content):
    home.mkdir(parents=True)
    path = home / "progress.db"
    path.write_bytes(content)
    _assert_refused(path, "not an SQLite database")


def test_truncated_store_is_refused_untouched(home):
    with ProgressStore.open() as store:
        for i in range(300):
            store.reveal_hint(f"kata-{i}", 0)
    path = home / "progress.db"
    # Fold the WAL in and drop it, then cut the file in half.
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _assert_refused(path, "damaged")


def test_foreign_sqlite_database_is_refused_untouched(home):
    home.mkdir(parents=True)
    path = home / "progress.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE recipes (name TEXT)")
    conn.commit()
    conn.close()
    _assert_refused(path, "not an ipc-kata progress store")


def test_newer_schema_is_refused_untouched(home):
    with ProgressStore.open():
        pass
    path = home / "progress.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    _assert_refused(path, "newer ipc-kata")


def test_cli_reports_a_damaged_store_in_one_line(home, capsys):
    from kata.cli import main

    home.mkdir(parents=True)
    (home / "progress.db").write_text("garbage")
    assert main(["hint", "pipe"]) == 2  # a verb that records refuses
    err = capsys.readouterr().err
    assert err.startswith("kata: ") and err.count("\n") == 1 and "Traceback" not in err
    assert main(["progress", "export"]) == 0  # a verb that reads warns, then shows what it can
    captured = capsys.readouterr()
    assert captured.err.startswith("kata: warning: ") and captured.err.count("\n") == 1
    assert json.loads(captured.out)["unreadable"] == ["the file is not an SQLite database"]


# --- concurrent writers -------------------------------------------------------------------

WRITERS, WRITES = 8, 200


def _writer(path: str, n: int, start) -> None:
    start.wait()
    with ProgressStore.open(Path(path)) as store:
        for i in range(WRITES):
            if i % 2:
                store.record_review(Review(f"q{n}-{i}", "pipes", True, 3), card={"n": n}, due=None)
            else:
                store.record_attempt(fake_result(kata=f"k{n}"))


def test_eight_writers_lose_nothing(home):
    path = home / "progress.db"
    ProgressStore.open(path).close()
    ctx = multiprocessing.get_context("fork")
    start = ctx.Barrier(WRITERS)
    procs = [ctx.Process(target=_writer, args=(str(path), n, start)) for n in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * WRITERS
    with ProgressStore.open(path) as store:
        counts = store.counts()
    assert counts["attempts"] + counts["reviews"] == WRITERS * WRITES == 1600
    assert counts["reviews"] == counts["cards"] == 800


def test_concurrent_first_open_migrates_once(home):
    """Two processes creating the store at the same moment must not both migrate."""
    path = home / "progress.db"
    ctx = multiprocessing.get_context("fork")
    start = ctx.Barrier(4)
    procs = [ctx.Process(target=_open_and_hint, args=(str(path), n, start)) for n in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * 4
    with ProgressStore.open(path) as store:
        assert store.counts()["hints"] == 4


def _open_and_hint(path: str, n: int, start) -> None:
    start.wait()
    with ProgressStore.open(Path(path)) as store:
        store.reveal_hint(f"k{n}", 0)


# --- export and reset ------------------------------------------------------------------------


def test_export_is_json(home, capsys):
    from kata.cli import main

    with ProgressStore.open() as store:
        store.record_attempt(fake_result(), at=T0)
        store.record_review(Review("pipe-eof", "pipes", False, 1, answer="3", seconds=4.0, at=T0))
    assert main(["progress", "export"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["attempts"][0]["at"] == "2026-03-02T09:00:00+00:00"
    assert data["attempts"][0]["perf"][0]["ratio"] == 0.8
    assert data["reviews"][0]["correct"] is False and data["reviews"][0]["answer"] == "3"


def test_export_to_file(home, tmp_path, capsys):
    from kata.cli import main

    with ProgressStore.open() as store:
        store.reveal_hint("pipe", 0)
    out = tmp_path / "export.json"
    assert main(["progress", "export", "-o", str(out)]) == 0
    assert json.loads(out.read_text())["hints"][0]["kata"] == "pipe"


def _recorded() -> int:
    with ProgressStore.open() as store:
        return sum(store.counts().values())


@pytest.mark.parametrize("reply", ["n\n", "\n", ""])
def test_reset_asks_and_keeps_everything_unless_confirmed(home, monkeypatch, capsys, reply):
    import io

    from kata.cli import main

    with ProgressStore.open() as store:
        store.reveal_hint("pipe", 0)
    monkeypatch.setattr("sys.stdin", io.StringIO(reply))
    assert main(["progress", "reset"]) == 1
    assert _recorded() == 1
    assert "nothing was deleted" in capsys.readouterr().out


def test_reset_confirmed_keeps_a_backup(home, monkeypatch, capsys):
    import io

    from kata.cli import main

    with ProgressStore.open() as store:
        store.reveal_hint("pipe", 0)
    monkeypatch.setattr("sys.stdin", io.StringIO("yes\n"))
    assert main(["progress", "reset"]) == 0
    assert _recorded() == 0
    [backup] = home.glob("progress.db.*.bak")
    with ProgressStore.open(backup) as old:
        assert old.hints_revealed("pipe") == 1
    assert str(backup) in capsys.readouterr().out


def test_reset_yes_skips_the_question(home, monkeypatch):
    from kata.cli import main

    with ProgressStore.open() as store:
        store.reveal_hint("pipe", 0)
    monkeypatch.setattr("sys.stdin", None)  # must not be read
    assert main(["progress", "reset", "--yes"]) == 0
    assert _recorded() == 0


def test_two_resets_in_one_second_keep_both_backups(home):
    with ProgressStore.open() as store:
        store.reveal_hint("pipe", 0)
        first = store.reset(at=T0)
        store.reveal_hint("pipe", 1)
        second = store.reset(at=T0)
    assert first != second
    with ProgressStore.open(first) as old:
        assert old.hints_revealed("pipe") == 1
    with ProgressStore.open(second) as old:
        assert old.hints_revealed("pipe") == 2


def test_unwritable_location_is_one_line_not_damage(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ProgressError, match="cannot"):
        ProgressStore.open(blocker / "sub" / "progress.db")


def test_a_store_can_be_shared_by_threads(home):
    import threading

    with ProgressStore.open() as store:

        def write(n):
            for i in range(50):
                store.reveal_hint(f"k{n}", i)
                store.attempts(limit=1)

        threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert store.counts()["hints"] == 200
