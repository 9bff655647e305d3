"""Hidden suite of the `pipeline` kata: `a | b | c` with os.pipe, os.fork, os.dup2,
os.execvp and os.waitpid. Hygiene (zombies, the caller's fds, escaped children) is
checked by the grader after every test; these tests check behaviour, and the fds
each command starts with."""

from __future__ import annotations

import ast
import functools
import json
import os
import signal
import subprocess
import sys
import threading

import pytest

from grader.testing import (
    Usage,
    check_bytes,
    check_held_parent,
    check_no_spin,
    drop_root_file_powers,
    expect,
    fail,
    held_children,
    payload,
    read_to_eof,
    run_in_child,
    small_pipes,
    task,
)

PIPE_CAPACITY = 65536
_forks = [0]
os.register_at_fork(after_in_parent=lambda: _forks.__setitem__(0, _forks[0] + 1))


class Spawns:
    """What the caller did to start processes during one test: os.fork() calls, and
    any use of subprocess / os.system / posix_spawn (which do the work for you)."""

    def __init__(self):
        _forks[0] = 0
        self.helpers: list[str] = []

    @property
    def forks(self) -> int:
        return _forks[0]


@pytest.fixture
def spawns(monkeypatch):
    record = Spawns()

    def spy(label, real):
        def wrapper(*args, **kwargs):
            record.helpers.append(label)
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(subprocess.Popen, "_execute_child", spy("subprocess", subprocess.Popen._execute_child))
    for name in ("system", "posix_spawn", "posix_spawnp"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, spy(f"os.{name}", getattr(os, name)))
    return record


def run(impl, commands, stdin=b"", spawns: Spawns | None = None):
    got = impl.run_pipeline(commands, stdin)
    shown = " | ".join(" ".join(c) for c in commands)
    expect(
        isinstance(got, tuple) and len(got) == 2,
        f"`run_pipeline` must return a tuple (stdout bytes, list of return codes), got {type(got).__name__}",
    )
    output, codes = got
    expect(isinstance(output, bytes), f"the output of `{shown}` must be bytes, got {type(output).__name__}")
    expect(
        isinstance(codes, list) and all(isinstance(c, int) for c in codes),
        f"the return codes of `{shown}` must be a list of int, got {codes!r}",
    )
    expect(
        len(codes) == len(commands),
        f"`{shown}` has {len(commands)} commands but `run_pipeline` returned {len(codes)} return codes "
        f"({codes!r}): one per command, in command order",
    )
    if spawns is not None:
        check_spawns(spawns, len(commands))
    return output, codes


def check_spawns(spawns: Spawns, commands: int) -> None:
    if spawns.helpers:
        fail(
            f"`run_pipeline` used {spawns.helpers[0]}: this kata is about building the pipeline yourself "
            "with os.pipe(), os.fork(), os.dup2() and os.execvp(), without subprocess or a shell"
        )
    expect(
        spawns.forks >= commands,
        f"`run_pipeline` forked {spawns.forks} times for {commands} commands: each command runs in its own "
        "child (fork, then dup2 its stdin/stdout, then execvp), never through a shell",
    )


def check_output(expected: bytes, got: bytes, shown: str) -> None:
    check_bytes(
        expected,
        got,
        f"`{shown}`",
        cut_short=" of the last command's output: read its stdout in a loop until read() returns b'' (EOF), and "
        "only then wait for it",
        differ=": the last command's stdout must come back unchanged (bytes, no decoding)",
    )


def check_codes(expected: list[int], got: list[int], shown: str, why: str = "") -> None:
    if got == expected:
        return
    fail(f"`{shown}` returned the codes {got!r}, expected {expected!r}" + (f": {why}" if why else ""))


EOF_HINT = (
    "a command waits for EOF on its stdin, and EOF comes only when every copy of that pipe's write end is "
    "closed. After forking the children, the parent must close every pipe end it does not use itself "
    "(it keeps only the first command's stdin and the last command's stdout), and close the first "
    "command's stdin once it has written everything (at once when stdin is empty)."
)


# --- task 1: basics ---------------------------------------------------------------------


@task(1, on_timeout=EOF_HINT)
def test_single_command(impl, spawns):
    output, codes = run(impl, [["echo", "hello", "pipeline"]], spawns=spawns)
    check_output(b"hello pipeline\n", output, "echo hello pipeline")
    check_codes([0], codes, "echo hello pipeline")


