"""The answer-cue checks of `kata questions check`: each cue, made on purpose in a
generated bank, is reported at the right file; a bank without cues is clean."""

from __future__ import annotations

from pathlib import Path

import pytest

from kata.quiz.cues import LONGEST_MAX, measure
from kata.quiz.lint import check_bank

TOPICS = "- id: pipes\n  title: Pipes\n- id: fifos\n  title: FIFOs\n"
CLAIMS = "material: m\nclaims:\n  - id: c\n    quote: q\n    verdict: accurate\n    questions: [pipes-tf-0]\n"


def choice(qid: str, topic: str, right: int, right_text: str, wrong_text: str = "a wrong one") -> str:
    options = [wrong_text + f" {n}" for n in range(3)]
    options.insert(right, right_text)
    lines = "".join(f"    - {o}\n" for o in options)
    return (
        f"- id: {qid}\n  topic: {topic}\n  kind: choice\n  difficulty: 1\n  prompt: Which?\n"
        f"  choices:\n{lines}  answer: {right_text}\n  explain: Because. Really.\n  source: pipe(7)\n"
    )


def truefalse(qid: str, topic: str, truth: bool, material: bool = False) -> str:
    tags = "  tags: [material]\n" if material else ""
    return (
        f"- id: {qid}\n  topic: {topic}\n  kind: truefalse\n  difficulty: 1\n  prompt: Is it?\n"
        f"  answer: {str(truth).lower()}\n  explain: Because. Really.\n  source: pipe(7)\n{tags}"
    )


def write_bank(tmp_path: Path, *, long_right: int = 0, true_count: int = 6, pipes_positions=None, fifos_tf=None):
    """12 choice questions per topic in two topics, 12 true/false; the knobs make one cue each."""
    bank = tmp_path / "bank"
    bank.mkdir(parents=True)
    (bank / "topics.yaml").write_text(TOPICS)
    (bank / "claims.yaml").write_text(CLAIMS)
    positions = pipes_positions or [n % 4 for n in range(12)]
    pipes = [
        choice(f"pipes-{n}", "pipes", positions[n], "right and long " * 3 if n < long_right else "right one")
        for n in range(12)
    ]
    pipes += [truefalse(f"pipes-tf-{n}", "pipes", n < true_count) for n in range(12)]
    fifos = [choice(f"fifos-{n}", "fifos", (n + 1) % 4, "right one") for n in range(12)]
    fifos += [truefalse(f"fifos-tf-{n}", "fifos", t) for n, t in enumerate(fifos_tf or [])]
    (bank / "pipes.yaml").write_text("".join(pipes))
    (bank / "fifos.yaml").write_text("".join(fifos))
    return bank


def problems(bank: Path) -> list[str]:
    return [p.format(bank) for p in check_bank(bank, kata_ids=[])]


def test_a_bank_without_cues_is_clean(tmp_path):
    assert problems(write_bank(tmp_path)) == []


def test_the_longest_right_choice_too_often(tmp_path):
    """8 of 24 (33 %) is over 30 %; 7 of 24 (29 %) is within."""
    assert problems(write_bank(tmp_path / "a", long_right=7)) == []
    [problem] = problems(write_bank(tmp_path / "b", long_right=8))
    assert problem.startswith("topics.yaml:1: cue: the right choice is strictly the longest in 8 of 24 (33%)")
    assert "pipes-0 (pipes.yaml:1)" in problem and "and 3 more" in problem


@pytest.mark.parametrize("true_count, ok", [(4, False), (5, True), (7, True), (8, False)])
def test_true_false_balance(tmp_path, true_count, ok):
    """5/12 = 42 % and 7/12 = 58 % are within 40-60 %; 4/12 and 8/12 are not."""
    found = problems(write_bank(tmp_path, true_count=true_count))
    assert (found == []) is ok
    if not ok:
        share = f"{true_count} of 12 ({true_count / 12:.0%})"
        assert found == [f"topics.yaml:1: cue: {share} true/false answers are true (keep 40%-60% true)"]


def test_the_materials_claims_are_not_always_false(tmp_path):
    bank = write_bank(tmp_path)
    extra = "".join(truefalse(f"fifos-m-{n}", "fifos", n == 0, material=True) for n in range(4))
    extra += "".join(truefalse(f"fifos-x-{n}", "fifos", True) for n in range(3))  # keep the overall share in bounds
    (bank / "fifos.yaml").write_text((bank / "fifos.yaml").read_text() + extra)
    assert problems(bank) == [
        "topics.yaml:1: cue: 1 of 4 (25%) true/false answers on the material's claims are true (keep 40%-60% true)"
    ]


def test_one_topic_clustering_on_one_position(tmp_path):
    positions = [1] * 7 + [0, 2, 3, 0, 2]
    assert problems(write_bank(tmp_path, pipes_positions=positions)) == [
        "pipes.yaml:1: cue: 7 of 12 (58%) pipes choice/code answers are choice 2 as written"
        " (at most 50% may share a position)"
    ]


def test_one_topics_true_false_all_alike(tmp_path):
    found = problems(write_bank(tmp_path, true_count=7, fifos_tf=[False, False, False]))
    assert found == ["fifos.yaml:1: cue: all 3 fifos true/false answers are false"]


def test_figures_for_stats(tmp_path):
    bank = write_bank(tmp_path, long_right=3)
    from kata.quiz.bank import load_bank

    figures = measure(load_bank(bank).questions).as_dict()
    assert figures["longest_correct"] == {"count": 3, "of": 24, "max_share": LONGEST_MAX}
    assert figures["true_answers"]["count"] == 6 and figures["within_bounds"] is True
    assert figures["worst_position"]["of"] == 12
