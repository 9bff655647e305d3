"""Broken implementations get the right verdict, and the grader leaves nothing behind.

Each file here is a small variant of the `pipe` solution written into tmp_path.
Files that start processes or create IPC objects name them after a unique id and
write their pids to `pids` next to themselves, so each test can prove that
every one of them is gone once `grade` returns.
"""

from __future__ import annotations

import signal
import uuid

import pytest
from zoolib import assert_all_gone, recorded_pids, sysv_ids, write_impl

from grader import grade
from grader.report import render_text


def test_syntax_error_is_an_error_with_file_and_line(tmp_path):
    path = write_impl(tmp_path, "def child_to_parent(payload):\n    return payload +\n", with_solution=False)
    result = grade("pipe", path)
    assert result.status == "error" and result.exit_code == 2
    assert result.message == f"{path}:2: SyntaxError: invalid syntax"
    assert not result.tests


def test_missing_function_is_an_error_naming_it(tmp_path):
    path = write_impl(tmp_path, "def child_to_parent(payload):\n    return payload\n", with_solution=False)
    result = grade("pipe", path)
    assert result.status == "error", render_text(result)
    assert "does not define round_trip_digest, gather" in result.message


def test_import_error_is_an_error_naming_the_module(tmp_path):
    path = write_impl(tmp_path, "import no_such_module_UNIQUE\n")
    result = grade("pipe", path)
    assert result.status == "error", render_text(result)
    assert "no_such_module_" in result.message and "\n" not in result.message


def test_missing_file_is_an_error_that_says_how_to_create_it(tmp_path):
    result = grade("pipe", tmp_path / "nope.py")
    assert result.status == "error"
    assert result.message == f"{tmp_path / 'nope.py'}: no such file (`kata start pipe` creates it from the starter)"


def test_infinite_loop_times_out_with_where_it_was_and_the_rest_still_runs(tmp_path):
    path = write_impl(
        tmp_path,
        """
        def child_to_parent(payload):
            pid = os.fork()
            if pid == 0:
                _record_pid()
                while True:   # the child spins
                    pass
            _record_pid()
            os.waitpid(pid, 0)
        """,
        record_pids=True,
    )
    tests = ("test_child_to_parent_small", "test_round_trip_small")
    result = grade("pipe", path, tests=tests, perf=False)
    by_name = {t.name: t for t in result.tests}
    hung = by_name["test_child_to_parent_small"]
    assert hung.status == "timeout", render_text(result)
    assert hung.message.startswith("timed out after 5 s (the limit for this test)")
    where = {p.describe() for p in hung.blocked}
    assert any("child_to_parent" in w and "impl.py" in w for w in where), where
    assert by_name["test_round_trip_small"].status == "pass", render_text(result)
    assert result.status == "fail" and result.exit_code == 1
    assert len(recorded_pids(tmp_path)) == 2
    assert_all_gone(recorded_pids(tmp_path))


def test_leaked_objects_of_every_kind_fail_by_name_and_are_removed(tmp_path):
    import posix_ipc

    path = write_impl(
        tmp_path,
        """
        import socket, posix_ipc, sysv_ipc
        _solution = child_to_parent
        def child_to_parent(payload):
            posix_ipc.SharedMemory("/leak_UNIQUE", posix_ipc.O_CREX, size=4096).close_fd()
            posix_ipc.Semaphore("/leak_UNIQUE", posix_ipc.O_CREX).close()
            sem = sysv_ipc.Semaphore(None, sysv_ipc.IPC_CREX)
            with open(_os.path.join(_os.path.dirname(__file__), "semid"), "w") as f:
                f.write(str(sem.id))
            os.mkfifo(_os.path.join(_os.path.dirname(__file__), "fifo_UNIQUE"))
            s = socket.socket(socket.AF_UNIX)
            s.bind(_os.path.join(_os.path.dirname(__file__), "sock_UNIQUE"))
            s.close()
            return _solution(payload)
        """,
        record_pids=True,
    )
    unique = path.read_text().split("/leak_")[1][:12]
    result = grade("pipe", path, tests=("test_child_to_parent_small",), perf=False)
    test = result.tests[0]
    assert test.status == "fail", render_text(result)
    assert "left things behind" in test.message
    kinds = {f.kind: f for f in result.hygiene}
    assert set(kinds) == {"posix-shm", "posix-sem", "sysv-sem", "fifo", "socket"}, render_text(result)
    assert kinds["posix-shm"].name == f"/leak_{unique}"
    assert "never unlinked: call unlink() (shm_unlink)" in kinds["posix-shm"].message
    with pytest.raises(posix_ipc.ExistentialError):
        posix_ipc.SharedMemory(f"/leak_{unique}")
    with pytest.raises(posix_ipc.ExistentialError):
        posix_ipc.Semaphore(f"/leak_{unique}")
    semid = int((tmp_path / "semid").read_text())
    assert semid not in sysv_ids("sysv-sem")
    assert not (tmp_path / f"fifo_{unique}").exists()
    assert not (tmp_path / f"sock_{unique}").exists()


