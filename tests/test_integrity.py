"""grader/integrity.py on files made here: git's view of a clone, planted startup hooks, and
the fingerprint a grade holds still. (The whole check, on a real install, is in test_tamper.py.)"""

from __future__ import annotations

import base64
import hashlib
import subprocess
from pathlib import Path

import pytest

from grader import integrity


def git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True)


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A checkout with a grader and a kata package, everything committed."""
    for path in ("grader/runner.py", "grader/suites/pipe/test_pipe.py", "kata/exercises/pipe/kata.yaml"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(f"# {path}\n")
    (tmp_path / ".gitignore").write_text("__pycache__/\n*.pyc\n*.egg-info/\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x")
    return tmp_path


def test_a_clean_clone_has_no_change(clone):
    assert integrity._git_changes(clone) == ([], "")


def test_every_kind_of_change_under_the_packages_is_named(clone):
    (clone / "grader" / "runner.py").write_text("forged\n")
    (clone / "grader" / "suites" / "conftest.py").write_text("planted\n")
    (clone / "kata" / "exercises" / "pipe" / "kata.yaml").unlink()
    (clone / "grader" / "x.egg-info").mkdir()
    (clone / "grader" / "x.egg-info" / "PKG-INFO").write_text("hidden from git status\n")
    changed, why_not = integrity._git_changes(clone)
    assert why_not == ""
    assert sorted(changed) == [
        "grader/runner.py (modified)",
        "grader/suites/conftest.py (added)",
        "grader/x.egg-info/PKG-INFO (added, and ignored by git)",
        "kata/exercises/pipe/kata.yaml (deleted)",
    ]


def test_compiled_caches_and_files_outside_the_packages_are_no_change(clone):
    (clone / "grader" / "__pycache__").mkdir()
    (clone / "grader" / "__pycache__" / "runner.cpython-311.pyc").write_bytes(b"never read by the sandbox")
    (clone / "notes.txt").write_text("the learner's own\n")
    assert integrity._git_changes(clone) == ([], "")


def test_a_folder_that_is_no_git_checkout_is_said_so(tmp_path):
    changed, why_not = integrity._git_changes(tmp_path)
    assert changed == [] and why_not.startswith(f"git cannot tell what changed in {tmp_path} (not a git repository")


def record_hash(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


@pytest.fixture
def site(tmp_path: Path, monkeypatch) -> Path:
    """A site-packages folder with one package whose RECORD lists its .pth file."""
    folder = tmp_path / "site-packages"
    (folder / "tool-1.0.dist-info").mkdir(parents=True)
    (folder / "tool.pth").write_text("import tool\n")
    (folder / "tool-1.0.dist-info" / "RECORD").write_text(
        f"tool.pth,sha256={record_hash(b'import tool' + bytes([10]))},12\ntool-1.0.dist-info/RECORD,,\n"
    )
    monkeypatch.setattr(integrity, "_site_folders", lambda: [folder])
    return folder


def test_a_pth_file_its_package_lists_is_no_hook(site):
    assert integrity.planted_hooks() == ""


@pytest.mark.parametrize(
    "plant, found",
    [
        (lambda site: (site / "zz.pth").write_text("import zz\n"), "zz.pth"),
        (lambda site: (site / "tool.pth").write_text("import forged\n"), "tool.pth"),
        (lambda site: (site / "sitecustomize.py").write_text("import forged\n"), "sitecustomize.py"),
        (lambda site: (site / "usercustomize.py").write_text("import forged\n"), "usercustomize.py"),
    ],
    ids=["unlisted pth", "changed pth", "sitecustomize", "usercustomize"],
)
def test_a_startup_hook_no_package_accounts_for_is_found(site, plant, found):
    plant(site)
    assert integrity.planted_hooks() == str(site / found)


def test_the_fingerprint_names_what_changed_since(tmp_path):
    suite = tmp_path / "suites" / "pipe"
    suite.mkdir(parents=True)
    (suite / "test_pipe.py").write_text("def test_a(): ...\n")
    (suite / "_helper.py").write_text("x = 1\n")
    (tmp_path / "suites" / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "kata.yaml").write_text("id: pipe\n")
    held = integrity.held_paths(suite, tmp_path)
    before = integrity.fingerprint(held)
    assert integrity.changed_since(before, held) == []
    (suite / "test_pipe.py").write_text("def test_a(): pass\n")
    (suite / "_helper.py").unlink()
    (suite / "conftest.py").write_text("planted\n")
    (tmp_path / "kata.yaml").write_text("id: pipe\nthreshold: 0\n")
    assert sorted(integrity.changed_since(before, held)) == [
        "_helper.py (removed)",
        "conftest.py (added)",
        "kata.yaml (modified)",
        "test_pipe.py (modified)",
    ]


class RecordedInstall:
    """A distribution as importlib.metadata shows it, holding only a direct_url.json (or none)."""

    def __init__(self, direct_url: str | None):
        self.direct_url = direct_url

    def read_text(self, name: str) -> str | None:
        return self.direct_url if name == "direct_url.json" else None


@pytest.mark.parametrize(
    ("direct_url", "command"),
    [
        (
            '{"url": "file:///home/me/w/ipc_kata-0.1-py3-none-any.whl", "archive_info": {}}',
            "pip install --force-reinstall --no-deps /home/me/w/ipc_kata-0.1-py3-none-any.whl",
        ),
        (
            '{"url": "file:///home/me/my%20wheels/ipc_kata-0.1-py3-none-any.whl", "archive_info": {}}',
            "pip install --force-reinstall --no-deps '/home/me/my wheels/ipc_kata-0.1-py3-none-any.whl'",
        ),
        (None, "pip install --force-reinstall --no-deps ipc-kata"),
        (
            '{"url": "https://example.org/ipc_kata-0.1-py3-none-any.whl"}',
            "pip install --force-reinstall --no-deps ipc-kata",
        ),
        ("{not json", "pip install --force-reinstall --no-deps ipc-kata"),
        ('["a list"]', "pip install --force-reinstall --no-deps ipc-kata"),
    ],
    ids=["wheel", "wheel in a folder with a space", "from an index", "from a URL", "damaged record", "odd record"],
)
def test_the_reinstall_hint_names_where_the_grader_came_from(direct_url, command):
    """pip records a wheel's or a folder's path (PEP 610); the hint names it, since ipc-kata may be on no index."""
    assert integrity._reinstall(RecordedInstall(direct_url)) == f"reinstall it: {command}"  # type: ignore[arg-type]
