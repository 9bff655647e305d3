"""What the runner and the sandbox say to each other, as types (docs/architecture.md,
"The event protocol").

The runner starts a sandbox with a `Handover` (its `SandboxConfig` and the run's key),
written to a pipe the sandbox inherits and reads before the learner's file is
imported: never a file or an environment variable another process could read.
Inside the sandbox the plugin and the supervisor send events back, one datagram each:

    supervisor            test process (the plugin)
                          Hello(pid, unfenced)         pytest started (fenced: grader/fence.py)
                          Loaded | LoadError(message)  the learner's module imported, or not (or the
                                                       grader's files changed since the grade began)
                          SuiteError(message)          the hidden suite is broken (its author's bug)
                          Collected(tests)             every test, selected or not
                          TestStart(nodeid)            then, as the test ends:
                          TestResultEvent(result, perf, hygiene)
                          SessionEnd(interrupted)      pytest reached its end (or was cut short: what and where)
    PytestExit(status)                                 the test process has ended (wait status)

A test passes only through a TestResultEvent that follows its TestStart: a test
process that dies or hangs in between is a crash or a timeout, never a pass.
`encode` / `decode` are the only places that know the wire format (JSON, with
the session number in an envelope, so that news from an ended session is told
apart, signed with the run's key: HMAC-SHA256 over the JSON); `decode` rejects
anything unsigned or signed with another key (`Unsigned`) and anything malformed
(`ProtocolError`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import signal
import stat
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

from grader.report import TEST_STATUSES, HygieneFinding, PerfFigure, TestResult, test_result_from_dict

PROTOCOL_VERSION = 1
DUMP_SIGNAL = signal.SIGRTMAX - 1  # faulthandler's stack dumps; reserved, suites and specs must not use it
MAX_FINDINGS_SENT = 100  # a fork storm leaves hundreds: a result must stay below channel.MAX_EVENT
MAX_MESSAGE = 8000
MAX_DETAILS = 16000


KEY_BYTES = 32
MAC_BYTES = 32  # HMAC-SHA256, in front of every datagram


class ProtocolError(ValueError):
    """A datagram that is not a well-formed event."""


class Unsigned(ProtocolError):
    """A datagram not signed with this run's key: forged, or from another run."""


def new_key() -> bytes:
    """A run's key: it signs every event of the run (docs/architecture.md, "The event protocol")."""
    return secrets.token_bytes(KEY_BYTES)


# --- the run folder and the sandbox's configuration ------------------------------------


@dataclass(frozen=True)
class RunFolder:
    """The layout of a run's private folder, known to the runner and the plugin."""

    root: Path

    @property
    def events(self) -> Path:
        return self.root / "events.sock"

    @property
    def escapes(self) -> Path:
        return self.root / "escapes"  # one file per child that left the learner's function

    @property
    def scratch(self) -> Path:
        return self.root / "scratch"  # cwd of the test process; one subfolder per test

    @property
    def ledger(self) -> Path:
        return self.root / "ledger"  # grader/ledger.py

    @property
    def keys(self) -> Path:
        return self.root / "keys"  # System V keys handed out by `names.key()`

    @property
    def observed(self) -> Path:
        return self.root / "observed"  # grader/observed.py: exceptions that ended threads and children

    @property
    def stacks(self) -> Path:
        return self.root / "stacks.log"  # faulthandler's dumps on DUMP_SIGNAL

    def supervisor(self, session: int) -> Path:
        return self.root / f"supervisor-{session}.sock"  # grader/liveness.py: answers while it lives

    @property
    def lock(self) -> Path:
        return self.root / "lock"  # grader/sweep.py: flocked by the runner for its whole life

    @classmethod
    def make(cls, token: str) -> RunFolder:
        """A new run folder, mode 0700, in the user's private parent (`private_parent`)."""
        folder = cls(Path(tempfile.mkdtemp(prefix=f"kata-{token}-", dir=private_parent())))
        for sub in (folder.escapes, folder.scratch):
            sub.mkdir()
        return folder


RUNS_FOLDER = "ipc-kata"
SOCKET_PATH_MAX = 107  # sun_path holds 108 bytes with its NUL
RUN_PATH_ROOM = len("/kata-01234567-abcdefgh/scratch/999/") + 20  # a run folder's own part, a FIFO's name


def private_parent() -> Path:
    """Where run folders live: the user's `standing_parent`, or, when none of its candidates is
    private (another user made them first), a fresh private folder."""
    return standing_parent() or Path(tempfile.mkdtemp(prefix=f"{RUNS_FOLDER}-{os.getuid()}-", dir="/tmp"))


