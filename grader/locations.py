"""Where the grader's data lives, in a clone and in an installed wheel.

In a clone (or an editable install) the data folders sit at the repository root,
next to the packages. A wheel carries `solutions/` under `ipc_kata_data/` in
site-packages (see pyproject.toml); `grader/suites/` and `kata/exercises/` are
package data in both cases (the kata definitions ship with the app, which shows
them; the grader owns their schema, grader/catalog.py, and finds them here).
`tests/mutants/` exists only in a clone.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
_ROOT = PACKAGE_DIR.parent


def data_dir(name: str) -> Path:
    """The top-level data folder `name` (e.g. "solutions", "questions")."""
    for candidate in (_ROOT / name, _ROOT / "ipc_kata_data" / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"data folder {name!r} not found next to {PACKAGE_DIR}")


def suites_dir() -> Path:
    return PACKAGE_DIR / "suites"


def exercises_dir() -> Path:
    """Kata definitions (kata.yaml, spec, starter, hints) ship inside the app package."""
    return _ROOT / "kata" / "exercises"


def solutions_dir() -> Path:
    return data_dir("solutions")


def mutants_dir() -> Path | None:
    """The katas' mutants (grader/mutants.py), beside the project's tests: only in a clone."""
    folder = _ROOT / "tests" / "mutants"
    return folder if folder.is_dir() else None
