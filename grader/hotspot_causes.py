"""What a statement of the learner's file does, read from its source, and what
it means when the profile finds it hot (grader/hotspots.py).

The profile knows a line's own time and how often it ran; the source says what
the line calls. Together they name the usual causes of a slow IPC program:
bytes concatenation in a loop (quadratic), a sleep in a wait loop (a poll), a
nap that waits for nothing (a sleep after the work, "to give the others a turn"),
an encoding per message, an open or a map per call, a system call per tiny chunk,
an extra copy, a copy that grows with the data. A cause is only named when both
agree (a `+=` is quadratic only when what it grows is bytes or str, which the
tracer looks at once; a slice is a copy that grows only when its last runs cost
several times its first); otherwise the place is shown with its share alone.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass

TRANSFERS = frozenset(
    {"read", "write", "readinto", "recv", "recv_into", "send", "sendall", "sendmsg", "recvmsg", "pread", "pwrite"}
)
READS = frozenset({"read", "recv", "recvfrom", "recvmsg"})
SLEEPS = frozenset({"sleep"})
CLOCKS = frozenset({"monotonic", "time", "perf_counter", "min", "max"}) | SLEEPS  # a check's arithmetic, no work
NOT_READY = frozenset({"BlockingIOError", "BusyError", "Empty"})  # what a non-blocking try raises: a poll catches it
OPENS = frozenset(
    {"open", "fdopen", "mmap", "shm_open", "SharedMemory", "attach", "Semaphore", "MessageQueue", "socket", "connect"}
)
ENCODERS = frozenset({"json", "pickle", "marshal"})
SETUPS = OPENS | {"dumps", "loads", "dump", "load"}  # calls whose cost is what they call: counted with it
COPIES = frozenset({"bytes", "tobytes"})

LARGE_READ = 1024  # a read asking this much is no tiny read, however often the other side makes it return less
LARGE_BUFFER = 64 * 1024  # copying a buffer this large at every += is what makes a concatenation quadratic
MANY_CALLS = 1000  # a system call made this often in one round is worth naming
REPEATED = 10  # an open, a map, an encoding or a copy this often in one round happens per call, not once
EARLY_RUNS = 16  # a statement's first runs and its last, whose costs are held against each other
GROWS = 5  # a copy whose last runs cost this many times its first ones copies what grows with the data
GROWTH_RUNS = 4 * EARLY_RUNS  # runs it takes to tell a growing cost from a first run's cold caches

_OPERATORS: dict[type[ast.operator], Callable[[int, int], int]] = {
    ast.Mult: operator.mul,
    ast.Add: operator.add,
    ast.LShift: operator.lshift,
}


@dataclass(frozen=True)
class Statement:
    """One statement of the learner's file as the profile needs it."""

    line: int  # where it starts: the line a report names
    calls: tuple[str, ...] = ()  # what its own line calls, dotted as written: "os.read", "self._sock.recv"
    concat: str = ""  # the target of a `+=` (or `x = x + ...`): "buf", "self.buf"
    in_loop: bool = False
    sleeps: bool = False  # it calls a sleep: its nap is its own time, though no CPU works then
    waits: bool = False  # a sleep that waits for something to change (a poll); else a nap that only costs
    asks_much: bool = False  # it reads with a constant size of at least LARGE_READ bytes
    slices: tuple[str, ...] = ()  # the slices it reads, as written: "self._map[HEADER.size:end]" (each a copy)

    def calling(self, names: frozenset[str]) -> str:
        """The first call whose last name is in `names` ("os.read" for "read"), or ""."""
        return next((call for call in self.calls if call.rsplit(".", 1)[-1] in names), "")


