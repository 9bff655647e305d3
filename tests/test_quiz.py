"""The quiz engine: FSRS scheduling, sessions in each mode, the plain CLI, the mock interview.

Everything runs on a small bank written by a fixture (the shipped bank changes
often) with an injected clock.
"""

from __future__ import annotations

import io
import random
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import fsrs
import pytest

from kata.errors import UserError
from kata.progress import ProgressStore
from kata.quiz.bank import load_bank
from kata.quiz.checking import AnswerFormatError
from kata.quiz.mock import MockInterview, pick_questions, topic_weights
from kata.quiz.scheduler import Scheduler, rate
from kata.quiz.session import clock_from_env, start_session

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

TOPICS = """\
- id: pipes
  title: Anonymous pipes
- id: fifos
  title: Named pipes
"""


def _choice(qid, topic, right, wrong=("wrong one", "wrong two"), kata=None):
    lines = [
        f"- id: {qid}",
        f"  topic: {topic}",
        "  kind: choice",
        "  difficulty: 1",
        f"  prompt: Prompt of {qid}?",
        "  choices:",
        f"    - {right}",
    ]
    lines += [f"    - {w}" for w in wrong]
    lines += [f"  answer: {right}", f"  explain: Explanation of {qid}.", "  source: pipe(7)"]
    if kata:
        lines.append(f"  kata: {kata}")
    return "\n".join(lines) + "\n"


PIPES = "".join(
    [
        _choice("pipes-a", "pipes", "right a"),  # answer 1 when not shuffled
        _choice("pipes-b", "pipes", "right b"),
        textwrap.dedent("""\
    - id: pipes-tf
      topic: pipes
      kind: truefalse
      difficulty: 1
      prompt: Pipes are bidirectional on Linux.
      answer: false
      explain: They are not.
      source: pipe(7)
    - id: pipes-short
      topic: pipes
      kind: short
      difficulty: 1
      prompt: Default pipe capacity in bytes?
      answer: ["65536", "64 KiB"]
      explain: Sixteen pages.
      source: pipe(7)
    """),
    ]
)
FIFOS = "".join(_choice(f"fifos-{c}", "fifos", f"right {c}", kata="pipe") for c in "abc")


@pytest.fixture
def bank_dir(tmp_path, monkeypatch) -> Path:
    directory = tmp_path / "bank"
    directory.mkdir()
    (directory / "topics.yaml").write_text(TOPICS)
    (directory / "pipes.yaml").write_text(PIPES)
    (directory / "fifos.yaml").write_text(FIFOS)
    monkeypatch.setattr("kata.quiz.bank.default_directory", lambda: directory)
    return directory


@pytest.fixture
def bank(bank_dir):
    return load_bank(bank_dir)


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("KATA_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KATA_NOW", raising=False)
    return tmp_path / "home"


class Clock:
    def __init__(self, at=T0):
        self.now = at

    def __call__(self):
        return self.now

    def advance(self, **delta):
        self.now += timedelta(**delta)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(home):
    with ProgressStore.open() as s:
        yield s


def answer_all(session, texts, clock=None, seconds=5):
    for text in texts:
        assert session.next() is not None
        if clock:
            clock.advance(seconds=seconds)
        session.answer_text(text)


# --- scheduling --------------------------------------------------------------------------


def test_rating_from_correctness_and_time(bank):
    q = bank.question("pipes-a")  # choice, difficulty 1: 15 s budget
    assert rate(q, False, 1) == fsrs.Rating.Again
    assert rate(q, True, 3) == fsrs.Rating.Easy
    assert rate(q, True, 12) == fsrs.Rating.Good
    assert rate(q, True, 60) == fsrs.Rating.Hard


def test_schedule_survives_a_restart(bank, home, clock):
    with ProgressStore.open() as store:
        sched = Scheduler(store, clock=clock)
        _review, state = sched.record(bank.question("pipes-a"), correct=True, seconds=10, answer="0")
        assert state.due > clock.now
    with ProgressStore.open() as store:
        sched = Scheduler(store, clock=clock)
        assert sched.cards["pipes-a"].due == state.due
        assert sched.due(bank.questions) == []
        clock.now = state.due
        assert [q.id for q in sched.due(bank.questions)] == ["pipes-a"]
        assert 0 < sched.retrievability("pipes-a") <= 1 and sched.retrievability("pipes-b") == 0


