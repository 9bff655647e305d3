"""The progress store: everything the learner did, in SQLite at `$KATA_HOME/progress.db`.

    with ProgressStore.open() as store:          # default path: kata.paths.progress_db()
        store.record_attempt(result)             # a grader.report.Result, from `kata grade`
        store.has_passed("pipe"); store.attempts("pipe", limit=5); store.perf_history("pipe")
        store.reveal_hint("pipe", 0); store.hints_revealed("pipe")
        store.record_review(Review(...), card=card_dict, due=due)   # the quiz engine
        store.cards(); store.mistakes(since); store.record_mock(...)
        store.export(); store.reset(backup=True)

Why it is built this way (DESIGN §6):

- The TUI and a `kata grade` in another terminal may write at the same time, so the
  file is in WAL mode, every connection waits (`busy_timeout`) instead of failing,
  and every write is one short `BEGIN IMMEDIATE` transaction.
- The schema version is `PRAGMA user_version`; `MIGRATIONS[n]` takes a version-n
  file to n+1, so an older file is upgraded in place, never re-created.
- One policy for a file that cannot be written (damaged pages, another program's
  database, a newer version, a read-only folder): `open()`, for verbs that record,
  raises `ProgressError` with one line before anything is written; `open_readable()`,
  for verbs that only read, gives an in-memory copy of what can be read
  (`kata.salvage`), with `problem` saying what is wrong, and refuses writes.
  Only a confirmed `kata progress repair` replaces the file, after keeping a copy.

Times are stored as UTC epoch seconds and handed out as aware UTC datetimes; every
method that records something takes `at=` so tests can move the clock.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kata.errors import UserError

APPLICATION_ID = 0x4B415441  # "KATA": marks the file as ours (PRAGMA application_id)
BUSY_TIMEOUT_MS = 30_000
SQLITE_HEADER = b"SQLite format 3\x00"

# MIGRATIONS[n] upgrades a version-n file to version n+1. Append only: a shipped
# entry is never edited, because learners' files were built by it.
MIGRATIONS: tuple[str, ...] = (
    # 0 -> 1: attempts, hints, reviews and scheduling state.
    """
    CREATE TABLE attempts (
        id INTEGER PRIMARY KEY,
        kata TEXT NOT NULL,
        at REAL NOT NULL,
        status TEXT NOT NULL,
        tasks_passed INTEGER NOT NULL,
        tasks_total INTEGER NOT NULL,
        duration REAL NOT NULL
    );
    CREATE INDEX attempts_kata_at ON attempts (kata, at);
    CREATE TABLE hints (
        kata TEXT NOT NULL,
        idx INTEGER NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (kata, idx)
    );
    CREATE TABLE reviews (
        id INTEGER PRIMARY KEY,
        question TEXT NOT NULL,
        at REAL NOT NULL,
        rating INTEGER NOT NULL,
        correct INTEGER NOT NULL,
        answer TEXT NOT NULL,
        seconds REAL NOT NULL
    );
    CREATE INDEX reviews_question_at ON reviews (question, at);
    CREATE TABLE cards (
        question TEXT PRIMARY KEY,
        due REAL NOT NULL,
        card TEXT NOT NULL
    );
    """,
    # 1 -> 2: perf figures, implementation path and task selection on attempts;
    # topic and mode on reviews; mock interview results.
    """
    ALTER TABLE attempts ADD COLUMN implementation TEXT NOT NULL DEFAULT '';
    ALTER TABLE attempts ADD COLUMN perf TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE attempts ADD COLUMN complete INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE reviews ADD COLUMN topic TEXT NOT NULL DEFAULT '';
    ALTER TABLE reviews ADD COLUMN mode TEXT NOT NULL DEFAULT '';
    CREATE INDEX reviews_at ON reviews (at);
    CREATE TABLE mocks (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        duration REAL NOT NULL,
        score REAL NOT NULL,
        correct INTEGER NOT NULL,
        total INTEGER NOT NULL,
        kata TEXT,
        kata_status TEXT,
        details TEXT NOT NULL
    );
    """,
    # 2 -> 3: answers the learner counted right themselves (a synonym the bank did not
    # accept), and the log of answers taken back (undo) or overridden, with the original.
    """
    ALTER TABLE reviews ADD COLUMN overridden INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE corrections (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        question TEXT NOT NULL,
        review TEXT NOT NULL
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
TABLES = ("attempts", "hints", "reviews", "cards", "mocks", "corrections")

REPAIR = "`kata progress repair` keeps a copy and rebuilds it from what can be read"
MOVE_ASIDE = "`kata progress repair` moves it aside and starts a new store"


# kind -> (what a recording verb adds, what a reading verb adds)
ADVICE: dict[str, tuple[str, str]] = {
    "damaged": (f"it was not touched: {REPAIR}", f"showing what could be read ({REPAIR})"),
    "foreign": (f"it was not touched: {MOVE_ASIDE}, or set KATA_HOME", f"showing nothing ({MOVE_ASIDE})"),
    "newer": ("it was not touched: upgrade ipc-kata", "showing what this version can read"),
    "read-only": (
        "`kata list`, `kata stats` and `kata progress export` still work (make it writable, or set KATA_HOME)",
        "showing what is recorded, recording nothing",
    ),
    "busy": ("try again", "try again"),
    "unusable": ("check the path, or set KATA_HOME", "showing nothing recorded"),
}


class ProgressError(UserError):
    """The progress file cannot be used for recording. `kind` says why: damaged,
    foreign, newer, read-only, busy or unusable. The message (one line) is what a verb
    that records says when it refuses; `warning()` is what a verb that reads says."""

    def __init__(self, kind: str, path: Path, reason: str = ""):
        self.kind = kind
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.what()}; nothing was recorded; {ADVICE[kind][0]}")

    def what(self) -> str:
        """What is wrong, without advice."""
        p, why = self.path, self.reason
        return {
            "damaged": f"the progress store {p} is damaged ({why})",
            "foreign": f"{p} is not an ipc-kata progress store (another program's SQLite database)",
            "newer": f"{p} was written by a newer ipc-kata ({why})",
            "read-only": f"the progress store {p} is read-only ({why})",
            "busy": f"the progress store {p} is busy (locked by another kata process)",
        }.get(self.kind, f"cannot use the progress store {p}: {why}")

    def warning(self) -> str:
        """What a verb that only reads says before showing what could be read."""
        return f"{self.what()}; {ADVICE[self.kind][1]}"