@task(1, on_timeout=EOF_HINT)
def test_stdin_reaches_the_first_command(impl, spawns):
    output, codes = run(impl, [["tr", "a-z", "A-Z"]], b"shout this\n", spawns=spawns)
    check_output(b"SHOUT THIS\n", output, "tr a-z A-Z")
    check_codes([0], codes, "tr a-z A-Z")


@task(1, on_timeout=EOF_HINT)
def test_three_stages(impl, spawns):
    text = b"pear\napple\nfig\n"
    commands = [["cat"], ["tr", "a-z", "A-Z"], ["sort"]]
    output, codes = run(impl, commands, text, spawns=spawns)
    if output == text.upper():
        fail(
            "`cat | tr a-z A-Z | sort` came back unsorted: the output of `tr` must be the stdin of `sort` "
            "(dup2 the read end of the pipe between them onto fd 0 of `sort`)"
        )
    check_output(b"APPLE\nFIG\nPEAR\n", output, "cat | tr a-z A-Z | sort")
    check_codes([0, 0, 0], codes, "cat | tr a-z A-Z | sort")


@task(1, on_timeout=EOF_HINT)
def test_binary_bytes_pass_unchanged(impl):
    data = bytes(range(256)) * 64
    output, codes = run(impl, [["cat"], ["cat"]], data)
    check_output(data, output, "cat | cat")
    check_codes([0, 0], codes, "cat | cat")


@task(1, on_timeout=EOF_HINT)
def test_empty_stdin_is_eof(impl):
    output, codes = run(impl, [["wc", "-c"]])
    expect(output.split() == [b"0"], f"`wc -c` with empty stdin printed {output!r}, expected 0 bytes counted")
    check_codes([0], codes, "wc -c")


@task(1, on_timeout=EOF_HINT)
def test_arguments_are_not_interpreted_by_a_shell(impl, spawns):
    words = "a | b; $HOME `id` *"
    output, codes = run(impl, [["echo", words]], spawns=spawns)
    expect(
        output == words.encode() + b"\n",
        f"`echo {words!r}` printed {output!r}: the arguments went through a shell. Each command is an "
        "argv list passed as is to os.execvp(argv[0], argv): no quoting, no expansion, no shell",
    )
    check_codes([0], codes, "echo")


@task(1)
def test_empty_pipeline_is_an_error(impl, spawns):
    try:
        impl.run_pipeline([], b"")
    except ValueError:
        pass
    else:
        fail("`run_pipeline([])` must raise ValueError: there is no command to run")
    expect(spawns.forks == 0, "`run_pipeline([])` forked a process for an empty pipeline")


# --- task 2: return codes ---------------------------------------------------------------------------


@task(2, on_timeout=EOF_HINT)
def test_exit_codes_in_command_order(impl):
    commands = [["sh", "-c", "cat >/dev/null; exit 3"], ["sh", "-c", "cat; exit 5"], ["true"]]
    _output, codes = run(impl, commands)
    check_codes(
        [3, 5, 0],
        codes,
        "sh -c 'exit 3' | sh -c 'exit 5' | true",
        "one exit code per command, in the order of `commands` (not the order they finish in): "
        "os.waitstatus_to_exitcode(status) of os.waitpid(pid, 0) for each pid in turn",
    )


@task(2, on_timeout=EOF_HINT)
def test_killed_by_a_signal_is_negative(impl):
    _output, codes = run(impl, [["sh", "-c", "kill -TERM $$"], ["sh", "-c", "cat; kill -KILL $$"]])
    check_codes(
        [-signal.SIGTERM, -signal.SIGKILL],
        codes,
        "sh -c 'kill -TERM $$' | sh -c 'kill -KILL $$'",
        "a command killed by a signal has no exit code: report minus the signal number "
        "(-15 for SIGTERM, -9 for SIGKILL), as subprocess does. The wait status holds either an "
        "exit code or a signal: os.waitstatus_to_exitcode() decodes both (or WIFSIGNALED/WTERMSIG)",
    )


NOT_FOUND_HINT = (
    "The shell's rule: 127 when no file by that name exists (as a path, or in any $PATH directory), 126 when "
    "one exists but cannot be executed. os.execvp()'s error does not tell them apart: it raises the error of "
    "the first directory that failed for another reason than 'not there', e.g. PermissionError (EACCES) "
    "from a $PATH directory you may not search. After execvp fails, look for the file yourself "
    "(os.path.exists on each directory of os.get_exec_path()): found -> 126, nowhere -> 127"
)


