"""Run one `code` question's program and report what it did, as JSON.

Run as a script (stdlib only): `python _sandbox.py < request.json`, where the
request is {"code": str, "timeout": float, "python": str}. The sandbox

- becomes a child subreaper, so every orphan of the program is re-parented to
  it and can be killed and reaped (nothing is left to a non-reaping init);
- runs `python -I -c CODE` in a new session (its own process group), stdout
  and stderr captured, stdin from /dev/null, cwd and TMPDIR a fresh scratch
  directory;
- on timeout kills the whole process group (SIGKILL), then every descendant
  still alive, and reaps them all;
- finds what the program left behind: live processes, POSIX shm / semaphores /
  message queues whose name contains the program's pid, System V objects whose
  key's low 24 bits are the program's pid (both only if created during the
  run, so a stale object of another session is never touched), files in the
  scratch directory; it reports them as `leftovers` and removes them.

It prints {"pid", "returncode", "timed_out", "stdout", "stderr", "duration",
"leftovers"}; `returncode` is negative for a signal, like subprocess.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

PR_SET_CHILD_SUBREAPER = 36
IPC_RMID = 0
OUTPUT_CAP = 1 << 20


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgrp) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    rest = data[data.rfind(")") + 2 :].split()
    return rest[0], int(rest[1]), int(rest[2])


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid in _all_pids():
        st = _proc_stat(pid)
        if st:
            children.setdefault(st[1], []).append(pid)
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _in_group(pgid: int) -> list[tuple[int, str]]:
    found = []
    for pid in _all_pids():
        st = _proc_stat(pid)
        if st and st[2] == pgid:
            found.append((pid, st[0]))
    return found


def _reap_all() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _kill_everything(pgid: int) -> None:
    """Kill the program's group and every descendant of the sandbox, then reap."""
    me = os.getpid()
    for _ in range(50):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        alive = [p for p in _descendants(me) if (_proc_stat(p) or ("Z",))[0] != "Z"]
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _reap_all()
        if not _descendants(me) and not _in_group(pgid):
            return
        time.sleep(0.02)


def _reader(stream, sink: list[bytes]) -> None:
    size = 0
    while True:
        chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
        if not chunk:
            break
        if size < OUTPUT_CAP:
            sink.append(chunk[: OUTPUT_CAP - size])
        size += len(chunk)
    stream.close()


def _token_re(pid: int) -> re.Pattern[str]:
    return re.compile(rf"(?<!\d){pid}(?!\d)")


def _posix_leftovers(pid: int, since: float) -> list[str]:
    """POSIX objects whose name contains the pid and that were created during
    the run (an older object of a dead namesake process is not ours to remove)."""
    token = _token_re(pid)
    found = []
    for folder in ("/dev/shm", "/dev/mqueue"):
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if token.search(name):
                path = os.path.join(folder, name)
                try:
                    if os.stat(path).st_ctime < since:
                        continue
                except OSError:
                    continue
                found.append(path)
                try:
                    os.unlink(path)
                except OSError:
                    pass
    return found


def _sysv_leftovers(pid: int, since: float) -> list[str]:
    """System V objects whose key's low 24 bits are the pid and that were
    created (ctime) during the run."""
    libc = _libc()
    found = []
    removers = {
        "shm": lambda ident: libc.shmctl(ident, IPC_RMID, None),
        "sem": lambda ident: libc.semctl(ident, 0, IPC_RMID),
        "msg": lambda ident: libc.msgctl(ident, IPC_RMID, None),
    }
    for kind, remove in removers.items():
        try:
            with open(f"/proc/sysvipc/{kind}") as f:
                header, *rows = f.read().splitlines()
        except (OSError, ValueError):
            continue
        columns = {name: i for i, name in enumerate(header.split())}
        for row in rows:
            fields = row.split()
            if len(fields) < 2:
                continue
            key, ident = int(fields[0]), int(fields[1])
            ctime = int(fields[columns["ctime"]]) if "ctime" in columns and len(fields) > columns["ctime"] else None
            if ctime is not None and ctime < since:
                continue
            if key != 0 and (key & 0xFFFFFF) == pid:
                found.append(f"System V {kind} key={key:#x} id={ident}")
                remove(ident)
    return found


def run(request: dict) -> dict:
    libc = _libc()
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
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

    leftovers: list[str] = []
    if not timed_out:
        # The program ended and was reaped: any process still in its group, or
        # re-parented to us (an orphan, even one that escaped with setsid), is
        # a process it left behind.
        me = os.getpid()
        left = {pid for pid, _state in _in_group(proc.pid)} | set(_descendants(me))
        for pid in sorted(left - {proc.pid}):
            st = _proc_stat(pid)
            if st:
                leftovers.append(f"process {pid} ({'zombie' if st[0] == 'Z' else 'running'})")
    _kill_everything(proc.pid)
    proc.wait()
    for t in readers:
        t.join(timeout=5)

    since = wall_started - 1  # whole seconds in /proc/sysvipc
    leftovers += _posix_leftovers(proc.pid, since)
    leftovers += _sysv_leftovers(proc.pid, since)
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
    result = run(json.load(sys.stdin))
    sys.stdout.write(json.dumps(result))
