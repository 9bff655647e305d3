"""Background jobs of the app (grading runs, file watchers) and how they stop.

Thread workers can keep an app alive after quit and a grading run owns child
processes, so every job has a stop event the app can set, and quitting waits
until each job has finished its own cleanup (the grader kills its processes
once its cancel event is set). A job is registered on the UI thread before its
worker starts, so a quit a moment later still finds it; a job whose worker never
began (Textual dropped it for a newer one) has nothing to clean up and is not waited for.
"""

from __future__ import annotations

import threading


class Job:
    """`stop` asks the job to end; the worker runs its body in `with job:`."""

    def __init__(self, jobs: Jobs):
        self._jobs = jobs
        self.stop = threading.Event()
        self.began = threading.Event()
        self.finished = threading.Event()

    def __enter__(self) -> threading.Event:
        self.began.set()
        return self.stop

    def __exit__(self, *exc: object) -> None:
        self.finished.set()
        self._jobs._forget(self)


class Jobs:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: list[Job] = []

    def start(self) -> Job:
        job = Job(self)
        with self._lock:
            self._running.append(job)
        return job

    def _forget(self, job: Job) -> None:
        with self._lock:
            if job in self._running:
                self._running.remove(job)

    @property
    def running(self) -> int:
        with self._lock:
            return len(self._running)

    def stop_all(self, timeout: float = 15.0) -> None:
        """Ask every job to stop and wait (bounded) until each has cleaned up."""
        with self._lock:
            running = list(self._running)
        for job in running:
            job.stop.set()
        for job in running:
            if job.began.is_set():
                job.finished.wait(timeout)
