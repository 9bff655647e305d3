"""The learner's workspace: starting a kata from its starter without ever losing work.

Shared by the CLI and the TUI so both apply the same rule: an existing file is
only replaced with an explicit `force`, and even then the old one is kept as a
timestamped backup next to it.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from grader.catalog import KataDef
from kata.errors import UserError
from kata.paths import workspace_file


class WorkExists(UserError):
    """The workspace file exists: starting again needs `force`. The message is the CLI's;
    the app asks instead (its own words), so it catches this one."""

    def __init__(self, path: Path, kata_id: str):
        self.path = path
        super().__init__(
            f"{path} already exists and holds your work; it was not touched "
            f"(`kata start {kata_id} --force` replaces it and keeps a backup)"
        )


@dataclass(frozen=True)
class Started:
    path: Path
    backup: Path | None  # where the previous file went, when `force` replaced one


def start_kata(kata: KataDef, *, workspace: str | os.PathLike[str] | None = None, force: bool = False) -> Started:
    """Copy the kata's starter to the workspace file and return where it went."""
    target = workspace_file(kata.id, workspace)
    backup = None
    if target.exists():
        if not force:
            raise WorkExists(target, kata.id)
        backup = target.with_name(f"{target.name}.{time.strftime('%Y%m%d-%H%M%S')}.bak")
        os.replace(target, backup)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(kata.starter_path, target)
    except OSError as err:
        raise UserError(f"cannot create {target}: {err.strerror}") from None
    return Started(target, backup)


def kata_state(kata: KataDef, passed: bool, *, workspace: str | os.PathLike[str] | None = None) -> str:
    """`passing`, `started` or `not started`, as the kata list shows it."""
    if passed:
        return "passing"
    return "started" if workspace_file(kata.id, workspace).exists() else "not started"
