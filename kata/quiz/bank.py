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
"""

from __future__ import annotations

import re
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, get_args

import yaml

from kata.errors import UserError

Kind = Literal["choice", "multi", "truefalse", "short", "order", "code"]
KINDS: tuple[str, ...] = get_args(Kind)

TOPICS_FILE = "topics.yaml"
CLAIMS_FILE = "claims.yaml"
RESERVED_FILES = frozenset({TOPICS_FILE, CLAIMS_FILE})

ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

REQUIRED_FIELDS = ("id", "topic", "kind", "prompt", "answer", "explain", "source", "difficulty")
OPTIONAL_FIELDS = ("choices", "tags", "kata", "code", "expect")
ALL_FIELDS = frozenset(REQUIRED_FIELDS + OPTIONAL_FIELDS)

# Kinds whose answer refers to `choices`, and the fewest choices each needs.
MIN_CHOICES = {"choice": 2, "multi": 2, "order": 3, "code": 2}

EXPECT_FIELDS = frozenset({"stdout", "stderr_contains", "exit_code", "signal", "hangs", "timeout"})
DEFAULT_RUN_TIMEOUT = 10.0  # a `code` program that is expected to finish
DEFAULT_HANG_TIMEOUT = 2.0  # how long an expected hang must last


@dataclass(frozen=True)
class Problem:
    """One problem in the bank, printed as `file:line: message`."""

    file: Path
    line: int
    message: str

    def format(self, relative_to: Path | None = None) -> str:
        shown = self.file
        if relative_to is not None:
            try:
                shown = self.file.resolve().relative_to(relative_to.resolve())
            except ValueError:
                pass
        return f"{shown}:{self.line}: {self.message}"

    def __str__(self) -> str:
        return self.format()


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
    """The machine-checkable behaviour of a `code` question's program.

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
class Question:
    """One question. Which answer field is meaningful depends on `kind`:

    - `choice`, `code`: `choices` (shown in this order, or shuffled by the quiz),
      `correct` = (index of the right choice,);
    - `multi`: `choices`, `correct` = indices of every right choice (sorted);
    - `order`: `choices` = the items as shown (scrambled), `correct` = the right
      sequence as indices into `choices` (a permutation of range(len(choices)));
    - `truefalse`: `truth` is the right answer, `choices` is empty;
    - `short`: `accepted` = the accepted answers (compare case-insensitively,
      whitespace collapsed), `choices` is empty.

    A `code` question also has `code` (a Python 3.11 program) and `expect` (what
    it really does, checked by running it in the test suite).
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
    truth: bool | None = None
    accepted: tuple[str, ...] = ()
    code: str | None = None
    expect: Expect | None = None
    tags: tuple[str, ...] = ()
    kata: str | None = None
    file: Path = field(default=Path(), compare=False)
    line: int = field(default=0, compare=False)

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"

    def answer_text(self) -> str:
        """The right answer as a human would say it (for feedback after answering)."""
        if self.kind == "truefalse":
            return "True" if self.truth else "False"
        if self.kind == "short":
            return self.accepted[0] if self.accepted else ""
        if self.kind == "order":
            return "\n".join(f"{n}. {self.choices[i]}" for n, i in enumerate(self.correct, 1))
        return "\n".join(self.choices[i] for i in self.correct)


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
# YAML with line numbers


def read_yaml(path: Path, problems: list[Problem]) -> tuple[Any, yaml.Node | None]:
    """Parse one YAML file into (data, node tree). On a YAML error append a
    `file:line` problem and return (None, None). Duplicate mapping keys, which
    PyYAML silently accepts, are reported too."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        problems.append(Problem(path, 1, f"not UTF-8 text: {err.reason}"))
        return None, None
    except OSError as err:
        problems.append(Problem(path, 1, f"cannot read: {err.strerror}"))
        return None, None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        if err.context_mark is not None and "end of stream" in (err.problem or ""):
            mark = err.context_mark  # an unclosed quote or bracket: point at where it opened
        line = mark.line + 1 if mark is not None else 1
        what = err.problem or err.context or "malformed YAML"
        context = f" ({err.context})" if err.context and err.problem else ""
        problems.append(Problem(path, line, f"malformed YAML: {what}{context}"))
        return None, None
    except yaml.YAMLError as err:
        problems.append(Problem(path, 1, f"malformed YAML: {str(err).splitlines()[0]}"))
        return None, None
    finally:
        loader.dispose()
    if node is not None:
        _report_duplicate_keys(path, node, problems)
    return data, node