def test_an_object_that_existed_before_is_not_removed(tmp_path):
    """Opening is not creating: the ledger must never sweep someone else's object."""
    import posix_ipc

    name = f"/kata_test_theirs_{uuid.uuid4().hex[:12]}"
    theirs = posix_ipc.SharedMemory(name, posix_ipc.O_CREX, size=4096)
    try:
        path = write_impl(
            tmp_path,
            f"""
            import posix_ipc
            _solution = child_to_parent
            def child_to_parent(payload):
                posix_ipc.SharedMemory("{name}", posix_ipc.O_CREAT).close_fd()
                return _solution(payload)
            """,
        )
        result = grade("pipe", path, tests=("test_child_to_parent_small",), perf=False)
        assert result.status == "pass", render_text(result)
        posix_ipc.SharedMemory(name).close_fd()  # still there
    finally:
        theirs.close_fd()
        theirs.unlink()


# --- no accidental pass: what pytest takes for a skip or the end of the session is a failure ----------

RAISERS = {
    "skip": ('pytest.skip("not today")', "your code raised pytest.skip() (not today) at impl.py:{line}"),
    "xfail": ('pytest.xfail("later")', "your code raised pytest.xfail() (later) at impl.py:{line}"),
    "exit": ('pytest.exit("bye")', "your code called pytest.exit() (bye) at impl.py:{line}"),
    "unittest skip": ('raise unittest.SkipTest("nah")', "your code raised unittest.SkipTest (nah) at impl.py:{line}"),
    "KeyboardInterrupt": ("raise KeyboardInterrupt", "KeyboardInterrupt was raised at impl.py:{line}"),
    "SIGINT to itself": (
        "os.kill(os.getpid(), signal.SIGINT); time.sleep(5)",
        "KeyboardInterrupt was raised at impl.py:{line} in child_to_parent: a SIGINT reached the test process",
    ),
    "GeneratorExit": ("raise GeneratorExit", "GeneratorExit escaped at impl.py:{line}"),
    "own BaseException": (
        'raise Stop("halt")',
        "your code raised Stop (halt) at impl.py:{line} in child_to_parent, a BaseException that is not an Exception",
    ),
}


@pytest.mark.parametrize("kind", RAISERS)
def test_what_pytest_would_not_count_as_a_failure_fails_naming_it_and_the_next_test_runs(tmp_path, kind):
    statement, expected = RAISERS[kind]
    path = write_impl(
        tmp_path,
        f"""
        import pytest, signal, time, unittest
        class Stop(BaseException):
            pass
        def child_to_parent(payload):
            {statement}  # the line
        """,
    )
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if text.endswith("# the line"))
    result = grade("pipe", path, tests=("test_child_to_parent_small", "test_round_trip_small"), perf=False)
    raised, after = result.tests
    assert (raised.status, after.status) == ("fail", "pass"), render_text(result)
    assert raised.message.startswith(expected.format(line=line)), raised.message
    assert result.status == "fail" and result.exit_code == 1


def test_the_learners_code_meets_default_signals_whatever_the_grade_inherited(tmp_path):
    # A background job of a shell script starts with SIGINT and SIGQUIT ignored, nohup ignores SIGHUP, and
    # exec keeps both (the project's own test loop once ran so, and three verdicts changed with it).
    path = write_impl(
        tmp_path,
        """
        import os, signal, time
        def child_to_parent(payload):
            odd = [s.name for s in (signal.SIGQUIT, signal.SIGHUP) if signal.getsignal(s) != signal.SIG_DFL]
            odd += [f"{s.name} blocked" for s in signal.pthread_sigmask(signal.SIG_BLOCK, ())]
            if odd:
                raise AssertionError(f"not a default process: {odd}")
            os.kill(os.getpid(), signal.SIGINT); time.sleep(5)  # the line
        """,
    )
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if text.endswith("# the line"))
    inherited = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP)}
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    try:
        result = grade("pipe", path, tests=("test_child_to_parent_small",), perf=False)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        for sig, handler in inherited.items():
            signal.signal(sig, handler)
    (raised,) = result.tests
    assert raised.status == "fail", render_text(result)
    expected = f"KeyboardInterrupt was raised at impl.py:{line} in child_to_parent"
    assert raised.message.startswith(expected), raised.message


def test_a_module_getattr_that_skips_provides_nothing(tmp_path):
    path = write_impl(
        tmp_path,
        """
        import pytest
        def __getattr__(name):
            pytest.skip(f"{name} skipped")
        """,
        with_solution=False,
    )
    result = grade("pipe", path, perf=False)
    assert result.status == "error" and result.exit_code == 2, render_text(result)
    assert (
        result.message == "impl.py does not define child_to_parent, round_trip_digest, gather (the kata's API is: "
        "child_to_parent, round_trip_digest, gather)"
    )


def test_interrupts_that_land_between_tests_make_the_grade_an_error(tmp_path):
    """A thread of the learner's that interrupts the main thread without pause: some land in the
    tests (failures), one lands in pytest's or the grader's own code and ends the session."""
    path = write_impl(
        tmp_path,
        """
        import _thread, threading, time
        def _interrupt():
            while True:
                _thread.interrupt_main()
                time.sleep(0.001)
        def child_to_parent(payload):
            threading.Thread(target=_interrupt, daemon=True).start()
            time.sleep(5)
        """,
    )
    tests = ("test_child_to_parent_small", "test_round_trip_small", "test_gather_more_tasks_than_workers")
    result = grade("pipe", path, tests=tests, perf=False)
    assert result.status == "error" and result.exit_code == 2, render_text(result)
    assert result.message.startswith("the grade was cut short by KeyboardInterrupt"), result.message
    assert "tests did not run" in result.message
    assert not any(t.status == "pass" for t in result.tests[:1]), render_text(result)
