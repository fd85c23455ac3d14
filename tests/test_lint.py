"""The code has no defects a linter can see: undefined names, unused imports, likely
bugs (ruff's F, E9 and B rules, configured in pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess

from tests.e2e.harness import ROOT


def test_ruff_finds_no_defects():
    ruff = shutil.which("ruff") or str(ROOT / ".venv" / "bin" / "ruff")
    result = subprocess.run([ruff, "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-1000:]
