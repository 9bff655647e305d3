"""The grading protocol (grader/protocol.py): every event survives the wire, anything
malformed is rejected, and the runner's state machine never turns a test that did not
report its own end into a pass."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from grader import blocked
from grader import protocol as p
from grader.catalog import load_kata
from grader.channel import EventSender
from grader.protocol import ProtocolError, Unsigned, decode, encode
from grader.report import HygieneFinding, PerfFigure, TestResult
from grader.runner import GradingRun, Outcome, SandboxSession, Selection, TestFinished, TestStarted

KEY = p.new_key()
SMALL = p.TestDescription("test_pipe.py::test_small", "test_small", 1, 5.0, True, "a hint")
OTHER = p.TestDescription("test_pipe.py::test_other", "test_other", 2, 5.0, True)
EVENTS = [
    p.Hello(1234),
    p.Loaded(),
    p.LoadError("impl.py:3: importing the module raised RuntimeError: boom"),
    p.SuiteError("test_x has no @pytest.mark.task(n)"),
    p.Collected((SMALL, OTHER)),
    p.TestStart(SMALL.nodeid),
    p.TestResultEvent(
        TestResult("test_small", 1, "fail", "why", "trace", duration=0.5, nodeid=SMALL.nodeid),
        (PerfFigure("mbps", "throughput", 10.0, "MB/s", 20.0, 0.5, 0.5, True, "test_small"),),
        (HygieneFinding("fd", "7", "still open", "test_small"),),
    ),
    p.PytestExit(9),
    p.SessionEnd(),
    p.SessionEnd("KeyboardInterrupt while the grader's code ran (after your code returned)"),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.tag)
def test_every_event_survives_the_wire(event):
    assert decode(encode(3, event, KEY), KEY) == p.Envelope(3, event)


def sign(payload: bytes, key: bytes = KEY) -> bytes:
    """`payload` with a valid signature: what a sender holding `key` would send."""
    return p._mac(key, payload) + payload


@pytest.mark.parametrize(
    "forge",
    [
        lambda data: data[p.MAC_BYTES :],  # the JSON alone: what a file that read the old protocol sends
        lambda data: encode(3, p.SessionEnd(), p.new_key()),  # signed, with another run's key
        lambda data: data[: p.MAC_BYTES] + data[p.MAC_BYTES :].replace(b'"fail"', b'"pass"'),  # a result rewritten
        lambda data: b"",
    ],
    ids=["unsigned", "another key", "tampered", "empty"],
)
def test_an_event_not_signed_with_the_runs_key_is_rejected(forge):
    data = encode(3, EVENTS[6], KEY)
    assert decode(data, KEY).event == EVENTS[6]
    with pytest.raises(Unsigned, match="not signed with this run's key"):
        decode(forge(data), KEY)


@pytest.mark.parametrize(
    "data, why",
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not an event of this protocol version"),
        (json.dumps({"v": 1, "session": 1, "ev": "nope"}).encode(), "unknown event 'nope'"),
        (json.dumps({"v": 1, "session": 1, "ev": "hello", "pid": "12"}).encode(), "malformed hello event"),
        (json.dumps({"v": 1, "session": True, "ev": "loaded"}).encode(), "no session number"),
        (json.dumps({"v": 1, "session": 1, "ev": "collected", "tests": [{"nodeid": "x"}]}).encode(), "malformed"),
    ],
)
def test_a_malformed_datagram_is_rejected_with_the_reason(data, why):
    with pytest.raises(ProtocolError, match=why):
        decode(sign(data), KEY)


def test_a_result_with_an_unknown_status_is_rejected():
    data = encode(1, p.TestResultEvent(TestResult("t", 1, "pass", nodeid="n")), KEY)
    with pytest.raises(ProtocolError, match="unknown test status 'PASS'"):
        decode(sign(data[p.MAC_BYTES :].replace(b'"pass"', b'"PASS"')), KEY)


def test_a_fitted_result_fits_one_datagram_and_says_how_many_findings_were_cut():
    findings = [HygieneFinding("process", f"pid {n}", "still running " * 20, "t") for n in range(500)]
    result = TestResult("t", 1, "fail", "m" * 100_000, "d" * 100_000, nodeid="n")
    event = p.TestResultEvent.fitted(result, [], findings)
    assert len(encode(1, event, KEY)) < 192 * 1024
    assert len(event.hygiene) == 100 and event.hygiene[-1].name == "and 401 more"
    assert decode(encode(1, event, KEY), KEY).event == event


def test_the_handover_survives_its_pipe_which_is_then_closed():
    config = p.SandboxConfig("pipe", "/x/impl.py", "ab12cd34", "/tmp/run", "/s/pipe", 4096, 2, False, ("a", "b"), (1,))
    fd = p.Handover(config, KEY).write()
    assert p.Handover.read(fd) == p.Handover(config, KEY)
    with pytest.raises(OSError):
        os.fstat(fd)


@pytest.fixture
def short_folder():
    """A folder of ours with a short path (run folders hold a socket: sun_path is 108 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="kata-t-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_run_folders_are_private_and_in_the_users_own_parent(short_folder, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(short_folder))
    folder = p.RunFolder.make("ab12cd34")
    assert folder.root.parent == short_folder / "ipc-kata"
    for path in (folder.root.parent, folder.root):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700 and path.stat().st_uid == os.getuid()
    assert folder.root.name.startswith("kata-ab12cd34-") and folder.scratch.is_dir() and folder.escapes.is_dir()
    assert len(str(folder.events)) <= p.SOCKET_PATH_MAX


def test_a_parent_someone_else_could_enter_or_a_link_is_not_used(short_folder, monkeypatch):
    """A runtime folder open to others is skipped; a link planted where the temp-dir parent goes too."""
    runtime = short_folder / "rt"
    runtime.mkdir()
    runtime.chmod(0o777)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    temp = short_folder / "tmp"
    temp.mkdir()
    (temp / f"ipc-kata-{os.getuid()}").symlink_to(short_folder)
    monkeypatch.setattr(p.tempfile, "tempdir", str(temp))
    parent = p.private_parent()
    assert not (runtime / "ipc-kata").exists()
    assert parent.parent != temp and not parent.is_symlink(), parent
    assert stat.S_IMODE(parent.stat().st_mode) == 0o700 and parent.stat().st_uid == os.getuid()


def test_a_runtime_folder_too_long_for_a_socket_path_is_not_used(short_folder, monkeypatch):
    deep = short_folder / ("x" * 90)
    deep.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(deep))
    parent = p.private_parent()
    assert deep not in parent.parents and len(str(parent)) + p.RUN_PATH_ROOM <= p.SOCKET_PATH_MAX