# --- records -----------------------------------------------------------------


@dataclass(frozen=True)
class PerfRecord:
    """One performance figure of an attempt: `ratio` is value / baseline."""

    name: str
    value: float
    unit: str
    ratio: float
    threshold: float
    passed: bool


@dataclass(frozen=True)
class PerfPoint:
    """One attempt's figure of a metric, and the best ratio of the metric up to that attempt."""

    at: datetime
    ratio: float
    best: float  # the best ratio of any attempt so far, this one included
    threshold: float  # as the grade of this attempt had it
    passed: bool


@dataclass(frozen=True)
class MetricHistory:
    """A perf metric of a kata across the learner's attempts, oldest first."""

    name: str
    unit: str
    points: tuple[PerfPoint, ...]

    @property
    def best(self) -> float:
        return self.points[-1].best

    @property
    def threshold(self) -> float:
        """The latest threshold: a kata's threshold may have changed since the first attempts."""
        return self.points[-1].threshold


@dataclass(frozen=True)
class Attempt:
    """One `kata grade` of the learner's file."""

    id: int
    kata: str
    at: datetime
    status: str  # pass, fail (errors are not recorded by `kata grade`)
    tasks_passed: int
    tasks_total: int
    duration: float  # seconds the grading took
    implementation: str  # the graded file
    perf: tuple[PerfRecord, ...] = ()
    complete: bool = True  # False when only some tasks were selected (`--task`)


