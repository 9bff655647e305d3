"""`order` questions as partial orders: which sequences of the items are right.

Where two processes run concurrently, several orders of the steps are correct;
an order question states its constraints, and every sequence that satisfies
them all is accepted. In the YAML a constraint names positions of the `answer`
list (one right order), 1-based: `"2 < 4"` means step 2 comes before step 4,
and a chain `"1 < 2 < 4"` is two constraints. Without `constraints` the answer
is a total order (each step before the next).

Here items are plain integers (the questions use indices into their choices);
`before` is a tuple of (earlier, later) pairs.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence

Pair = tuple[int, int]

_CHAIN = re.compile(r"^\s*\d+(?:\s*<\s*\d+)+\s*$")


class ConstraintError(ValueError):
    """A constraint cannot be read; the message says what to write."""


def parse_chain(text: str, steps: int) -> list[Pair]:
    """`"1 < 2 < 4"` -> [(0, 1), (1, 3)]: 0-based positions in the answer, each pair earlier -> later."""
    if not isinstance(text, str) or not _CHAIN.match(text):
        raise ConstraintError(f"a constraint is a chain of step numbers like '1 < 3', got {text!r}")
    numbers = [int(n) for n in text.split("<")]
    for n in numbers:
        if not 1 <= n <= steps:
            raise ConstraintError(f"{text!r}: step {n} is not among steps 1-{steps} of the answer")
    pairs = list(itertools.pairwise(n - 1 for n in numbers))
    for a, b in pairs:
        if a >= b:
            raise ConstraintError(f"{text!r}: step {a + 1} < {b + 1} contradicts the answer, which puts it later")
    return pairs


def total_order(items: Sequence[int]) -> tuple[Pair, ...]:
    """Each item before the next: the default constraints."""
    return tuple(itertools.pairwise(items))


def satisfied(sequence: Sequence[int], before: Sequence[Pair]) -> int:
    """How many constraints the sequence keeps."""
    position = {item: n for n, item in enumerate(sequence)}
    return sum(1 for a, b in before if position[a] < position[b])


def closure(before: Sequence[Pair]) -> set[Pair]:
    """Every (earlier, later) pair the constraints imply."""
    implied = set(before)
    changed = True
    while changed:
        changed = False
        for (a, b), (c, d) in itertools.product(list(implied), repeat=2):
            if b == c and (a, d) not in implied:
                implied.add((a, d))
                changed = True
    return implied


def redundant(before: Sequence[Pair]) -> list[Pair]:
    """Constraints that follow from the others (each must be testable on its own)."""
    return [pair for n, pair in enumerate(before) if pair in closure([p for m, p in enumerate(before) if m != n])]


def unconstrained(items: Sequence[int], before: Sequence[Pair]) -> list[int]:
    """Items in no constraint: they could go anywhere."""
    used = {x for pair in before for x in pair}
    return [item for item in items if item not in used]


def may_swap(items: Sequence[int], before: Sequence[Pair]) -> list[Pair]:
    """Pairs of items whose relative order is free (neither must come first)."""
    implied = closure(before)
    return [(a, b) for a, b in itertools.combinations(items, 2) if (a, b) not in implied and (b, a) not in implied]


def right_orders(items: Sequence[int], before: Sequence[Pair]) -> Iterator[tuple[int, ...]]:
    """Every sequence of the items that keeps all constraints (for the tests; items are few)."""
    for sequence in itertools.permutations(items):
        if satisfied(sequence, before) == len(before):
            yield sequence
