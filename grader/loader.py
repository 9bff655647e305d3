"""Loading the learner's file as a module, with a guard against escaping children.

A forked child that returns from the learner's function (instead of ending with
`os._exit`) goes on running the caller's code: here, the rest of the test and
pytest itself. Every function and method defined in the learner's file is
wrapped: if it is left in a different process than the one that entered it,
the child records the escape (a file the plugin reads after the test) and ends
at once with `os._exit`.
"""

from __future__ import annotations

import faulthandler
import functools
import importlib.util
import inspect
import json
import os
import sys
import types
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from grader import ledger, observed
from grader.protocol import DUMP_SIGNAL

P = ParamSpec("P")
R = TypeVar("R")

MODULE_NAME = "kata_impl"
ESCAPE_EXIT_STATUS = 70
_fork_generation = 0
_end_process = os._exit  # the guard's own exit, not the learner's (grader/observed.py records those)
STACKS_ENV = "KATA_STACKS"  # where a `python -c` process writes its stack when the runner asks
_stacks_file: list[object] = []  # kept open for the process's life


def _after_fork_in_child() -> None:
    global _fork_generation
    _fork_generation += 1


os.register_at_fork(after_in_child=_after_fork_in_child)


class ImplLoadError(Exception):
    """The learner's file could not be loaded: the message is one line."""


def load_impl(path: str, escapes_dir: str | None = None, required: tuple[str, ...] = ()) -> types.ModuleType:
    """Import the file at `path` under a fixed module name and guard its functions."""
    spec = importlib.util.spec_from_file_location(MODULE_NAME, path)
    if spec is None or spec.loader is None:
        raise ImplLoadError(f"{path} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = module
    directory = os.path.dirname(os.path.abspath(path))
    if directory not in sys.path:
        sys.path.append(directory)
    ledger.install_from_env(path)
    observed.install_from_env(path)
    _answer_stack_dumps()
    generation = _fork_generation
    try:
        spec.loader.exec_module(module)
    except SyntaxError as err:
        raise ImplLoadError(f"{err.filename}:{err.lineno}: SyntaxError: {err.msg}") from None
    except BaseException as err:  # the learner's top-level code may raise anything
        if _fork_generation != generation:
            _end_process(ESCAPE_EXIT_STATUS)
        raise ImplLoadError(_describe_import_error(err, path)) from None
    if _fork_generation != generation:
        # A child forked by top-level code finished importing: it must not run the suite.
        _record_escape(escapes_dir, "<module import>", "finished importing")
        _end_process(ESCAPE_EXIT_STATUS)
    missing = [name for name in required if not hasattr(module, name)]
    if missing:
        raise ImplLoadError(
            f"{os.path.basename(path)} does not define {', '.join(missing)} (the kata's API is: {', '.join(required)})"
        )
    guard_module(module, escapes_dir)
    return module


def _answer_stack_dumps() -> None:
    """A `python -c` process of the suite answers the runner's stack-dump signal as the test
    process does (grader/blocked.py), so a hang there shows the learner's line too. The test
    process registers its own handler (grader/plugin.py) and sets $KATA_STACKS only after."""
    path = os.environ.get(STACKS_ENV)
    if not path or _stacks_file:
        return
    try:
        stacks = open(path, "ab", buffering=0)  # noqa: SIM115  open for the process's life
    except OSError:
        return
    _stacks_file.append(stacks)
    faulthandler.register(DUMP_SIGNAL, file=stacks, all_threads=True, chain=False)


def _describe_import_error(err: BaseException, path: str) -> str:
    import traceback

    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename == path]
    where = f"{os.path.basename(path)}:{frames[-1].lineno}: " if frames else f"{os.path.basename(path)}: "
    if isinstance(err, SystemExit):
        return f"{where}importing the module called sys.exit(); top-level code must only define things"
    detail = str(err).splitlines()[0] if str(err) else ""
    return f"{where}importing the module raised {type(err).__name__}" + (f": {detail}" if detail else "")


def guard_module(module: types.ModuleType, escapes_dir: str | None) -> None:
    for name, obj in list(vars(module).items()):
        if getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(obj):
            setattr(module, name, _guard(obj, name, escapes_dir))
        elif inspect.isclass(obj):
            _guard_class(obj, escapes_dir)


_UNGUARDED = {"__del__", "__repr__", "__str__", "__hash__", "__eq__", "__getattr__", "__getattribute__"}


def _guard_class(cls: type, escapes_dir: str | None) -> None:
    for name, attr in list(vars(cls).items()):
        if name in _UNGUARDED:
            continue
        label = f"{cls.__name__}.{name}"
        if inspect.isfunction(attr):
            setattr(cls, name, _guard(attr, label, escapes_dir))
        elif isinstance(attr, (staticmethod, classmethod)):
            setattr(cls, name, type(attr)(_guard(attr.__func__, label, escapes_dir)))


def _guard(fn: Callable[P, R], label: str, escapes_dir: str | None) -> Callable[P, R]:
    @functools.wraps(fn)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        generation = _fork_generation
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            if _fork_generation != generation:
                _escape(escapes_dir, label, _raised(exc, fn.__code__.co_filename))
            raise
        if _fork_generation != generation:
            _escape(escapes_dir, label, "returned")
        return result

    return guarded


def _raised(exc: BaseException, impl_path: str) -> str:
    """'raised KeyError: 'x' (at impl.py:24 in worker)': the exception and where in the learner's file."""
    import traceback

    text = (str(exc).splitlines() or [""])[0]
    mine = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == impl_path]
    where = f" (at {os.path.basename(impl_path)}:{mine[-1].lineno} in {mine[-1].name})" if mine else ""
    return f"raised {type(exc).__name__}{': ' + text if text else ''}{where}"


def _escape(escapes_dir: str | None, label: str, how: str) -> None:
    _record_escape(escapes_dir, label, how)
    _end_process(ESCAPE_EXIT_STATUS)


def _record_escape(escapes_dir: str | None, label: str, how: str) -> None:
    if not escapes_dir:
        return
    record = {"pid": os.getpid(), "ppid": os.getppid(), "function": label, "how": how}
    try:
        with open(os.path.join(escapes_dir, f"{os.getpid()}.json"), "w") as f:
            json.dump(record, f)
    except OSError:
        pass  # the learner may have closed or broken everything; exiting matters more
