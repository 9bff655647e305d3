"""The supervisor's answer (grader/liveness.py): an answer only from a live supervisor."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from grader import liveness
from grader.proctree import PARENT_GONE


def test_a_listening_supervisor_answers(tmp_path):
    path = tmp_path / "supervisor.sock"
    answerer = liveness.Answerer(path)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as asker:
            asker.connect(os.fspath(path))
            answerer.answer()
            assert asker.recv(1) == liveness.ANSWER
        assert oct(path.stat().st_mode & 0o777) == oct(0o600)
    finally:
        answerer.close()


def test_a_supervisor_that_closed_or_vanished_is_gone(tmp_path):
    path = tmp_path / "supervisor.sock"
    liveness.Answerer(path).close()
    assert liveness.supervisor_alive(path) is False  # refused: nobody listens
    path.unlink()
    assert liveness.supervisor_alive(path) is False  # no socket at all


def test_a_supervisor_that_dies_before_answering_is_gone(tmp_path):
    """A question the supervisor takes but never answers (it died with the connection open)."""
    path = tmp_path / "supervisor.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(os.fspath(path))
        listener.listen(1)
        with ThreadPoolExecutor(1) as pool:
            asked = pool.submit(liveness.supervisor_alive, path)
            listener.accept()[0].close()
            assert asked.result(timeout=30) is False


def test_the_test_process_ends_without_a_result_when_nobody_answers(tmp_path):
    nobody = tmp_path / "none.sock"
    code = f"import pathlib, grader.liveness as l\nl.wait_for_supervisor(pathlib.Path({str(nobody)!r}))\nprint('sent')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == PARENT_GONE and "sent" not in done.stdout, done