def test_due_first_most_overdue_first_then_new(bank, store, clock):
    sched = Scheduler(store, clock=clock)
    sched.record(bank.question("fifos-a"), correct=False, seconds=5)
    clock.advance(minutes=1)
    sched.record(bank.question("pipes-b"), correct=False, seconds=5)
    clock.advance(days=1)
    session = start_session(store, clock=clock, bank=bank)
    # due: most overdue first; then new ones in topics.yaml order, easier first
    assert [q.id for q in session.plan] == [
        "fifos-a",
        "pipes-b",
        "pipes-a",
        "pipes-tf",
        "pipes-short",
        "fifos-b",
        "fifos-c",
    ]


def test_daily_cap_on_new_questions(bank, store, clock):
    session = start_session(store, clock=clock, bank=bank, new_per_day=2)
    assert [q.id for q in session.plan] == ["pipes-a", "pipes-b"]
    answer_all(session, ["1", "1"], clock)
    clock.advance(hours=1)
    again = start_session(store, clock=clock, bank=bank, new_per_day=2)
    assert again.plan == [] and "today's 2 new questions are done" in again.idle_reason()
    clock.advance(days=1)
    tomorrow = start_session(store, clock=clock, bank=bank, new_per_day=2)
    assert [q.id for q in tomorrow.plan][-2:] == ["pipes-tf", "pipes-short"]


# --- sessions --------------------------------------------------------------------------


def test_a_session_records_every_answer_with_time_taken(bank, store, clock):
    session = start_session(store, clock=clock, bank=bank, topic="pipes", mode="practice")
    asked = session.next()
    assert (asked.number, asked.total, asked.question.id) == (1, 4, "pipes-a")
    assert session.next() is asked  # unanswered: the same question again
    clock.advance(seconds=7)
    feedback = session.answer(0)
    assert feedback.verdict.correct and feedback.seconds == 7 and feedback.rating == fsrs.Rating.Good
    assert feedback.due > clock.now
    session.next()
    feedback = session.dont_know()
    assert not feedback.verdict.correct and feedback.verdict.expected == "right b"
    [latest, first] = store.reviews()
    assert (first.question, first.correct, first.seconds, first.answer, first.mode) == (
        "pipes-a",
        True,
        7,
        "0",
        "practice",
    )
    assert (latest.question, latest.correct, latest.rating) == ("pipes-b", False, 1)


def test_a_bad_answer_records_nothing_and_keeps_the_question(bank, store, clock):
    session = start_session(store, clock=clock, bank=bank, topic="pipes")
    session.next()
    with pytest.raises(AnswerFormatError):
        session.answer_text("seven")
    assert store.review_count() == 0
    assert session.next().question.id == "pipes-a"


def test_stop_leaves_the_question_on_screen_unrecorded(bank, store, clock):
    session = start_session(store, clock=clock, bank=bank, topic="pipes")
    answer_all(session, ["1", "2"])
    session.next()
    summary = session.stop()
    assert (summary.planned, summary.answered, summary.correct) == (4, 2, 1)
    assert [q.id for q in summary.wrong] == ["pipes-b"] and summary.topics["pipes"].share == 0.5
    assert summary.to_review == ["pipes"]
    assert session.next() is None and store.review_count() == 2


def test_drill_is_one_topic_due_then_unseen_then_weakest(bank, store, clock):
    sched = Scheduler(store, clock=clock)
    sched.record(bank.question("fifos-b"), correct=True, seconds=2)  # Easy: not due for days
    sched.record(bank.question("fifos-c"), correct=False, seconds=2)
    clock.advance(hours=1)
    session = start_session(store, mode="drill", topic="fifos", clock=clock, bank=bank)
    assert [q.id for q in session.plan] == ["fifos-c", "fifos-a", "fifos-b"]


