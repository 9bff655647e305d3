"""A fleet of client processes for the `socket` suite: one unrelated `python -c`
process (it loads the learner's module as `impl`) that forks N clients once, then
runs jobs on all of them at the same time and reports each client's result.

The suite's server runs in the test process (threads); forking clients from a
multi-threaded process is unsafe, so they come from this separate process.
"""

from __future__ import annotations

import json
import os
import select
import subprocess

from grader.testing import fail

FLEET_MAIN = r'''
import ctypes, json, os, select, signal, sys

libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def value_for(index, j):
    return (b"%d:%d:" % (index, j)) * (1 + (index * 7 + j) % 50)


def job_kv(index, cmd, barrier):
    client = impl.KVClient(cmd["address"] if isinstance(cmd["address"], str) else tuple(cmd["address"]))
    try:
        mine = b"client-%d" % index
        client.set(mine, value_for(index, 0))
        if barrier is not None:
            barrier()  # every client holds an open connection here
        for j in range(1, cmd["n"] + 1):
            key = b"%s-%d" % (mine, j)
            client.set(key, value_for(index, j))
            got = client.get(key)
            if got != value_for(index, j):
                return f"get({key!r}) returned {got[:40]!r} after set({key!r}, {value_for(index, j)[:40]!r})"
            if not client.delete(key):
                return f"delete({key!r}) returned {False!r} for a key it had just set"
        got = client.get(mine)
        if got != value_for(index, 0):
            return f"get({mine!r}) returned {got[:40]!r}, expected {value_for(index, 0)[:40]!r}"
        return None
    finally:
        client.close()


def job_connect(index, cmd, barrier):
    client = impl.KVClient(cmd["address"])
    try:
        client.set(b"peer-%d" % index, str(os.getpid()).encode())
    finally:
        client.close()


JOBS = {"kv": job_kv, "connect": job_connect}


def client_main(index, cmd_r, res_w):
    commands = os.fdopen(cmd_r, "r")
    out = os.fdopen(res_w, "w", buffering=1)

    def barrier():
        out.write("B\n")
        if commands.readline() != "G\n":
            os._exit(0)

    for line in commands:
        cmd = json.loads(line)
        try:
            error = JOBS[cmd["job"]](index, cmd, barrier if cmd.get("barrier") else None)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        out.write(json.dumps({"pid": os.getpid(), "error": error}) + "\n")


size = int(os.environ["FLEET_SIZE"])
children = []
for index in range(size):
    cmd_r, cmd_w = os.pipe()
    res_r, res_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            os.close(cmd_w)
            os.close(res_r)
            for other in children:
                os.close(other[1])
                os.close(other[2])
            if os.getppid() != int(os.environ["FLEET_PID"]):
                os._exit(0)
            client_main(index, cmd_r, res_w)
        finally:
            os._exit(0)
    os.close(cmd_r)
    os.close(res_w)
    children.append((pid, cmd_w, res_r))


def collect(deadline_s, want):
    """Read one line of kind `want` ("B" or a result) from every child, until the deadline."""
    import time
    deadline = time.monotonic() + deadline_s
    pending = {res_r: b"" for _, _, res_r in children}
    lines = {}
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select(list(pending), [], [], left)
        for fd in ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                lines[fd] = json.dumps({"pid": None, "error": "the client process died"})
                del pending[fd]
                continue
            pending[fd] += chunk
            if b"\n" in pending[fd]:
                lines[fd] = pending.pop(fd).split(b"\n", 1)[0].decode()
    return [lines.get(res_r) for _, _, res_r in children]


print(json.dumps({"pids": [pid for pid, _, _ in children]}), flush=True)
for line in sys.stdin:
    cmd = json.loads(line)
    for _, cmd_w, _ in children:
        os.write(cmd_w, line.encode())
    report = {}
    if cmd.get("barrier"):
        arrived = collect(cmd["deadline"], "B")
        report["barrier"] = sum(1 for a in arrived if a == "B")
        if report["barrier"] < size:
            print(json.dumps(report), flush=True)
            break
        for _, cmd_w, _ in children:
            os.write(cmd_w, b"G\n")
    results = collect(cmd["deadline"], "result")
    report["results"] = [json.loads(r) if r else None for r in results]
    print(json.dumps(report), flush=True)
for pid, _, _ in children:
    os.kill(pid, signal.SIGKILL)  # an unreaped child of ours: the pid cannot have been reused
for pid, _, _ in children:
    os.waitpid(pid, 0)
'''


class Fleet:
    """`size` client processes, started once; `run` gives them all the same job at once."""

    def __init__(self, python_processes, size: int, scratch):
        self.size = size
        self._err_path = os.path.join(str(scratch), "fleet.stderr")
        self._err = open(self._err_path, "wb")  # noqa: SIM115  the fleet's stderr, closed in close()
        self.proc = python_processes.start(
            "os.environ['FLEET_PID'] = str(os.getpid())\n" + FLEET_MAIN,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            env={"FLEET_SIZE": str(size)},
        )
        self._buffer = b""
        self.pids = self._read(60, "starting the client processes")["pids"]

    def _read(self, timeout: float, what: str) -> dict:
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            ready, _, _ = select.select([fd], [], [], timeout)
            chunk = os.read(fd, 65536) if ready else None
            if not chunk:
                fail(
                    f"the client processes failed while {what}"
                    + (" (no answer in time)" if chunk is None else f": {self._stderr_tail()}")
                )
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def _stderr_tail(self) -> str:
        self._err.flush()
        with open(self._err_path, "rb") as f:
            return f.read()[-1500:].decode(errors="replace")

    def run(self, job: str, address, *, n: int = 1, barrier: bool = False, deadline: float = 20) -> dict:
        """All clients run `job` against `address`; returns {"results": [{"pid", "error"}...], "barrier"?}."""
        command = {"job": job, "address": address, "n": n, "barrier": barrier, "deadline": deadline}
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        self.proc.stdin.flush()
        return self._read(deadline * (2 if barrier else 1) + 30, f"running `{job}`")

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.proc.stdin = self.proc.stdout = None  # closed here: python_processes' teardown must not flush them
        self._err.close()
