_solution = child_to_parent


def child_to_parent(payload):
    os.umask(0o777)
    return _solution(payload)