def test_unknown_topic_and_mode_are_one_line_errors(bank, store):
    with pytest.raises(UserError, match="topics: pipes, fifos"):
        start_session(store, topic="sockets", bank=bank)
    with pytest.raises(UserError, match="one topic"):
        start_session(store, mode="drill", bank=bank)
    with pytest.raises(UserError, match="unknown quiz mode"):
        start_session(store, mode="cram", bank=bank)


def test_mistakes_until_answered_right_twice(bank, store, clock):
    practice = start_session(store, clock=clock, bank=bank, topic="pipes")
    answer_all(practice, ["2", "1", "t", "65536"], clock)  # a and tf wrong
    for round_, expected in enumerate((["pipes-tf", "pipes-a"], ["pipes-tf", "pipes-a"], ["pipes-tf"])):
        clock.advance(minutes=5)
        session = start_session(store, mode="mistakes", clock=clock, bank=bank)
        assert [q.id for q in session.plan] == expected, round_
        answer_all(session, ["1" if q.id == "pipes-a" else "t" for q in session.plan], clock)  # a right, tf wrong
    clock.advance(days=31)
    assert start_session(store, mode="mistakes", clock=clock, bank=bank).idle_reason().startswith("no mistakes")


def test_clock_from_env_starts_at_kata_now():
    now = clock_from_env({"KATA_NOW": "2026-03-03T09:00:00Z"})()
    assert timedelta(0) <= now - (T0 + timedelta(days=1)) < timedelta(seconds=5)
    with pytest.raises(UserError, match="KATA_NOW"):
        clock_from_env({"KATA_NOW": "tomorrow"})


# --- kata quiz ---------------------------------------------------------------------------------


def run_quiz(monkeypatch, capsys, stdin: str, *args: str, now: datetime | None = None) -> tuple[int, str]:
    from kata.cli import main

    if now is not None:
        monkeypatch.setenv("KATA_NOW", now.isoformat())
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(["quiz", "--no-shuffle", *args])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out + captured.err


def test_plain_session_records_and_next_day_shows_due_first(bank_dir, monkeypatch, capsys):
    code, out = run_quiz(monkeypatch, capsys, "1\n2\n", "--topic", "pipes", "--mode", "practice", now=T0)
    assert code == 0
    assert "[1/4] pipes" in out and "Prompt of pipes-a?" in out and "  1. right a" in out
    assert "Right." in out and "Wrong. The answer:\n  right b" in out and "Why: Explanation of pipes-b." in out
    assert "Summary: 1/2 right (50%) of 4 planned" in out and "pipes-b: Prompt of pipes-b?" in out
    with ProgressStore.open() as store:
        assert [(r.question, r.correct) for r in store.reviews()] == [("pipes-b", False), ("pipes-a", True)]

    code, out = run_quiz(
        monkeypatch, capsys, "q\n", "--topic", "pipes", "--mode", "practice", now=T0 + timedelta(days=1)
    )
    assert code == 0
    first = out.split("[1/")[1]
    assert "Prompt of pipes-b?" in first.split("\n[")[0]  # the due one (answered wrong yesterday) first
    assert "Summary: 0/0 right of 3 planned" in out  # pipes-a, right and fast, is not due yet


def test_plain_reprompts_on_bad_input_and_ends_cleanly_at_eof(bank_dir, monkeypatch, capsys):
    code, out = run_quiz(monkeypatch, capsys, "x\n9\n1\n?\n", "--topic", "pipes", now=T0)
    assert code == 0
    assert out.count("(type the number of your choice (1-3))") == 1 and "(choose numbers from 1 to 3)" in out
    assert "Summary: 1/2 right" in out
    with ProgressStore.open() as store:
        assert store.review_count() == 2


def test_plain_truefalse_and_short_answers(bank_dir, monkeypatch, capsys):
    _code, out = run_quiz(monkeypatch, capsys, "1\n1\n1\n 64 kib \n", "--topic", "pipes", now=T0)
    assert "  1. True\n  2. False" in out
    assert "Summary: 3/4 right" in out


def test_plain_nothing_to_ask(bank_dir, monkeypatch, capsys):
    code, out = run_quiz(monkeypatch, capsys, "", "--mode", "mistakes", now=T0)
    assert code == 0 and "Nothing to ask: no mistakes" in out


