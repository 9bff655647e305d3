"""`kata watch`: one grade at start, one re-grade per save, a short report with
the next failing test first. Bounded: every wait has a deadline, and the loop
is stopped through its stop event (as Ctrl+C does)."""

from __future__ import annotations

import threading

import psutil

from grader.catalog import load_kata
from kata.commands.watch import watch_loop

PIPE = load_kata("pipe")


class Screen:
    """A stdout that lets the test wait until some text has been printed."""

    def __init__(self):
        self.text = ""
        self._changed = threading.Condition()

    def write(self, text: str) -> None:
        with self._changed:
            self.text += text
            self._changed.notify_all()

    def flush(self) -> None:
        pass

    def wait_for(self, needle: str, count: int = 1, timeout: float = 60.0) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: self.text.count(needle) >= count, timeout):
                raise AssertionError(f"never printed {needle!r} x{count}:\n{self.text}")


def test_a_save_regrades_and_the_next_failing_test_comes_first(tmp_path):
    impl = tmp_path / "pipe.py"
    impl.write_text(PIPE.starter_path.read_text())
    out, stop = Screen(), threading.Event()
    recorded = []
    loop = threading.Thread(
        target=watch_loop,
        args=("pipe", impl, out, stop),
        kwargs={"perf": False, "clear": False, "record": recorded.append},
    )
    loop.start()
    try:
        out.wait_for("Watching")
        assert "FAIL: 0/3 tasks (1 skipped)" in out.text
        first_report = out.text[out.text.index("FAIL") :]
        assert first_report.index("Next: test_child_to_parent_small") < first_report.index("Also failing")
        assert "not implemented" in first_report
        impl.write_text(PIPE.solution_path.read_text())
        out.wait_for("PASS: 3/3 tasks (1 skipped)")  # the perf task is skipped with perf=False
        out.wait_for("Watching", count=2)
    finally:
        stop.set()
        loop.join(30)
    assert not loop.is_alive()
    assert [r.status for r in recorded] == ["fail", "pass"]
    assert [p for p in psutil.Process().children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE] == []
