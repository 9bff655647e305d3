"""The Makefile's quick start: its probe for a Python 3.11+ stays quiet on a machine
where some `python3.X` on PATH is a shim that cannot run (pyenv prints "command not
found" for a version that is installed but not selected)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from katalib import ROOT


def test_python_probe_is_quiet_about_shims_that_cannot_run(tmp_path):
    if not shutil.which("make"):
        pytest.skip("make is not installed")
    shims = tmp_path / "shims"
    shims.mkdir()
    for version in ("python3.13", "python3.12"):
        shim = shims / version
        shim.write_text(f"#!/bin/sh\necho 'pyenv: {version}: command not found' >&2\nexit 127\n")
        shim.chmod(0o755)
    (shims / "python3.11").symlink_to(sys.executable)
    proc = subprocess.run(
        ["make", "-n", f"VENV={tmp_path / 'venv'}", "setup"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": f"{shims}:/usr/bin:/bin"},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "python3.11 -m venv" in proc.stdout