# --- the runner's state machine --------------------------------------------------------------


@pytest.fixture
def machine(tmp_path: Path):
    """A GradingRun and a session on a stand-in process (the events are fed by hand)."""
    impl = tmp_path / "impl.py"
    impl.write_text("")
    run = GradingRun(load_kata("pipe"), impl, Selection(False, None, None), None)
    proc = subprocess.Popen(["sleep", "30"], stdout=subprocess.PIPE, stdin=subprocess.PIPE)
    session = SandboxSession(1, proc)
    try:
        yield run, session
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stdin.close()
        run.cleanup()


def feed(run: GradingRun, session: SandboxSession, *events) -> tuple[list, Outcome | None]:
    """Hand `events` to the state machine: what it yields to the caller and how it ended, if it did."""
    yielded, outcome = [], None
    for event in events:
        steps = run._handle(session, event)
        try:
            while True:
                yielded.append(next(steps))
        except StopIteration as stop:
            outcome = stop.value
        if outcome is not None:
            break
    return yielded, outcome


def test_a_result_is_taken_only_for_the_test_that_started(machine):
    run, session = machine
    yielded, outcome = feed(
        run,
        session,
        p.Hello(1),
        p.Loaded(),
        p.Collected((SMALL, OTHER)),
        p.TestResultEvent(TestResult("test_other", 2, "pass", nodeid=OTHER.nodeid)),  # never started
        p.TestStart(SMALL.nodeid),
        p.TestResultEvent(TestResult("test_other", 2, "pass", nodeid=OTHER.nodeid)),  # not the one running
        p.TestResultEvent(TestResult("test_small", 1, "pass", nodeid=SMALL.nodeid)),
    )
    assert outcome is None
    assert [type(e) for e in yielded] == [TestStarted, TestFinished]
    assert run.violations == 2
    result = run.result()
    assert [(t.name, t.status) for t in result.tests] == [("test_small", "pass"), ("test_other", "error")]
    assert result.status == "fail"
    assert "2 malformed or out-of-order events from the sandbox were ignored" in result.notices


