"""The perf profiler (grader/hotspots.py, grader/hotspot_causes.py): where a slow round's
time went, named in the learner's file, with the cause when the profile shows one.

Each profile case runs a small learner file (or a real mutant of the pipe kata) once under
`profile` and checks the top place and its cause, never a duration. Every forked child is
reaped by the learner code itself."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path
from types import ModuleType

import pytest

from grader import hotspots
from grader.catalog import load_kata
from grader.hotspot_causes import GROWTH_RUNS, Statement, name_cause, statements
from grader.hotspots import profile
from grader.mutants import declared_mutants, mutant_source
from grader.report import Hotspot, PerfFigure, Result, render_text
from grader.runner import grade

_loaded = 0


def learner(tmp_path: Path, source: str, name: str = "learner.py") -> tuple[ModuleType, str]:
    """The learner's file written and imported under a fresh module name; (module, its path)."""
    global _loaded
    _loaded += 1
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(f"hotspots_learner_{_loaded}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, str(path)


def line_of(path: str, text: str) -> int:
    """The number of the one line of the file that contains `text`."""
    found = [n for n, line in enumerate(Path(path).read_text().splitlines(), start=1) if text in line]
    assert len(found) == 1, (text, found)
    return found[0]


# --- what a statement does ---------------------------------------------------------------------------------


def test_statements_map_every_line_to_the_innermost_statement_and_a_header_to_its_compound():
    source = textwrap.dedent(
        """\
        CHUNK = 64 * 1024
        SMALL = 1 << 4

        def pump(fd, out):
            data = b""
            while chunk := os.read(fd, CHUNK):
                data += chunk
                self.buf = self.buf + chunk
                time.sleep(
                    0.001,
                )
            os.read(fd, SMALL)
            return json.dumps(data)
        """
    )
    found = statements(source)
    header = found[6]
    assert header.line == 6 and header.calls == ("os.read",) and header.asks_much and not header.sleeps
    assert not header.in_loop  # the loop's own header is not inside it
    assert found[7].concat == "data" and found[7].in_loop
    assert found[8].concat == "self.buf"
    assert found[9] is found[10] is found[11]  # one statement over three lines
    assert found[9].calls == ("time.sleep",) and found[9].sleeps
    assert found[12].calls == ("os.read",) and not found[12].asks_much  # a read of 16 bytes is a small one
    assert found[13].calls == ("json.dumps",)
    assert statements("def broken(:\n") == {}


@pytest.mark.parametrize(
    ("statement", "runs", "grown", "largest", "cause"),
    [
        (Statement(1, concat="data"), 10, "bytes", 1 << 20, "bytes concatenation"),
        (Statement(1, concat="data"), 10, "bytearray", 1 << 20, ""),  # bytearray += is amortised linear
        (Statement(1, concat="line"), 10_000, "bytes", 80, ""),  # a short line grown: not quadratic
        (Statement(1, calls=("time.sleep",), in_loop=True, waits=True), 5, "", 0, "time.sleep in a wait loop"),
        (Statement(1, calls=("sleep",), waits=True), 5, "", 0, "sleep"),
        (Statement(1, calls=("time.sleep",), in_loop=True), 5, "", 0, "time.sleep on every pass, waiting for nothing"),
        (Statement(1, calls=("sleep",)), 5, "", 0, "sleep on every call, waiting for nothing"),
        (Statement(1, calls=("json.dumps",)), 50, "", 0, "json.dumps per message (50 times)"),
        (Statement(1, calls=("pickle.loads",)), 2, "", 0, ""),  # once per round is setup, not per message
        (Statement(1, calls=("posix_ipc.MessageQueue",)), 20, "", 0, "posix_ipc.MessageQueue on every call"),
        (Statement(1, calls=("sysv_ipc.attach",)), 20, "", 0, "sysv_ipc.attach on every call"),
        (Statement(1, calls=("os.read",)), 5000, "", 0, "os.read called 5,000 times"),
        (Statement(1, calls=("os.read",), asks_much=True), 5000, "", 0, ""),  # the writer's fault, not the reader's
        (Statement(1, calls=("os.write",)), 50, "", 0, ""),
        (Statement(1, calls=("bytes",)), 50, "", 0, "a copy through bytes() (50 times)"),
        (Statement(1, calls=("len",)), 10**6, "", 0, ""),
    ],
)
def test_causes_are_named_only_when_the_statement_and_the_profile_agree(statement, runs, grown, largest, cause):
    what, why = name_cause(statement, runs, grown, largest)
    assert what == cause if "sleep" in cause else what.startswith(cause) if cause else what == ""
    assert bool(why) == bool(cause)


def test_the_slices_a_statement_reads_are_its_copies_and_a_slice_stored_to_is_not():
    found = statements("buf[0:end + n] = buf[0:end] + record\nview = memoryview(buf)[4:]\nbuf[i] = 1\n")
    assert found[1].slices == ("buf[0:end]",)
    assert found[2].slices == ("memoryview(buf)[4:]",)  # no copy, and its cost does not grow: never named
    assert found[3].slices == ()


@pytest.mark.parametrize(
    ("runs", "growth", "named"),
    [
        (10_000, 20.0, True),
        (10_000, 2.5, False),  # later runs a little dearer (caches, a larger heap): no copy of what grows
        (GROWTH_RUNS - 1, 20.0, False),  # too few runs to tell growth from a first run's cold caches
    ],
)
def test_a_slice_is_named_a_growing_copy_only_when_its_runs_grow_dearer(runs, growth, named):
    what, why = name_cause(Statement(1, slices=("log[8:end]",)), runs, growth=growth)
    assert (what == "a copy of log[8:end] that grows with the data") is named and bool(why) is named
    assert name_cause(Statement(1), runs, growth=growth) == ("", "")  # a statement that copies nothing


def test_a_sleep_that_polls_is_told_apart_from_a_nap_that_only_costs():
    source = textwrap.dedent(
        """\
        def get(q, deadline):
            while True:
                try:
                    return q.receive(0)
                except BusyError:
                    if time.monotonic() > deadline:
                        raise TimeoutError("empty")
                    time.sleep(0.001)

        def wait_until(ready):
            while not ready():
                time.sleep(0.001)

        def reap(pid):
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                time.sleep(0.001)

        def accept_all(listener, hand_over):
            while True:
                try:
                    conn, _ = listener.accept()
                except BlockingIOError:
                    conn = None
                if conn is not None:
                    hand_over(conn)
                time.sleep(0.001)

        def increment(sem, fd, times):
            for _ in range(times):
                sem.acquire()
                try:
                    os.pwrite(fd, b"1", 0)
                finally:
                    sem.release()
                time.sleep(0.0001)

        def put(q, job):
            q.send(job)
            time.sleep(0.0001)

        def read_all(fd, chunks):
            while chunk := os.read(fd, 65536):
                if chunk:
                    chunks.append(chunk)
                    time.sleep(0.002)
        """
    )
    found = statements(source)
    naps = {line: found[line] for line, text in enumerate(source.splitlines(), 1) if "time.sleep" in text}
    assert [(nap.waits, nap.in_loop) for nap in naps.values()] == [
        (True, True),  # taken when the queue was empty: a poll
        (True, True),  # the whole body of a loop that re-tests its condition
        (True, True),  # right after a check that leaves the loop
        (True, True),  # every pass of a loop whose non-blocking try found nothing
        (False, True),  # after the release, every time: "to give the others a turn"
        (False, False),  # after every send
        (False, True),  # after a read that got data: os.read already waits for the next
    ]
    polled = name_cause(naps[min(naps)], 300)
    assert polled[0] == "time.sleep in a wait loop" and "block in the call that waits instead" in polled[1]
    paced = name_cause(naps[max(naps)], 300)
    assert paced[0] == "time.sleep on every pass, waiting for nothing"
    assert paced[1].startswith("300 naps, each adding its whole length") and paced[1].endswith("remove it")
    assert name_cause(naps[max(naps)], 1)[1].startswith("a nap adding its whole length")


@pytest.mark.parametrize(
    ("kata", "mutant", "waits"),
    [
        ("semaphore", "nap_after_release", False),
        ("message-queue", "put_naps_after_send", False),
        ("pipe", "nap_between_reads", False),
        ("message-queue", "get_polls_with_sleep", True),
        ("pipe", "poll_with_sleep", True),
        ("fd-passing", "dispatcher_polls", True),
    ],
)
def test_the_naps_of_the_katas_mutants_are_told_apart(kata, mutant, waits):
    (declared,) = [m for m in declared_mutants(kata) if m.name == mutant]
    source = mutant_source(declared)
    solution = load_kata(kata).solution_path.read_text().splitlines()
    (nap,) = [n for n, line in enumerate(source.splitlines(), 1) if "sleep(" in line and line not in solution]
    assert statements(source)[nap].waits is waits


def test_a_hotspot_reads_as_a_sentence():
    concat = Hotspot("/w/pipe.py", 33, "child_to_parent", 0.71, 1.2, 512, cause="bytes concatenation", why="quadratic")
    assert concat.describe() == "71% of the time in bytes concatenation at pipe.py:33 in child_to_parent (quadratic)"
    plain = Hotspot("/w/pipe.py", 12, "_write_all", 0.2, 0.1, 9, process="child")
    assert plain.describe() == "20% of the time at pipe.py:12 in _write_all, in a forked child"


# --- one profiled round -----------------------------------------------------------------------------------------


def test_a_quadratic_concatenation_is_named_at_its_line(tmp_path):
    module, path = learner(
        tmp_path,
        """\
        def grow(parts):
            data = b""
            for part in parts:
                data += part
            return data
        """,
    )
    parts = [b"x" * 65536] * 100
    found = profile(lambda: module.grow(parts), path, budget=60)
    top = found.hotspots[0]
    assert (top.line, top.function, top.process) == (line_of(path, "data += part"), "grow", "test process")
    assert top.cause == "bytes concatenation" and "quadratic" in top.why
    assert top.runs == 100
    assert found.coverage.startswith("one round of ") and "forked" not in found.coverage


def test_a_bytearray_grown_the_same_way_is_not_called_quadratic(tmp_path):
    module, path = learner(
        tmp_path,
        """\
        def grow(parts):
            data = bytearray()
            for part in parts:
                data += part
            return data
        """,
    )
    found = profile(lambda: module.grow([b"x" * 65536] * 100), path)
    assert all("concatenation" not in spot.cause for spot in found.hotspots)


def test_a_slice_copy_that_grows_with_the_data_is_named_at_its_line(tmp_path):
    module, path = learner(
        tmp_path,
        """\
        def append_all(records):
            log = bytearray(64 * len(records))
            end = 0
            for record in records:
                log[0 : end + len(record)] = log[0:end] + record
                end += len(record)
            return end

        def copy_each(records):
            window = bytearray(64)
            for record in records:
                window[0:64] = record[0:64]
            return window
        """,
    )
    records = [b"r" * 128] * 4000  # the last copies (512 KiB) cost 10x the first ones at least (125x-270x here)
    found = profile(lambda: (module.append_all(records), module.copy_each(records)), path, budget=60)
    top = found.hotspots[0]
    assert (top.line, top.function) == (line_of(path, "log[0:end] + record"), "append_all")
    assert top.cause == "a copy of log[0:end] that grows with the data" and "O(n²)" in top.why
    assert all("grows" not in spot.cause for spot in found.hotspots[1:])  # the fixed-size copy


def test_the_mmap_file_mutant_that_rewrites_its_log_is_named_at_its_slice(tmp_path):
    mutant = next(m for m in declared_mutants("mmap-file") if m.name == "rewrite_log_per_append")
    module, path = learner(tmp_path, mutant_source(mutant), name="mmap_file.py")

    def appends():
        with module.MappedLog.create(str(tmp_path / "log"), 4096) as log:
            for _ in range(4000):
                log.append(b"x" * 128)

    top = profile(appends, path).hotspots[0]
    assert (top.line, top.cause) == (
        line_of(path, "self._map[HEADER.size : end] +"),
        "a copy of self._map[HEADER.size:end] that grows with the data",
    )


def test_a_sleep_in_a_wait_loop_is_named(tmp_path):
    module, path = learner(
        tmp_path,
        """\
        import time

        def wait_until(ready):
            while not ready():
                time.sleep(0.002)
        """,
    )
    calls = iter(range(30))
    found = profile(lambda: module.wait_until(lambda: next(calls) >= 29), path)
    top = found.hotspots[0]
    assert top.line == line_of(path, "time.sleep") and top.cause == "time.sleep in a wait loop"
    assert top.share > 0.5


def test_work_in_a_forked_child_is_seen_and_the_parents_wait_is_not_counted(tmp_path):
    module, path = learner(
        tmp_path,
        """\
        import os

        def child_grows(parts):
            pid = os.fork()
            if pid == 0:
                data = b""
                for part in parts:
                    data += part
                os._exit(0)
            os.waitpid(pid, 0)
        """,
    )
    found = profile(lambda: module.child_grows([b"x" * 65536] * 100), path)
    top = found.hotspots[0]
    assert (top.line, top.process, top.cause) == (line_of(path, "data += part"), "child", "bytes concatenation")
    assert all("waitpid" not in Path(path).read_text().splitlines()[spot.line - 1] for spot in found.hotspots)
    assert "1 of 1 forked children" in found.coverage and "not shown" not in found.coverage


def test_a_child_that_runs_another_program_is_said_not_to_be_seen(tmp_path):
    module, path = learner(
        tmp_path,
        """\
        import os, sys

        def run_true():
            pid = os.fork()
            if pid == 0:
                os.execv(sys.executable, [sys.executable, "-c", "pass"])
            os.waitpid(pid, 0)
        """,
    )
    found = profile(module.run_true, path)
    assert "0 of 1 forked children" in found.coverage
    assert (
        "1 forked child not seen (another program run by exec, killed, or still running at the end)" in found.coverage
    )


def test_child_processes_started_before_the_round_are_said_not_to_be_profiled(tmp_path):
    module, path = learner(tmp_path, "def nothing():\n    return 1\n")
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as beside:
        try:
            found = profile(module.nothing, path)
        finally:
            beside.kill()
    assert "1 child process already running when the round began: not profiled" in found.coverage


def test_a_thread_started_by_the_round_is_traced(tmp_path):
    module, path = learner(
        tmp_path,
        """\
        import threading, time

        def in_a_thread():
            worker = threading.Thread(target=_nap)
            worker.start()
            worker.join()

        def _nap():
            for _ in range(20):
                time.sleep(0.002)
        """,
    )
    found = profile(module.in_a_thread, path)
    top = found.hotspots[0]
    assert (top.line, top.process, top.function) == (line_of(path, "time.sleep"), "thread", "_nap")
    assert "threads it started" in found.coverage


def test_tracing_stops_at_the_budget_and_the_round_still_finishes(tmp_path):
    module, path = learner(
        tmp_path,
        """\
        import sys, threading, time

        def slow(naps, hooks):
            early = threading.Thread(target=_naps, args=(naps, hooks))
            early.start()
            _naps(naps, hooks)
            late = threading.Thread(target=lambda: hooks.append(sys.gettrace()))
            late.start()
            late.join()
            early.join()

        def _naps(naps, hooks):
            for _ in range(naps):
                _nap()
            hooks.append(sys.gettrace())

        def _nap():
            time.sleep(0.001)
        """,
    )
    hooks: list[object] = []
    found = profile(lambda: module.slow(200, hooks), path, budget=0.05)
    assert len(hooks) == 3  # the round finished: both threads and the one started after the budget
    assert "tracing stopped after 0.05 s, the round finished untraced" in found.coverage
    assert hooks == [None, None, None]  # untraced for real: a trace hook left in place slows every call
    assert found.hotspots[0].runs < 200


def test_a_round_that_raises_is_reported_not_raised(tmp_path):
    module, path = learner(
        tmp_path,
        """\
        import time

        def fails():
            time.sleep(0.01)
            raise TimeoutError("gave up")
        """,
    )
    found = profile(module.fails, path)
    assert "the profiled round raised TimeoutError" in found.coverage
    assert found.hotspots[0].cause.startswith("time.sleep")  # the nap is where the time went
    skipped = profile(lambda: pytest.skip("a round that skips its test"), path)  # the verdict is in already
    assert "the profiled round raised Skipped" in skipped.coverage


def test_the_process_is_left_as_it_was(tmp_path, monkeypatch):
    module, path = learner(tmp_path, "def nothing():\n    return 1\n")
    spools: list[str] = []
    make_spool = tempfile.mkdtemp
    monkeypatch.setattr(tempfile, "mkdtemp", lambda **kw: spools.append(make_spool(**kw)) or spools[-1])

    def other_tracer(frame, event, arg):
        return None

    sys.settrace(other_tracer)
    try:
        profile(module.nothing, path)
        assert sys.gettrace() is other_tracer
    finally:
        sys.settrace(None)
    assert threading.gettrace() is None
    assert os._exit is hotspots._real_exit
    assert len(spools) == 1 and not os.path.exists(spools[0])


# --- the pipe kata: a real slow mutant and the reference ---------------------------------------------------


def _pipe(tmp_path: Path, source: str) -> tuple[ModuleType, str]:
    return learner(tmp_path, source, name="pipe.py")


def test_the_pipe_mutant_that_concatenates_is_named_at_its_concatenation(tmp_path):
    mutant = next(m for m in declared_mutants("pipe") if m.name == "quadratic_concat")
    module, path = _pipe(tmp_path, mutant_source(mutant))
    payload = os.urandom(1 << 20) * 16
    found = profile(lambda: module.child_to_parent(payload), path)
    top = found.hotspots[0]
    assert (top.line, top.cause) == (line_of(path, "data += chunk"), "bytes concatenation")
    assert top.describe().startswith(f"{top.share:.0%} of the time in bytes concatenation at pipe.py:")
    assert "1 of 1 forked children" in found.coverage


def test_a_round_spools_its_childrens_profiles_where_it_is_told_and_removes_them(tmp_path):
    # In a grade the spool is the run folder: a test process killed mid-round leaves nothing in /tmp.
    module, path = _pipe(tmp_path, load_kata("pipe").solution_path.read_text())
    run_folder = tmp_path / "run"
    run_folder.mkdir()
    seen: list[str] = []

    def round_that_looks():
        seen.extend(entry.name for entry in run_folder.iterdir())
        return module.child_to_parent(b"x" * 1000)

    found = profile(round_that_looks, path, spool_in=str(run_folder))
    assert len(seen) == 1 and seen[0].startswith("kata-profile-"), seen
    assert list(run_folder.iterdir()) == [] and "1 of 1 forked children" in found.coverage


def test_the_pipe_reference_shows_no_cause(tmp_path):
    module, path = _pipe(tmp_path, load_kata("pipe").solution_path.read_text())
    payload = os.urandom(1 << 20) * 16
    found = profile(lambda: module.child_to_parent(payload), path)
    assert [spot.cause for spot in found.hotspots if spot.cause] == []


# --- in a grade: profiled only when the perf task fails, shown in the report and the JSON ------------------


def test_a_slow_mutants_grade_names_the_line_of_its_bug(tmp_path):
    # The napping mutant, not the quadratic one: its rounds sleep, so they take the same time on a busy
    # machine and the profiled round always fits the test's limit (a quadratic round under load 16 took
    # 13 s and was rightly left unprofiled). Naming bytes concatenation is proven above, on profile().
    mutant = next(m for m in declared_mutants("pipe") if m.name == "nap_between_reads")
    path = tmp_path / "pipe.py"
    path.write_text(mutant_source(mutant))
    result = grade("pipe", path, tests=list(mutant.tests))
    (figure,) = result.perf
    assert not figure.passed
    assert figure.profiled.startswith("one round of ") and "1 of 1 forked children" in figure.profiled, figure.profiled
    top = figure.hotspots[0]
    nap = line_of(str(path), "time.sleep(0.002)")
    # after each read, which already blocks until the child writes: a nap that waits for nothing
    assert (top.file, top.line, top.cause) == (str(path), nap, "time.sleep on every pass, waiting for nothing")
    text = " ".join(render_text(result).split())  # as read, whatever the wrapping
    assert "where the time went" in text
    assert f"time.sleep on every pass, waiting for nothing at pipe.py:{nap} in _read_all" in text
    again = Result.from_dict(json.loads(result.to_json()))
    assert again.perf[0].hotspots == figure.hotspots and again.schema == 3


def test_a_passing_perf_task_is_not_profiled(tmp_path):
    result = grade("pipe", load_kata("pipe").solution_path, tests=["test_child_to_parent_throughput"])
    (figure,) = result.perf
    assert figure.passed and figure.hotspots == [] and figure.profiled == ""
    assert "where the time went" not in render_text(result)


def test_the_report_shows_the_places_under_the_figure_or_says_none_stands_out():
    spot = Hotspot("/w/pipe.py", 9, "child_to_parent", 0.81, 0.1, 1, cause="time.sleep", why="nap")
    slow = PerfFigure("mbps", "throughput", 1.0, "MB/s", 10.0, 0.1, 0.5, False, "test_t", [spot], "one round of 0.1 s")
    flat = PerfFigure("ops", "requests", 1.0, "op/s", 10.0, 0.1, 0.5, False, "test_t", [], "one round of 0.2 s")
    lines = render_text(Result("pipe", "pipe.py", "fail", perf=[slow, flat])).splitlines()
    at = lines.index("    where the time went, by own time per line of your file:")
    assert lines[at - 1].endswith("TOO SLOW") and lines[at - 1].startswith("  throughput:")
    assert lines[at + 1 : at + 3] == [
        "      81% of the time in time.sleep at pipe.py:9 in child_to_parent (nap)",
        "      (one round of 0.1 s)",
    ]
    assert lines[at + 5 : at + 7] == ["      no line of your file stands out", "      (one round of 0.2 s)"]
