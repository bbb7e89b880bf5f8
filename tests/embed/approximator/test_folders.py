"""The shipped model is package data: a wheel carries it, and it loads from the installed copy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from lance_spiral.embed.approximator import shipped_model_dir

ROOT = Path(__file__).resolve().parents[3]
SNIPPET = ("import lance_spiral\n"
           "from lance_spiral.embed import Approximator\n"
           "print(Approximator.load().embed(['hello world']).shape)\n"
           "print(lance_spiral.__file__)\n")


def copy_sources(root: Path, dest: Path) -> Path:
    """What setuptools builds the wheel from: pyproject, README and the package (no caches)."""
    dest.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(root / name, dest / name)
    shutil.copytree(root / "lance_spiral", dest / "lance_spiral",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc"))
    return dest


def wheel_install_and_run(src: Path, work: Path) -> tuple[str, Path]:
    """``pip wheel`` ``src``, install it with ``--target``, run :data:`SNIPPET` outside the repo.

    The snippet runs with ``python -S`` (no site-packages processing, so the checkout's editable
    install is invisible) and ``PYTHONPATH`` = the target dir + the venv's site-packages (for the
    dependencies only).

    Returns:
        ``(stdout of the snippet, the target dir)``.
    """
    dist, target, cwd = work / "dist", work / "target", work / "elsewhere"
    cwd.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    # --no-build-isolation: build with this venv's setuptools, no index needed.
    subprocess.run([*pip, "wheel", str(src), "--no-deps", "--no-build-isolation", "-w", str(dist)],
                   check=True, capture_output=True, text=True, timeout=300, cwd=cwd)
    wheel = next(dist.glob("lance_spiral-*.whl"))
    subprocess.run([*pip, "install", "--no-deps", "--no-compile", "--target", str(target),
                    str(wheel)], check=True, capture_output=True, text=True, timeout=300, cwd=cwd)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "LANCE_SPIRAL_APPROXIMATOR")}
    env["PYTHONPATH"] = os.pathsep.join([str(target), sysconfig.get_paths()["purelib"]])
    proc = subprocess.run([sys.executable, "-S", "-c", SNIPPET], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, target


def test_shipped_model_is_in_the_source_tree() -> None:
    d = shipped_model_dir()
    assert d == ROOT / "lance_spiral" / "data" / "approximator"
    missing = [n for n in ("config.json", "tokenizer.json", "tables.safetensors", "head.onnx")
               if not (d / n).is_file()]
    assert not missing, f"the shipped model folder {d} lacks {missing}"
    size = sum(p.stat().st_size for p in d.rglob("*") if p.is_file())
    assert size <= 30e6, f"the shipped model takes {size / 1e6:.1f} MB (limit 30 MB)"


# Not `slow`: 10.9 s at a load average of 2.9 on the shared 2-core machine (12.7 s of CPU: build,
# install, numba compiling the kernels afresh; 46 s wall at a load average of 13).
def test_wheel_carries_the_model_and_loads_it_outside_the_repo(tmp_path: Path) -> None:
    if not (shipped_model_dir() / "config.json").is_file():
        pytest.fail(f"no shipped model at {shipped_model_dir()}")
    out, target = wheel_install_and_run(copy_sources(ROOT, tmp_path / "src"), tmp_path)
    shape, where = out.strip().splitlines()[-2:]
    assert shape == "(1, 384)"
    assert Path(where).resolve().is_relative_to(target.resolve()), where
    shipped = sorted(p.name for p in shipped_model_dir().iterdir() if p.is_file())
    installed = target / "lance_spiral" / "data" / "approximator"
    assert sorted(p.name for p in installed.iterdir() if p.is_file()) == shipped
