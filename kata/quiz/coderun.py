"""Run a `code` question's program and compare what it does with its `expect`.

The tests run every code question through this, so the bank cannot teach a
wrong output; the quiz may use it to show the learner the real behaviour.
The program runs under `kata.quiz._sandbox` (a separate process, a child subreaper,
built on the grader's sandbox library):
on timeout the program's whole process group and every escaped descendant are
killed and reaped, and IPC objects named after the program's pid are removed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from kata.quiz.bank import Problem, Question
from kata.quiz.lint import normalize_output

SANDBOX_MODULE = "kata.quiz._sandbox"


@dataclass(frozen=True)
class RunResult:
    pid: int
    returncode: int | None  # None when it was still running at the timeout
    timed_out: bool
    stdout: str
    stderr: str
    duration: float
    leftovers: tuple[str, ...]  # processes / IPC objects / files it left (all removed since)

    def describe(self) -> str:
        if self.timed_out:
            return "still running at the timeout (killed)"
        if self.returncode is not None and self.returncode < 0:
            try:
                name = signal.Signals(-self.returncode).name
            except ValueError:
                name = f"signal {-self.returncode}"
            return f"killed by {name}"
        return f"exited with status {self.returncode}"


def run_code(code: str, timeout: float, *, python: str | None = None) -> RunResult:
    """Run `code` in the sandbox. Safe to call from several threads at once (run_all and the
    tests do): the sandbox gets its own copy of the environment, see `_environment`."""
    request = {"code": code, "timeout": timeout, "python": python or sys.executable}
    proc = subprocess.run(
        [sys.executable, "-I", "-m", SANDBOX_MODULE],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=timeout + 60,
        env=_environment(),
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the code sandbox failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    data = json.loads(proc.stdout)
    return RunResult(
        pid=data["pid"],
        returncode=data["returncode"],
        timed_out=data["timed_out"],
        stdout=data["stdout"],
        stderr=data["stderr"],
        duration=data["duration"],
        leftovers=tuple(data["leftovers"]),
    )


def _environment() -> dict[str, str]:
    """A private copy of this process's environment, for a child started from a thread.

    With `env=None`, subprocess on Linux vforks and releases the GIL until the child
    has exec'ed (CPython gh-104372; 3.11.7 here does), and the child's execve() reads
    the live C `environ` array, which it shares with us. Another thread that sets or
    deletes a variable meanwhile (pytest sets and deletes PYTEST_CURRENT_TEST around
    every test while the code questions' sandboxes start in a thread pool) shifts or
    reallocates that array under the kernel's feet: an entry turns NULL or points at
    freed memory, and the start fails with `OSError: [Errno 14] Bad address` (EFAULT).
    An explicit env is copied, with the GIL held, into an array of the subprocess
    call's own before the fork.
    """
    return dict(os.environ)


def run_question(question: Question) -> RunResult:
    if question.kind != "code" or question.code is None or question.expect is None:
        raise ValueError(f"{question.id} is not a code question")
    return run_code(question.code, question.expect.timeout)


def mismatches(question: Question, result: RunResult) -> list[str]:
    """How the program's real behaviour differs from the question's `expect`
    (empty when it matches). Leftovers count for programs that finish: a code
    question must clean up after itself."""
    expect = question.expect
    assert expect is not None
    problems: list[str] = []
    if expect.hangs:
        if not result.timed_out:
            problems.append(f"expected a hang, but it {result.describe()}")
    elif result.timed_out:
        problems.append(f"expected it to finish, but it was still running after {expect.timeout:g} s")
    elif expect.signal:
        if result.returncode != -int(signal.Signals[expect.signal]):
            problems.append(f"expected it to be killed by {expect.signal}, but it {result.describe()}")
    elif result.returncode != expect.exit_code:
        problems.append(f"expected exit status {expect.exit_code}, but it {result.describe()}")
    if expect.stdout is not None and normalize_output(result.stdout) != normalize_output(expect.stdout):
        problems.append(f"stdout differs: expected {expect.stdout!r}, got {result.stdout!r}")
    if expect.stderr_contains is not None and expect.stderr_contains not in result.stderr:
        problems.append(f"stderr lacks {expect.stderr_contains!r}: {result.stderr[-500:]!r}")
    if not expect.hangs and result.leftovers:
        problems.append("left behind: " + "; ".join(result.leftovers))
    if problems and result.stderr and expect.stderr_contains is None:
        problems.append(f"stderr: {result.stderr[-800:]}")
    return problems


def run_all(questions: Iterable[Question], *, workers: int | None = None) -> list[Problem]:
    """Run every code question concurrently; one `file:line` problem per question
    whose program does not do what its `expect` says (`kata questions check --run`)."""
    code = [q for q in questions if q.kind == "code"]
    workers = workers or max(4, min(12, 2 * (os.cpu_count() or 2)))
    problems: list[Problem] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for q, future in [(q, pool.submit(run_question, q)) for q in code]:
            try:
                found = mismatches(q, future.result())
            except (RuntimeError, OSError, subprocess.SubprocessError, ValueError) as err:
                found = [f"could not run: {err}"]
            problems.extend(Problem(q.file, q.line, f"{q.id}: {m.splitlines()[0]}") for m in found)
    return problems
