"""Small wording rules shared by the CLI and the TUI: counts with the right
plural, and "did you mean ...?" for a mistyped name."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """`1 attempt`, `2 attempts`, `0 mock interviews`."""
    return f"{count} {singular if count == 1 else (plural_form or singular + 's')}"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """` did you mean pipe?` when one choice is close to `word`, else ""."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" did you mean {close[0]}?" if close else ""


def unknown(what: str, word: str, choices: Iterable[str]) -> str:
    """One line for a name that is not one of `choices`: the closest one, then all of them."""
    choices = list(choices)
    return f"unknown {what} {word!r};{did_you_mean(word, choices)} known {what}s: {', '.join(choices)}"