@task(2, on_timeout=EOF_HINT)
def test_command_not_found_is_127(impl):
    missing = "kata-no-such-command"
    output, codes = run(impl, [[missing, "--flag"], ["echo", "still runs"]])
    expect(
        codes[0] == 127,
        f"`{missing}` does not exist: its return code must be 127 (the shell's 'command not found'), "
        f"got {codes[0]}. "
        + (
            NOT_FOUND_HINT
            if codes[0] == 126
            else "When os.execvp() fails in the child, the child must end with os._exit(127), never return or "
            "raise into the caller's code"
        ),
    )
    check_output(b"still runs\n", output, f"{missing} | echo 'still runs'")
    check_codes([127, 0], codes, f"{missing} | echo 'still runs'")


@task(2, on_timeout=EOF_HINT)
def test_not_executable_is_126(impl, scratch):
    script = scratch / "not-executable.sh"
    script.write_text("#!/bin/sh\necho should not run\n")
    script.chmod(0o644)
    output, codes = run(impl, [[str(script)]])
    check_codes(
        [126],
        codes,
        f"{script.name} (mode 0644)",
        "a file that exists but cannot be executed (os.execvp raises PermissionError) gets 126, "
        "the shell's convention; 127 means 'not found' only",
    )
    expect(output == b"", f"a command that could not be executed produced output {output!r}")


@task(2, on_timeout=EOF_HINT)
def test_not_executable_found_on_path_is_126(impl, scratch, monkeypatch):
    tools = scratch / "tools"
    tools.mkdir()
    (tools / "kata-tool").write_text("#!/bin/sh\necho should not run\n")
    (tools / "kata-tool").chmod(0o644)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    _output, codes = run(impl, [["kata-tool"], ["cat"]])
    check_codes([126, 0], codes, "kata-tool | cat (kata-tool found on $PATH, mode 0644)", NOT_FOUND_HINT)


@task(2, on_timeout=EOF_HINT)
def test_unsearchable_path_directory_is_still_127(impl, scratch, monkeypatch):
    run(impl, [["true"]])  # the plain case first, in this process
    locked = scratch / "locked"
    locked.mkdir(mode=0o000)
    monkeypatch.setenv("PATH", f"{locked}{os.pathsep}{os.environ['PATH']}")
    missing = "kata-no-such-command"

    def as_a_learner():  # root may search any folder: this child gives that power up
        drop_root_file_powers()
        return impl.run_pipeline([[missing], ["echo", "still runs"]], b"")

    try:
        output, codes = run_in_child(as_a_learner, impl, "run_pipeline with a $PATH directory it may not search")
    finally:
        locked.chmod(0o700)
    expect(
        codes[:1] == [127],
        f"`{missing}` exists in no $PATH directory, but one of them ({locked.name}, mode 0000) cannot be searched: "
        f"its code must still be 127, got {codes[:1]}. {NOT_FOUND_HINT}",
    )
    check_output(b"still runs\n", output, f"{missing} | echo 'still runs'")
    check_codes([127, 0], codes, f"{missing} | echo 'still runs'")


# --- task 3: big data, early exit --------------------------------------------------------------------

DEADLOCK_HINT = (
    "input and output larger than the pipe buffers (64 KiB): writing all of stdin before reading any output "
    "deadlocks, since the parent blocks on a full input pipe while the last command blocks on a full output "
    "pipe. Write and read at the same time: select() on both fds with the write end non-blocking "
    "(os.set_blocking(fd, False)), or a thread that feeds stdin."
)


@task(3, on_timeout=DEADLOCK_HINT)
def test_input_and_output_larger_than_pipe_buffer(impl):
    data = payload(4 << 20)
    output, codes = run(impl, [["cat"], ["cat"], ["cat"]], data)
    check_output(data, output, "cat | cat | cat")
    check_codes([0, 0, 0], codes, "cat | cat | cat")


@task(
    3,
    on_timeout=(
        DEADLOCK_HINT + " Here every pipe holds one page (4 KiB), as it does for a user who has many pipes open "
        "(/proc/sys/fs/pipe-user-pages-soft): 100 KiB already fill them all."
    ),
)
def test_one_page_pipes(impl):
    data = payload(100 << 10, seed=8)
    with small_pipes():
        output, codes = run(impl, [["cat"], ["cat"], ["cat"]], data)
    check_output(data, output, "cat | cat | cat (one-page pipes)")
    check_codes([0, 0, 0], codes, "cat | cat | cat")