def statements(source: str) -> dict[int, Statement]:
    """Every line of the file mapped to the statement it belongs to: the innermost one, a compound
    statement owning only its header. Source that does not parse gives {} (lines are then shown as they are)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return {}
    constants = _constants(tree)
    owner: dict[int, Statement] = {}

    def visit(node: ast.AST, loop: ast.stmt | None) -> None:
        for value in (value for _, value in ast.iter_fields(node)):
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, ast.stmt):
                    header = _header(child)
                    calls = tuple(_dotted(call.func) for call in _calls_in(header))
                    sleeps = bool({call.rsplit(".", 1)[-1] for call in calls} & SLEEPS)
                    statement = Statement(
                        line=child.lineno,
                        calls=calls,
                        concat=_concat_target(child),
                        in_loop=loop is not None,
                        sleeps=sleeps,
                        waits=sleeps and _waits(child, value, node, loop),
                        asks_much=any(size >= LARGE_READ for size in _read_sizes(header, constants)),
                        slices=tuple(_slices_read(header)),
                    )
                    for line in range(child.lineno, (child.end_lineno or child.lineno) + 1):
                        owner[line] = statement
                    visit(child, child if isinstance(child, (ast.For, ast.AsyncFor, ast.While)) else loop)
                elif isinstance(child, ast.AST) and not isinstance(child, ast.expr):
                    visit(child, loop)  # except handlers, match cases: their statements are further down

    visit(tree, None)
    return owner


def _waits(nap: ast.stmt, block: list[ast.stmt], holder: ast.AST, loop: ast.stmt | None) -> bool:
    """Does this sleep wait for something to change (a poll: the advice is to block instead), or is
    it a nap after the work that only costs (the advice is to drop it)? It waits when it is taken
    only in a branch, or a `while` body, that does nothing else (`except BlockingIOError: sleep`,
    `while not ready(): sleep`), or beside nothing but a check that leaves; when it comes right
    after a check that leaves the loop (`if done: break`); or when it sits in a loop that catches
    a would-block (a non-blocking try each pass, then a nap)."""
    beside = [s for s in block if s is not nap]
    checks = [s for s in beside if _leaves(s)]
    if not any(_works(s) for s in beside) and (isinstance(holder, ast.If | ast.ExceptHandler | ast.While) or checks):
        return True
    before = block[: block.index(nap)]
    if before and _leaves(before[-1]):
        return True
    return loop is not None and nap in getattr(loop, "body", []) and _catches_not_ready(loop)


def _leaves(statement: ast.stmt) -> bool:
    """An `if` whose branch leaves: a check (`if done: break`, `if late: raise TimeoutError`)."""
    return isinstance(statement, ast.If) and isinstance(
        statement.body[-1], ast.Break | ast.Continue | ast.Return | ast.Raise
    )


def _works(statement: ast.stmt) -> bool:
    """It calls something beyond a clock or a sleep (an exception raised to leave is not work)."""
    if isinstance(statement, ast.Raise):
        return False
    if isinstance(statement, ast.If | ast.While):
        parts: list[ast.AST] = [statement.test, *statement.body, *statement.orelse]
        return any(_works(p) if isinstance(p, ast.stmt) else _calls_beyond_clocks(p) for p in parts)
    return _calls_beyond_clocks(statement)


def _calls_beyond_clocks(node: ast.AST) -> bool:
    return any(_dotted(call.func).rsplit(".", 1)[-1] not in CLOCKS for call in _calls_in([node]))


def _catches_not_ready(loop: ast.stmt) -> bool:
    caught = (node.type for node in ast.walk(loop) if isinstance(node, ast.ExceptHandler) and node.type is not None)
    return any(_dotted(name).rsplit(".", 1)[-1] in NOT_READY for kind in caught for name in _names(kind))


def _names(node: ast.expr) -> list[ast.expr]:
    return list(node.elts) if isinstance(node, ast.Tuple) else [node]


def name_cause(
    statement: Statement, runs: int, grown: str = "", largest: int = 0, growth: float = 0.0
) -> tuple[str, str]:
    """(what the hot statement does, why that is slow), or ("", "") when nothing is recognised.
    `runs` is how often it ran in the round; `grown` the type a concatenation grows and `largest`
    the size it grew to, when seen; `growth` what each of its last EARLY_RUNS runs cost against
    each of its first (medians; 0: not known)."""
    if statement.concat and grown in ("bytes", "str") and largest >= LARGE_BUFFER:
        return f"{grown} concatenation", "each += copies the whole buffer: quadratic; collect the parts and join once"
    if statement.slices and growth >= GROWS and runs >= GROWTH_RUNS:
        return (
            f"a copy of {statement.slices[0]} that grows with the data",
            f"its last {EARLY_RUNS} runs cost {growth:.0f}x its first {EARLY_RUNS} each: the slice copies "
            "everything written so far, so n calls copy O(n²) bytes; copy only what is new",
        )
    sleep = statement.calling(SLEEPS)
    if sleep and statement.waits and statement.in_loop:
        return (
            f"{sleep} in a wait loop",
            f"{runs:,} naps: the data is ready long before a nap ends; block in the call that waits instead",
        )
    if sleep and statement.waits:
        return sleep, "the round waits out the nap whatever the other side does; block in the call that waits instead"
    if sleep:
        naps = f"{runs:,} naps, each adding" if runs != 1 else "a nap adding"
        return (
            f"{sleep} on every {'pass' if statement.in_loop else 'call'}, waiting for nothing",
            f"{naps} its whole length and a wake-up to the work it follows; what must wait already blocks in its "
            "own call, and the kernel takes turns for you: remove it",
        )
    encoder = next((call for call in statement.calls if call.split(".", 1)[0] in ENCODERS), "")
    if encoder and runs >= REPEATED:
        return f"{encoder} per message ({runs:,} times)", "the payload is bytes already: frame it, do not encode it"
    opener = statement.calling(OPENS)
    if opener and runs >= REPEATED:
        return (
            f"{opener} on every call ({runs:,} times)",
            "each open or map costs system calls and page faults: open once and keep it",
        )
    transfer = statement.calling(TRANSFERS)
    if transfer and runs >= MANY_CALLS and not statement.asks_much:
        return (
            f"{transfer} called {runs:,} times",
            "each call is a system call that copies what it asks for: "
            "ask for the bytes you need, in as few calls as you can",
        )
    copy = statement.calling(COPIES)
    if copy and runs >= REPEATED:
        return f"a copy through {copy}() ({runs:,} times)", "each copies the data once more"
    return "", ""


def _header(statement: ast.stmt) -> list[ast.AST]:
    """The parts of a statement evaluated on its own line (a compound statement's body is not)."""
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return []
    return [
        part
        for name, value in ast.iter_fields(statement)
        if name not in ("body", "orelse", "finalbody", "handlers", "cases")
        for part in (value if isinstance(value, list) else [value])
        if isinstance(part, ast.AST)
    ]


def _calls_in(parts: list[ast.AST]) -> Iterator[ast.Call]:
    for part in parts:
        for node in ast.walk(part):
            if isinstance(node, ast.Call):
                yield node


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Call):
        return f"{_dotted(node.func)}()"
    return "..."


