"""ruff and mypy are part of the test suite: a lint error fails CI like a broken test."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (pip install 'lance-spiral[dev]')")
    return found


def test_ruff_clean() -> None:
    targets = [p for p in ("lance_spiral", "tests", "integrations", "benchmarks", "examples")
               if (ROOT / p).exists()]
    proc = subprocess.run([_tool("ruff"), "check", *targets], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_clean() -> None:
    proc = subprocess.run([_tool("mypy")], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
