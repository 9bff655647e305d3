"""Append-only logs of JSON lines, written by many processes of a run at once.

The creation ledger (grader/ledger.py) and the exceptions log (grader/observed.py)
are written by the learner's processes, forked children and `python -c` processes
alike: one short O_APPEND write per record is atomic between them, and a reader
skips a torn or malformed line instead of failing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def append(path: str | os.PathLike[str], record: dict[str, Any]) -> None:
    """Add one record; silently nothing when the log cannot be written (the learner's
    process must never fail because of the grader's bookkeeping)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError:
        return
    try:
        os.write(fd, (json.dumps(record) + "\n").encode())
    except OSError:
        pass
    finally:
        os.close(fd)


def records(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every well-formed record, in the order written."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            found.append(record)
    return found
