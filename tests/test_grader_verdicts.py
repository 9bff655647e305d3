"""Broken implementations get the right verdict, and the grader leaves nothing behind.

Each file here is a small variant of the `pipe` solution written into tmp_path.
Files that start processes or create IPC objects name them after a unique id and
write their pids to `pids` next to themselves, so each test can prove that
every one of them is gone once `grade` returns.
"""

from __future__ import annotations

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


def test_a_skip_raised_by_the_implementation_is_a_failure_not_a_pass(tmp_path):
    path = write_impl(
        tmp_path,
        """
        import pytest
        def child_to_parent(payload):
            pytest.skip("not today")
        """,
    )
    result = grade("pipe", path, tests=("test_child_to_parent_small",), perf=False)
    test = result.tests[0]
    assert test.status == "fail", render_text(result)
    assert test.message.startswith("`child_to_parent` raised Skipped: not today (impl.py:"), test.message
    assert result.status == "fail"


def test_an_interrupt_raised_inside_a_test_is_never_a_pass(tmp_path):
    """KeyboardInterrupt passes pytest's reporting by and ends the session: the test fails, the rest did not run."""
    path = write_impl(
        tmp_path,
        """
        def child_to_parent(payload):
            raise KeyboardInterrupt
        """,
    )
    result = grade("pipe", path, tests=("test_child_to_parent_small", "test_round_trip_small"), perf=False)
    interrupted, not_run = result.tests
    assert (interrupted.name, interrupted.status) == ("test_child_to_parent_small", "fail"), render_text(result)
    assert interrupted.message.startswith("the test did not run to its end: KeyboardInterrupt was raised")
    assert (not_run.name, not_run.status) == ("test_round_trip_small", "error"), render_text(result)
    assert result.status == "fail"