def standing_parent() -> Path | None:
    """The user's lasting folder for run folders, where the next grade finds an earlier one:
    `$XDG_RUNTIME_DIR/ipc-kata` (the user's own, 0700, on tmpfs), or `<tempdir>/ipc-kata-<uid>`,
    or `/tmp/ipc-kata-<uid>` when those paths are too long for the socket and FIFO paths a run
    makes; each is made 0700 and must be ours, a real folder and private, so that no other user
    can see a run. None when none is."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    candidates = [Path(runtime) / RUNS_FOLDER] if runtime and _private(Path(runtime), parent=True) else []
    candidates += [Path(folder) / f"{RUNS_FOLDER}-{os.getuid()}" for folder in (tempfile.gettempdir(), "/tmp")]
    for folder in candidates:
        if len(os.fsencode(folder)) + RUN_PATH_ROOM > SOCKET_PATH_MAX:
            continue
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
        except OSError:
            continue
        if _private(folder):
            return folder
    return None


def _private(folder: Path, parent: bool = False) -> bool:
    """A folder (not a link) of ours that no one else can enter (a parent may be searchable)."""
    try:
        info = os.lstat(folder)
    except OSError:
        return False
    closed = 0o022 if parent else 0o077
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & closed


@dataclass(frozen=True)
class SandboxConfig:
    """What one sandbox session needs: written by the runner, read by the sandbox."""

    kata: str
    impl: str  # absolute path of the learner's file
    token: str  # the run's token: in IPC names and in every process's environment
    run_dir: str
    suite_dir: str
    memory_limit_mb: int
    session: int  # 1, then 2, 3... for each fresh sandbox after a timeout or a crash
    perf: bool = True
    only: tuple[str, ...] | None = None  # nodeids left to run (a later session)
    tasks: tuple[int, ...] | None = None  # the selection asked for (--task)
    tests: tuple[str, ...] | None = None  # test names asked for
    grader_files: dict[str, str] | None = None  # path -> sha256 of integrity.held_paths as the grade began

    @property
    def folder(self) -> RunFolder:
        return RunFolder(Path(self.run_dir))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SandboxConfig:
        data = dict(data)
        for name in ("only", "tasks", "tests"):
            if data.get(name) is not None:
                data[name] = tuple(data[name])
        return cls(**data)


@dataclass(frozen=True)
class Handover:
    """What a sandbox session gets from the runner on an inherited pipe: its configuration
    and the run's key. The sandbox reads it and closes the pipe before anything of the
    learner's runs, so no other process (of this run or another) can read the key."""

    config: SandboxConfig
    key: bytes

    def to_bytes(self) -> bytes:
        return json.dumps({"config": asdict(self.config), "key": self.key.hex()}).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Handover:
        message = json.loads(data)
        return cls(SandboxConfig.from_dict(message["config"]), bytes.fromhex(message["key"]))

    def write(self) -> int:
        """A pipe holding the handover: the read end, for the sandbox to inherit (close it after the start)."""
        read_end, write_end = os.pipe()
        try:
            data = self.to_bytes()  # far below a pipe's buffer: written at once, never blocks
            while data:
                data = data[os.write(write_end, data) :]
        finally:
            os.close(write_end)
        return read_end

    @classmethod
    def read(cls, fd: int) -> Handover:
        """The handover on `fd`, which is then closed."""
        chunks = []
        try:
            while chunk := os.read(fd, 1 << 16):
                chunks.append(chunk)
        finally:
            os.close(fd)
        return cls.from_bytes(b"".join(chunks))


@dataclass(frozen=True)
class TestDescription:
    """One collected test, as the runner needs it to time and report it."""

    __test__: ClassVar[bool] = False  # not a pytest test class
    nodeid: str
    name: str
    task: int
    limit: float  # seconds: kata.yaml's limit for this test
    selected: bool  # False: not part of this grade (--task, --no-perf, a restarted session)
    on_timeout: str = ""  # the suite's guess at what a timeout of this test means
    perf: bool = False  # a test of a perf task: it measures rounds of the learner's code


# --- events --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hello:
    tag: ClassVar[str] = "hello"
    pid: int  # the test process
    unfenced: str = ""  # why grader/fence.py could not protect the grader's processes, or ""


@dataclass(frozen=True)
class Loaded:
    tag: ClassVar[str] = "loaded"


@dataclass(frozen=True)
class LoadError:
    tag: ClassVar[str] = "load_error"
    message: str  # one line, for the learner


@dataclass(frozen=True)
class SuiteError:
    tag: ClassVar[str] = "suite_error"
    message: str  # one line, for the kata's author


@dataclass(frozen=True)
class Collected:
    tag: ClassVar[str] = "collected"
    tests: tuple[TestDescription, ...]


@dataclass(frozen=True)
class TestStart:
    __test__: ClassVar[bool] = False
    tag: ClassVar[str] = "test_start"
    nodeid: str


