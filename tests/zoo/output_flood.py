# Hundreds of MiB to stdout and stderr, then the right answer.
FLOOD_MIB = 200
_solution = child_to_parent


def child_to_parent(payload):
    chunk = (b"flood " * ((1 << 20) // 6 + 1))[: 1 << 20]
    for _ in range(FLOOD_MIB):
        for fd in (1, 2):
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
    return _solution(payload)
