"""The shipped question bank: it passes its own check, meets the issue's numbers,
and offers the API the quiz engine builds on (`load_bank`, `Bank`, `Question`)."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from kata.quiz import Bank, BankError, Question, load_bank
from kata.quiz.answers import Quantity
from kata.quiz.bank import KINDS, parse_bank
from kata.quiz.claims import parse_claims
from kata.quiz.lint import check_bank

FIXTURES = Path(__file__).parent / "fixtures" / "questions"
REQUIRED_TOPICS = (
    "pipes",
    "fifos",
    "socketpairs",
    "signals",
    "semaphores",
    "message-queues",
    "shared-memory",
    "sockets",
    "sysv-vs-posix",
    "choosing",
)
SENIOR_TOPICS = (
    "memory-ordering",
    "file-locking",
    "mmap",
    "fd-passing",
    "zero-copy",
    "signals-threads",
    "event-fds",
    "spawning",
    "containers",
)


@pytest.fixture(scope="module")
def bank() -> Bank:
    return load_bank()


def test_shipped_bank_has_no_problems():
    """The same check `kata questions check` runs, against the real kata catalog."""
    assert [p.format() for p in check_bank()] == []


def test_bank_meets_the_issue_numbers(bank):
    """At least 225 questions, 12 per required topic, every kind, 20 code and 20 design
    questions; at least 70 on the senior topics, with every kind among them."""
    per_topic = Counter(q.topic for q in bank.questions)
    kinds = Counter(q.kind for q in bank.questions)
    assert len(bank) >= 225
    assert {t: n for t, n in per_topic.items() if t in REQUIRED_TOPICS and n < 12} == {}
    assert set(REQUIRED_TOPICS) | set(SENIOR_TOPICS) <= {t.id for t in bank.topics}
    assert set(kinds) == set(KINDS)
    assert kinds["code"] >= 20 and kinds["design"] >= 20
    senior = [q for q in bank.questions if q.topic in SENIOR_TOPICS]
    assert len(senior) >= 70
    assert {q.kind for q in senior} == set(KINDS) - {"design"}


def test_every_material_claim_is_covered(bank):
    """claims.yaml names only real questions, and the central imprecise claims are there."""
    problems = []
    claims = parse_claims(bank.directory / "claims.yaml", problems)
    assert problems == []
    ids = {c.id for c in claims}
    assert {"pipe-parent-child-only", "shm-fastest", "signal-sophisticated", "stream-pipe-bidirectional"} <= ids
    for claim in claims:
        assert claim.questions and all(q in bank for q in claim.questions), claim.id
        assert claim.verdict == "accurate" or claim.precise, claim.id


def test_api_lookup_and_order(bank):
    """The quiz looks questions up by id and shows topics in topics.yaml order."""
    q = bank.question("pipes-half-duplex")
    assert isinstance(q, Question) and q is bank.by_id[q.id]
    assert q.kind == "choice" and q.choices[q.correct[0]] == "Two pipes, one per direction"
    assert bank.topics[0].id == "processes" and bank.topic("pipes").title
    assert all(x.topic == "signals" for x in bank.in_topic("signals"))
    assert len(set(bank.ids)) == len(bank)
    with pytest.raises(KeyError):
        bank.question("no-such-question")


@pytest.mark.parametrize(
    ("qid", "field", "value"),
    [
        ("pipes-not-only-parent-child", "truth", False),
        ("pipes-capacity-short", "accepted", ("65536 bytes",)),
        ("pipes-capacity-short", "number", Quantity(65536, "bytes", kilo=1024)),
        ("message-queues-rpc-order", "before", ((2, 0), (0, 3), (2, 1))),
        ("design-worker-pool-crash", "wrong_turns", None),
    ],
)
def test_answers_are_decoded_per_kind(bank, qid, field, value):
    """truefalse -> truth, short -> accepted texts and the number, order -> constraints
    as (earlier, later) choice indices, design -> its parts."""
    got = getattr(bank.question(qid), field)
    if value is None:
        assert got and all(isinstance(turn, str) and turn for turn in got)
    else:
        assert got == value


def test_design_questions_have_their_parts(bank):
    """Every design question: a model answer, 4-6 rubric points each with why, wrong turns."""
    designs = [q for q in bank.questions if q.kind == "design"]
    assert len(designs) >= 20
    for q in designs:
        assert len(q.model) > 200 and 4 <= len(q.rubric) <= 6 and len(q.wrong_turns) >= 2, q.id
        assert all(p.point and p.why for p in q.rubric), q.id


def test_multi_answer_is_sorted_choice_indices(bank):
    q = bank.question("pipes-read-semantics")
    assert list(q.correct) == sorted(q.correct) and len(q.correct) == 3
    assert "It returns 0 whenever the pipe is momentarily empty" not in [q.choices[i] for i in q.correct]


def test_right_answers_are_not_always_in_the_same_place(bank):
    """A learner must not be able to guess by position when choices are shown as written."""
    firsts = {q.correct[0] for q in bank.questions if q.kind in ("choice", "code")}
    assert len(firsts) >= 3


def test_order_answer_is_a_permutation_of_choice_indices(bank):
    q = bank.question("pipes-yes-head-order")
    assert sorted(q.correct) == list(range(len(q.choices)))
    assert q.answer_text().splitlines()[0].startswith("1. The shell creates a pipe")


def test_questions_keep_their_location(bank):
    """Every question knows file:line, so the quiz can point an author at it."""
    q = bank.question("pipes-half-duplex")
    line = q.file.read_text().splitlines()[q.line - 1]
    assert line == "- id: pipes-half-duplex"


def test_strict_load_raises_and_lenient_load_skips(tmp_path):
    """load_bank refuses a broken bank (one-line UserError); strict=False drops only the broken question."""
    shutil.copytree(FIXTURES / "valid", tmp_path / "bank")
    broken = (FIXTURES / "broken" / "answer-not-a-choice.yaml").read_text()
    pipes = tmp_path / "bank" / "pipes.yaml"
    pipes.write_text(pipes.read_text() + broken.replace("id: pipes-choice", "id: pipes-broken"))
    with pytest.raises(BankError) as err:
        load_bank(tmp_path / "bank")
    assert "pipes.yaml:" in str(err.value) and "\n" not in str(err.value)
    lenient = load_bank(tmp_path / "bank", strict=False)
    assert "pipes-broken" not in lenient and "pipes-choice" in lenient
    assert len(parse_bank(tmp_path / "bank")[1]) == 1