@task(3, on_timeout=DEADLOCK_HINT)
def test_parent_sleeps_while_the_commands_work(impl):
    with held_children() as held:
        output, _codes = run(impl, [["cat"], ["cat"]], b"patience\n")
    check_output(b"patience\n", output, "cat | cat")
    check_held_parent(
        held,
        "run_pipeline, while its commands had not started yet",
        "select.select() without a timeout on the fds you feed and read (or blocking reads and writes, "
        "with a thread for stdin), never a loop with a short timeout or a sleep",
    )


@task(3, on_timeout=DEADLOCK_HINT + " Waiting for a command before reading all its output is a deadlock too.")
def test_output_larger_than_pipe_buffer(impl):
    output, codes = run(impl, [["head", "-c", "3000000", "/dev/zero"], ["tr", "\\0", "z"]])
    check_output(b"z" * 3_000_000, output, "head -c 3000000 /dev/zero | tr '\\0' z")
    check_codes([0, 0], codes, "head -c 3000000 /dev/zero | tr '\\0' z")


SIGPIPE_HINT = (
    "`yes` never stops writing: it ends only by SIGPIPE once `head` has exited. Python ignores SIGPIPE "
    "and exec'd programs inherit an ignored signal, so restore it in the child before exec: "
    "signal.signal(signal.SIGPIPE, signal.SIG_DFL). Also make sure no other process (the parent, a sibling) "
    "keeps the pipe's read end open, or `yes` never gets SIGPIPE at all."
)


@task(3, on_timeout=SIGPIPE_HINT)
def test_early_exit_ends_the_writer_by_sigpipe(impl):
    output, codes = run(impl, [["yes"], ["head", "-c", "10"]])
    check_output(b"y\n" * 5, output, "yes | head -c 10")
    if codes[0] != -signal.SIGPIPE:
        fail(
            f"`yes | head -c 10` returned the codes {codes!r}: `yes` must die of SIGPIPE (-13) when `head` "
            f"exits, as in a shell. {SIGPIPE_HINT}"
        )
    check_codes([-signal.SIGPIPE, 0], codes, "yes | head -c 10")


@task(3, on_timeout=DEADLOCK_HINT)
def test_first_command_reads_only_part_of_stdin(impl):
    data = payload(4 << 20, seed=5)
    try:
        output, codes = run(impl, [["head", "-c", "10"]], data)
    except BrokenPipeError:
        fail(
            "`run_pipeline([['head', '-c', '10']], <4 MiB>)` raised BrokenPipeError: `head` exits after 10 bytes, "
            "and writing to a pipe nobody reads fails with EPIPE (Python ignores SIGPIPE). That is normal, not "
            "an error of the pipeline: stop feeding stdin, close it, and go on reading the output"
        )
    check_output(data[:10], output, "head -c 10")
    check_codes([0], codes, "head -c 10")


WATCHER = r"""
import dataclasses, json, sys
from grader.testing import watch_for
sys.stdin.buffer.read()  # to EOF: the command before this one has exited
usage = watch_for(float(sys.argv[3]), int(sys.argv[1]), int(sys.argv[2]))
print(json.dumps(dataclasses.astuple(usage)))
"""


@task(3, on_timeout=DEADLOCK_HINT)
def test_caller_sleeps_after_the_first_command_stopped_reading(impl):
    # The last command watches the caller's thread once `head` has exited, while the caller has nothing
    # left to do but wait for that command's output: its stdin pipe has no reader any more.
    watcher = [sys.executable, "-c", WATCHER, str(os.getpid()), str(threading.get_native_id()), "0.3"]
    output, codes = run(impl, [["head", "-c", "1"], watcher], payload(1 << 20, seed=6))
    shown = "head -c 1 | <a command that watches the caller>"
    check_codes([0, 0], codes, shown)
    try:
        usage = Usage(*json.loads(output))
    except (ValueError, TypeError):
        fail(f"`{shown}` returned {output[:200]!r}, not what its last command printed")
    check_no_spin(
        "run_pipeline, after the first command had exited without reading all of stdin",
        usage,
        "once a write raised BrokenPipeError, stop feeding: close that write end and stop selecting on it. "
        "select() reports a pipe with no reader as writable, forever, so every pass writes, gets EPIPE again "
        "and goes round at once",
    )


# --- task 4: the fds each command starts with ----------------------------------------------------------

