"""The perf profiler (grader/hotspots.py, grader/hotspot_causes.py): where a slow round's
time went, named in the learner's file, with the cause when the profile shows one.

Each profile case runs a small learner file (or a real mutant of the pipe kata) once under
`profile` and checks the top place and its cause, never a duration. Every forked child is
reaped by the learner code itself."""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
import textwrap
import threading
from pathlib import Path
from types import ModuleType

import pytest

from grader import hotspots
from grader.catalog import load_kata
from grader.hotspot_causes import Statement, name_cause, statements
from grader.hotspots import Hotspot, profile
from grader.mutants import declared_mutants, mutant_source

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
    assert header.line == 6 and header.calls == ("os.read",) and header.waits and header.asks_much
    assert not header.in_loop  # the loop's own header is not inside it
    assert found[7].concat == "data" and found[7].in_loop
    assert found[8].concat == "self.buf"
    assert found[9] is found[10] is found[11]  # one statement over three lines
    assert found[9].calls == ("time.sleep",) and not found[9].waits  # sleeping is no wait for the other side
    assert found[12].waits and not found[12].asks_much  # a read of 16 bytes is a small one
    assert found[13].calls == ("json.dumps",)
    assert statements("def broken(:\n") == {}


@pytest.mark.parametrize(
    ("statement", "runs", "grown", "largest", "cause"),
    [
        (Statement(1, concat="data"), 10, "bytes", 1 << 20, "bytes concatenation"),
        (Statement(1, concat="data"), 10, "bytearray", 1 << 20, ""),  # bytearray += is amortised linear
        (Statement(1, concat="line"), 10_000, "bytes", 80, ""),  # a short line grown: not quadratic
        (Statement(1, calls=("time.sleep",), in_loop=True), 5, "", 0, "time.sleep in a wait loop"),
        (Statement(1, calls=("sleep",)), 5, "", 0, "sleep"),
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
    assert what.startswith(cause) if cause else what == ""
    assert bool(why) == bool(cause)


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
    assert found.coverage.startswith("one round (") and "forked" not in found.coverage


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
    assert "1 forked children ran another program, were killed or were still running" in found.coverage


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
        import time

        def slow(naps, done):
            for _ in range(naps):
                time.sleep(0.001)
            done.append(True)
        """,
    )
    done: list[bool] = []
    found = profile(lambda: module.slow(200, done), path, budget=0.05)
    assert done == [True]
    assert "tracing stopped after 0.05 s, the round finished untraced" in found.coverage
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
    assert found.hotspots[0].cause == "time.sleep"


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


def test_the_pipe_reference_shows_no_cause(tmp_path):
    module, path = _pipe(tmp_path, load_kata("pipe").solution_path.read_text())
    payload = os.urandom(1 << 20) * 16
    found = profile(lambda: module.child_to_parent(payload), path)
    assert [spot.cause for spot in found.hotspots if spot.cause] == []
