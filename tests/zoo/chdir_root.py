_solution = child_to_parent


def child_to_parent(payload):
    os.chdir("/")
    return _solution(payload)