def test_a_test_that_started_and_lost_its_process_is_an_error_and_the_rest_runs_again(machine):
    run, session = machine
    feed(run, session, p.Hello(1), p.Loaded(), p.Collected((SMALL, OTHER)), p.TestStart(SMALL.nodeid), p.PytestExit(9))
    steps = run._check(session)
    crash = next(steps)
    assert isinstance(crash, TestFinished) and crash.result.status == "error"
    assert "ended in the middle of this test (killed by SIGKILL)" in crash.result.message
    with pytest.raises(StopIteration) as stop:
        next(steps)
    assert stop.value.value is Outcome.TEST_LOST
    assert run._remaining() == (OTHER.nodeid,)


def test_a_test_process_killed_by_sigpipe_is_told_what_sigpipe_means(machine):
    run, session = machine
    killed_by_sigpipe = int(signal.SIGPIPE)  # a wait status: the signal number, no core dump
    feed(
        run,
        session,
        p.Hello(1),
        p.Loaded(),
        p.Collected((SMALL,)),
        p.TestStart(SMALL.nodeid),
        p.PytestExit(killed_by_sigpipe),
    )
    crash = next(run._check(session))
    assert isinstance(crash, TestFinished) and crash.result.status == "error"
    message = crash.result.message
    assert "ended in the middle of this test (killed by SIGPIPE)" in message
    assert "restore SIG_DFL only in a forked child, right before exec" in message
    assert "os.killpg" not in message  # the causes of other deaths would send the learner astray


def test_a_load_error_ends_the_session_with_its_message(machine):
    run, session = machine
    _, outcome = feed(run, session, p.Hello(1), p.LoadError("impl.py:1: boom"), p.Loaded())
    assert outcome is Outcome.LOAD_FAILED
    assert run.result().message == "impl.py:1: boom"


def test_a_session_cut_short_between_tests_makes_the_grade_an_error(machine):
    run, session = machine
    interrupt = "KeyboardInterrupt while the grader's code ran (after your code returned)"
    feed(run, session, p.Hello(1), p.Collected((SMALL, OTHER)), p.Loaded(), p.TestStart(SMALL.nodeid))
    feed(run, session, p.SessionEnd(interrupt), p.PytestExit(2 << 8))
    steps = run._check(session)
    cut = next(steps)
    assert isinstance(cut, TestFinished) and cut.result.status == "fail"
    assert cut.result.message == f"the test did not run to its end: {interrupt} cut the session short"
    with pytest.raises(StopIteration) as stop:
        next(steps)
    assert stop.value.value is Outcome.INTERRUPTED
    result = run.result()
    assert (result.status, result.exit_code) == ("error", 2)
    assert result.message.startswith(f"the grade was cut short by {interrupt}: 1 of 2 tests did not run")
    assert [(t.name, t.status) for t in result.tests] == [("test_small", "fail"), ("test_other", "error")]


def test_a_session_that_ends_with_a_test_unreported_is_cut_short_too(machine):
    run, session = machine
    feed(run, session, p.Hello(1), p.Collected((SMALL,)), p.Loaded(), p.TestStart(SMALL.nodeid), p.SessionEnd())
    session.exit_status = 0
    assert next(iter(run._check(session))).result.status == "fail"
    assert run.result().status == "error"


def test_the_supervisor_killed_mid_test_is_a_failure_that_says_so(machine):
    run, session = machine
    test_process = subprocess.Popen(["true"])
    test_process.wait()  # gone, as the supervisor's death takes it along (PR_SET_PDEATHSIG)
    feed(run, session, p.Hello(test_process.pid), p.Collected((SMALL, OTHER)), p.Loaded(), p.TestStart(SMALL.nodeid))
    session.proc.kill()  # the stand-in supervisor dies before it could report the test process's end
    session.proc.wait()
    crash = next(run._check(session))
    assert crash.result.status == "fail", crash.result
    assert "the caller's process (the grader's supervisor) was killed during this test" in crash.result.message


