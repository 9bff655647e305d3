"""The first code of a sandbox session: `python -I -S -B -u <grader>/_boot.py PATHS FD`
(grader/runner.py builds the command; docs/architecture.md, "Processes of a grade").

The interpreter starts isolated: no current folder or user site on sys.path, no
PYTHON* variable, no .pth file run (-S), no compiled cache written (-B). This
script then sets up exactly what the grade needs:

- the import path the runner computed (PATHS, JSON): the standard library first,
  then the folders of the packages the grader and pytest import;
- pytest and its built-in plugins, and the grader's dependencies, imported now,
  from their usual caches;
- from here on no compiled cache (.pyc) is read: the grader, the hidden suite and
  the learner's file are compiled from their sources, which the runner checked
  (grader/integrity.py), so a planted cache cannot stand in for them;
- the grader package loaded from the folder this file is in, by location, so no
  folder on a path can stand in for it.

FD is the pipe of the runner's `Handover`, read and closed by grader.sandbox.
"""

import importlib
import importlib.util
import json
import os
import sys

NO_CACHE = os.path.join(os.devnull, "no-pyc")  # under a device file: no cache can ever exist there
DEPENDENCIES = ("pytest", "pluggy", "iniconfig", "packaging", "posix_ipc", "sysv_ipc", "psutil", "yaml")


def boot() -> int:
    sys.path.extend(path for path in json.loads(sys.argv[1]) if path not in sys.path)
    for name in DEPENDENCIES:
        importlib.import_module(name)
    from _pytest.config import default_plugins

    for name in default_plugins:
        importlib.import_module(f"_pytest.{name}")
    sys.pycache_prefix = NO_CACHE
    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location(
        "grader", os.path.join(here, "__init__.py"), submodule_search_locations=[here]
    )
    assert spec is not None and spec.loader is not None
    package = importlib.util.module_from_spec(spec)
    sys.modules["grader"] = package
    spec.loader.exec_module(package)
    from grader.sandbox import main

    return main(int(sys.argv[2]))


if __name__ == "__main__":
    # The supervisor has reaped its run and said all it had to: skip the interpreter's teardown of
    # pytest and the grader (0.07-0.11 s a session, which the runner waits for).
    status = boot()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
