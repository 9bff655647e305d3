# Hundreds of children that sleep forever, left behind by a caller that returns.
import signal

STORM = 200  # twice the findings one result event carries (protocol.MAX_FINDINGS_SENT)
_solution = child_to_parent


def child_to_parent(payload):
    _record_pid()
    pids = []
    for _ in range(STORM):
        pid = os.fork()
        if pid == 0:
            while True:
                signal.pause()
        pids.append(pid)
    with open(_os.path.join(_os.path.dirname(__file__), "pids"), "a") as f:
        f.write("".join(f"{pid}\n" for pid in pids))
    return _solution(payload)
