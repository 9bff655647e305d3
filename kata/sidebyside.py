"""The learner's file next to the reference, line by line (`kata solution --diff`
and the app's diff view). No UI here: `diff_rows` pairs the lines, `render`
lays them out in two columns of plain text, wrapping long lines inside their
column so nothing is cut off.

The mark between the columns: `|` the line differs, `<` only in your file,
`>` only in the reference, blank for the same line.
"""

from __future__ import annotations

import difflib
import textwrap
from dataclasses import dataclass

MARKS = {"equal": " ", "replace": "|", "delete": "<", "insert": ">"}


@dataclass(frozen=True)
class Row:
    left: str | None  # a line of your file, None where it has none facing the reference's
    right: str | None
    tag: str  # equal, replace, delete (only in yours), insert (only in the reference)

    @property
    def mark(self) -> str:
        return MARKS[self.tag]


def diff_rows(mine: str, reference: str) -> list[Row]:
    left, right = mine.expandtabs(4).splitlines(), reference.expandtabs(4).splitlines()
    rows: list[Row] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, left, right, autojunk=False).get_opcodes():
        ours, theirs = left[i1:i2], right[j1:j2]
        for n in range(max(len(ours), len(theirs))):
            a = ours[n] if n < len(ours) else None
            b = theirs[n] if n < len(theirs) else None
            kind = tag if tag != "replace" else ("replace" if a is not None and b is not None else None)
            rows.append(Row(a, b, kind or ("delete" if b is None else "insert")))
    return rows


def render(rows: list[Row], width: int, titles: tuple[str, str] = ("your file", "reference")) -> list[str]:
    """Two columns in `width` characters; a long line continues on the next rows of its column."""
    side = max(10, (width - 3) // 2)
    lines = [_pair(titles[0], " ", titles[1], side), _pair("-" * side, " ", "-" * side, side)]
    for row in rows:
        left = _wrap(row.left, side)
        right = _wrap(row.right, side)
        for n in range(max(len(left), len(right))):
            mark = row.mark if n == 0 else " "
            lines.append(_pair(left[n] if n < len(left) else "", mark, right[n] if n < len(right) else "", side))
    return lines


def _wrap(line: str | None, width: int) -> list[str]:
    if not line:
        return [""]
    indent = len(line) - len(line.lstrip(" "))
    hang = " " * min(indent + 2, width // 2)
    return textwrap.wrap(line, width, subsequent_indent=hang) or [""]


def _pair(left: str, mark: str, right: str, side: int) -> str:
    return f"{left:<{side}} {mark} {right}".rstrip()
