# pytest.exit() from the API: ends the session, which used to leave the test reading "pass".
import pytest


def child_to_parent(payload):
    _record_pid()
    pytest.exit("done here", returncode=0)
