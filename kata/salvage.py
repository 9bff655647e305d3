"""What can still be read from a progress file that cannot be used as it is, and
`kata progress repair`, which rebuilds the store from that.

A file may be damaged (pages cut off, a table's b-tree overwritten), another
program's database, written by a newer ipc-kata, or in a read-only folder. The
reading verbs show what `salvage` reads (through `ProgressStore.open_readable`);
export saves it; repair keeps the file as it was, byte for byte, next to it and
puts a fresh store holding the salvaged rows in its place. Nothing here writes
to the file being read.

Rows are read in rowid order; at a damaged page the reader seeks past it with
growing steps, so the rows after the damage are read too.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from kata.progress import APPLICATION_ID, SQLITE_HEADER, TABLES, ProgressError, ProgressStore

Rows = dict[str, list[dict[str, Any]]]
MAX_ROWID = 2**63 - 1


@dataclass
class Salvage:
    rows: Rows = field(default_factory=dict)  # table -> rows, with the columns this version knows
    unreadable: list[str] = field(default_factory=list)  # what could not be read, one line each

    def counts(self) -> dict[str, int]:
        return {table: len(self.rows.get(table, [])) for table in TABLES}


def salvage(path: Path) -> Salvage:
    """Every row of our tables that can be read from `path`, without writing to it."""
    found = Salvage()
    try:
        with open(path, "rb") as f:
            if f.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
                found.unreadable.append("the file is not an SQLite database")
                return found
        conn = _connect_read_only(path)
    except (OSError, sqlite3.Error) as err:
        found.unreadable.append(f"the file cannot be read: {err}")
        return found
    try:
        app_id = _scalar(conn, "PRAGMA application_id")
        if app_id != APPLICATION_ID and app_id is not None:
            found.unreadable.append("the file is another program's database")
            return found
        for table, columns in our_columns().items():
            try:
                present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            except sqlite3.DatabaseError as err:
                found.unreadable.append(f"{table}: the table cannot be read ({err})")
                continue
            wanted = [c for c in columns if c in present]
            if wanted:
                found.rows[table] = _read_rows(conn, table, wanted, found.unreadable)
    finally:
        conn.close()
    return found


@cache
def our_columns() -> dict[str, tuple[str, ...]]:
    """The columns of each table in this version's schema."""
    with ProgressStore._copy(Path(":memory:"), {}) as store:
        return {table: tuple(row[1] for row in store._query(f"PRAGMA table_info({table})")) for table in TABLES}


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection that cannot write. A store in WAL mode needs its index file (-shm) even
    to read; where that cannot be created (a read-only folder), read the file as it is.
    `writable_schema` (harmless on a read-only connection) lets SQLite read a file that
    is shorter than its header says, instead of refusing it whole."""
    uri = f"file:{quote(str(path.absolute()))}"
    last: sqlite3.Error | None = None
    for options in ("mode=ro", "mode=ro&immutable=1"):
        try:
            conn = sqlite3.connect(f"{uri}?{options}", uri=True, check_same_thread=False)
            conn.execute("PRAGMA writable_schema = ON")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.Error as err:
            last = err
    assert last is not None
    raise last


def _scalar(conn: sqlite3.Connection, sql: str) -> Any:
    try:
        row = conn.execute(sql).fetchone()
    except sqlite3.DatabaseError:
        return None
    return row[0] if row else None


def _read_rows(conn: sqlite3.Connection, table: str, columns: list[str], unreadable: list[str]) -> list[dict[str, Any]]:
    sql = f"SELECT rowid, {', '.join(columns)} FROM {table} WHERE rowid > ? ORDER BY rowid"
    rows: list[dict[str, Any]] = []
    after = -MAX_ROWID - 1
    while True:
        try:
            for row in conn.execute(sql, (after,)):
                after = row[0]
                rows.append(dict(zip(columns, row[1:], strict=True)))
            return rows
        except sqlite3.DatabaseError as err:
            resume = _past_the_damage(conn, table, after)
            where = f"after row {after}" if after > -MAX_ROWID - 1 else "from the start"
            unreadable.append(f"{table}: some rows {where} could not be read ({err})")
            if resume is None:
                return rows
            after = resume


def _past_the_damage(conn: sqlite3.Connection, table: str, after: int) -> int | None:
    """The smallest rowid past `after` from which the table reads again, or None: steps
    that double until a read succeeds, then a bisection back to the damage's edge."""

    def reads_after(rowid: int) -> bool:
        try:
            conn.execute(f"SELECT rowid FROM {table} WHERE rowid > ? ORDER BY rowid LIMIT 1", (rowid,)).fetchone()
            return True
        except sqlite3.DatabaseError:
            return False

    bad, step = max(after, 0), 1
    while not reads_after(bad + step):
        if bad + 2 * step >= MAX_ROWID:
            return None
        step *= 2
    good = bad + step
    bad = bad + step // 2 if step > 1 else bad
    while good - bad > 1:
        middle = (good + bad) // 2
        if reads_after(middle):
            good = middle
        else:
            bad = middle
    return good


# --- repair -----------------------------------------------------------------------------------


@dataclass
class Diagnosis:
    path: Path
    problem: ProgressError | None  # None: healthy (or missing)
    found: Salvage  # what can be read: for a healthy store, only its counts matter
    counts: dict[str, int]

    @property
    def repairable(self) -> bool:
        return self.problem is not None and self.problem.kind in ("damaged", "foreign")


def diagnose(path: Path) -> Diagnosis:
    """Open the store as a recording verb would and, if that fails, read what can be read."""
    try:
        with ProgressStore.open(path) as store:
            return Diagnosis(path, None, Salvage(), store.counts())
    except ProgressError as err:
        found = salvage(path) if path.exists() else Salvage()
        return Diagnosis(path, err, found, found.counts())


def rebuild(diagnosis: Diagnosis) -> Path:
    """Keep the file as it was (and its -wal/-shm) under a new name, then put a fresh store
    with the salvaged rows in its place. Returns where the old file went."""
    path = diagnosis.path
    kept = _unused_name(path, time.strftime("%Y%m%d-%H%M%S"))
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{path}{suffix}")
        if source.exists():
            shutil.copy2(source, Path(f"{kept}{suffix}"))
    fresh = path.with_name(f"{path.name}.rebuild-{os.getpid()}")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{fresh}{suffix}").unlink(missing_ok=True)  # a leftover of an interrupted repair of ours
    with ProgressStore.open(fresh) as store:
        store.insert_rows(diagnosis.found.rows)
    for suffix in ("-wal", "-shm"):  # the old file's: a copy is kept, and they must not meet the new one
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    os.replace(fresh, path)
    return kept


def _unused_name(path: Path, stamp: str) -> Path:
    target = path.with_name(f"{path.name}.{stamp}.damaged")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.{stamp}-{n}.damaged")
    return target
