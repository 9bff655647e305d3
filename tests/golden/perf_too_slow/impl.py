"""Correct, but it sleeps to give the child time to start: a pause where a blocking read belongs."""

import os
import time


def child_to_parent(payload):
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            with os.fdopen(write_end, "wb") as out:
                out.write(payload)
        finally:
            os._exit(0)
    os.close(write_end)
    time.sleep(0.5)
    with os.fdopen(read_end, "rb") as source:
        data = source.read()
    os.waitpid(pid, 0)
    return data


round_trip_digest = gather = None  # not graded in this case