LISTER = r"""
import os, sys
fds = {}
for name in os.listdir("/proc/self/fd"):
    try:
        target = os.readlink("/proc/self/fd/" + name)
    except OSError:
        continue
    if not target.startswith("/proc/"):
        fds[int(name)] = target
with open(sys.argv[1], "w") as out:
    out.write(repr(fds))
"""


def inheritable_fds() -> set[int]:
    fds = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.get_inheritable(int(name)):
                fds.add(int(name))
        except OSError:
            continue
    return fds


@task(4, on_timeout=EOF_HINT)
def test_commands_start_with_only_their_stdio(impl, scratch):
    allowed = inheritable_fds() | {0, 1, 2}  # what any exec'd child of this process inherits anyway
    files = [scratch / f"fds-{n}.txt" for n in range(3)]
    commands = [[sys.executable, "-c", LISTER, str(f)] for f in files]
    run(impl, commands)
    seen = []
    for n, path in enumerate(files):
        expect(path.exists(), f"command {n} of the pipeline never ran (it did not write {path.name})")
        fds = ast.literal_eval(path.read_text())
        seen.append(fds)
        extra = {fd: target for fd, target in fds.items() if fd not in allowed}
        if extra:
            listed = ", ".join(f"fd {fd} -> {target}" for fd, target in sorted(extra.items()))
            fail(
                f"command {n} started with {listed} open besides stdin, stdout and stderr. Every pipe end it "
                "keeps by mistake can hold back an EOF (a reader waits forever) or a SIGPIPE. After dup2() "
                "onto 0 and 1, close the original pipe fds in the child (os.pipe() fds are close-on-exec "
                "unless made inheritable: do not call os.set_inheritable on them)"
            )
        for fd, role in ((0, "stdin"), (1, "stdout")):
            expect(
                fds.get(fd, "").startswith("pipe:"),
                f"the {role} of command {n} is {fds.get(fd, 'closed')!r}, expected a pipe: dup2 the pipe "
                f"end onto fd {fd} in the child before exec",
            )
    for n in range(1, len(files)):
        expect(
            seen[n][0] == seen[n - 1][1],
            f"the stdin of command {n} ({seen[n][0]}) is not the pipe the command before it writes to "
            f"({seen[n - 1][1]}): command k reads the pipe that command k-1 writes",
        )


@task(4, on_timeout=EOF_HINT)
def test_many_pipelines_in_a_row(impl):
    for n in range(8):
        data = payload(1000 + 97 * n, seed=n)
        output, codes = run(impl, [["cat"], ["cat"]], data)
        check_output(data, output, f"cat | cat (pipeline {n + 1} of 8)")
        check_codes([0, 0], codes, "cat | cat")


# --- task 5: performance -----------------------------------------------------------------------------------

PERF_SIZE = 32 << 20


def plain_cat_cat(data: bytes) -> bytes:
    """The baseline: the plainest correct `cat | cat` (fork, dup2, execvp; a thread feeds stdin while
    the caller reads), measured in this run on this machine."""
    (in_r, in_w), (mid_r, mid_w), (out_r, out_w) = os.pipe(), os.pipe(), os.pipe()
    pids = []
    for stdin_fd, stdout_fd in ((in_r, mid_w), (mid_r, out_w)):
        pid = os.fork()
        if pid == 0:
            try:
                os.dup2(stdin_fd, 0)
                os.dup2(stdout_fd, 1)
                signal.signal(signal.SIGPIPE, signal.SIG_DFL)
                os.execvp("cat", ["cat"])
            finally:
                os._exit(127)
        pids.append(pid)
    for fd in (in_r, mid_r, mid_w, out_w):
        os.close(fd)

    def feed():
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(in_w, view) :]
        finally:
            os.close(in_w)

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        return read_to_eof(out_r)
    finally:
        os.close(out_r)
        feeder.join()
        for pid in pids:
            os.waitpid(pid, 0)


@task(5, on_timeout=DEADLOCK_HINT)
def test_cat_cat_throughput(impl, perf):
    data = payload(PERF_SIZE, seed=3)
    output, _codes = run(impl, [["cat"], ["cat"]], data)
    check_output(data, output, "cat | cat")
    perf.check(
        "cat_cat_mbps",
        lambda: impl.run_pipeline([["cat"], ["cat"]], data),
        functools.partial(plain_cat_cat, data),
        units=len(data),
        scale=1e-6,
        causes="output grown with bytes += chunk (each += copies everything read so far), tiny reads or "
        "writes, or a poll with a timeout or a sleep where select() without a timeout belongs",
    )