@dataclass(frozen=True)
class Review:
    """One answered question. `rating` is the FSRS rating (1 Again .. 4 Easy)."""

    question: str
    topic: str
    correct: bool
    rating: int
    answer: str = ""
    seconds: float = 0.0
    mode: str = ""  # practice, drill, mistakes, mock
    at: datetime | None = None  # None when recording: now
    overridden: bool = False  # graded wrong, counted right by the learner ("I typed a synonym")
    id: int | None = None  # in the store; None before it is recorded


@dataclass(frozen=True)
class CardState:
    """The scheduling state of one question: `card` is fsrs `Card.to_dict()`."""

    question: str
    due: datetime
    card: dict[str, Any]


@dataclass(frozen=True)
class MockRecord:
    """A finished mock interview: `details` holds the per-topic breakdown and answers."""

    id: int
    at: datetime
    duration: float
    score: float  # 0..1
    correct: int
    total: int
    kata: str | None
    kata_status: str | None
    details: dict[str, Any]


# --- time ----------------------------------------------------------------------


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_epoch(at: datetime | None) -> float:
    """Epoch seconds; a naive datetime is taken to be UTC."""
    if at is None:
        at = utcnow()
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.timestamp()


def from_epoch(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


# --- the store ---------------------------------------------------------------------


class ProgressStore:
    """One open connection to the progress file. Cheap to open; close it when done."""

    def __init__(self, conn: sqlite3.Connection, path: Path, *, refusal: ProgressError | None = None):
        self._conn = conn
        self.path = path
        # One connection may serve the TUI's thread and a grading worker thread.
        self._lock = threading.RLock()
        # Set on a store opened for reading that cannot be written: every write raises it.
        self._refusal = refusal
        self.problem: str | None = None  # what a reading verb warns about (None: nothing wrong)
        self.unreadable: list[str] = []  # what could not be read, one line each

    @classmethod
    def open(cls, path: Path | None = None) -> ProgressStore:
        """Open for recording (creating it and its folder if missing) and upgrade the store.
        Anything that would stop a write (damage, a foreign or newer file, a read-only
        folder) raises ProgressError here, before the file is touched."""
        path = _default_path(path)
        read_only = _read_only_reason(path)
        if read_only:
            raise ProgressError("read-only", path, read_only)
        _check_header(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as err:
            raise ProgressError("unusable", path, f"cannot open it: {_reason(err)}") from None
        store = cls(conn, path)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            store._check_ours()
            store._check_intact()
            store._migrate()
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as err:
            conn.close()
            raise _damaged(path, err) from None
        except BaseException:
            conn.close()
            raise
        return store

    @classmethod
    def open_readable(cls, path: Path | None = None) -> ProgressStore:
        """Open for reading only: the store itself when it can be recorded to, else an
        in-memory copy of what can be read from it, whose `problem` says what is wrong
        and whose writes raise the ProgressError that `open()` raised. The file is not
        created, changed or locked."""
        path = _default_path(path)
        try:
            return cls.open(path) if path.exists() else cls._copy(path, {})
        except ProgressError as err:
            if err.kind == "busy":
                raise
            refusal = err
        if not path.exists():  # a folder that cannot be created: nothing recorded yet
            store = cls._copy(path, {})
            store._refusal = refusal
            return store
        from kata.salvage import salvage

        found = salvage(path)
        store = cls._copy(path, found.rows)
        store._refusal = refusal
        store.problem = refusal.warning()
        store.unreadable = found.unreadable
        return store

    @classmethod
    def _copy(cls, path: Path, rows: dict[str, list[dict[str, Any]]]) -> ProgressStore:
        """An in-memory store (current schema) holding `rows`; its `path` names the file they came from."""
        conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        store = cls(conn, path)
        store._migrate()
        store.insert_rows(rows)
        return store

    def insert_rows(self, rows: dict[str, list[dict[str, Any]]]) -> None:
        """Add rows as read from a store (`kata.salvage`); one the schema rejects is left out."""
        with self._write() as conn:
            for table, items in rows.items():
                for item in items:
                    columns = ", ".join(item)
                    marks = ", ".join("?" for _ in item)
                    conn.execute(f"INSERT OR IGNORE INTO {table} ({columns}) VALUES ({marks})", tuple(item.values()))

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ProgressStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    # --- opening ---------------------------------------------------------------

    def _check_ours(self) -> None:
        """Refuse a database that another program (or a newer ipc-kata) wrote. Reads only."""
        # One statement, so one snapshot: another process may be creating the store right now,
        # and a version read before its commit with tables read after looks like a foreign file.
        version, app_id, tables = self._conn.execute(
            "SELECT (SELECT user_version FROM pragma_user_version),"
            " (SELECT application_id FROM pragma_application_id),"
            " (SELECT count(*) FROM sqlite_master WHERE type = 'table')"
        ).fetchone()
        if version == 0 and app_id == 0 and not tables:
            return  # brand new (or empty) file
        if app_id != APPLICATION_ID:
            raise ProgressError("foreign", self.path)
        if version > SCHEMA_VERSION:
            raise ProgressError("newer", self.path, f"schema {version}, this one knows {SCHEMA_VERSION}")

    def _check_intact(self) -> None:
        """Refuse a file with damaged pages before writing to it (a few ms for years of answers)."""
        verdict = self._conn.execute("PRAGMA quick_check(1)").fetchone()
        if verdict is not None and verdict[0] != "ok":
            raise ProgressError("damaged", self.path, "it fails SQLite's integrity check")

    def _migrate(self) -> None:
        """Apply the missing migrations, each in its own transaction. Another
        process may be migrating too: the version is re-read under the write lock."""
        while self.schema_version < SCHEMA_VERSION:
            with self._write():
                version = self.schema_version
                if version >= SCHEMA_VERSION:
                    break
                for statement in _statements(MIGRATIONS[version]):
                    self._conn.execute(statement)
                self._conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                self._conn.execute(f"PRAGMA user_version = {version + 1}")

    class _Write:
        def __init__(self, store: ProgressStore):
            self.store = store

        def __enter__(self) -> sqlite3.Connection:
            if self.store._refusal is not None:
                raise self.store._refusal
            self.store._lock.acquire()
            try:
                self.store._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.DatabaseError as err:
                self.store._lock.release()
                raise _damaged(self.store.path, err) from None
            return self.store._conn

        def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
            conn = self.store._conn
            try:
                if exc_type is None:
                    try:
                        conn.execute("COMMIT")
                        return
                    except sqlite3.DatabaseError as err:
                        exc = err
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.IntegrityError):
                    raise _damaged(self.store.path, exc) from None
            finally:
                self.store._lock.release()

    def _write(self) -> ProgressStore._Write:
        """One write transaction: BEGIN IMMEDIATE takes the write lock up front so
        concurrent writers queue on busy_timeout instead of deadlocking."""
        return ProgressStore._Write(self)

    def _query(self, sql: str, params: Sequence[Any] = (), *, rows: bool = False) -> list[Any]:
        """Run a read; `rows=True` gives sqlite3.Row (by column name) instead of tuples."""
        with self._lock:
            try:
                cursor = self._conn.cursor()
                if rows:
                    cursor.row_factory = sqlite3.Row
                return cursor.execute(sql, params).fetchall()
            except sqlite3.DatabaseError as err:
                raise _damaged(self.path, err) from None

    # --- kata attempts ---------------------------------------------------------------

    def record_attempt(self, result: Any, *, at: datetime | None = None, complete: bool | None = None) -> Attempt:
        """Store a grader `Result`: status, tasks passed/total, perf ratios, duration, file.
        `complete=False` marks a grade of only some tests (`-k`), which is never a pass of
        the kata; by default a grade is complete unless a non-perf task was left out."""
        tasks = list(getattr(result, "tasks", []) or [])
        passed = sum(1 for t in tasks if t.status == "pass")
        if complete is None:
            complete = not any(t.status == "skipped" and not getattr(t, "perf", False) for t in tasks)
        perf = tuple(
            PerfRecord(p.name, float(p.value), p.unit, float(p.ratio), float(p.threshold), bool(p.passed))
            for p in getattr(result, "perf", []) or []
        )
        when = to_epoch(at)
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO attempts (kata, at, status, tasks_passed, tasks_total, duration, implementation, perf,"
                " complete) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    result.kata,
                    when,
                    result.status,
                    passed,
                    len(tasks),
                    float(result.duration or 0.0),
                    str(result.implementation or ""),
                    json.dumps([p.__dict__ for p in perf]),
                    int(complete),
                ),
            )
        return Attempt(
            _inserted(cursor),
            result.kata,
            from_epoch(when),
            result.status,
            passed,
            len(tasks),
            float(result.duration or 0.0),
            str(result.implementation or ""),
            perf,
            complete,
        )

    def attempts(self, kata_id: str | None = None, limit: int | None = None) -> list[Attempt]:
        """Attempts, newest first; of one kata when `kata_id` is given."""
        sql = "SELECT * FROM attempts"
        params: list[Any] = []
        if kata_id is not None:
            sql += " WHERE kata = ?"
            params.append(kata_id)
        sql += " ORDER BY at DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [_attempt(row) for row in self._rows(sql, params)]

    def perf_history(self, kata_id: str) -> list[MetricHistory]:
        """Each perf metric the kata's attempts measured, in the order first measured, with every
        attempt's ratio and the best so far. An attempt measuring a metric twice counts its best."""
        rows = self._rows("SELECT at, perf FROM attempts WHERE kata = ? AND perf != '[]' ORDER BY at, id", (kata_id,))
        units: dict[str, str] = {}
        points: dict[str, list[PerfPoint]] = {}
        for row in rows:
            at = from_epoch(row["at"])
            measured: dict[str, PerfRecord] = {}
            for figure in (PerfRecord(**p) for p in json.loads(row["perf"])):
                if figure.name not in measured or figure.ratio > measured[figure.name].ratio:
                    measured[figure.name] = figure
            for name, figure in measured.items():
                units.setdefault(name, figure.unit)
                series = points.setdefault(name, [])
                best = max(figure.ratio, series[-1].best if series else figure.ratio)
                series.append(PerfPoint(at, figure.ratio, best, figure.threshold, figure.passed))
        return [MetricHistory(name, units[name], tuple(series)) for name, series in points.items()]

    def has_passed(self, kata_id: str) -> bool:
        """True once a full grade (every task selected) of the kata has passed."""
        rows = self._query(
            "SELECT 1 FROM attempts WHERE kata = ? AND status = 'pass' AND complete = 1 LIMIT 1", (kata_id,)
        )
        return bool(rows)

    # --- hints -------------------------------------------------------------------------

    def reveal_hint(self, kata_id: str, index: int, *, at: datetime | None = None) -> None:
        """Remember that hint `index` (0-based) was shown; revealing it again changes nothing."""
        with self._write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO hints (kata, idx, at) VALUES (?, ?, ?)", (kata_id, int(index), to_epoch(at))
            )

    def hints_revealed(self, kata_id: str) -> int:
        """How many hints have been shown, counting from the first (highest index + 1)."""
        row = self._query("SELECT MAX(idx) FROM hints WHERE kata = ?", (kata_id,))[0]
        return 0 if row[0] is None else int(row[0]) + 1

    # --- quiz reviews and scheduling state ----------------------------------------

    def record_review(self, review: Review, *, card: dict[str, Any] | None = None, due: datetime | None = None) -> int:
        """Store one answer and, in the same transaction, the question's new
        scheduling state (`card`, fsrs `Card.to_dict()`, due at `due`)."""
        when = to_epoch(review.at)
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO reviews (question, topic, at, rating, correct, answer, seconds, mode)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    review.question,
                    review.topic,
                    when,
                    int(review.rating),
                    int(bool(review.correct)),
                    review.answer,
                    float(review.seconds),
                    review.mode,
                ),
            )
            if card is not None:
                self._put_card(conn, review.question, json.dumps(card), to_epoch(due) if due is not None else when)
        return _inserted(cursor)

    def reviews(
        self, question: str | None = None, *, since: datetime | None = None, limit: int | None = None
    ) -> list[Review]:
        """Answers, newest first."""
        sql = "SELECT * FROM reviews WHERE 1 = 1"
        params: list[Any] = []
        if question is not None:
            sql += " AND question = ?"
            params.append(question)
        if since is not None:
            sql += " AND at >= ?"
            params.append(to_epoch(since))
        sql += " ORDER BY at DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [
            Review(
                r["question"],
                r["topic"],
                bool(r["correct"]),
                r["rating"],
                r["answer"],
                r["seconds"],
                r["mode"],
                from_epoch(r["at"]),
                bool(r["overridden"]),
                r["id"],
            )
            for r in self._rows(sql, params)
        ]

    def undo_review(self, review_id: int, *, before: CardState | None, at: datetime | None = None) -> None:
        """Take answer `review_id` back (Anki's undo): it leaves the reviews, so nothing counts
        it, for the corrections log, and the question's schedule returns to `before`
        (None: the question was never answered)."""
        with self._write() as conn:
            original = self._correct(conn, review_id, "undo", at)
            conn.execute("DELETE FROM reviews WHERE id = ?", (review_id,))
            if before is None:
                conn.execute("DELETE FROM cards WHERE question = ?", (original["question"],))
            else:
                self._put_card(conn, original["question"], json.dumps(before.card), to_epoch(before.due))

    def override_review(
        self, review_id: int, *, rating: int, card: dict[str, Any], due: datetime | None, at: datetime | None = None
    ) -> None:
        """Count answer `review_id` right although it was graded wrong ("I typed a synonym"):
        the review is marked `overridden`, keeps the answer given, takes `rating`, and the
        question's schedule becomes `card`; the original is kept in the corrections log."""
        with self._write() as conn:
            original = self._correct(conn, review_id, "override", at)
            conn.execute(
                "UPDATE reviews SET correct = 1, overridden = 1, rating = ? WHERE id = ?", (int(rating), review_id)
            )
            self._put_card(conn, original["question"], json.dumps(card), to_epoch(due) if due else original["at"])

    def _correct(self, conn: sqlite3.Connection, review_id: int, kind: str, at: datetime | None) -> dict[str, Any]:
        """Log a correction of review `review_id` with the review as it was; return that review."""
        cursor = conn.cursor()
        cursor.row_factory = sqlite3.Row
        row = cursor.execute("SELECT * FROM reviews WHERE id = ?", (review_id,)).fetchone()
        if row is None:
            raise UserError(f"there is no answer {review_id} to {kind}")
        original = dict(row)
        conn.execute(
            "INSERT INTO corrections (at, kind, question, review) VALUES (?, ?, ?, ?)",
            (to_epoch(at), kind, original["question"], json.dumps(original)),
        )
        return original

    @staticmethod
    def _put_card(conn: sqlite3.Connection, question: str, card: str, due: float) -> None:
        conn.execute(
            "INSERT INTO cards (question, due, card) VALUES (?, ?, ?)"
            " ON CONFLICT (question) DO UPDATE SET due = excluded.due, card = excluded.card",
            (question, due, card),
        )

    def review_count(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM reviews")[0][0])

    def card(self, question: str) -> CardState | None:
        rows = self._rows("SELECT * FROM cards WHERE question = ?", (question,))
        return _card(rows[0]) if rows else None

    def cards(self) -> dict[str, CardState]:
        """The scheduling state of every question answered at least once."""
        return {row["question"]: _card(row) for row in self._rows("SELECT * FROM cards")}

    def new_cards_on(self, day_start: datetime, day_end: datetime) -> int:
        """How many questions were answered for the first time in [day_start, day_end): the daily new cap."""
        row = self._query(
            "SELECT COUNT(*) FROM (SELECT question, MIN(at) AS first FROM reviews GROUP BY question)"
            " WHERE first >= ? AND first < ?",
            (to_epoch(day_start), to_epoch(day_end)),
        )[0]
        return int(row[0])

    def mistakes(self, since: datetime, *, until_right: int = 2) -> list[str]:
        """Questions answered wrong at or after `since` and not answered right
        `until_right` times since their latest wrong answer; most recent mistake first."""
        rows = self._query(
            "SELECT w.question FROM (SELECT question, MAX(at) AS last_wrong FROM reviews"
            "   WHERE correct = 0 AND at >= ? GROUP BY question) AS w"
            " WHERE (SELECT COUNT(*) FROM reviews AS r WHERE r.question = w.question AND r.correct = 1"
            "        AND r.at > w.last_wrong) < ?"
            " ORDER BY w.last_wrong DESC",
            (to_epoch(since), int(until_right)),
        )
        return [r[0] for r in rows]

    def topic_accuracy(self, since: datetime | None = None) -> dict[str, tuple[int, int]]:
        """{topic: (correct, answered)} over the reviews at or after `since`."""
        rows = self._query(
            "SELECT topic, SUM(correct), COUNT(*) FROM reviews WHERE at >= ? GROUP BY topic",
            (to_epoch(since) if since is not None else 0.0,),
        )
        return {r[0]: (int(r[1]), int(r[2])) for r in rows}

    def reviews_per_day(self) -> dict[str, int]:
        """{"YYYY-MM-DD" (UTC): number of answers}."""
        rows = self._query("SELECT date(at, 'unixepoch') AS day, COUNT(*) FROM reviews GROUP BY day ORDER BY day")
        return {r[0]: int(r[1]) for r in rows}

    # --- mock interviews ---------------------------------------------------------------

    def record_mock(
        self,
        *,
        duration: float,
        score: float,
        correct: int,
        total: int,
        details: dict[str, Any],
        kata: str | None = None,
        kata_status: str | None = None,
        at: datetime | None = None,
    ) -> MockRecord:
        when = to_epoch(at)
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO mocks (at, duration, score, correct, total, kata, kata_status, details)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (when, float(duration), float(score), int(correct), int(total), kata, kata_status, json.dumps(details)),
            )
        return MockRecord(
            _inserted(cursor),
            from_epoch(when),
            float(duration),
            float(score),
            int(correct),
            int(total),
            kata,
            kata_status,
            details,
        )

    def mocks(self, limit: int | None = None) -> list[MockRecord]:
        sql = "SELECT * FROM mocks ORDER BY at DESC, id DESC" + (" LIMIT ?" if limit is not None else "")
        return [_mock(row) for row in self._rows(sql, (int(limit),) if limit is not None else ())]

    # --- whole store -------------------------------------------------------------------

    def export(self) -> dict[str, Any]:
        """Everything recorded, as JSON-ready data (times as ISO 8601 UTC). `unreadable`
        lists what could not be read from a damaged file (see `open_readable`)."""
        data: dict[str, Any] = {"schema": self.schema_version, "path": str(self.path), "unreadable": self.unreadable}
        for table in TABLES:
            rows = []
            for row in self._rows(f"SELECT * FROM {table} ORDER BY rowid"):
                item = dict(row)
                for key in ("perf", "card", "details", "review"):
                    if key in item and isinstance(item[key], str):
                        item[key] = json.loads(item[key])
                for key in ("at", "due"):
                    if key in item and item[key] is not None:
                        item[key] = from_epoch(item[key]).isoformat()
                for key in ("correct", "complete", "overridden"):
                    if key in item and table != "mocks":
                        item[key] = bool(item[key])
                rows.append(item)
            data[table] = rows
        return data

    def counts(self) -> dict[str, int]:
        return {table: int(self._query(f"SELECT COUNT(*) FROM {table}")[0][0]) for table in TABLES}

    def backup(self, target: Path) -> Path:
        """A consistent copy of the whole store (sqlite's online backup)."""
        try:
            dest = sqlite3.connect(target)
            try:
                with self._lock:
                    self._conn.backup(dest)
            finally:
                dest.close()
        except sqlite3.Error as err:
            raise UserError(f"cannot back up the progress store to {target}: {_reason(err)}") from None
        return target

    def reset(self, *, backup: bool = True, at: datetime | None = None) -> Path | None:
        """Forget everything; unless `backup=False`, a copy is kept next to the file
        first (returned) so even a confirmed reset can be undone."""
        saved = None
        if backup:
            stamp = from_epoch(to_epoch(at)).strftime("%Y%m%d-%H%M%S")
            target = self.path.with_name(f"{self.path.name}.{stamp}.bak")
            n = 1
            while target.exists():  # never back up over an older backup
                n += 1
                target = self.path.with_name(f"{self.path.name}.{stamp}-{n}.bak")
            saved = self.backup(target)
        with self._write() as conn:
            for table in TABLES:
                conn.execute(f"DELETE FROM {table}")
        return saved

    # --- helpers -----------------------------------------------------------------------

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self._query(sql, params, rows=True)


