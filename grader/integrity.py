"""Before each grade: are the grader's files as they were installed, and is nothing planted
that would run at startup? (docs/decisions.md, "Honest verdicts".)

Learner code runs as the learner's user, who can write the installation. A file
it changes or adds there would outlive the grade and could turn every later
grade into a pass, so each grade starts with `check()`:

- The grader's own files (the `grader` and `kata` packages: engine, hidden suites,
  kata definitions with their limits and thresholds). From an installed wheel:
  every file against the sha256 its RECORD lists, and no file in those packages
  that RECORD does not list. From a clone (an editable install, `make run`):
  git's view, no tracked file modified and no file added under `grader/` or
  `kata/`. `KATA_EDITING_GRADER=1` skips this part for someone working on the
  grader or its suites (the project's tests and `kata dev` set it).
- The packages the sandbox imports (pytest and its dependencies, posix_ipc,
  sysv_ipc, psutil, PyYAML): their files against their RECORD.
- Startup hooks: a `.pth`, `sitecustomize` or `usercustomize` file in a
  site-packages folder that no installed package's RECORD lists (or whose
  content differs), a `sitecustomize` this interpreter ran from anywhere but the
  standard library or site-packages (PYTHONPATH), and a pytest plugin (`pytest11`
  entry point) of a package ipc-kata does not depend on.

Compiled caches (.pyc) are not compared: the sandbox never reads those of the
grader, the suites or the learner's file (grader/_boot.py). A file is hashed
once per process while its inode, size and times stay the same (any write
changes its ctime, which no user can set).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.metadata as metadata
import json
import os
import shlex
import site
import subprocess
import sys
import sysconfig
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from grader import locations

if TYPE_CHECKING:
    from packaging.requirements import Requirement

DISTRIBUTION = "ipc-kata"
PACKAGES = ("grader", "kata")  # the distribution's packages: what a grade runs and reads
EDITING_ENV = "KATA_EDITING_GRADER"
SANDBOX_DISTRIBUTIONS = ("pytest", "posix_ipc", "sysv_ipc", "psutil", "PyYAML")  # and what they need
STARTUP_MODULES = ("sitecustomize.py", "usercustomize.py")
LISTED = 3  # changed files named in the one-line message
RESTORE = (
    f"restore them (git checkout -- grader kata; remove what you added), or set {EDITING_ENV}=1 while you work "
    "on the grader"
)


@dataclass
class Check:
    """What `check` found: `problem` (one line; the grade must not run) and notices for the report."""

    problem: str = ""
    notices: list[str] = field(default_factory=list)


def check() -> Check:
    """The whole check before a grade (see the module's docstring)."""
    hooks = planted_hooks()
    if hooks:
        return Check(f"a startup hook was planted: {hooks}: remove it (it is part of no installed package)")
    changed = dependency_changes()
    if changed:
        return Check(f"the grader's dependencies were changed: {_listed(changed)}: reinstall them")
    return grader_files()


def grader_files() -> Check:
    """The grader's own files only: cheap enough before every sandbox session of a grade."""
    if os.environ.get(EDITING_ENV) == "1":
        return Check()  # asked for in so many words: no notice in every report
    dist = _our_distribution()
    clone = _clone_root(dist)
    if clone is not None:
        changed, why_not = _git_changes(clone)
        if why_not:
            return Check(notices=[f"the grader's own files were not checked: {why_not}"])
        if changed:
            return Check(f"the grader's files were changed: {_listed(changed)}: {RESTORE}")
        return Check()
    assert dist is not None
    changed = list(_record_changes(dist)) + list(_unlisted(dist))
    if changed:
        return Check(f"the grader's files were changed: {_listed(changed)}: {_reinstall(dist)}")
    return Check()


# --- what may have been planted -------------------------------------------------------------


def planted_hooks() -> str:
    """The first startup hook no installed package accounts for, or ""."""
    folders = _site_folders()
    for folder in folders:
        listed = _hooks_listed(folder)
        for path in sorted(folder.glob("*.pth")) + [folder / name for name in STARTUP_MODULES]:
            if path.is_file() and not _same(path, listed.get(path.name, "")):
                return str(path)
    # One found elsewhere on the path (PYTHONPATH, the current folder) ran when this interpreter started.
    trusted = {Path(sysconfig.get_paths()["stdlib"]).resolve(), *(folder.resolve() for folder in folders)}
    for name in ("sitecustomize", "usercustomize"):
        file = getattr(sys.modules.get(name), "__file__", None)
        # The folder it was found in (Debian's is a link from the standard library to /etc).
        if isinstance(file, str) and Path(os.path.abspath(file)).parent.resolve() not in trusted:
            return file
    from packaging.utils import canonicalize_name

    known = _requirement_closure(DISTRIBUTION)
    for point in metadata.entry_points(group="pytest11"):
        name = canonicalize_name(point.dist.name) if point.dist is not None else "?"
        if name not in known:
            return f"pytest plugin {point.name} of {point.dist.name if point.dist else 'an unknown package'}"
    return ""


def _hooks_listed(folder: Path) -> dict[str, str]:
    """Startup hooks at the top of `folder` that an installed package's RECORD lists: name -> sha256."""
    hooks: dict[str, str] = {}
    for record in folder.glob("*.dist-info/RECORD"):
        try:
            lines = record.read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            name, _, rest = line.partition(",")
            if "/" not in name and (name.endswith(".pth") or name in STARTUP_MODULES):
                hooks[name] = rest.partition(",")[0].removeprefix("sha256=")
    return hooks


def _site_folders() -> list[Path]:
    folders = [Path(p) for p in site.getsitepackages()]
    if site.ENABLE_USER_SITE:
        folders.append(Path(site.getusersitepackages()))
    return [folder for folder in folders if folder.is_dir()]


@functools.cache
def _requirement_closure(root: str, all_extras: bool = True) -> frozenset[str]:
    """`root` and every installed distribution it needs; with all of root's extras (for ipc-kata:
    the project's own test tools) or none."""
    from packaging.requirements import InvalidRequirement, Requirement  # pytest's dependency: not in the sandbox
    from packaging.utils import canonicalize_name

    known: set[str] = set()
    try:
        provided = metadata.distribution(root).metadata.get_all("Provides-Extra") if all_extras else None
        root_extras = frozenset(provided or ())
    except metadata.PackageNotFoundError:
        root_extras = frozenset()
    todo: list[tuple[str, frozenset[str]]] = [(root, root_extras)]
    while todo:
        name, extras = todo.pop()
        if canonicalize_name(name) in known:
            continue
        known.add(canonicalize_name(name))
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            try:
                requirement = Requirement(text)
            except InvalidRequirement:
                continue
            if _wanted(requirement, extras):
                todo.append((requirement.name, frozenset(requirement.extras)))
    return frozenset(known)


def _wanted(requirement: Requirement, extras: frozenset[str]) -> bool:
    """Is `requirement` needed here, for a distribution installed with `extras`?"""
    from packaging.markers import default_environment

    if requirement.marker is None:
        return True
    marker = requirement.marker
    environment: dict[str, str] = {key: str(value) for key, value in default_environment().items()}
    return any(marker.evaluate({**environment, "extra": extra}) for extra in extras | {""})


# --- files against a RECORD -----------------------------------------------------------------


def dependency_changes() -> list[str]:
    """Files of the sandbox's dependencies that differ from their RECORD."""
    changed: list[str] = []
    for name in sorted(set().union(*(_requirement_closure(d, all_extras=False) for d in SANDBOX_DISTRIBUTIONS))):
        try:
            changed += _record_changes(metadata.distribution(name))
        except metadata.PackageNotFoundError:
            continue  # the sandbox would not start: said then
    return changed


def _our_distribution() -> metadata.Distribution | None:
    try:
        return metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None


def _reinstall(dist: metadata.Distribution) -> str:
    """The command that puts the files back. pip records where a wheel or a folder was installed
    from (direct_url.json, PEP 610): name that, since the distribution may be on no index."""
    try:
        record = json.loads(dist.read_text("direct_url.json") or "{}")
    except (OSError, ValueError):
        record = {}  # a damaged record: the name is the best we know
    url = record.get("url") if isinstance(record, dict) else None
    source = DISTRIBUTION
    if isinstance(url, str) and url.startswith("file://"):
        source = shlex.quote(urllib.parse.unquote(urllib.parse.urlsplit(url).path))
    return f"reinstall it: pip install --force-reinstall --no-deps {source}"


def _record_changes(dist: metadata.Distribution) -> Iterator[str]:
    """Each file of `dist` whose content is not the one its RECORD lists (missing ones included)."""
    for entry in dist.files or ():
        if entry.hash is None or entry.hash.mode != "sha256":
            continue  # RECORD itself, compiled caches
        path = Path(str(dist.locate_file(entry)))
        if not _same(path, entry.hash.value):
            yield _shown(path)


def _unlisted(dist: metadata.Distribution) -> Iterator[str]:
    """Files in the distribution's packages that its RECORD does not list: added after the install."""
    listed = {Path(str(dist.locate_file(entry))).resolve() for entry in dist.files or ()}
    site_folder = Path(str(dist.locate_file("")))
    for package in PACKAGES:
        for folder, dirs, files in os.walk(site_folder / package):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for name in files:
                path = Path(folder, name).resolve()
                if path not in listed:
                    yield f"{_shown(path)} (added)"


# --- a clone: git's view --------------------------------------------------------------------


def _clone_root(dist: metadata.Distribution | None) -> Path | None:
    """The clone's root when the grader runs from one (an editable install, or no install),
    None when it runs from the distribution's own files (whose RECORD then speaks)."""
    if dist is not None and Path(str(dist.locate_file("grader"))).resolve() == locations.PACKAGE_DIR:
        return None
    return locations.PACKAGE_DIR.parent


def _git_changes(root: Path) -> tuple[list[str], str]:
    """(changed files under the packages, "") from `git status`; ([], why) when git cannot tell."""
    command = ["git", "-C", str(root), "status", "--porcelain=v1", "-z", "--untracked-files=all", "--ignored"]
    try:
        done = subprocess.run([*command, "--", *PACKAGES], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return [], f"git is not available ({err})"
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        why = said[0].removeprefix("fatal: ") if said else f"exit status {done.returncode}"
        return [], f"git cannot tell what changed in {root} ({why})"
    changed = []
    for record in done.stdout.decode(errors="replace").split("\0"):
        if len(record) < 4:
            continue
        state, path = record[:2], record[3:]
        if state == "!!" and ("__pycache__/" in path or path.endswith(".pyc")):
            continue  # compiled caches: never read by the sandbox
        changed.append(f"{path} ({_GIT_STATES.get(state, 'changed')})")
    return changed, ""


_GIT_STATES = {"??": "added", "!!": "added, and ignored by git", " M": "modified", " D": "deleted"}


# --- the files one grade reads, held still for its length --------------------------------------


def held_paths(suite_dir: Path, kata_folder: Path) -> list[Path]:
    """What a grade reads from the grader's files in its sandbox: the suite, the suites'
    pytest.ini and the kata's kata.yaml (limits and thresholds)."""
    return [suite_dir, suite_dir.parent / "pytest.ini", kata_folder / "kata.yaml"]


def fingerprint(paths: Iterable[Path]) -> dict[str, str]:
    """sha256 of every file at or under `paths` (compiled caches skipped): what a grade's
    sandbox must find unchanged when it loads the suite (see `changed_since`)."""
    found: dict[str, str] = {}
    for path in paths:
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            if "__pycache__" not in file.parts:
                try:
                    found[str(file)] = hashlib.sha256(file.read_bytes()).hexdigest()
                except OSError:
                    continue
    return found


def changed_since(before: dict[str, str], paths: Iterable[Path]) -> list[str]:
    """Files of `paths` added, removed or changed since `before` was taken, by name."""
    now = fingerprint(paths)
    changed = [f"{Path(p).name} ({'modified' if p in now else 'removed'})" for p in before if now.get(p) != before[p]]
    return changed + [f"{Path(p).name} (added)" for p in now if p not in before]


# --- helpers ----------------------------------------------------------------------------------

_verified: dict[Path, tuple[int, int, int, int, str]] = {}  # path -> (inode, size, mtime, ctime, hash) seen good


def _same(path: Path, expected: str) -> bool:
    """Does the file hold what RECORD's urlsafe-base64 sha256 `expected` says?"""
    try:
        info = os.stat(path)
    except OSError:
        return False
    stamp = (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns, expected)
    if _verified.get(path) == stamp:
        return True
    try:
        digest = hashlib.sha256(path.read_bytes()).digest()
    except OSError:
        return False
    if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != expected:
        return False
    _verified[path] = stamp
    return True


def _shown(path: Path) -> str:
    """A path as short as can be told: relative to site-packages or the clone."""
    for base in (locations.PACKAGE_DIR.parent, *_site_folders()):
        try:
            return str(path.relative_to(base))
        except ValueError:
            continue
    return str(path)


def _listed(items: Iterable[str]) -> str:
    items = list(items)
    more = f" (and {len(items) - LISTED} more)" if len(items) > LISTED else ""
    return ", ".join(items[:LISTED]) + more
