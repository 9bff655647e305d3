"""Same-run performance checks: the learner's rate against a baseline measured
moments before and after on the same machine, judged by a ratio.

Why it holds on a busy machine: baseline and learner rounds are interleaved,
each side keeps its best round (noise only ever slows a round down), and a
ratio under the threshold is measured again before it is believed. A truly
slow implementation fails every attempt; a noisy neighbour does not fail a
good one.

The baseline is the suite's own plainest correct implementation of the same
work. It must never depend on the learner's module or on the test's state, so
that it can run in a clean process that never imported the learner's file: a
module-level function of the suite (or of grader.testing), or a
`functools.partial` of one with plain arguments (bytes, str, numbers, and
tuples, lists and dicts of them). `check` refuses anything else.

A callable whose setup must not count (forking writers, starting a server)
times its own measured section with `clock()` and returns `Elapsed(seconds)`.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from grader import hotspots
from grader.catalog import KataDef
from grader.report import PerfFigure

# Bound when the grader imports this module, before the learner's file is loaded:
# code that later replaces time.perf_counter does not change what the grader measures.
clock = time.perf_counter

Work = Callable[[], object]
_PLAIN = (bytes, bytearray, str, int, float, bool, type(None))
BUDGET_SHARE = 0.5  # of a perf test's time limit, for one check's measurements
# A best ratio under this share of the threshold needs no second attempt: a correct file measures several
# times the threshold, and noise does not divide its best round by eight.
CLEARLY_SLOW = 0.25
# A profiled round is slower than a plain one: its first hotspots.BUDGET seconds are traced, at a few
# times their plain cost. Profile only with room for a round this much longer (and a margin) before the limit.
PROFILE_ROOM = 1.5
PROFILE_MARGIN = 3 * hotspots.BUDGET


@dataclass(frozen=True)
class Elapsed:
    """Returned by a perf callable that timed its own measured section (setup and teardown excluded)."""

    seconds: float


def run_once(fn: Work) -> float:
    """Seconds one call of fn took: its own measure when it returns Elapsed, else the wall time of the call."""
    start = clock()
    outcome = fn()
    elapsed = clock() - start
    if isinstance(outcome, Elapsed):
        elapsed = outcome.seconds
    return max(elapsed, 1e-9)


def best_rate(fn: Work, units: float, rounds: int = 3) -> float:
    """Best units/second of `rounds` calls to fn (each call does `units` of work)."""
    return max(units / run_once(fn) for _ in range(rounds))


def compare(
    learner: Work, baseline: Work, units: float, rounds: int = 3, deadline: float = float("inf")
) -> tuple[float, float]:
    """Interleaved best-of-rounds rates: (learner, baseline). No new round starts when another as long as
    the last would end past `deadline` (a clock() value): a learner that slow keeps the best of the rounds it
    had, which can only make it look slower."""
    best_learner = best_baseline = 0.0
    for _ in range(rounds):
        best_baseline = max(best_baseline, best_rate(baseline, units, rounds=1))
        started = clock()
        best_learner = max(best_learner, best_rate(learner, units, rounds=1))
        if 2 * clock() - started > deadline:
            break
    return best_learner, best_baseline


def _plain(value: object) -> bool:
    if isinstance(value, _PLAIN):
        return True
    if isinstance(value, (tuple, list)):
        return all(_plain(item) for item in value)
    if isinstance(value, dict):
        return all(_plain(key) and _plain(item) for key, item in value.items())
    return False


def _module_level(fn: object) -> bool:
    module = sys.modules.get(getattr(fn, "__module__", "") or "")
    qualname = getattr(fn, "__qualname__", "")
    if module is None or not qualname or "<" in qualname:
        return False
    found: object = module
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return found is fn


def require_portable(baseline: Work) -> None:
    """Refuse a baseline that could not run in a clean process (see the module's docstring)."""
    fn, args, kwargs = baseline, (), {}
    if isinstance(baseline, functools.partial):
        fn, args, kwargs = baseline.func, baseline.args, baseline.keywords
    if not _module_level(fn):
        raise TypeError(
            f"perf baseline {fn!r} is not a module-level function: pass functools.partial(fn, args...) of a "
            "function defined at the top of the suite module (no lambda, closure or bound method), so that it "
            "can run in a process that never imported the learner's file"
        )
    odd = [repr(value)[:60] for value in (*args, *kwargs.values()) if not _plain(value)]
    if odd:
        raise TypeError(
            f"perf baseline {getattr(fn, '__name__', fn)} takes arguments that are not plain data ({', '.join(odd)}): "
            "pass bytes, str, numbers (or tuples, lists, dicts of them), never an object of the test or the learner"
        )


class PerfRecorder:
    """The `perf` fixture: measures, records figures for the report, fails when too slow."""

    def __init__(self, kata: KataDef, test_name: str, sink: list[dict[str, object]], scratch: str | None = None):
        self._kata = kata
        self._test = test_name
        self._sink = sink
        self._scratch = scratch  # where a profiled round spools its children's figures (the run folder)
        perf_task = next((task.id for task in kata.tasks if task.perf), None)
        self._limit = kata.time_limit(test_name, perf_task)
        self._started = clock()
        # measuring stops in time for the test to end within its limit, whatever the learner's speed
        self.budget = BUDGET_SHARE * self._limit

    def check(
        self,
        metric_name: str,
        learner: Work,
        baseline: Work,
        units: float,
        *,
        scale: float = 1.0,
        rounds: int = 3,
        attempts: int = 3,
        causes: str = "extra copies, tiny reads or writes, or a sleep/poll where a blocking call belongs",
    ) -> PerfFigure:
        """Compare learner vs baseline rates for `metric_name` (thresholds from kata.yaml).

        `units` is the work one call does (bytes, messages...); `scale` converts
        units/s to the metric's unit (e.g. 1e-6 for MB/s). Fails the test with
        the figures, and `causes` (what usually makes this metric slow), when
        the best ratio over `attempts` stays under the threshold. Measuring stops
        early once `budget` seconds (half the test's limit) are spent, or when the
        ratio is a small fraction of the threshold (clearly slow).
        """
        from grader.testing import fail

        require_portable(baseline)
        metric = self._kata.metric(metric_name)
        deadline = clock() + self.budget
        value = base = ratio = -1.0
        for _ in range(attempts):
            rate, base_rate = compare(learner, baseline, units, rounds, deadline)
            attempt_ratio = rate / base_rate if base_rate else 0.0
            if attempt_ratio > ratio:
                value, base, ratio = rate, base_rate, attempt_ratio
            if ratio >= metric.threshold or ratio < metric.threshold * CLEARLY_SLOW or clock() > deadline:
                break
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
            self._profile(figure, learner, units / value if value > 0 else float("inf"))
        self._sink.append(asdict(figure))
        if not figure.passed:
            fail(
                f"too slow: {metric.description or metric.name} reached {figure.value:,.1f} {metric.unit}, "
                f"{ratio:.2f}x the same-run baseline of {figure.baseline:,.1f} {metric.unit}; "
                f"the threshold is {metric.threshold:.2f}x. Look for {causes}."
            )
        return figure

    def _profile(self, figure: PerfFigure, learner: Work, round_seconds: float) -> None:
        """Profile one more learner round, when it can end well within the test's limit: a round that
        slow on a busy machine must not turn a "too slow" into a timeout."""
        left = self._limit - (clock() - self._started)
        if left < PROFILE_ROOM * round_seconds + PROFILE_MARGIN:
            figure.profiled = f"not profiled: one round takes {round_seconds:.1f} s, and the test's limit is near"
            return
        found = hotspots.profile_learner(learner, spool_in=self._scratch)
        if found is not None:
            figure.hotspots, figure.profiled = found.hotspots, found.coverage
