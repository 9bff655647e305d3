"""Where the learner's things live: $KATA_HOME, the workspace, the progress store."""

from __future__ import annotations

import os
from pathlib import Path

from grader.catalog import module_name
from grader.locations import data_dir


def kata_home() -> Path:
    """$KATA_HOME, else the platform's user data dir (e.g. ~/.local/share/ipc-kata)."""
    env = os.environ.get("KATA_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("ipc-kata", appauthor=False))


def workspace_dir(override: str | os.PathLike[str] | None = None) -> Path:
    return Path(override).expanduser() if override else kata_home() / "workspace"


def workspace_file(kata_id: str, override: str | os.PathLike[str] | None = None) -> Path:
    return workspace_dir(override) / f"{module_name(kata_id)}.py"


def progress_db() -> Path:
    return kata_home() / "progress.db"


def questions_dir() -> Path:
    return data_dir("questions")
