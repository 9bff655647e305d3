"""The tamper zoo: files that try to read "pass" without doing the work, or to change a
later grade or another run's (tests/tamper/, issue "Honest verdicts").

Each attack is graded against a throwaway install (tests/tamperlib.py) through its
`kata grade`, while an honest grade of the plain starter runs at the same time; then
the plain starter is graded again. Each must hold:

- the attack gets `fail` or `error` (never `pass`), with the message that names it;
- the concurrent honest grade keeps its own verdict (`fail`: not implemented), or is
  refused because the attack changed the installation under it, never `pass`;
- the next grade of the plain starter still fails, or is refused while what the
  attack planted is there (never `pass`);
- nothing of any of the three runs is left: no process, no run folder, no IPC object.

Each attack's grade runs task 1 of the pipe kata only (five tests), so the zoo stays fast.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import tamperlib
from tamperlib import (
    PRELUDE,
    STARTER,
    Graded,
    Install,
    attack_source,
    build_wheel,
    finish,
    runtime_of,
)

from grader import ipc_objects, proctree

NOT_IMPLEMENTED = "is not implemented yet"
PLANTED = "a startup hook was planted"
CHANGED = "the grader's files were changed"
SANDBOX_ENDED = "the grading sandbox ended before running any test"


@dataclass(frozen=True)
class Attack:
    name: str
    status: str  # what the attack's own grade gets
    says: str  # in that grade's message, or in one of its tests' messages
    planted: tuple[str, ...] = ()  # what it leaves in the install (as Install.restore reports it)
    after: str = "fail"  # the plain starter graded next: "fail" (nothing carried over) or "error" (refused)
    after_says: str = NOT_IMPLEMENTED
    env: dict[str, str] = field(default_factory=dict)  # the environment `kata grade` runs in (env attacks)

    def __str__(self) -> str:
        return self.name


SITE = "lib/python3.11/site-packages"
ATTACKS = [
    Attack("skip", "fail", "your code raised pytest.skip() (nothing to see) at impl.py:"),
    Attack("unittest_skip", "fail", "your code raised unittest.SkipTest (later) at impl.py:"),
    Attack("xfail", "fail", "your code raised pytest.xfail() (known) at impl.py:"),
    Attack("getattr_skip", "error", "impl.py does not define child_to_parent, round_trip_digest, gather"),
    Attack("pytest_exit", "fail", "your code called pytest.exit() (done here) at impl.py:"),
    Attack("keyboard_interrupt", "fail", "KeyboardInterrupt was raised at impl.py:"),
    Attack("sigint_self", "fail", "KeyboardInterrupt was raised at impl.py:"),
    Attack("sys_exit", "fail", "the implementation called sys.exit() in the caller's process (at impl.py:"),
    Attack("kill_parent", "fail", "not run: the caller's code killed its parent (the grader's supervisor)"),
    Attack("plant_pth", "fail", NOT_IMPLEMENTED, (f"{SITE}/zz_tamper.pth",), "error", PLANTED),
    Attack("plant_sitecustomize", "fail", NOT_IMPLEMENTED, (f"{SITE}/sitecustomize.py",), "error", PLANTED),
    Attack(
        "pytest11_plugin",
        "fail",
        NOT_IMPLEMENTED,
        (f"{SITE}/zz_tamper_plugin.py",),
        "error",
        "a startup hook was planted: pytest plugin zz_tamper of zz-tamper-plugin",
    ),
    Attack(
        "conftest_in_suites",
        "fail",
        NOT_IMPLEMENTED,
        (f"{SITE}/grader/suites/conftest.py", f"{SITE}/grader/suites/pipe/conftest.py"),
        "error",
        CHANGED,
    ),
    Attack("rewrite_suite", "fail", NOT_IMPLEMENTED, (f"{SITE}/grader/suites/pipe/test_pipe.py",), "error", CHANGED),
    Attack("rewrite_kata_yaml", "fail", NOT_IMPLEMENTED, (f"{SITE}/kata/exercises/pipe/kata.yaml",), "error", CHANGED),
    # Not refused afterwards: the sandbox never reads the grader's compiled caches, so the plant is inert.
    Attack("plant_pyc", "fail", NOT_IMPLEMENTED, (f"{SITE}/grader/__pycache__/plugin.cpython-311.pyc",)),
    Attack("fake_grader_in_cwd", "fail", "the test process ended in the middle of this test (exit status 0)"),
    Attack("forge_events", "fail", "events not signed by this grade's sandbox were ignored"),
    Attack("forge_other_run", "fail", NOT_IMPLEMENTED),
    Attack("env_pytest_options", "fail", NOT_IMPLEMENTED, env={"PYTEST_ADDOPTS": "-p zz_env_plugin"}),
    Attack("env_sitecustomize", "error", PLANTED, after="error", after_says=PLANTED),
]


@pytest.fixture(scope="module")
def install(tmp_path_factory, monkeypatch_module):
    """This worker's throwaway install (the wheel is built once for the whole session), and a
    short folder of its own for the grades' runtime folders, removed afterwards."""
    session = tmp_path_factory.getbasetemp()  # under xdist, a worker's: its parent is the session's
    wheel = build_wheel((session.parent if os.environ.get("PYTEST_XDIST_WORKER") else session) / "tamper-wheel")
    runtimes = tempfile.mkdtemp(prefix="kata-rt-", dir="/tmp")
    monkeypatch_module.setattr(tamperlib, "RUNTIMES", runtimes)
    yield Install(tmp_path_factory.mktemp("install"), wheel)
    shutil.rmtree(runtimes, ignore_errors=True)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def write(folder: Path, name: str, source: str) -> Path:
    folder.mkdir(parents=True)
    path = folder / name
    path.write_text(source)
    return path