def _attempt(row: sqlite3.Row) -> Attempt:
    perf = tuple(PerfRecord(**p) for p in json.loads(row["perf"] or "[]"))
    return Attempt(
        row["id"],
        row["kata"],
        from_epoch(row["at"]),
        row["status"],
        row["tasks_passed"],
        row["tasks_total"],
        row["duration"],
        row["implementation"],
        perf,
        bool(row["complete"]),
    )


def _card(row: sqlite3.Row) -> CardState:
    return CardState(row["question"], from_epoch(row["due"]), json.loads(row["card"]))


def _mock(row: sqlite3.Row) -> MockRecord:
    return MockRecord(
        row["id"],
        from_epoch(row["at"]),
        row["duration"],
        row["score"],
        row["correct"],
        row["total"],
        row["kata"],
        row["kata_status"],
        json.loads(row["details"]),
    )


def _inserted(cursor: sqlite3.Cursor) -> int:
    """The rowid an INSERT just made."""
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def _statements(script: str) -> Iterator[str]:
    """Split a migration into statements (executescript would commit our transaction)."""
    for part in script.split(";"):
        if part.strip():
            yield part.strip()


def _default_path(path: Path | None) -> Path:
    if path is None:
        from kata.paths import progress_db

        return progress_db()
    return Path(path)


