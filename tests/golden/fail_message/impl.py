"""Binary data decoded and encoded again on the way: the bytes do not arrive unchanged."""

import os


def child_to_parent(payload):
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(write_end, payload.decode("latin-1").encode("utf-8"))
        finally:
            os._exit(0)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    return b"".join(chunks)


round_trip_digest = gather = None  # not graded in this case
