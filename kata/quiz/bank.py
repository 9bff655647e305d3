"""The question bank: `questions/*.yaml` loaded into typed `Question` objects.

Layout of a bank directory (see questions/README.md for the full schema):

- `topics.yaml`: the known topics, in display order (`id`, `title`, `summary`);
- `<topic>.yaml`: a list of questions of that topic;
- `claims.yaml`: the source material's claims and the questions covering them
  (read by `kata.quiz.claims`, not by the loader).

Every `Question` keeps the file and line it came from, so every message about it
can say `file:line: message`. `parse_bank` never raises on bad data: it returns
the questions it could build and a list of `Problem`s. `load_bank` is the strict
entry point the quiz uses: it raises `BankError` when the bank has problems.

The loader checks structure (fields, types, answers that refer to choices);
what makes a well-formed question fit to ship is `kata.quiz.lint`'s job.
"""

from __future__ import annotations

import dataclasses
import re
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, get_args

import yaml

from kata.errors import UserError
from kata.quiz.answers import KILO_CHOICES, UNITS, Quantity
from kata.quiz.ordering import ConstraintError, Pair, may_swap, parse_chain, total_order
from kata.quiz.yamlio import Problem, key_lines, line_of, read_yaml, value_nodes

Kind = Literal["choice", "multi", "truefalse", "short", "order", "code", "design"]
KINDS: tuple[str, ...] = get_args(Kind)

TOPICS_FILE = "topics.yaml"
CLAIMS_FILE = "claims.yaml"
RESERVED_FILES = frozenset({TOPICS_FILE, CLAIMS_FILE})

ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

REQUIRED_FIELDS = ("id", "topic", "kind", "prompt", "answer", "explain", "source", "difficulty")
# Optional fields, and the kinds that may have each (None: any kind).
OPTIONAL_FIELDS: dict[str, frozenset[str] | None] = {
    "tags": None,
    "kata": None,
    "proof": None,
    "choices": frozenset({"choice", "multi", "order", "code"}),
    "code": frozenset({"code"}),
    "expect": frozenset({"code"}),
    "number": frozenset({"short"}),
    "accepts": frozenset({"short"}),
    "rejects": frozenset({"short"}),
    "constraints": frozenset({"order"}),
    "rubric": frozenset({"design"}),
    "wrong_turns": frozenset({"design"}),
}
ALL_FIELDS = frozenset(REQUIRED_FIELDS) | set(OPTIONAL_FIELDS)

# Kinds whose answer refers to `choices`, and the fewest choices each needs.
MIN_CHOICES = {"choice": 2, "multi": 2, "order": 3, "code": 2}
RUBRIC_POINTS = (4, 6)  # a design question's rubric: at least, at most
MIN_WRONG_TURNS = 2

EXPECT_FIELDS = frozenset({"stdout", "stderr_contains", "exit_code", "signal", "hangs", "timeout"})
DEFAULT_RUN_TIMEOUT = 10.0  # a program that is expected to finish
DEFAULT_HANG_TIMEOUT = 2.0  # how long an expected hang must last

__all__ = [
    "KINDS",
    "Bank",
    "BankError",
    "Expect",
    "Problem",
    "Program",
    "Question",
    "RubricPoint",
    "Topic",
    "load_bank",
    "parse_bank",
]