def _read_only_reason(path: Path) -> str:
    """Why the store cannot be written where it is, or "". SQLite in WAL mode writes files
    next to the store, so its folder must be writable too, even to read a live store."""
    if path.exists():
        if not os.access(path, os.W_OK):
            return "the file cannot be written"
        if not os.access(path.parent, os.W_OK):
            return f"its folder {path.parent} cannot be written"
        return ""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if folder.is_dir() and not os.access(folder, os.W_OK):
        return f"{folder} cannot be written"
    return ""


def _check_header(path: Path) -> None:
    """Refuse, before sqlite touches it, a non-empty file that is not an SQLite database."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return
    except IsADirectoryError:
        raise ProgressError("unusable", path, "it is a directory, not a file") from None
    except OSError as err:
        raise ProgressError("unusable", path, f"cannot read it: {err.strerror}") from None
    if head and head != SQLITE_HEADER:
        raise ProgressError("damaged", path, "not an SQLite database")


def _damaged(path: Path, err: BaseException) -> ProgressError:
    """A DatabaseError as one line: damage (not a database, malformed) or a problem
    around the file (locked, read-only, cannot open), which is not damage."""
    if isinstance(err, ProgressError):
        return err
    if isinstance(err, sqlite3.OperationalError):
        if "locked" in str(err) or "busy" in str(err):
            return ProgressError("busy", path)
        if "readonly" in str(err) or "read-only" in str(err):
            return ProgressError("read-only", path, _reason(err))
        return ProgressError("unusable", path, _reason(err))
    return ProgressError("damaged", path, _reason(err))


def _reason(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err).splitlines()[0] if str(err) else type(err).__name__
