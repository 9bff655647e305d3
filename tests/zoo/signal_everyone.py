# Signal 0 (a probe, harmless) to every process of the user (kill(-1)), to the runner
# (the supervisor's parent) and to the runner's process group: the fence refuses each.
# The outcomes are written next to this file.
import json

_solution = child_to_parent


def child_to_parent(payload):
    _record_pid()
    with open(f"/proc/{os.getppid()}/stat") as f:
        runner = int(f.read().rsplit(")", 1)[1].split()[1])
    outcomes = {}
    for name, target in (("everyone", -1), ("runner", runner), ("runner's group", -os.getpgid(runner))):
        try:
            os.kill(target, 0)
            outcomes[name] = "delivered"
        except OSError as err:
            outcomes[name] = err.strerror
    with open(os.path.join(os.path.dirname(__file__), "outcomes.json"), "w") as f:
        json.dump(outcomes, f)
    return _solution(payload)