class BankError(UserError):
    """The bank has problems; `problems` lists them all, the message names the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        first = self.problems[0].format(Path.cwd()) if self.problems else "unknown problem"
        more = len(self.problems) - 1
        suffix = f" (and {more} more; run `kata questions check`)" if more else ""
        super().__init__(f"question bank: {first}{suffix}")


@dataclass(frozen=True)
class Expect:
    """The machine-checkable behaviour of a program (a `code` question's, or a `proof`).

    The program is run with `python -I -c CODE` in a new session, stdout and
    stderr captured (so stdout is a pipe: block-buffered), cwd and TMPDIR a fresh
    scratch directory. Unset fields are not checked, except the outcome: a
    program that neither `hangs` nor dies of `signal` must exit with `exit_code`
    (default 0).
    """

    stdout: str | None = None  # the exact stdout (compared with trailing whitespace stripped)
    stderr_contains: str | None = None  # a substring of stderr
    exit_code: int = 0  # the exit status when it exits normally
    signal: str | None = None  # killed by this signal, e.g. "SIGPIPE"
    hangs: bool = False  # still running after `timeout` seconds (a deadlock), then killed
    timeout: float = DEFAULT_RUN_TIMEOUT  # seconds; default 2 for `hangs`, else 10

    @property
    def signum(self) -> int | None:
        return int(signal.Signals[self.signal]) if self.signal else None

    def describe(self) -> str:
        if self.hangs:
            return f"still running after {self.timeout:g} s (hangs)"
        if self.signal:
            return f"killed by {self.signal}"
        return f"exits with status {self.exit_code}"


@dataclass(frozen=True)
class Program:
    """A `proof`: a program whose run shows that a question's explanation holds.
    Executed by the tests and `kata questions check --run`; not shown in the quiz."""

    code: str
    expect: Expect
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class RubricPoint:
    """One key point of a design answer, and why an interviewer listens for it."""

    point: str
    why: str


@dataclass(frozen=True)
class Question:
    """One question. Which answer field is meaningful depends on `kind`:

    - `choice`, `code`: `choices` (shown in this order, or shuffled by the quiz),
      `correct` = (index of the right choice,);
    - `multi`: `choices`, `correct` = indices of every right choice (sorted);
    - `order`: `choices` = the items as shown (scrambled), `correct` = one right
      sequence as indices into `choices`, `before` = the constraints every right
      sequence keeps, as (earlier, later) choice indices (a partial order);
    - `truefalse`: `truth` is the right answer, `choices` is empty;
    - `short`: `accepted` = the accepted texts (the first is shown), `number` =
      the numeric answer compared by value (optional), `variants` / `near_misses`
      = typed answers that must be judged right / wrong (checked and tested);
    - `design`: `model` = the model answer, `rubric` = its key points,
      `wrong_turns` = the common wrong turns; the learner ticks what they covered.

    A `code` question also has `code` (a Python 3.11 program) and `expect` (what
    it really does, checked by running it in the test suite). Any question may
    carry a `proof`: a program that demonstrates a claim of its explanation.
    """

    id: str
    topic: str
    kind: Kind
    prompt: str
    explain: str
    source: str
    difficulty: int  # 1 recall, 2 reasoning, 3 tricky / interview-deep
    choices: tuple[str, ...] = ()
    correct: tuple[int, ...] = ()
    before: tuple[Pair, ...] = ()
    truth: bool | None = None
    accepted: tuple[str, ...] = ()
    number: Quantity | None = None
    variants: tuple[str, ...] = ()
    near_misses: tuple[str, ...] = ()
    model: str = ""
    rubric: tuple[RubricPoint, ...] = ()
    wrong_turns: tuple[str, ...] = ()
    code: str | None = None
    expect: Expect | None = None
    proof: Program | None = None
    tags: tuple[str, ...] = ()
    kata: str | None = None
    file: Path = field(default=Path(), compare=False)
    line: int = field(default=0, compare=False)
    # The line of each field, and of each item of a list field as "name[i]" (0-based).
    lines: Mapping[str, int] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"

    def line_of(self, name: str) -> int:
        """Where a field (or a list item, "accepts[2]") is written; the question's line if unknown."""
        return self.lines.get(name, self.lines.get(name.split("[")[0], self.line))

    @property
    def constraints(self) -> tuple[Pair, ...]:
        """An order question's constraints; a question built without them is a total order."""
        return self.before or total_order(self.correct)

    def answer_text(self) -> str:
        """The right answer as a human would say it (for feedback after answering)."""
        if self.kind == "truefalse":
            return "True" if self.truth else "False"
        if self.kind == "short":
            return self.accepted[0] if self.accepted else ""
        if self.kind == "design":
            return self.model
        if self.kind == "order":
            steps = "\n".join(f"{n}. {self.choices[i]}" for n, i in enumerate(self.correct, 1))
            step_of = {item: n for n, item in enumerate(self.correct, 1)}
            free = sorted(tuple(sorted((step_of[a], step_of[b]))) for a, b in may_swap(self.correct, self.constraints))
            if free:
                steps += "\n(also right: " + "; ".join(f"steps {a} and {b} in either order" for a, b in free) + ")"
            return steps
        return "\n".join(self.choices[i] for i in self.correct)

    def proof_as_code(self) -> Question | None:
        """The proof as a code question (at the proof's line), so the code runner judges it like one."""
        if self.proof is None:
            return None
        return dataclasses.replace(
            self, kind="code", code=self.proof.code, expect=self.proof.expect, line=self.proof.line
        )


@dataclass(frozen=True)
class Topic:
    id: str
    title: str
    summary: str = ""
    file: Path = field(default=Path(), compare=False)
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Bank:
    """The loaded bank: `topics` in display order (topics.yaml), `questions` in
    file order (files sorted by name, questions as written), `by_id` for lookup."""

    directory: Path
    topics: tuple[Topic, ...]
    questions: tuple[Question, ...]

    @cached_property
    def by_id(self) -> Mapping[str, Question]:
        return MappingProxyType({q.id: q for q in self.questions})

    def question(self, question_id: str) -> Question:
        """The question with this id; KeyError if there is none."""
        return self.by_id[question_id]

    def __contains__(self, question_id: object) -> bool:
        return question_id in self.by_id

    def topic(self, topic_id: str) -> Topic:
        for t in self.topics:
            if t.id == topic_id:
                return t
        raise KeyError(topic_id)

    def in_topic(self, topic_id: str) -> tuple[Question, ...]:
        return tuple(q for q in self.questions if q.topic == topic_id)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(q.id for q in self.questions)

    def __len__(self) -> int:
        return len(self.questions)


def default_directory() -> Path:
    from kata.paths import questions_dir

    return questions_dir()


def load_bank(directory: Path | None = None, *, strict: bool = True) -> Bank:
    """Load the bank (default: the shipped one). With `strict`, any problem raises
    `BankError`; otherwise broken questions are left out."""
    bank, problems = parse_bank(directory)
    if strict and problems:
        raise BankError(problems)
    return bank


def parse_bank(directory: Path | None = None) -> tuple[Bank, list[Problem]]:
    """Every question that could be built, and every structural problem: YAML
    errors, unknown or missing fields, wrong types, answers not among the choices,
    duplicate ids, unknown topics."""
    directory = Path(directory) if directory is not None else default_directory()
    problems: list[Problem] = []
    if not directory.is_dir():
        raise UserError(f"no question bank at {directory}: not a directory")

    topics = _parse_topics(directory / TOPICS_FILE, problems)
    known_topics = {t.id for t in topics}

    questions: list[Question] = []
    seen: dict[str, Question] = {}
    for path in question_files(directory):
        for q in parse_question_file(path, problems):
            if q.id in seen:
                first = seen[q.id]
                problems.append(
                    Problem(q.file, q.line, f"duplicate id {q.id!r} (first at {first.file.name}:{first.line})")
                )
                continue
            seen[q.id] = q
            if topics and q.topic not in known_topics:
                problems.append(
                    Problem(
                        q.file,
                        q.line,
                        f"{q.id}: unknown topic {q.topic!r}; known topics: {', '.join(sorted(known_topics))}",
                    )
                )
            questions.append(q)
    return Bank(directory, tuple(topics), tuple(questions)), problems


def question_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.yaml") if p.name not in RESERVED_FILES)


# ---------------------------------------------------------------------------
# topics.yaml


def _parse_topics(path: Path, problems: list[Problem]) -> list[Topic]:
    if not path.is_file():
        problems.append(Problem(path, 1, "missing: the bank needs a topics.yaml listing its topics"))
        return []
    data, node = read_yaml(path, problems)
    if node is None:
        return []
    if not isinstance(data, list) or not isinstance(node, yaml.SequenceNode):
        problems.append(Problem(path, 1, "expected a list of topics (`- id: ...`)"))
        return []
    topics: list[Topic] = []
    seen: set[str] = set()
    for item, item_node in zip(data, node.value, strict=False):
        line = line_of(item_node)
        if not isinstance(item, dict):
            problems.append(Problem(path, line, "a topic must be a mapping with `id` and `title`"))
            continue
        tid, title = item.get("id"), item.get("title")
        if not isinstance(tid, str) or not ID_PATTERN.match(tid):
            problems.append(Problem(path, line, f"topic id must be lowercase-with-dashes, got {tid!r}"))
            continue
        if not isinstance(title, str) or not title.strip():
            problems.append(Problem(path, line, f"topic {tid!r}: missing title"))
            continue
        unknown = set(item) - {"id", "title", "summary"}
        for name in sorted(unknown):
            problems.append(
                Problem(path, key_lines(item_node).get(name, line), f"topic {tid!r}: unknown field {name!r}")
            )
        if tid in seen:
            problems.append(Problem(path, line, f"duplicate topic {tid!r}"))
            continue
        seen.add(tid)
        topics.append(Topic(tid, title.strip(), str(item.get("summary") or "").strip(), path, line))
    return topics


# ---------------------------------------------------------------------------
# question files


def parse_question_file(path: Path, problems: list[Problem]) -> list[Question]:
    data, node = read_yaml(path, problems)
    if node is None:
        if data is None and not problems_for(path, problems):
            problems.append(Problem(path, 1, "empty file: expected a list of questions"))
        return []
    if not isinstance(data, list) or not isinstance(node, yaml.SequenceNode):
        problems.append(Problem(path, line_of(node), "expected a list of questions (`- id: ...`)"))
        return []
    questions = []
    for item, item_node in zip(data, node.value, strict=False):
        q = _parse_question(path, item, item_node, problems)
        if q is not None:
            questions.append(q)
    return questions


def problems_for(path: Path, problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.file == path]


_LISTED = re.compile(r"^(?:[ \t]|[-*] |\d+[.)] )")


def reflow(text: str) -> str:
    """A YAML block as flowing paragraphs: the lines of a paragraph are joined, since the
    quiz faces wrap text to the screen; blank lines between paragraphs stay. A paragraph
    with indented or list lines keeps its line breaks."""
    paragraphs = re.split(r"\n[ \t]*\n", text.strip())
    out = []
    for paragraph in paragraphs:
        lines = paragraph.splitlines()
        out.append(paragraph if any(_LISTED.match(line) for line in lines[1:]) else " ".join(paragraph.split()))
    return "\n\n".join(out)


def _text(value: Any) -> str | None:
    """A YAML scalar as text: strings as they are (trailing whitespace removed),
    numbers converted; None for anything else (bools, lists, mappings, null)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        return value.rstrip()
    if isinstance(value, (int, float)):
        return str(value)
    return None


class _Reject(Exception):
    """Internal: the question cannot be built; the problem was already recorded."""


@dataclass
class _Item:
    """One question's mapping while it is parsed: its values, their lines, and the
    problem list every message goes to (as `file:line: <id>: message`)."""

    path: Path
    data: dict[str, Any]
    node: yaml.Node
    problems: list[Problem]
    label: str

    @cached_property
    def start(self) -> int:
        return line_of(self.node)

    @cached_property
    def lines(self) -> dict[str, int]:
        return key_lines(self.node)

    @cached_property
    def nodes(self) -> dict[str, yaml.Node]:
        return value_nodes(self.node)

    def bad(self, key: str | None, message: str, line: int | None = None) -> None:
        if line is None:
            line = self.lines.get(key, self.start) if key else self.start
        self.problems.append(Problem(self.path, line, f"{self.label}: {message}"))

    def reject(self, key: str | None, message: str, line: int | None = None) -> _Reject:
        self.bad(key, message, line)
        return _Reject()

    def all_lines(self) -> Mapping[str, int]:
        lines = dict(self.lines)
        for key, node in self.nodes.items():
            if isinstance(node, yaml.SequenceNode):
                lines.update({f"{key}[{i}]": line_of(n) for i, n in enumerate(node.value)})
        return MappingProxyType(lines)

    def item_line(self, key: str, index: int) -> int | None:
        """The line of item `index` of the list under `key`, when it is a YAML list."""
        node = self.nodes.get(key)
        if isinstance(node, yaml.SequenceNode) and index < len(node.value):
            return line_of(node.value[index])
        return None

    def texts(self, key: str, *, at_least: int = 0, what: str = "texts") -> tuple[str, ...]:
        """A list of non-empty texts under `key` (absent: empty)."""
        raw = self.data.get(key)
        if raw is None and at_least == 0:
            return ()
        if not isinstance(raw, list) or len(raw) < at_least:
            raise self.reject(key, f"{key} must be a list of {f'at least {at_least} ' if at_least else ''}{what}")
        out = []
        for i, value in enumerate(raw):
            text = _text(value)
            if not text or not text.strip():
                raise self.reject(
                    key,
                    f"{key} item {i + 1} must be non-empty text, got {_yaml_type(value)}{_quote_hint(value)}",
                    self.item_line(key, i),
                )
            out.append(text.strip())
        return tuple(out)


def _parse_question(path: Path, raw: Any, node: yaml.Node, problems: list[Problem]) -> Question | None:
    start = line_of(node)
    if not isinstance(raw, dict):
        problems.append(Problem(path, start, "a question must be a mapping (`id: ...`, `kind: ...`, ...)"))
        return None
    qid = raw.get("id")
    item = _Item(path, raw, node, problems, qid if isinstance(qid, str) and qid else "question")
    before = len(problems)

    for name in sorted(set(raw) - ALL_FIELDS, key=str):
        item.bad(str(name), f"unknown field {name!r}")
    missing = [name for name in REQUIRED_FIELDS if raw.get(name) is None]
    for name in missing:
        item.bad(None, f"missing field {name!r}")
    if missing:
        return None

    common = _common_fields(item)
    kind = raw["kind"]
    if kind not in KINDS:
        item.bad("kind", f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        return None
    for name, kinds in OPTIONAL_FIELDS.items():
        if name in raw and kinds is not None and kind not in kinds:
            item.bad(name, f"a {kind} question has no {name!r} (only {', '.join(k for k in KINDS if k in kinds)})")
    try:
        specific = _KIND_PARSERS[kind](item)
        proof = _parse_program(item, raw["proof"], "proof") if "proof" in raw else None
    except _Reject:
        return None
    if len(problems) > before:
        return None
    return Question(**common, kind=kind, proof=proof, **specific, file=path, line=start, lines=item.all_lines())


def _common_fields(item: _Item) -> dict[str, Any]:
    raw = item.data
    qid = raw["id"]
    if not isinstance(qid, str) or not ID_PATTERN.match(qid):
        item.bad("id", f"id must be lowercase words joined by dashes, got {qid!r}")
    topic = raw["topic"]
    if not isinstance(topic, str) or not ID_PATTERN.match(topic):
        item.bad("topic", f"topic must be a topic id, got {topic!r}")
    prompt = raw["prompt"]
    if not isinstance(prompt, str) or not prompt.strip():
        item.bad("prompt", "prompt must be non-empty text")
    explain = raw["explain"]
    if not isinstance(explain, str) or not explain.strip():
        item.bad("explain", "explain must be non-empty text")
    source = raw["source"]
    if not isinstance(source, str) or not source.strip():
        item.bad("source", "source must be non-empty text (the material or a man page, e.g. pipe(7))")
    difficulty = raw["difficulty"]
    if isinstance(difficulty, bool) or not isinstance(difficulty, int) or not 1 <= difficulty <= 3:
        item.bad("difficulty", f"difficulty must be 1, 2 or 3, got {difficulty!r}")
    tags = raw.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
        item.bad("tags", "tags must be a list of words")
        tags = []
    kata = raw.get("kata")
    if kata is not None and not isinstance(kata, str):
        item.bad("kata", f"kata must be a kata id, got {kata!r}")
    return {
        "id": qid,
        "topic": topic,
        "prompt": reflow(prompt) if isinstance(prompt, str) else "",
        "explain": " ".join(explain.split()) if isinstance(explain, str) else "",
        "source": source.strip() if isinstance(source, str) else "",
        "difficulty": difficulty,
        "tags": tuple(tags),
        "kata": kata,
    }


# --- one parser per kind: the kind's answer fields as Question keyword arguments ---------


def _parse_choice(item: _Item) -> dict[str, Any]:
    choices = _parse_choices(item)
    return {"choices": choices, "correct": (_choice_index(item, item.data["answer"], choices),)}


def _parse_code(item: _Item) -> dict[str, Any]:
    fields = _parse_choice(item)
    program = _parse_program(item, item.data, None)
    return {**fields, "code": program.code, "expect": program.expect}


def _parse_multi(item: _Item) -> dict[str, Any]:
    choices = _parse_choices(item)
    answer = item.data["answer"]
    if not isinstance(answer, list) or not answer:
        raise item.reject("answer", "a multi answer is a non-empty list of choices")
    indices = [_choice_index(item, a, choices) for a in answer]
    if len(set(indices)) != len(indices):
        item.bad("answer", "the answer lists a choice twice")
    return {"choices": choices, "correct": tuple(sorted(set(indices)))}


def _parse_order(item: _Item) -> dict[str, Any]:
    choices = _parse_choices(item)
    answer = item.data["answer"]
    if not isinstance(answer, list):
        raise item.reject("answer", "an order answer is the list of choices in the right order")
    texts = [_text(a) for a in answer]
    if sorted(t or "" for t in texts) != sorted(choices):
        missing = [c for c in choices if c not in texts]
        extra = [t for t in texts if t not in choices]
        detail = []
        if missing:
            detail.append(f"missing {missing[0]!r}")
        if extra:
            detail.append(f"not a choice: {extra[0]!r}")
        if not detail:
            detail.append("an item is repeated")
        raise item.reject("answer", "the order answer must be a permutation of the choices (" + "; ".join(detail) + ")")
    correct = tuple(choices.index(t) for t in texts if t is not None)
    if "constraints" not in item.data:
        return {"choices": choices, "correct": correct, "before": total_order(correct)}
    raw = item.data["constraints"]
    if not isinstance(raw, list) or not raw:
        raise item.reject("constraints", "constraints must be a list of step chains like '1 < 3' (steps of `answer`)")
    pairs: list[Pair] = []
    for i, text in enumerate(raw):
        try:
            pairs += [(correct[a], correct[b]) for a, b in parse_chain(text, len(correct))]
        except ConstraintError as err:
            raise item.reject("constraints", str(err), item.item_line("constraints", i)) from None
    return {"choices": choices, "correct": correct, "before": tuple(dict.fromkeys(pairs))}


def _parse_truefalse(item: _Item) -> dict[str, Any]:
    answer = item.data["answer"]
    if not isinstance(answer, bool):
        raise item.reject("answer", f"a truefalse answer is true or false, got {answer!r}")
    return {"truth": answer}


def _parse_short(item: _Item) -> dict[str, Any]:
    answer = item.data["answer"]
    raw = answer if isinstance(answer, list) else [answer]
    texts = [_text(a) for a in raw]
    if not texts or any(not t for t in texts):
        raise item.reject("answer", "a short answer is a text or a list of accepted texts")
    return {
        "accepted": tuple(t.strip() for t in texts if t),
        "number": _parse_number(item) if "number" in item.data else None,
        "variants": item.texts("accepts", what="typed answers that must be judged right"),
        "near_misses": item.texts("rejects", what="typed answers that must be judged wrong"),
    }


def _parse_number(item: _Item) -> Quantity:
    raw = item.data["number"]
    if not isinstance(raw, dict) or set(raw) - {"value", "unit", "kilo"}:
        raise item.reject("number", "number is a mapping of value, unit and (for bytes) kilo")
    value, unit, kilo = raw.get("value"), raw.get("unit", "count"), raw.get("kilo")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise item.reject("number", f"number.value must be a number, got {value!r}")
    if unit not in UNITS:
        raise item.reject("number", f"number.unit must be one of {', '.join(UNITS)}, got {unit!r}")
    if unit == "bytes" and kilo not in KILO_CHOICES:
        raise item.reject("number", 'a byte count declares kilo: 1024 ("4 KB" is 4096) or 1000 (only KiB is 1024)')
    if unit != "bytes" and kilo is not None:
        raise item.reject("number", "kilo is for byte counts only")
    return Quantity(float(value), unit, kilo or 1024)


def _parse_design(item: _Item) -> dict[str, Any]:
    model = item.data["answer"]
    if not isinstance(model, str) or not model.strip():
        raise item.reject("answer", "a design answer is the model answer, as text")
    raw = item.data.get("rubric")
    low, high = RUBRIC_POINTS
    if not isinstance(raw, list) or not low <= len(raw) <= high:
        raise item.reject(
            "rubric" if "rubric" in item.data else None, f"a design question needs a rubric of {low}-{high} points"
        )
    rubric = []
    for i, point in enumerate(raw):
        texts = {k: _text(point.get(k)) for k in ("point", "why")} if isinstance(point, dict) else {}
        if set(point if isinstance(point, dict) else ()) != {"point", "why"} or not all(texts.values()):
            raise item.reject(
                "rubric", f"rubric item {i + 1} needs exactly `point` and `why`, both text", item.item_line("rubric", i)
            )
        rubric.append(RubricPoint(" ".join(str(texts["point"]).split()), " ".join(str(texts["why"]).split())))
    if "wrong_turns" not in item.data:
        raise item.reject(None, f"a design question needs `wrong_turns`: at least {MIN_WRONG_TURNS} common wrong turns")
    wrong_turns = item.texts("wrong_turns", at_least=MIN_WRONG_TURNS, what="common wrong turns")
    return {
        "model": reflow(model),
        "rubric": tuple(rubric),
        "wrong_turns": tuple(" ".join(t.split()) for t in wrong_turns),
    }


_KIND_PARSERS: dict[str, Callable[[_Item], dict[str, Any]]] = {
    "choice": _parse_choice,
    "code": _parse_code,
    "multi": _parse_multi,
    "order": _parse_order,
    "truefalse": _parse_truefalse,
    "short": _parse_short,
    "design": _parse_design,
}


def _parse_choices(item: _Item) -> tuple[str, ...]:
    kind = item.data["kind"]
    need = MIN_CHOICES[kind]
    raw = item.data.get("choices")
    if not isinstance(raw, list) or len(raw) < need:
        raise item.reject("choices", f"a {kind} question needs a list of at least {need} choices")
    out: list[str] = []
    for i, value in enumerate(raw):
        text = _text(value)
        line = item.item_line("choices", i)
        if not text:
            raise item.reject(
                "choices", f"choice {i + 1} must be non-empty text, got {_yaml_type(value)}{_quote_hint(value)}", line
            )
        if text in out:
            raise item.reject("choices", f"choice {i + 1} repeats an earlier choice: {text!r}", line)
        out.append(text)
    return tuple(out)


def _yaml_type(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"the boolean {value}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _quote_hint(value: Any) -> str:
    if isinstance(value, dict):
        return " (quote it: an unquoted ': ' makes YAML read a mapping)"
    if isinstance(value, bool):
        return " (quote it: YAML reads yes/no/true/false as booleans)"
    return ""


def _choice_index(item: _Item, answer: Any, choices: tuple[str, ...]) -> int:
    text = _text(answer)
    if text is None:
        raise item.reject(
            "answer", f"an answer must be the text of a choice, got {_yaml_type(answer)}{_quote_hint(answer)}"
        )
    if text not in choices:
        raise item.reject("answer", f"answer {_short(text)!r} is not among the choices")
    return choices.index(text)


def _short(value: Any, width: int = 60) -> Any:
    if isinstance(value, str) and len(value) > width:
        return value[: width - 3] + "..."
    return value


def _parse_program(item: _Item, raw: Any, key: str | None) -> Program:
    """`code` + `expect` of a code question (key None: in the question itself) or of a `proof` mapping."""
    where = f"{key}." if key else ""
    if key is not None and (not isinstance(raw, dict) or set(raw) - {"code", "expect"}):
        raise item.reject(key, f"{key} is a mapping of `code` (a Python program) and `expect` (what it does)")
    code = raw.get("code")
    if not isinstance(code, str) or not code.strip():
        raise item.reject(key, f"a {'proof' if key else 'code question'} needs `{where}code`: the Python program")
    try:
        compile(code, "<code>", "exec")
    except SyntaxError as err:
        # A block scalar (`code: |`) starts on the line after its key: point at
        # the offending line of the program.
        code_line = item.lines.get("code", 0) if key is None else _nested_key_line(item, key, "code")
        raise item.reject(
            None, f"{where}code does not compile: {err.msg} (program line {err.lineno})", code_line + (err.lineno or 1)
        ) from None
    return Program(code, _parse_expect(item, raw, key), item.lines.get(key, item.start) if key else item.start)


def _nested_key_line(item: _Item, key: str, inner: str) -> int:
    return key_lines(item.nodes[key]).get(inner, item.lines.get(key, item.start))


def _parse_expect(item: _Item, holder: dict[str, Any], key: str | None) -> Expect:
    where = f"{key}.expect" if key else "expect"
    at = key or "expect"
    raw = holder.get("expect")
    if not isinstance(raw, dict) or not raw:
        raise item.reject(
            at if (key or "expect" in holder) else None,
            f"a {'proof' if key else 'code question'} needs `{where}`: stdout / exit_code / signal / hangs",
        )
    unknown = set(raw) - EXPECT_FIELDS
    if unknown:
        raise item.reject(
            at, f"unknown {where} field {sorted(unknown, key=str)[0]!r}; known: {', '.join(sorted(EXPECT_FIELDS))}"
        )
    hangs = raw.get("hangs", False)
    if not isinstance(hangs, bool):
        raise item.reject(at, f"{where}.hangs must be true or false")
    sig = raw.get("signal")
    if sig is not None and (not isinstance(sig, str) or sig not in signal.Signals.__members__):
        raise item.reject(at, f"{where}.signal must be a signal name like SIGPIPE, got {sig!r}")
    exit_code = raw.get("exit_code", 0)
    if isinstance(exit_code, bool) or not isinstance(exit_code, int) or not 0 <= exit_code <= 255:
        raise item.reject(at, f"{where}.exit_code must be 0-255, got {exit_code!r}")
    if sum(bool(x) for x in (hangs, sig, "exit_code" in raw)) > 1:
        raise item.reject(at, f"{where} says at most one of hangs, signal and exit_code")
    for name in ("stdout", "stderr_contains"):
        if name in raw and not isinstance(raw[name], str):
            raise item.reject(at, f"{where}.{name} must be text")
    timeout = raw.get("timeout", DEFAULT_HANG_TIMEOUT if hangs else DEFAULT_RUN_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 30:
        raise item.reject(at, f"{where}.timeout must be seconds in (0, 30], got {timeout!r}")
    return Expect(
        stdout=raw.get("stdout"),
        stderr_contains=raw.get("stderr_contains"),
        exit_code=exit_code,
        signal=sig,
        hangs=hangs,
        timeout=float(timeout),
    )