def _report_duplicate_keys(path: Path, node: yaml.Node, problems: list[Problem]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    problems.append(Problem(path, key.start_mark.line + 1, f"duplicate key {key.value!r}"))
                seen.add(key.value)
            _report_duplicate_keys(path, value, problems)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _report_duplicate_keys(path, item, problems)


def line_of(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def key_lines(mapping: yaml.Node) -> dict[str, int]:
    """Line of each key of a mapping node (the last one wins for a duplicate)."""
    lines: dict[str, int] = {}
    if isinstance(mapping, yaml.MappingNode):
        for key, _value in mapping.value:
            if isinstance(key, yaml.ScalarNode):
                lines[key.value] = line_of(key)
    return lines


def value_nodes(mapping: yaml.Node) -> dict[str, yaml.Node]:
    nodes: dict[str, yaml.Node] = {}
    if isinstance(mapping, yaml.MappingNode):
        for key, value in mapping.value:
            if isinstance(key, yaml.ScalarNode):
                nodes[key.value] = value
    return nodes


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


def _parse_question(path: Path, item: Any, node: yaml.Node, problems: list[Problem]) -> Question | None:
    start = line_of(node)
    if not isinstance(item, dict):
        problems.append(Problem(path, start, "a question must be a mapping (`id: ...`, `kind: ...`, ...)"))
        return None
    lines = key_lines(node)
    values = value_nodes(node)
    qid = item.get("id")
    label = qid if isinstance(qid, str) and qid else "question"
    before = len(problems)

    def bad(key: str | None, message: str, line: int | None = None) -> None:
        if line is None:
            line = lines.get(key, start) if key else start
        problems.append(Problem(path, line, f"{label}: {message}"))

    for name in sorted(set(item) - ALL_FIELDS, key=str):
        bad(str(name), f"unknown field {name!r}")
    for name in REQUIRED_FIELDS:
        if name not in item or item[name] is None:
            bad(None, f"missing field {name!r}")
    if len(problems) > before and any("missing field" in p.message for p in problems[before:]):
        return None

    if not isinstance(qid, str) or not ID_PATTERN.match(qid):
        bad("id", f"id must be lowercase words joined by dashes, got {qid!r}")
    topic = item["topic"]
    if not isinstance(topic, str) or not ID_PATTERN.match(topic):
        bad("topic", f"topic must be a topic id, got {topic!r}")
    kind = item["kind"]
    if kind not in KINDS:
        bad("kind", f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        return None
    prompt = _text(item["prompt"])
    if not prompt or not isinstance(item["prompt"], str):
        bad("prompt", "prompt must be non-empty text")
    explain = item["explain"]
    if not isinstance(explain, str) or not explain.strip():
        bad("explain", "explain must be non-empty text")
    source = item["source"]
    if not isinstance(source, str) or not source.strip():
        bad("source", "source must be non-empty text (the material or a man page, e.g. pipe(7))")
    difficulty = item["difficulty"]
    if isinstance(difficulty, bool) or not isinstance(difficulty, int) or not 1 <= difficulty <= 3:
        bad("difficulty", f"difficulty must be 1, 2 or 3, got {difficulty!r}")
    tags = item.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
        bad("tags", "tags must be a list of words")
        tags = []
    kata = item.get("kata")
    if kata is not None and not isinstance(kata, str):
        bad("kata", f"kata must be a kata id, got {kata!r}")

    choices: tuple[str, ...] = ()
    correct: tuple[int, ...] = ()
    truth: bool | None = None
    accepted: tuple[str, ...] = ()
    code: str | None = None
    expect: Expect | None = None
    answer = item["answer"]

    try:
        if kind in MIN_CHOICES:
            choices = _parse_choices(item.get("choices"), values.get("choices"), kind, bad, path, problems, label)
        elif "choices" in item:
            bad("choices", f"a {kind} question has no choices")

        if kind in ("choice", "code"):
            correct = (_choice_index(answer, choices, bad),)
        elif kind == "multi":
            if not isinstance(answer, list) or not answer:
                bad("answer", "a multi answer is a non-empty list of choices")
                raise _Reject
            indices = [_choice_index(a, choices, bad) for a in answer]
            if len(set(indices)) != len(indices):
                bad("answer", "the answer lists a choice twice")
            correct = tuple(sorted(set(indices)))
        elif kind == "order":
            if not isinstance(answer, list):
                bad("answer", "an order answer is the list of choices in the right order")
                raise _Reject
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
                bad("answer", "the order answer must be a permutation of the choices (" + "; ".join(detail) + ")")
                raise _Reject
            correct = tuple(choices.index(t) for t in texts)  # type: ignore[arg-type]
        elif kind == "truefalse":
            if not isinstance(answer, bool):
                bad("answer", f"a truefalse answer is true or false, got {answer!r}")
                raise _Reject
            truth = answer
        elif kind == "short":
            raw = answer if isinstance(answer, list) else [answer]
            texts = [_text(a) for a in raw]
            if not texts or any(not t for t in texts):
                bad("answer", "a short answer is a text or a list of accepted texts")
                raise _Reject
            accepted = tuple(t.strip() for t in texts if t)

        if kind == "code":
            code, expect = _parse_code(item, lines, bad)
        else:
            for name in ("code", "expect"):
                if name in item:
                    bad(name, f"only a code question has {name!r}")
    except _Reject:
        return None

    if len(problems) > before:
        return None
    return Question(
        id=qid,
        topic=topic,
        kind=kind,
        prompt=item["prompt"].strip(),
        explain=" ".join(explain.split()),
        source=source.strip(),
        difficulty=difficulty,
        choices=choices,
        correct=correct,
        truth=truth,
        accepted=accepted,
        code=code,
        expect=expect,
        tags=tuple(tags),
        kata=kata,
        file=path,
        line=start,
    )


def _parse_choices(raw, node, kind, bad, path, problems, label) -> tuple[str, ...]:
    need = MIN_CHOICES[kind]
    if not isinstance(raw, list) or len(raw) < need:
        bad("choices", f"a {kind} question needs a list of at least {need} choices")
        raise _Reject
    out: list[str] = []
    for i, value in enumerate(raw):
        text = _text(value)
        line = line_of(node.value[i]) if isinstance(node, yaml.SequenceNode) and i < len(node.value) else None
        where = (
            (lambda msg, line=line: problems.append(Problem(path, line, f"{label}: {msg}")))
            if line
            else (lambda msg: bad("choices", msg))
        )
        if not text:
            where(f"choice {i + 1} must be non-empty text, got {_yaml_type(value)}{_quote_hint(value)}")
            raise _Reject
        if text in out:
            where(f"choice {i + 1} repeats an earlier choice: {text!r}")
            raise _Reject
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


def _choice_index(answer: Any, choices: tuple[str, ...], bad) -> int:
    text = _text(answer)
    if text is None:
        bad("answer", f"an answer must be the text of a choice, got {_yaml_type(answer)}{_quote_hint(answer)}")
        raise _Reject
    if text not in choices:
        bad("answer", f"answer {_short(text)!r} is not among the choices")
        raise _Reject
    return choices.index(text)


def _short(value: Any, width: int = 60) -> Any:
    if isinstance(value, str) and len(value) > width:
        return value[: width - 3] + "..."
    return value


def _parse_code(item: dict, lines: dict[str, int], bad) -> tuple[str, Expect]:
    code = item.get("code")
    if not isinstance(code, str) or not code.strip():
        bad(None, "a code question needs `code`: the Python program")
        raise _Reject
    try:
        compile(code, "<code>", "exec")
    except SyntaxError as err:
        # A block scalar (`code: |`) starts on the line after its key: point at
        # the offending line of the program.
        at = lines.get("code", 0) + (err.lineno or 1)
        bad(None, f"code does not compile: {err.msg} (program line {err.lineno})", line=at)
        raise _Reject from None
    raw = item.get("expect")
    if not isinstance(raw, dict) or not raw:
        bad(
            "expect" if "expect" in item else None,
            "a code question needs `expect`: stdout / exit_code / signal / hangs",
        )
        raise _Reject
    unknown = set(raw) - EXPECT_FIELDS
    if unknown:
        bad(
            "expect", f"unknown expect field {sorted(unknown, key=str)[0]!r}; known: {', '.join(sorted(EXPECT_FIELDS))}"
        )
        raise _Reject
    hangs = raw.get("hangs", False)
    if not isinstance(hangs, bool):
        bad("expect", "expect.hangs must be true or false")
        raise _Reject
    sig = raw.get("signal")
    if sig is not None and (not isinstance(sig, str) or sig not in signal.Signals.__members__):
        bad("expect", f"expect.signal must be a signal name like SIGPIPE, got {sig!r}")
        raise _Reject
    exit_code = raw.get("exit_code", 0)
    if isinstance(exit_code, bool) or not isinstance(exit_code, int) or not 0 <= exit_code <= 255:
        bad("expect", f"expect.exit_code must be 0-255, got {exit_code!r}")
        raise _Reject
    if sum(bool(x) for x in (hangs, sig, "exit_code" in raw)) > 1:
        bad("expect", "expect says at most one of hangs, signal and exit_code")
        raise _Reject
    for name in ("stdout", "stderr_contains"):
        if name in raw and not isinstance(raw[name], str):
            bad("expect", f"expect.{name} must be text")
            raise _Reject
    timeout = raw.get("timeout", DEFAULT_HANG_TIMEOUT if hangs else DEFAULT_RUN_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 30:
        bad("expect", f"expect.timeout must be seconds in (0, 30], got {timeout!r}")
        raise _Reject
    return code, Expect(
        stdout=raw.get("stdout"),
        stderr_contains=raw.get("stderr_contains"),
        exit_code=exit_code,
        signal=sig,
        hangs=hangs,
        timeout=float(timeout),
    )
