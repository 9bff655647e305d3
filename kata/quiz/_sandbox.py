"""Run one `code` question's program and report what it did, as JSON.

Run as `python -I -m kata.quiz._sandbox < request.json`, where the request is
{"code": str, "timeout": float, "python": str}. It uses the grader's sandbox
library (grader/proctree.py, grader/ipc_objects.py: standard library only, so the
start stays fast). The sandbox

- becomes a child subreaper, so every orphan of the program is re-parented to
  it and can be killed and reaped (nothing is left to a non-reaping init);
- runs `python -I -c CODE` in a new session (its own process group), stdout
  and stderr captured, stdin from /dev/null, cwd and TMPDIR a fresh scratch
  directory;
- on timeout kills the whole process group, then every descendant still
  alive, and reaps them all;
- finds what the program left behind: live processes, POSIX shm / semaphores /
  message queues whose name contains the program's pid, System V objects whose
  key's low 24 bits are the program's pid (both only if created during the
  run, so a stale object of another session is never touched), files in the
  scratch directory; it reports them as `leftovers` and removes them.

It prints {"pid", "returncode", "timed_out", "stdout", "stderr", "duration",
"leftovers"}; `returncode` is negative for a signal, like subprocess.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from typing import IO, Any

from grader import ipc_objects, proctree

OUTPUT_CAP = 1 << 20


def _reader(stream: IO[bytes], sink: list[bytes]) -> None:
    size = 0
    while True:
        chunk = stream.read(65536)
        if not chunk:
            break
        if size < OUTPUT_CAP:
            sink.append(chunk[: OUTPUT_CAP - size])
        size += len(chunk)
    stream.close()


def _kill_everything(pgid: int) -> None:
    """Kill the program's group and every descendant of the sandbox, then reap."""
    me = os.getpid()
    proctree.kill_all(lambda: {*proctree.group_members(pgid), *proctree.descendants(me)})
    proctree.reap_any()


def _leftover_processes(program: int) -> list[str]:
    """The program ended and was reaped: any process still in its group, or
    re-parented to us (an orphan, even one that escaped with setsid), is a
    process it left behind."""
    left = {*proctree.group_members(program), *proctree.descendants(os.getpid())} - {program}
    found = []
    for pid in sorted(left):
        st = proctree.stat(pid)
        if st:
            found.append(f"process {pid} ({'zombie' if st.zombie else 'running'})")
    return found


def _leftover_objects(pid: int, since: float) -> list[str]:
    """POSIX objects whose name contains the pid, System V objects whose key's low 24
    bits are the pid, created during the run (an older object of a dead namesake
    process is not ours to remove); each is removed."""
    token = re.compile(rf"(?<!\d){pid}(?!\d)")
    found = []
    for obj in ipc_objects.posix_objects(lambda name: bool(token.search(name))):
        path = ipc_objects.posix_path(obj.kind, obj.name)
        try:
            if path.stat().st_ctime < since:
                continue
        except OSError:
            continue
        found.append(str(path))
        ipc_objects.remove(obj)
    for obj in ipc_objects.sysv_objects():
        if obj.key and (obj.key & 0xFFFFFF) == pid and (obj.created is None or obj.created >= since):
            found.append(f"System V {obj.kind.removeprefix('sysv-')} key={obj.key:#x} id={obj.handle}")
            ipc_objects.remove(obj)
    return found


def run(request: dict[str, Any]) -> dict[str, Any]:
    proctree.become_subreaper()
    scratch = tempfile.mkdtemp(prefix="kata-code-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(TMPDIR=scratch, LC_ALL="C.UTF-8")
    timeout = float(request["timeout"])
    started = time.monotonic()
    wall_started = time.time()
    proc = subprocess.Popen(
        [request.get("python") or sys.executable, "-I", "-c", request["code"]],
        cwd=scratch,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    out: list[bytes] = []
    err: list[bytes] = []
    readers = [
        threading.Thread(target=_reader, args=(proc.stdout, out), daemon=True),
        threading.Thread(target=_reader, args=(proc.stderr, err), daemon=True),
    ]
    for t in readers:
        t.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
    duration = time.monotonic() - started

    leftovers = [] if timed_out else _leftover_processes(proc.pid)
    _kill_everything(proc.pid)
    proc.wait()
    for t in readers:
        t.join(timeout=5)

    leftovers += _leftover_objects(proc.pid, since=wall_started - 1)  # whole seconds in /proc/sysvipc
    for name in sorted(os.listdir(scratch)):
        leftovers.append(f"file {name} in the program's temp dir")
    shutil.rmtree(scratch, ignore_errors=True)

    return {
        "pid": proc.pid,
        "returncode": None if timed_out else proc.returncode,
        "timed_out": timed_out,
        "stdout": b"".join(out).decode("utf-8", "replace"),
        "stderr": b"".join(err).decode("utf-8", "replace"),
        "duration": round(duration, 3),
        "leftovers": leftovers,
    }


if __name__ == "__main__":
    try:
        result = run(json.load(sys.stdin))
    except proctree.SubreaperError as err:
        sys.exit(f"the code sandbox cannot run here: {err.strerror}")
    sys.stdout.write(json.dumps(result))
