"""A kata's perf metrics across the learner's attempts: per metric, the ratios of
the latest attempts as a sparkline and the best ratio against the threshold in
words, one line each (`kata stats`, the TUI's kata and stats screens).

The glyphs' heights carry the values and the words say the verdict, so a line
reads the same under NO_COLOR, in a pipe and in the TUI, which only adds colour.
Lines fit an 80-column screen: the sparkline shows the latest SPARK_WIDTH
attempts that measured the metric.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kata.progress import MetricHistory

SPARKS = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 16


@dataclass(frozen=True)
class PerfLine:
    """One metric's line, in parts the TUI can colour: `name spark words`."""

    name: str
    spark: str
    words: str
    reached: bool  # the best ratio reaches the latest threshold

    def text(self, name_width: int) -> str:
        return f"{self.name:<{name_width}} {self.spark:<{SPARK_WIDTH}} {self.words}"


def sparkline(values: Sequence[float], top: float) -> str:
    """One glyph per value, its height the value's share of `top` (the lowest glyph for 0 or less)."""
    top = max(top, 1e-12)
    return "".join(SPARKS[min(len(SPARKS) - 1, max(0, round(value / top * (len(SPARKS) - 1))))] for value in values)


def as_data(history: Sequence[MetricHistory]) -> list[dict[str, Any]]:
    """Plain data (the `--json` face and what the lines are drawn from): per metric its unit,
    best ratio, latest threshold and every point, oldest first."""
    return [
        {
            "name": metric.name,
            "unit": metric.unit,
            "best": metric.best,
            "threshold": metric.threshold,
            "points": [
                {"at": point.at.isoformat(), "ratio": point.ratio, "best": point.best, "passed": point.passed}
                for point in metric.points
            ],
        }
        for metric in history
    ]


def perf_lines(metrics: Sequence[dict[str, Any]]) -> list[PerfLine]:
    """One line per metric of `as_data`: the latest ratios on a scale that holds the threshold too."""
    lines = []
    for metric in metrics:
        shown = [point["ratio"] for point in metric["points"][-SPARK_WIDTH:]]
        best, threshold = metric["best"], metric["threshold"]
        spark = sparkline(shown, max(*shown, threshold))
        words = f"best {ratio(best)}x (needs {ratio(threshold)}x)"
        lines.append(PerfLine(metric["name"], spark, words, best >= threshold))
    return lines


def render(metrics: Sequence[dict[str, Any]], indent: str = "  ") -> list[str]:
    """The lines as text, names aligned."""
    lines = perf_lines(metrics)
    width = max((len(line.name) for line in lines), default=0)
    return [indent + line.text(width) for line in lines]


def ratio(value: float) -> str:
    """Two decimals, or three significant digits for the tiny ratios of some thresholds (0.005x)."""
    return f"{value:.2f}" if value >= 0.1 else f"{value:.3g}"