def test_identical_crashes_stop_the_restarts_and_the_rest_is_not_run(machine):
    run, _ = machine
    tests = tuple(p.TestDescription(f"t.py::test_{n}", f"test_{n}", 1, 5.0, True) for n in range(5))
    run.tests = {t.nodeid: t for t in tests}
    for test in tests[:3]:
        run.crashed[test.nodeid] = "the caller's code killed its parent (the grader's supervisor)"
        run._record(TestResult(test.name, 1, "fail", "killed", nodeid=test.nodeid))
    reason = run._same_crashes()
    assert reason == "the caller's code killed its parent (the grader's supervisor)"
    given_up = [event.result for event in run._give_up(reason)]
    assert [t.name for t in given_up] == ["test_3", "test_4"] and all(t.status == "fail" for t in given_up)
    assert given_up[0].message.startswith(f"not run: {reason} in each of the 3 tests before this one")


def test_a_crash_among_other_results_does_not_stop_the_restarts(machine):
    run, _ = machine
    tests = tuple(p.TestDescription(f"t.py::test_{n}", f"test_{n}", 1, 5.0, True) for n in range(3))
    run.tests = {t.nodeid: t for t in tests}
    run.crashed[tests[0].nodeid] = run.crashed[tests[2].nodeid] = "the test process ended (killed by SIGKILL)"
    for test in tests:
        run._record(TestResult(test.name, 1, "fail", "x", nodeid=test.nodeid))
    assert run._same_crashes() == ""


def at_the_limit(run: GradingRun, session: SandboxSession, monkeypatch, send_meanwhile: bool) -> tuple[list, int]:
    """Run SMALL past its limit; while the runner reads where it waits, the test sends its
    result (send_meanwhile) or stays silent. What _check yields, and how many stack dumps ran."""
    feed(run, session, p.Hello(session.proc.pid), p.Collected((SMALL, OTHER)), p.Loaded(), p.TestStart(SMALL.nodeid))
    session.deadline = 0.0  # the limit has passed
    real_read, real_stacks = blocked.read_waits, blocked.with_stacks
    dumps = []

    def read_while_the_result_is_sent(*args, **kwargs):
        waits = real_read(*args, **kwargs)
        if send_meanwhile:
            EventSender(run.folder.events, session.number, run.key).send(
                p.TestResultEvent(TestResult("test_small", 1, "pass", nodeid=SMALL.nodeid))
            )
        return waits

    def counted_stacks(*args, **kwargs):
        dumps.append(args)
        return real_stacks(*args, **kwargs)

    monkeypatch.setattr(blocked, "read_waits", read_while_the_result_is_sent)
    monkeypatch.setattr(blocked, "with_stacks", counted_stacks)
    return list(run._check(session)), len(dumps)


def test_a_result_sent_while_a_timeout_is_read_stands_and_no_stack_is_dumped(machine, monkeypatch):
    """Reading where a test waits takes a moment while the test goes on; one that reports meanwhile
    was not stuck. Its stacks must not be dumped: the dump signal ends blocked calls (a write into a
    full pipe would return short) and the next test's stack would be read as this one's."""
    run, session = machine
    yielded, dumps = at_the_limit(run, session, monkeypatch, send_meanwhile=True)
    assert [(type(e), e.result.status) for e in yielded] == [(TestFinished, "pass")]
    assert dumps == 0
    assert session.current is None and session.deadline > 0  # the next test may start
    assert run.results[SMALL.nodeid].status == "pass"


def test_a_test_silent_at_its_limit_times_out_after_its_stacks_are_read(machine, monkeypatch):
    run, session = machine
    yielded, dumps = at_the_limit(run, session, monkeypatch, send_meanwhile=False)
    assert [(type(e), e.result.status) for e in yielded] == [(TestFinished, "timeout")]
    assert dumps == 1
    assert "timed out after 5 s" in run.results[SMALL.nodeid].message
