"""Answer cues: what lets a test-wise candidate score without knowing the subject.

Measured over the whole bank (`kata questions stats` shows the figures,
`kata questions check` fails when one is out of bounds):

- **Longest answer**: the share of `choice` and `code` questions whose right
  choice is strictly the longest. Chance is about 1 in 4; a bank where the
  careful, qualified answer is always the long one teaches "pick the longest".
  At most `LONGEST_MAX`.
- **True/false balance**: the share of `truefalse` answers that are true, within
  `TRUE_SHARE`; and the same among those on the material's claims (tagged
  `material`: "the material says X: true or false?" must not always be false).
- **Position clustering**: within one topic, the share of `choice`/`code` answers
  written at the same position (as written: `--no-shuffle` shows them so) is at
  most `POSITION_MAX`; within one topic, true/false answers are not all alike.

Each figure needs a sample: a bank with fewer than `MIN_BANK_SAMPLE` questions of
the kind, or a topic with fewer than `MIN_TOPIC_SAMPLE`, is not measured (a
three-question fixture has no meaningful share).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kata.quiz.bank import TOPICS_FILE, Question
from kata.quiz.share import Share
from kata.quiz.yamlio import Problem

LONGEST_MAX = 0.30
TRUE_SHARE = (0.40, 0.60)
POSITION_MAX = 0.5
MIN_BANK_SAMPLE = 10
MIN_TOPIC_SAMPLE = 4
MIN_TOPIC_TRUEFALSE = 3
SHOWN_OFFENDERS = 5


@dataclass(frozen=True)
class Cluster:
    """The most common answer position of one topic."""

    topic: str
    position: int  # 0-based, as written
    answers: Share


@dataclass(frozen=True)
class CueFigures:
    longest: Share
    longest_questions: tuple[Question, ...]
    true_answers: Share
    material_true: Share  # among truefalse questions on the material's claims
    clusters: tuple[Cluster, ...]  # one per measured topic, the worst first
    uniform_truefalse: tuple[tuple[str, bool, int], ...]  # (topic, answer, count): a topic's t/f all alike

    @property
    def worst_cluster(self) -> Cluster | None:
        return self.clusters[0] if self.clusters else None

    def within_bounds(self) -> bool:
        return not self.problems(Path())

    def problems(self, directory: Path) -> list[Problem]:
        """One problem per figure out of bounds (bank-wide ones at topics.yaml:1, a
        topic's at its file's line 1)."""
        out: list[Problem] = []
        index = Path(directory) / TOPICS_FILE
        if self.longest.of >= MIN_BANK_SAMPLE and self.longest.share > LONGEST_MAX:
            shown = ", ".join(f"{q.id} ({q.file.name}:{q.line})" for q in self.longest_questions[:SHOWN_OFFENDERS])
            more = len(self.longest_questions) - SHOWN_OFFENDERS
            out.append(
                Problem(
                    index,
                    1,
                    f"cue: the right choice is strictly the longest in {self.longest.percent()} choice/code "
                    f"questions (at most {LONGEST_MAX:.0%}): make distractors as long and specific, e.g. {shown}"
                    + (f" and {more} more" if more > 0 else ""),
                )
            )
        low, high = TRUE_SHARE
        balances = (
            (self.true_answers, "true/false answers", MIN_BANK_SAMPLE),
            (self.material_true, "true/false answers on the material's claims", MIN_TOPIC_SAMPLE),
        )
        for share, what, sample in balances:
            if share.of >= sample and not low <= share.share <= high:
                out.append(
                    Problem(index, 1, f"cue: {share.percent()} {what} are true (keep {low:.0%}-{high:.0%} true)")
                )
        for cluster in self.clusters:
            if cluster.answers.share > POSITION_MAX:
                out.append(
                    Problem(
                        index.with_name(f"{cluster.topic}.yaml"),
                        1,
                        f"cue: {cluster.answers.percent()} {cluster.topic} choice/code answers are choice "
                        f"{cluster.position + 1} as written (at most {POSITION_MAX:.0%} may share a position)",
                    )
                )
        for topic, answer, count in self.uniform_truefalse:
            out.append(
                Problem(
                    index.with_name(f"{topic}.yaml"),
                    1,
                    f"cue: all {count} {topic} true/false answers are {str(answer).lower()}",
                )
            )
        return out

    def as_dict(self) -> dict[str, Any]:
        worst = self.worst_cluster
        return {
            "longest_correct": {"count": self.longest.count, "of": self.longest.of, "max_share": LONGEST_MAX},
            "true_answers": {"count": self.true_answers.count, "of": self.true_answers.of, "bounds": TRUE_SHARE},
            "material_true_answers": {"count": self.material_true.count, "of": self.material_true.of},
            "worst_position": (
                {
                    "topic": worst.topic,
                    "choice": worst.position + 1,
                    "count": worst.answers.count,
                    "of": worst.answers.of,
                    "max_share": POSITION_MAX,
                }
                if worst
                else None
            ),
            "within_bounds": self.within_bounds(),
        }

    def render(self) -> list[str]:
        low, high = TRUE_SHARE
        worst = self.worst_cluster
        lines = [
            "answer cues (`kata questions check` fails outside the bounds):",
            f"  right choice strictly the longest: {self.longest.percent()} of choice/code (max {LONGEST_MAX:.0%})",
            f"  true/false answers that are true:  {self.true_answers.percent()} (bounds {low:.0%}-{high:.0%});"
            f" on the material's claims {self.material_true.percent()}",
        ]
        if worst is not None:
            lines.append(
                f"  most clustered answer position:    {worst.answers.percent()} of {worst.topic} at choice "
                f"{worst.position + 1} (max {POSITION_MAX:.0%})"
            )
        lines.append(f"  within bounds: {'yes' if self.within_bounds() else 'NO'}")
        return lines


def strictly_longest(q: Question) -> bool:
    right = q.correct[0]
    return all(len(q.choices[right]) > len(c) for n, c in enumerate(q.choices) if n != right)


def about_material(q: Question) -> bool:
    """Tests a claim of the source material (tagged `material`, or the prompt quotes it)."""
    return "material" in q.tags or "material" in q.prompt.lower()


def measure(questions: Sequence[Question]) -> CueFigures:
    single = [q for q in questions if q.kind in ("choice", "code")]
    longest = tuple(q for q in single if strictly_longest(q))
    truefalse = [q for q in questions if q.kind == "truefalse"]
    material = [q for q in truefalse if about_material(q)]

    clusters = []
    for topic in dict.fromkeys(q.topic for q in single):
        positions = Counter(q.correct[0] for q in single if q.topic == topic)
        total = sum(positions.values())
        if total >= MIN_TOPIC_SAMPLE:
            position, count = max(positions.items(), key=lambda item: (item[1], -item[0]))
            clusters.append(Cluster(topic, position, Share(count, total)))
    clusters.sort(key=lambda c: (-c.answers.share, c.topic))

    uniform = []
    for topic in dict.fromkeys(q.topic for q in truefalse):
        answers = {q.truth for q in truefalse if q.topic == topic}
        count = sum(1 for q in truefalse if q.topic == topic)
        if count >= MIN_TOPIC_TRUEFALSE and len(answers) == 1:
            uniform.append((topic, bool(answers.pop()), count))

    return CueFigures(
        longest=Share(len(longest), len(single)),
        longest_questions=longest,
        true_answers=Share(sum(1 for q in truefalse if q.truth), len(truefalse)),
        material_true=Share(sum(1 for q in material if q.truth), len(material)),
        clusters=tuple(clusters),
        uniform_truefalse=tuple(uniform),
    )