def env_attack(attack: Attack, folder: Path) -> dict[str, str]:
    """An environment that points Python and pytest at a folder of planted modules."""
    planted = folder / "planted"
    planted.mkdir()
    forger = PRELUDE.split('FORGER = """')[1].split('"""')[0]
    module = "sitecustomize.py" if attack.name == "env_sitecustomize" else "zz_env_plugin.py"
    (planted / module).write_text(forger)
    return {"PYTHONPATH": str(planted), "PYTEST_PLUGINS": "zz_env_plugin", **attack.env}


def assert_honest(graded: Graded, who: str, killed: bool = False) -> None:
    """The plain starter's own verdict (its test process `killed` from outside, maybe), or a
    refusal naming what was planted or changed; never a pass."""
    if graded.status == "error":
        message = graded.result["message"]
        reasons = (PLANTED, CHANGED) + ((SANDBOX_ENDED,) if killed else ())
        assert graded.exit_code == 2 and any(r in message for r in reasons), f"{who}: {graded}"
        return
    assert (graded.status, graded.exit_code) == ("fail", 1), f"{who}: {graded}"
    tests = graded.result["tests"]
    assert tests and not any(t["status"] == "pass" for t in tests), f"{who}: {graded}"
    if not killed:
        assert all(NOT_IMPLEMENTED in m for m in graded.messages()), f"{who}: {graded}"


def slowed(seconds: float, every_call: bool) -> str:
    """The starter, whose child_to_parent takes `seconds` before it fails (on every call, or on
    the first only), writing its pid to `calling` next to itself meanwhile."""
    wait = (
        '    calling = __import__("os").path.join(__import__("os").path.dirname(__file__), "calling")\n'
        f"    if {every_call} or not __import__('os').path.exists(calling):\n"
        '        with open(calling, "w") as f:\n'
        '            f.write(str(__import__("os").getpid()))\n'
        f'        __import__("time").sleep({seconds})\n'
    )
    return STARTER.read_text().replace("    raise NotImplementedError", wait + "    raise NotImplementedError", 1)


def assert_left_nothing(homes: list[Path], tokens: list[str]) -> None:
    for home in homes:
        assert not proctree.marked("KATA_HOME", str(home)), f"processes of the grade in {home} still there"
        runs = runtime_of(home) / "ipc-kata"
        assert not runs.exists() or not list(runs.iterdir()), f"run folders left: {list(runs.iterdir())}"
    for token in filter(None, tokens):
        for folder in (ipc_objects.POSIX_SHM_DIR, ipc_objects.POSIX_MQ_DIR):
            left = [entry for entry in os.listdir(folder) if f"kata_{token}_" in entry]
            assert not left, f"{folder}: {left}"