def test_plain_bank_problem_is_one_line(bank_dir, monkeypatch, capsys):
    (bank_dir / "pipes.yaml").write_text("- id: [broken\n")
    code, out = run_quiz(monkeypatch, capsys, "", now=T0)
    assert code == 2 and out.startswith("kata: question bank:") and out.count("\n") == 1


# --- the mock interview ------------------------------------------------------------------


def fake_grade(status="fail", passed=1, total=2):
    calls = []

    def grade(kata, path):
        calls.append((kata, path))
        tasks = [SimpleNamespace(status="pass" if i < passed else "fail", perf=False) for i in range(total)]
        return SimpleNamespace(
            kata=kata, status=status, duration=1.0, implementation=str(path), tasks=tasks, perf=[], message=""
        )

    grade.calls = calls
    return grade


def test_weak_topics_weigh_more(bank, store, clock):
    sched = Scheduler(store, clock=clock)
    for qid in ("fifos-a", "fifos-b"):
        sched.record(bank.question(qid), correct=False, seconds=5)
    sched.record(bank.question("pipes-a"), correct=True, seconds=5)
    assert topic_weights(store, bank, clock.now) == {"fifos": 3.0, "pipes": 1.0}
    picked = pick_questions(bank, {"fifos": 1000.0, "pipes": 0.001}, 5, random.Random(1), sched)
    assert [q.topic for q in picked] == ["fifos"] * 3 + ["pipes"] * 2
    assert len({q.id for q in picked}) == 5


def test_mock_questions_stay_mixed(bank, store, clock):
    """Each pick halves its topic's weight: with equal weights two picks are mixed
    2/3 of the time, not 1/2 (over fixed seeds, so deterministic)."""
    sched = Scheduler(store, clock=clock)
    mixed = sum(
        len({q.topic for q in pick_questions(bank, {"pipes": 1.0, "fifos": 1.0}, 2, random.Random(seed), sched)}) == 2
        for seed in range(300)
    )
    assert 0.6 < mixed / 300 < 0.75


def test_mock_scores_questions_and_kata_and_stores_it(bank, store, clock, tmp_path):
    grade = fake_grade(passed=1, total=2)
    mock = MockInterview.start(
        store,
        count=4,
        time_limit=600,
        bank=bank,
        clock=clock,
        rng=random.Random(2),
        katas=["pipe", "signals"],
        grade=grade,
    )
    assert mock.kata == "pipe"  # the kata of a planned (fifos) question, not passed yet
    quiz = mock.quiz
    answered = 0
    while (asked := quiz.next()) is not None:
        clock.advance(seconds=20)
        right = asked.question.id in ("pipes-a", "pipes-b", "fifos-a", "fifos-b", "fifos-c")
        quiz.answer(
            asked.shown.order.index(0) if right else (1 if asked.shown.order[1] != 0 else 2)
        ) if asked.question.kind == "choice" else quiz.dont_know()
        answered += 1
    assert answered == 4
    outcome = mock.grade_kata(tmp_path / "pipe.py")
    assert grade.calls == [("pipe", tmp_path / "pipe.py")] and outcome.share == 0.5
    result = mock.finish()
    correct = result.summary.correct
    assert result.score == pytest.approx(0.7 * correct / 4 + 0.3 * 0.5)
    assert sum(row["asked"] for row in result.topics.values()) == 4
    [record] = store.mocks()
    assert (record.score, record.kata, record.kata_status, record.total) == (result.score, "pipe", "fail", 4)
    assert record.details["topics"] == result.topics
    assert store.attempts("pipe")[0].tasks_passed == 1  # the kata attempt is recorded like `kata grade`'s
    assert {r.mode for r in store.reviews()} == {"mock"}


