"""Every `code` question is executed, and what the program really does must be
what its answer says, so the bank cannot teach a wrong output. Every `proof`
(a program attached to any other question to show that its explanation holds)
is executed the same way.

The programs run concurrently (one sandbox process each, bounded by the
question's timeout); the sandbox kills whatever they leave running and removes
IPC objects named after their pid. The runner itself is tested both ways: a
wrong expectation, an unexpected hang and leftovers are all caught.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from kata.quiz.bank import Expect, Question, load_bank
from kata.quiz.coderun import mismatches, run_code, run_question

BANK = load_bank()
CODE_QUESTIONS = [q for q in BANK.questions if q.kind == "code"]
PROOFS = [proof for q in BANK.questions if (proof := q.proof_as_code()) is not None]


@pytest.fixture(scope="module")
def runs():
    """Start every program at once; each test waits only for its own."""
    with ThreadPoolExecutor(max_workers=max(4, min(12, 2 * (os.cpu_count() or 2)))) as pool:
        programs = {q.id: pool.submit(run_question, q) for q in CODE_QUESTIONS}
        programs.update({f"proof:{q.id}": pool.submit(run_question, q) for q in PROOFS})
        yield programs


@pytest.mark.parametrize("question", CODE_QUESTIONS, ids=lambda q: q.id)
def test_code_question_behaves_as_its_answer_says(question, runs: dict[str, Future]):
    result = runs[question.id].result()
    assert mismatches(question, result) == [], f"{question.location}: {question.id}"


@pytest.mark.parametrize("proof", PROOFS, ids=lambda q: q.id)
def test_proof_shows_what_the_explanation_says(proof, runs: dict[str, Future]):
    result = runs[f"proof:{proof.id}"].result()
    assert mismatches(proof, result) == [], f"{proof.location}: {proof.id} (proof)"


def test_every_question_with_a_proof_is_run():
    """Guard: the proofs the bank declares are the ones collected above."""
    assert len(PROOFS) == sum(1 for q in BANK.questions if q.proof is not None) >= 10


def fake(code: str, **expect) -> Question:
    """A code question that exists only for testing the runner."""
    return Question(
        id="runner-test",
        topic="pipes",
        kind="code",
        prompt="?",
        explain="x. y.",
        source="pipe(7)",
        difficulty=1,
        choices=("a", "b", "c"),
        correct=(0,),
        code=code,
        expect=Expect(**expect),
    )


def test_a_wrong_stdout_is_caught():
    q = fake("print('actual')", stdout="expected\n")
    assert any("stdout differs" in m for m in mismatches(q, run_question(q)))


def test_an_unexpected_hang_is_caught_and_bounded():
    q = fake("import os\nr, w = os.pipe()\nos.read(r, 1)", stdout="", timeout=0.5)
    result = run_question(q)
    assert result.timed_out  # killed at its 0.5 s timeout: run_question itself would hang otherwise
    assert any("still running" in m for m in mismatches(q, result))


def test_an_expected_signal_death_is_recognised():
    q = fake("import os, signal\nos.kill(os.getpid(), signal.SIGTERM)", signal="SIGTERM")
    result = run_question(q)
    assert result.returncode == -15 and mismatches(q, result) == []


def test_an_escaped_process_is_reported_and_killed():
    """A double-forked, setsid'd grandchild outlives the program: reported, then gone."""
    code = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(30)\n"
        "        os._exit(0)\n"
        "    os._exit(0)\n"
        "os.wait()\n"
    )
    q = fake(code, stdout="")
    result = run_question(q)
    left = [m for m in mismatches(q, result) if m.startswith("left behind")]
    assert left and "process" in left[0]
    pids = [int(item.split()[1]) for item in result.leftovers if item.startswith("process")]
    assert pids and not any(Path(f"/proc/{pid}").exists() for pid in pids)


def test_leaked_ipc_objects_are_reported_and_removed():
    """POSIX and System V objects named after the program's pid are swept."""
    code = (
        "import os, posix_ipc, sysv_ipc\n"
        "posix_ipc.Semaphore(f'/kata-runner-{os.getpid()}', posix_ipc.O_CREX, 0o600)\n"
        "sysv_ipc.MessageQueue(os.getpid(), sysv_ipc.IPC_CREX, 0o600)\n"
        "print(os.getpid())\n"
    )
    result = run_code(code, timeout=10)
    pid = int(result.stdout)
    assert any(f"sem.kata-runner-{pid}" in item for item in result.leftovers)
    assert any(item.startswith("System V msg") for item in result.leftovers)
    assert not Path(f"/dev/shm/sem.kata-runner-{pid}").exists()
    rows = Path("/proc/sysvipc/msg").read_text().splitlines()[1:]
    assert pid not in [int(row.split()[0]) for row in rows if row.strip()]