@pytest.mark.parametrize("attack", ATTACKS, ids=str)
def test_an_attack_never_reads_pass_nor_reaches_another_grade(install, tmp_path, attack):
    starter = write(tmp_path / "honest", "impl.py", STARTER.read_text())
    body = "starter" if attack.name.startswith("env_") else attack.name
    impl = write(tmp_path / "attack", "impl.py", STARTER.read_text() if body == "starter" else attack_source(body))
    env = env_attack(attack, tmp_path) if attack.name.startswith("env_") else {}
    homes = [tmp_path / "home-honest", tmp_path / "home-attack", tmp_path / "home-after"]
    if attack.name == "forge_other_run":  # a victim slow enough to be found (and still honest)
        starter.write_text(slowed(1, every_call=True))
        (impl.parent / "victim").write_text(str(homes[0]))
    honest = install.start(starter, homes[0])
    graded = install.grade(impl, homes[1], env)
    concurrent = finish(honest)
    after = install.grade(write(tmp_path / "after", "impl.py", STARTER.read_text()), homes[2], env)
    changed = install.restore()

    assert graded.status == attack.status and graded.exit_code == {"fail": 1, "error": 2}[attack.status], str(graded)
    everything = [graded.result.get("message", ""), *graded.messages(), *graded.result.get("notices", [])]
    assert any(attack.says in text for text in everything), f"expected {attack.says!r} in:\n{graded}"
    assert_honest(concurrent, "the concurrent honest grade", killed=attack.name == "forge_other_run")
    assert after.status == attack.after and after.exit_code == {"fail": 1, "error": 2}[attack.after], str(after)
    assert any(attack.after_says in text for text in [after.result.get("message", ""), *after.messages()]), str(after)
    for path in attack.planted:
        assert any(line.endswith(path) for line in changed), f"the attack did not plant {path}: {changed}"
    if not attack.planted:
        assert not changed, f"the install changed: {changed}"
    tokens = [(folder / "token").read_text() for folder in (impl.parent,) if (folder / "token").exists()]
    assert_left_nothing(homes, tokens)
    if attack.name == "forge_other_run":
        assert int((impl.parent / "hits").read_text()) > 0, "the attack never found the other grade"
        assert any("not signed" in notice for notice in concurrent.result.get("notices", [])), str(concurrent)


def test_slowing_os_read_in_its_own_process_does_not_slow_the_baseline(install, tmp_path):
    """A ring slow on purpose that also slows os.read where a pipe baseline used to be timed: the
    baseline runs in the baseline process, so the ring is still too slow."""
    ring = Path(__file__).resolve().parent.parent / "solutions" / "shm_ring.py"
    impl = write(tmp_path / "attack", "impl.py", attack_source("perf_patch_ring", ring))
    graded = install.grade(impl, tmp_path / "home", grade=("shm-ring", "--task", "4"))
    assert_left_nothing([tmp_path / "home"], [])
    assert graded.status == "fail", str(graded)
    throughput = next(t for t in graded.result["tests"] if t["name"] == "test_throughput")
    assert throughput["status"] == "fail" and throughput["message"].startswith("too slow: "), str(graded)
    figures = {f["name"]: f for f in graded.result["perf"]}
    assert not figures["ring_64b_vs_pipe"]["passed"], figures


def test_the_throwaway_install_grades_the_reference_and_refuses_a_changed_file(install, tmp_path):
    """The install itself is sound (a pass is possible), and its check is live."""
    solution = Path(__file__).resolve().parent.parent / "solutions" / "pipe.py"
    graded = install.grade(solution, tmp_path / "home")
    assert graded.status == "pass", str(graded)
    suite = install.venv / SITE / "grader" / "suites" / "pipe" / "test_pipe.py"
    suite.write_text(suite.read_text() + "\n")
    try:
        refused = install.grade(solution, tmp_path / "home2")
    finally:
        assert install.restore() == [f"~ {SITE}/grader/suites/pipe/test_pipe.py"]
    assert_left_nothing([tmp_path / "home", tmp_path / "home2"], [])
    assert (refused.status, refused.exit_code) == ("error", 2), str(refused)
    assert refused.result["message"] == (
        "the grader's files were changed: grader/suites/pipe/test_pipe.py: reinstall it: "
        f"pip install --force-reinstall --no-deps {shlex.quote(str(install.wheel))}"
    )


def test_a_process_of_the_run_killed_from_outside_gives_a_failure(install, tmp_path):
    """A grade whose test process another process kills in the middle of a test: a failure for
    that test, never a pass, and the rest still graded."""
    impl = write(tmp_path / "slow", "impl.py", slowed(3, every_call=False))
    home = tmp_path / "home"
    proc = install.start(impl, home)
    calling = impl.parent / "calling"
    deadline = time.monotonic() + 60
    while not calling.exists() or not calling.read_text():  # the first test is in the learner's code
        assert time.monotonic() < deadline and proc.poll() is None, "the grade never called child_to_parent"
        time.sleep(0.02)
    os.kill(int(calling.read_text()), signal.SIGKILL)
    graded = finish(proc)
    first, *rest = graded.result["tests"]
    assert (first["status"], graded.status) == ("error", "fail"), str(graded)
    assert "the test process ended in the middle of this test (killed by SIGKILL)" in first["message"]
    assert rest and all(t["status"] == "fail" for t in rest), str(graded)
    assert_left_nothing([home], [])
