"""Right bytes, but the read end stays open and a FIFO made for later is never removed."""

import os


def child_to_parent(payload):
    os.mkfifo("later.fifo")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(write_end, payload)
        finally:
            os._exit(0)
    os.close(write_end)
    data = b""
    while True:
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        data += chunk
    os.waitpid(pid, 0)
    return data


round_trip_digest = gather = None  # not graded in this case
