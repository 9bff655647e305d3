"""Background jobs of the app (grading runs, file watchers) and how they stop.

Thread workers can keep an app alive after quit and a grading run owns child
processes, so every job gets a stop event the app can set, and quitting waits
until each job has finished its own cleanup (the grader kills its processes
when its cancel event is set).
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator


class Jobs:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[threading.Event, threading.Event] = {}  # stop -> finished

    @contextmanager
    def job(self, stop: threading.Event | None = None) -> Iterator[threading.Event]:
        """Run a job's body inside this block; the yielded event asks it to stop."""
        stop = stop or threading.Event()
        finished = threading.Event()
        with self._lock:
            self._running[stop] = finished
        try:
            yield stop
        finally:
            finished.set()
            with self._lock:
                self._running.pop(stop, None)

    @property
    def running(self) -> int:
        with self._lock:
            return len(self._running)

    def stop_all(self, timeout: float = 15.0) -> None:
        """Ask every job to stop and wait (bounded) until each has cleaned up."""
        with self._lock:
            running = list(self._running.items())
        for stop, _finished in running:
            stop.set()
        for _stop, finished in running:
            finished.wait(timeout)
