# The child forgets os._exit and returns: two processes go on running the test.
_solution = child_to_parent


def child_to_parent(payload):
    _record_pid()  # the caller first, then the child
    pid = os.fork()
    if pid == 0:
        _record_pid()
        return payload
    os.waitpid(pid, 0)
    return _solution(payload)