def _slices_read(parts: list[ast.AST]) -> Iterator[str]:
    """The slices a statement reads (`buf[a:b]` on the right of `=` or in a call): each one copies what it
    spans (a memoryview's does not, and then its cost does not grow). A slice stored to copies nothing of its own."""
    for part in parts:
        for node in ast.walk(part):
            if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice) and isinstance(node.ctx, ast.Load):
                yield ast.unparse(node)


def _concat_target(statement: ast.stmt) -> str:
    if isinstance(statement, ast.AugAssign) and isinstance(statement.op, ast.Add):
        return _target(statement.target)
    if (
        isinstance(statement, ast.Assign)
        and len(statement.targets) == 1
        and isinstance(statement.value, ast.BinOp)
        and isinstance(statement.value.op, ast.Add)
    ):
        target = _target(statement.targets[0])
        return target if target and target == _target(statement.value.left) else ""
    return ""


def _target(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        return f"self.{node.attr}"
    return ""


def _constants(tree: ast.Module) -> dict[str, int]:
    """Module-level integer constants (`CHUNK = 64 * 1024`), for the sizes reads ask for."""
    found: dict[str, int] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = _integer(node.value, found)
            if value is not None:
                found[node.targets[0].id] = value
    return found


def _integer(node: ast.expr, constants: dict[str, int]) -> int | None:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _integer(node.left, constants), _integer(node.right, constants)
        if left is None or right is None or (isinstance(node.op, ast.LShift) and not 0 <= right <= 64):
            return None
        return _OPERATORS[type(node.op)](left, right)
    return None


def _read_sizes(parts: list[ast.AST], constants: dict[str, int]) -> Iterator[int]:
    """The sizes reads ask for (`os.read(fd, n)`, `sock.recv(n)`) where they are constants."""
    for call in _calls_in(parts):
        if isinstance(call.func, ast.Attribute) and call.func.attr in READS:
            position = 1 if _dotted(call.func) == "os.read" else 0
            if len(call.args) > position:
                size = _integer(call.args[position], constants)
                if size is not None:
                    yield size