def test_mock_time_limit_counts_unreached_questions_as_wrong(bank, store, clock):
    mock = MockInterview.start(
        store, count=5, time_limit=60, bank=bank, clock=clock, rng=random.Random(0), katas=["pipe"], grade=fake_grade()
    )
    first = mock.quiz.next()
    assert first.time_left == 60
    clock.advance(seconds=30)
    mock.quiz.answer(first.shown.order.index(0)) if first.question.kind == "choice" else mock.quiz.dont_know()
    clock.advance(seconds=31)
    assert mock.quiz.next() is None and mock.quiz.time_up
    result = mock.skip_kata() and mock.finish()
    assert result.summary.time_up and result.summary.answered == 1
    assert len(result.wrong) >= 4 and result.kata.status == "skipped"
    assert result.score <= 0.7 / 5 + 1e-9
    assert store.mocks()[0].details["time_up"] is True


def test_mock_in_plain_text(bank, store, clock, home, capsys):
    from kata.commands.quiz import PlainFace

    workspace = home / "workspace"
    workspace.mkdir(parents=True)
    (workspace / "pipe.py").write_text("# my pipe\n")
    grade = fake_grade(status="pass", passed=2, total=2)
    mock = MockInterview.start(
        store, count=2, time_limit=600, bank=bank, clock=clock, rng=random.Random(0), katas=["pipe"], grade=grade
    )
    out = io.StringIO()
    assert PlainFace(io.StringIO("?\n?\n\n"), out).run_mock(mock) == 0
    text = out.getvalue()
    assert "Mock interview: 2 questions in 10:00 min, then the kata `pipe`" in text
    assert "Kata pipe: pass, 2/2 tasks" in text and "Score: 30%" in text
    assert "Review these topics:" in text
    assert grade.calls == [("pipe", workspace / "pipe.py")]


# --- kata stats -----------------------------------------------------------------------------


def test_stats_mastery_decays_and_lists_katas(bank, store, clock):
    from kata.quiz.mastery import progress_stats, render_stats

    sched = Scheduler(store, clock=clock)
    sched.record(bank.question("pipes-a"), correct=True, seconds=2)  # Easy: graduates to review
    sched.record(bank.question("pipes-b"), correct=False, seconds=2)  # just answered, but wrong
    store.record_attempt(fake_grade(status="fail")("pipe", Path("p.py")), at=clock.now)
    data = progress_stats(store, bank=bank, clock=clock, katas=[("pipe", "Pipes"), ("signals", "Signals")])
    assert data["topics"]["pipes"] == {
        "title": "Anonymous pipes",
        "questions": 4,
        "answered": 2,
        "mastered": 1,
        "mastery": 0.25,
    }
    assert data["reviews_per_day"] == {"2026-03-02": 2}
    assert [(k["id"], k["status"], k["best_tasks"]) for k in data["katas"]] == [
        ("pipe", "attempted", "1/2"),
        ("signals", "not attempted", ""),
    ]
    clock.advance(days=365)
    later = progress_stats(store, bank=bank, clock=clock, katas=[])
    assert later["topics"]["pipes"]["mastered"] == 0  # forgotten by now, as far as FSRS can tell
    assert "pipes" in render_stats(data) and "1/4" in render_stats(data)


def test_stats_json_command(bank_dir, home, monkeypatch, capsys):
    import json

    from kata.cli import main

    monkeypatch.setattr("kata.quiz.mastery._catalog", lambda: [("pipe", "Pipes")])
    assert main(["stats", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data["topics"]) == {"pipes", "fifos"} and data["katas"][0]["status"] == "not attempted"


def test_mock_kata_prefers_one_not_passed_yet(bank, store, clock):
    from kata.quiz.mock import choose_kata

    plan = [bank.question("fifos-a"), bank.question("pipes-a")]
    assert choose_kata(store, plan, {"fifos": 3.0, "pipes": 1.0}, ["signals", "pipe"]) == "pipe"
    store.record_attempt(fake_grade(status="pass", passed=2, total=2)("pipe", Path("p.py")))
    assert choose_kata(store, plan, {"fifos": 3.0, "pipes": 1.0}, ["signals", "pipe"]) == "signals"
    store.record_attempt(fake_grade(status="pass", passed=2, total=2)("signals", Path("s.py")))
    assert choose_kata(store, plan, {}, ["signals", "pipe"]) == "pipe"  # all passed: the weakest topic's
