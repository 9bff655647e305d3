"""Perf history (kata/perf_history.py): a kata's perf metrics across attempts as one line each,
a sparkline of the latest ratios and the best one in words, in `kata stats` and its JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from grader.catalog import all_katas
from kata.cli import main
from kata.perf_history import SPARK_WIDTH, SPARKS, as_data, perf_lines, render, sparkline
from kata.progress import MetricHistory, PerfPoint, ProgressStore

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("KATA_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def graded(ratios, *, kata="pipe", name="child_to_parent_mbps", threshold=0.5):
    """Record one attempt per ratio, a minute apart."""
    with ProgressStore.open() as store:
        for minute, ratio in enumerate(ratios):
            figure = SimpleNamespace(
                name=name, value=ratio * 100, unit="MB/s", ratio=ratio, threshold=threshold, passed=ratio >= threshold
            )
            result = SimpleNamespace(
                kata=kata, status="pass", duration=1.0, implementation="/w/pipe.py", tasks=[], perf=[figure]
            )
            store.record_attempt(result, at=T0 + timedelta(minutes=minute))


def history(name, ratios, threshold):
    points, best = [], 0.0
    for minute, ratio in enumerate(ratios):
        best = max(best, ratio)
        points.append(PerfPoint(T0 + timedelta(minutes=minute), ratio, best, threshold, ratio >= threshold))
    return MetricHistory(name, "MB/s", tuple(points))


def test_a_sparkline_draws_each_value_as_its_share_of_the_top():
    assert sparkline([0.0, 0.5, 1.0], 1.0) == SPARKS[0] + SPARKS[4] + SPARKS[-1]
    assert sparkline([2.0, -1.0], 1.0) == SPARKS[-1] + SPARKS[0]  # clipped at both ends
    assert sparkline([], 1.0) == ""


def test_a_metric_line_shows_the_latest_ratios_and_the_best_against_the_threshold():
    slow_then_fast = as_data([history("mbps", [0.1, 0.2, 1.6, 0.8], 0.5)])
    (line,) = perf_lines(slow_then_fast)
    assert line.spark == sparkline([0.1, 0.2, 1.6, 0.8], 1.6)
    assert line.words == "best 1.60x (needs 0.50x)" and line.reached
    (short,) = perf_lines(as_data([history("mbps", [0.1, 0.2], 0.5)]))
    assert short.words == "best 0.20x (needs 0.50x)" and not short.reached
    assert short.spark == sparkline([0.1, 0.2], 0.5)  # the scale holds the threshold: short of it looks short
    (tiny,) = perf_lines(as_data([history("mbps", [0.004], 0.005)]))
    assert tiny.words == "best 0.004x (needs 0.005x)"
    (many,) = perf_lines(as_data([history("mbps", [0.1 * n for n in range(40)], 0.5)]))
    assert len(many.spark) == SPARK_WIDTH and many.spark.endswith(SPARKS[-1])  # the latest attempts


def test_every_katas_metrics_fit_an_80_column_screen():
    names = [metric.name for kata in all_katas() for metric in kata.perf]
    lines = render(as_data([history(name, [0.123] * 30, 0.005) for name in names]), indent="    ")
    assert len(lines) == len(names) > 0
    assert max(len(line) for line in lines) <= 80


def test_kata_stats_shows_the_perf_history_of_each_kata(monkeypatch, capsys):
    monkeypatch.setattr("kata.quiz.mastery._catalog", lambda: [("pipe", "Pipes"), ("fifo", "FIFOs")])
    graded([0.2, 0.9, 0.6])
    assert main(["stats"]) == 0
    out = capsys.readouterr().out
    pipe_row = out.index("  pipe ")
    history_line = next(line for line in out.splitlines() if "child_to_parent_mbps" in line)
    assert out.index(history_line) > pipe_row
    assert history_line.strip().endswith("best 0.90x (needs 0.50x)")
    assert sparkline([0.2, 0.9, 0.6], 0.9) in history_line
    assert "\x1b[" not in out  # plain text: nothing to strip under NO_COLOR or in a pipe


def test_kata_stats_json_has_every_point(monkeypatch, capsys):
    monkeypatch.setattr("kata.quiz.mastery._catalog", lambda: [("pipe", "Pipes"), ("fifo", "FIFOs")])
    graded([0.2, 0.9, 0.6])
    assert main(["stats", "--json"]) == 0
    pipe, fifo = json.loads(capsys.readouterr().out)["katas"]
    assert fifo["perf"] == []
    (metric,) = pipe["perf"]
    assert (metric["name"], metric["unit"], metric["best"], metric["threshold"]) == (
        "child_to_parent_mbps",
        "MB/s",
        0.9,
        0.5,
    )
    assert [(p["ratio"], p["best"], p["passed"]) for p in metric["points"]] == [
        (0.2, 0.2, False),
        (0.9, 0.9, True),
        (0.6, 0.9, True),
    ]
    assert metric["points"][0]["at"] == T0.isoformat()
