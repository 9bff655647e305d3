"""Kills its own process (the caller's) instead of a child's."""

import os
import signal


def child_to_parent(payload):
    if payload:
        os.kill(os.getpid(), signal.SIGKILL)
    return b""


round_trip_digest = gather = None  # not graded in this case
