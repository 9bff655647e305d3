"""`kata questions check`: every problem of the bank and of claims.yaml, with its
file and line.

Structural problems come from the loader (`kata.quiz.bank.parse_bank`): YAML
errors, unknown / missing fields, wrong types, answers not among the choices,
order answers that are not a permutation, duplicate ids, unknown topics. On top
of those this module checks what makes a question good enough to ship:

- the topic matches the file (`questions/<topic>.yaml`; skipped for an unknown
  topic, which the loader already reports);
- `kata` names an existing kata;
- `explain` says why in 2-5 sentences; `source` cites the material or a man page;
- choice-like questions offer at least 3 choices, a multi question has distractors;
- a `code` question's answer is what its `expect` says the program does, and a
  program (a code question's or a `proof`) that creates named IPC objects
  derives their names from os.getpid();
- a `short` question lists typed variants (`accepts`) and the checker judges
  each right, and each near miss (`rejects`, required with `number:`) wrong;
  its accepted texts agree with its number and none is already accepted by the
  rules (a redundant text belongs in `accepts`, where it is tested);
- an `order` question's constraints are each needed (none follows from the
  others), every step is in one, and when several orders are right the
  explanation says which steps may swap;
- claims.yaml: every claim is covered by at least one existing question;
- answer cues over the whole bank (`kata.quiz.cues`): the right choice is not
  the longest too often, true/false answers are balanced, no topic clusters its
  answers on one position.

It never runs code: `kata questions check --run` (kata.quiz.coderun.run_all) and
the test suite execute the code questions.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable
from pathlib import Path

from kata.quiz.answers import parse_quantity
from kata.quiz.bank import CLAIMS_FILE, Question, default_directory, parse_bank, question_files
from kata.quiz.checking import short_matches
from kata.quiz.claims import parse_claims
from kata.quiz.cues import measure
from kata.quiz.ordering import may_swap, redundant, unconstrained
from kata.quiz.yamlio import Problem, read_yaml

__all__ = ["Problem", "check_bank", "check_question", "count_sentences", "normalize_output"]

MIN_SENTENCES, MAX_SENTENCES = 2, 5
MAN_PAGE = re.compile(r"\b[a-z_][a-z0-9_.+-]*\((?:[1-8][a-z]*|3p)\)")
HANG_WORDS = ("hang", "block", "deadlock", "forever", "never return")
_SENTENCE_END = re.compile(r"[.!?][\"')\]`*]*(?=\s|$)")
_ABBREVIATIONS = re.compile(r"\b(?:e\.g|i\.e|etc|vs|cf)\.$", re.IGNORECASE)
CREATES_NAMED_IPC = re.compile(r"\b(?:posix_ipc|sysv_ipc)\.(?:Semaphore|MessageQueue|SharedMemory)\(")
SAYS_WHICH_MAY_SWAP = re.compile(r"\b(?:swap|either order|any order|in parallel|concurrently)\b", re.IGNORECASE)


def check_bank(directory: Path | None = None, *, kata_ids: Iterable[str] | None = None) -> list[Problem]:
    """Every problem of the bank at `directory` (default: the shipped bank).

    `kata_ids` are the katas a question may name; default: the kata catalog
    (`grader.catalog.kata_ids()`)."""
    directory = Path(directory) if directory is not None else default_directory()
    bank, problems = parse_bank(directory)

    if kata_ids is None:
        known_katas = _catalog_kata_ids(problems)
    else:
        known_katas = set(kata_ids)

    known_topics = {t.id for t in bank.topics}
    for q in bank.questions:
        problems.extend(check_question(q, known_katas, known_topics))
    problems.extend(measure(bank.questions).problems(directory))

    # Claims may cite a question that is broken (reported above) but exists.
    existing_ids = _all_question_ids(directory)
    claims = parse_claims(directory / CLAIMS_FILE, problems)
    for claim in claims:
        for qid, line in zip(claim.questions, claim.question_lines, strict=False):
            if qid not in existing_ids:
                problems.append(Problem(claim.file, line, f"claim {claim.id}: unknown question {qid!r}"))

    return sorted(set(problems), key=lambda p: (str(p.file), p.line, p.message))


def check_question(q: Question, known_katas: set[str] | None, known_topics: set[str] | None = None) -> list[Problem]:
    """What makes one well-formed question unfit to ship. `None` for katas or
    topics means unknown: those checks are skipped (an unknown topic is already
    reported by the loader)."""
    out: list[Problem] = []

    def bad(message: str) -> None:
        out.append(Problem(q.file, q.line, f"{q.id}: {message}"))

    expected_file = f"{q.topic}.yaml"
    if q.file.name != expected_file and (known_topics is None or q.topic in known_topics):
        bad(f"topic {q.topic!r} belongs in {expected_file}, not {q.file.name}")
    if q.kata is not None and known_katas is not None and q.kata not in known_katas:
        known = ", ".join(sorted(known_katas)) or "none yet"
        bad(f"unknown kata {q.kata!r}; known katas: {known}")
    n = count_sentences(q.explain)
    if not MIN_SENTENCES <= n <= MAX_SENTENCES:
        bad(f"explain has {n} sentence{'s' if n != 1 else ''}: say why in {MIN_SENTENCES}-{MAX_SENTENCES} sentences")
    if not (MAN_PAGE.search(q.source) or "material" in q.source.lower()):
        bad(f"source {q.source!r} cites neither the material nor a man page section like pipe(7)")
    if q.kind in ("choice", "multi", "code") and len(q.choices) < 3:
        bad(f"a {q.kind} question needs at least 3 choices (plausible distractors)")
    if q.kind == "multi" and len(q.correct) == len(q.choices):
        bad("every choice is correct: a multi question needs distractors")
    if q.kind == "code":
        out.extend(_check_code(q))
    if q.kind == "short":
        out.extend(_check_short(q))
    if q.kind == "order":
        out.extend(_check_order(q))
    if q.proof is not None and _names_ipc_without_pid(q.proof.code):
        out.append(Problem(q.file, q.line_of("proof"), f"{q.id}: proof: {NAMED_IPC_RULE}"))
    return out


NAMED_IPC_RULE = "named IPC objects in a program must be named after os.getpid() (unique, and swept by the tests)"


def _names_ipc_without_pid(code: str) -> bool:
    return bool(CREATES_NAMED_IPC.search(code)) and "getpid()" not in code


def _check_short(q: Question) -> list[Problem]:
    """Every listed variant is judged right, every near miss wrong, and the accepted
    texts neither contradict the number nor repeat what the rules accept anyway."""
    out: list[Problem] = []

    def bad(where: str, message: str) -> None:
        out.append(Problem(q.file, q.line_of(where), f"{q.id}: {message}"))

    if not q.variants:
        bad("answer", "list in `accepts` how else a learner may type the answer (each variant is tested)")
    for i, text in enumerate(q.variants):
        if not short_matches(q, text):
            bad(
                f"accepts[{i}]",
                f"accepts {text!r}, but the checker judges it wrong (add it to answer or declare number)",
            )
    for i, text in enumerate(q.near_misses):
        if short_matches(q, text):
            bad(f"rejects[{i}]", f"rejects {text!r}, but the checker judges it right")
    if q.number is not None:
        if not q.near_misses:
            bad("number", "a numeric answer lists near misses in `rejects` (e.g. the other reading of KB), each tested")
        for i, text in enumerate(q.accepted):
            value = parse_quantity(text, q.number)
            if value is not None and not math.isclose(value, q.number.value):
                bad(f"answer[{i}]", f"answer {text!r} is {value:g}, but number.value is {q.number.value:g}")
    for i, text in enumerate(q.accepted[1:], 1):
        if short_matches(dataclasses.replace(q, accepted=q.accepted[:i]), text):
            bad(
                f"answer[{i}]",
                f"answer {text!r} is accepted by the rules anyway: move it to `accepts`, where it is tested",
            )
    return out


def _check_order(q: Question) -> list[Problem]:
    """Each constraint is needed and testable on its own; no step floats; swaps are explained."""
    out: list[Problem] = []
    step = {item: n for n, item in enumerate(q.correct, 1)}

    def bad(where: str, message: str) -> None:
        out.append(Problem(q.file, q.line_of(where), f"{q.id}: {message}"))

    for a, b in redundant(q.constraints):
        bad("constraints", f"constraint {step[a]} < {step[b]} follows from the others: remove it")
    for item in unconstrained(q.correct, q.constraints):
        bad("constraints", f"step {step[item]} ({q.choices[item]!r}) is in no constraint: it could go anywhere")
    free = may_swap(q.correct, q.constraints)
    if free and not SAYS_WHICH_MAY_SWAP.search(q.explain):
        pairs = ", ".join(f"{min(step[a], step[b])} and {max(step[a], step[b])}" for a, b in free)
        bad("explain", f"several orders are right (steps {pairs} may swap): the explanation must say so")
    return out


def _check_code(q: Question) -> list[Problem]:
    out: list[Problem] = []
    expect, code = q.expect, q.code or ""
    assert expect is not None
    answer = q.choices[q.correct[0]]
    said = answer.lower()
    printed = normalize_output(expect.stdout or "")

    def bad(message: str) -> None:
        out.append(Problem(q.file, q.line, f"{q.id}: {message}"))

    if expect.hangs:
        if not any(word in said for word in HANG_WORDS):
            bad("expect.hangs: the answer must say the program hangs / blocks / deadlocks")
        if printed and printed not in normalize_output(answer):
            bad("the answer must quote what the program prints before it hangs (expect.stdout)")
    elif expect.signal:
        if expect.signal.lower() not in said:
            bad(f"expect.signal: the answer must name {expect.signal}")
        if printed and printed not in normalize_output(answer):
            bad("the answer must quote what the program prints before it dies (expect.stdout)")
    else:
        if expect.stdout is None:
            bad("a program that exits must declare expect.stdout (what it prints)")
        elif normalize_output(answer) != printed:
            bad("the answer is not the program's output (expect.stdout)")
    if _names_ipc_without_pid(code):
        bad(NAMED_IPC_RULE)
    return out


def normalize_output(text: str) -> str:
    """Output compared line by line, trailing whitespace and blank edges ignored."""
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines()).strip()


def count_sentences(text: str) -> int:
    count = 0
    for match in _SENTENCE_END.finditer(text):
        if not _ABBREVIATIONS.search(text[: match.start() + 1]):
            count += 1
    return max(count, 1) if text.strip() else 0


def _catalog_kata_ids(problems: list[Problem]) -> set[str] | None:
    """The kata catalog's ids, or None (kata names unchecked) when it cannot be read."""
    try:
        from grader.catalog import kata_ids
        from grader.locations import exercises_dir
    except ImportError as err:  # pragma: no cover - the grader ships with the app
        problems.append(Problem(Path("grader/catalog.py"), 1, f"cannot load the kata catalog: {err}"))
        return None
    if not exercises_dir().is_dir():
        return set()
    try:
        return set(kata_ids())
    except Exception as err:  # CatalogError and friends: report, keep checking the bank
        problems.append(Problem(exercises_dir(), 1, f"cannot read the kata catalog: {err}"))
        return None


def _all_question_ids(directory: Path) -> set[str]:
    ids: set[str] = set()
    for path in question_files(directory):
        data, _node = read_yaml(path, [])
        if isinstance(data, list):
            ids.update(item["id"] for item in data if isinstance(item, dict) and isinstance(item.get("id"), str))
    return ids