@dataclass(frozen=True)
class TestResultEvent:
    __test__: ClassVar[bool] = False
    tag: ClassVar[str] = "test_result"
    result: TestResult
    perf: tuple[PerfFigure, ...] = ()
    hygiene: tuple[HygieneFinding, ...] = ()

    @classmethod
    def fitted(cls, result: TestResult, perf: list[PerfFigure], hygiene: list[HygieneFinding]) -> TestResultEvent:
        """The event, cut to fit one datagram: long texts shortened, findings beyond
        MAX_FINDINGS_SENT summarised in one (they are removed all the same)."""
        result = TestResult(
            name=result.name,
            task=result.task,
            status=result.status,
            message=result.message[:MAX_MESSAGE],
            details=result.details[-MAX_DETAILS:],
            duration=result.duration,
            nodeid=result.nodeid,
        )
        if len(hygiene) > MAX_FINDINGS_SENT:
            kept, rest = hygiene[: MAX_FINDINGS_SENT - 1], hygiene[MAX_FINDINGS_SENT - 1 :]
            more = f"{len(rest)} more things were left behind (not listed; removed like the others)"
            hygiene = [*kept, HygieneFinding(rest[0].kind, f"and {len(rest)} more", more, rest[0].test)]
        return cls(result, tuple(perf), tuple(hygiene))


@dataclass(frozen=True)
class PytestExit:
    tag: ClassVar[str] = "pytest_exit"
    status: int  # os.waitpid status of the test process


@dataclass(frozen=True)
class SessionEnd:
    tag: ClassVar[str] = "session_end"
    interrupted: str = ""  # what cut the session short and where (KeyboardInterrupt, pytest.exit), or ""


Event = Hello | Loaded | LoadError | SuiteError | Collected | TestStart | TestResultEvent | PytestExit | SessionEnd


@dataclass(frozen=True)
class Envelope:
    session: int
    event: Event


# --- the wire ---------------------------------------------------------------------------


def encode(session: int, event: Event, key: bytes) -> bytes:
    body = asdict(event)
    payload = json.dumps({"v": PROTOCOL_VERSION, "session": session, "ev": event.tag, **body}).encode()
    return _mac(key, payload) + payload


def decode(data: bytes, key: bytes) -> Envelope:
    """The envelope in `data`; Unsigned when it is not signed with `key`, ProtocolError when
    it is not a well-formed event."""
    mac, payload = data[:MAC_BYTES], data[MAC_BYTES:]
    if not hmac.compare_digest(mac, _mac(key, payload)):
        raise Unsigned("not signed with this run's key")
    try:
        message = json.loads(payload)
    except ValueError as err:
        raise ProtocolError(f"not JSON: {err}") from None
    if not isinstance(message, dict) or message.get("v") != PROTOCOL_VERSION:
        raise ProtocolError("not an event of this protocol version")
    session = message.pop("session", None)
    tag = message.pop("ev", None)
    message.pop("v")
    if not isinstance(session, int) or isinstance(session, bool):
        raise ProtocolError("no session number")
    if tag not in _DECODERS:
        raise ProtocolError(f"unknown event {tag!r}")
    try:
        return Envelope(session, _DECODERS[tag](message))
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ProtocolError(f"malformed {tag} event: {err}") from None


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


def _number(value: object) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return float(value)


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {type(value).__name__}")
    return value


def _dict(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return value


def _list(value: object) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, got {type(value).__name__}")
    return value


def _description(data: dict[str, Any]) -> TestDescription:
    return TestDescription(
        nodeid=_str(data["nodeid"]),
        name=_str(data["name"]),
        task=_int(data["task"]),
        limit=_number(data["limit"]),
        selected=_bool(data["selected"]),
        on_timeout=_str(data.get("on_timeout", "")),
        perf=_bool(data.get("perf", False)),
    )


def _test_result(data: dict[str, Any]) -> TestResultEvent:
    result = test_result_from_dict(_dict(data["result"]))
    if result.status not in TEST_STATUSES:
        raise ValueError(f"unknown test status {result.status!r}")
    return TestResultEvent(
        result=result,
        perf=tuple(PerfFigure(**_dict(p)) for p in _list(data["perf"])),
        hygiene=tuple(HygieneFinding(**_dict(h)) for h in _list(data["hygiene"])),
    )


_DECODERS: dict[str, Callable[[dict[str, Any]], Event]] = {
    Hello.tag: lambda d: Hello(_int(d["pid"]), _str(d.get("unfenced", ""))),
    Loaded.tag: lambda d: Loaded(),
    LoadError.tag: lambda d: LoadError(_str(d["message"])),
    SuiteError.tag: lambda d: SuiteError(_str(d["message"])),
    Collected.tag: lambda d: Collected(tuple(_description(_dict(t)) for t in _list(d["tests"]))),
    TestStart.tag: lambda d: TestStart(_str(d["nodeid"])),
    TestResultEvent.tag: _test_result,
    PytestExit.tag: lambda d: PytestExit(_int(d["status"])),
    SessionEnd.tag: lambda d: SessionEnd(_str(d.get("interrupted", ""))),
}
