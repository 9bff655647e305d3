"""Horizontal bars drawn with text, so charts read the same in colour, under
NO_COLOR and in a captured pane: the bar's length carries the value and a `|`
marks a threshold; colour only repeats what the words already say. A failed
perf figure is followed by where its time went; perf history is a sparkline.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

from rich.text import Text

from grader.report import PerfFigure
from kata.perf_history import perf_lines

FULL, EMPTY, MARK = "█", "·", "|"
WRAP = 74  # an 80-column screen less the panel's padding and scrollbar: wrapped here, lines keep their indent


def bar(share: float, width: int, *, mark: float | None = None, style: str = "") -> Text:
    """`share` (0..1) of `width` cells filled; `mark` (0..1) drawn as `|`."""
    share = min(max(share, 0.0), 1.0)
    filled = round(share * width)
    cells = [FULL] * filled + [EMPTY] * (width - filled)
    if mark is not None:
        at = min(width - 1, max(0, round(min(max(mark, 0.0), 1.0) * width)))
        cells[at] = MARK
    return Text("".join(cells), style=style)


def perf_chart(figures: list[PerfFigure], width: int = 30) -> Text:
    """One block per figure: its ratio to the same-run baseline as a bar, the
    threshold it must reach as a `|`, and the numbers in words."""
    out = Text()
    for fig in figures:
        scale = max(1.0, fig.ratio, fig.threshold) * 1.1
        verdict, style = ("ok", "green") if fig.passed else ("TOO SLOW", "red")
        out.append(f"{fig.description or fig.name}\n", style="bold")
        out.append("  ")
        out.append_text(bar(fig.ratio / scale, width, mark=fig.threshold / scale, style=style))
        out.append(f" {fig.ratio:.2f}x  (needs {fig.threshold:.2f}x) ")
        out.append(verdict, style=f"bold {style}")
        out.append(f"\n  {fig.value:,.1f} {fig.unit} vs baseline {fig.baseline:,.1f} {fig.unit}\n")
        out.append_text(where_the_time_went(fig))
    return out


def where_the_time_went(figure: PerfFigure) -> Text:
    """A failed figure's profile (grader/hotspots.py): its top places in the learner's file, then what
    was profiled, dimmed."""
    out = Text()
    if not figure.profiled:
        return out
    out.append("  Where the time went (own time per line of your file):\n", style="bold")
    for place in [spot.describe() for spot in figure.hotspots] or ["no line of your file stands out"]:
        out.append("\n".join(textwrap.wrap(place, WRAP, initial_indent="  · ", subsequent_indent="    ")) + "\n")
    out.append(
        "\n".join(textwrap.wrap(figure.profiled, WRAP, initial_indent="  ", subsequent_indent="  ")) + "\n", "dim"
    )
    return out


def history_chart(metrics: Sequence[dict[str, Any]], indent: str = "  ") -> Text:
    """Perf history (kata.perf_history): per metric the latest ratios as a sparkline, green when the
    best reaches the threshold and red when not, and the best in words."""
    out = Text()
    lines = perf_lines(metrics)
    width = max((len(line.name) for line in lines), default=0)
    for line in lines:
        start = len(out) + len(indent) + width + 1
        out.append(f"{indent}{line.text(width)}\n")
        out.stylize("green" if line.reached else "red", start, start + len(line.spark))
    return out
