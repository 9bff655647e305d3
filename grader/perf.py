"""Same-run performance checks: the learner's rate against a baseline measured
moments before and after on the same machine, judged by a ratio.

Why it holds on a busy machine: baseline and learner rounds are interleaved,
each side keeps its best round (noise only ever slows a round down), and a
ratio under the threshold is measured again before it is believed. A truly
slow implementation fails every attempt; a noisy neighbour does not fail a
good one.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from grader import hotspots
from grader.catalog import KataDef
from grader.report import PerfFigure


def best_rate(fn: Callable[[], object], units: float, rounds: int = 3) -> float:
    """Best units/second of `rounds` calls to fn (each call does `units` of work)."""
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        elapsed = max(time.perf_counter() - start, 1e-9)
        best = max(best, units / elapsed)
    return best


def compare(
    learner: Callable[[], object], baseline: Callable[[], object], units: float, rounds: int = 3
) -> tuple[float, float]:
    """Interleaved best-of-rounds rates: (learner, baseline)."""
    best_learner = best_baseline = 0.0
    for _ in range(rounds):
        best_baseline = max(best_baseline, best_rate(baseline, units, rounds=1))
        best_learner = max(best_learner, best_rate(learner, units, rounds=1))
    return best_learner, best_baseline


class PerfRecorder:
    """The `perf` fixture: measures, records figures for the report, fails when too slow."""

    def __init__(self, kata: KataDef, test_name: str, sink: list):
        self._kata = kata
        self._test = test_name
        self._sink = sink

    def check(
        self,
        metric_name: str,
        learner: Callable[[], object],
        baseline: Callable[[], object],
        units: float,
        scale: float = 1.0,
        rounds: int = 3,
        attempts: int = 3,
    ) -> PerfFigure:
        """Compare learner vs baseline rates for `metric_name` (thresholds from kata.yaml).

        `units` is the work one call does (bytes, messages...); `scale` converts
        units/s to the metric's unit (e.g. 1e-6 for MB/s). Fails the test with
        the figures when the best ratio over `attempts` stays under the threshold.
        """
        from grader.testing import fail

        metric = self._kata.metric(metric_name)
        best = None
        for _ in range(attempts):
            value, base = compare(learner, baseline, units, rounds)
            ratio = value / base if base else 0.0
            if best is None or ratio > best[2]:
                best = (value, base, ratio)
            if ratio >= metric.threshold:
                break
        value, base, ratio = best
        figure = PerfFigure(
            name=metric.name,
            description=metric.description,
            value=round(value * scale, 3),
            unit=metric.unit,
            baseline=round(base * scale, 3),
            ratio=round(ratio, 3),
            threshold=metric.threshold,
            passed=ratio >= metric.threshold,
            test=self._test,
        )
        if not figure.passed:  # one more round, profiled: where the time went (a pass costs nothing)
            found = hotspots.profile_learner(learner)
            if found is not None:
                figure.hotspots, figure.profiled = found.hotspots, found.coverage
        self._sink.append(figure.__dict__)
        if not figure.passed:
            fail(
                f"too slow: {metric.description or metric.name} reached {figure.value:,.1f} {metric.unit}, "
                f"{ratio:.2f}x the same-run baseline of {figure.baseline:,.1f} {metric.unit}; "
                f"the threshold is {metric.threshold:.2f}x. Look for extra copies, tiny reads or writes, "
                "or a sleep/poll where a blocking call belongs."
            )
        return figure
