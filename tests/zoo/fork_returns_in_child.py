# The child forgets os._exit and returns: two processes go on running the test.
_solution = child_to_parent


def child_to_parent(payload):
    pid = os.fork()
    if pid == 0:
        _record_pid()
        return payload
    _record_pid()
    os.waitpid(pid, 0)
    return _solution(payload)
