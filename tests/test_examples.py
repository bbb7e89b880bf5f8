"""Every example script and notebook runs as written, with the approximator shipped in the package.

The README examples are run by tests/test_docs.py. Floors below were measured on the shipped
model with the command in each comment; floor = measured value minus a small margin.
"""

from __future__ import annotations

import json
import re
import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


@pytest.fixture
def user_env(shared_data: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A user's shell: the shipped model (no override), SciFact where the README says, a new cwd."""
    monkeypatch.delenv("LANCE_SPIRAL_APPROXIMATOR", raising=False)
    monkeypatch.setenv("LANCE_SPIRAL_SHARED_DATA", str(shared_data))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)


def _run(args: list[str | Path], capsys: pytest.CaptureFixture[str],
         monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a script in this process (as ``__main__``) and return what it printed."""
    monkeypatch.setattr(sys, "argv", [str(a) for a in args])
    runpy.run_path(str(args[0]), run_name="__main__")
    return capsys.readouterr().out


def _summary(stdout: str) -> dict[str, object]:
    line = next(x for x in stdout.splitlines() if x.startswith("SUMMARY "))
    return json.loads(line[len("SUMMARY "):])  # type: ignore[no-any-return]


def test_langchain_script(user_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                          monkeypatch: pytest.MonkeyPatch) -> None:
    out = _run([EXAMPLES / "langchain_scifact.py", "--docs", "300", "--queries", "40",
                "--out", tmp_path], capsys, monkeypatch)
    s = _summary(out)
    assert s["docs"] == 300 and s["queries"] == 40
    assert s["bytes_per_vector_stored"] == 384 and s["bytes_per_vector_float32"] == 1536
    # Measured with `python examples/langchain_scifact.py --docs 300 --queries 40` (shipped
    # model, build B of 2026-12-06; 2789ecf's build A: 0.940): teacher queries 0.975,
    # approximator queries 0.970; floors 0.03 below.
    assert float(s["recall@10_teacher_queries"]) > 0.945  # type: ignore[arg-type]
    assert float(s["recall@10_approximator_queries"]) > 0.94  # type: ignore[arg-type]


def test_llamaindex_script(user_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                           monkeypatch: pytest.MonkeyPatch) -> None:
    out = _run([EXAMPLES / "llamaindex_scifact.py", "--docs", "300", "--queries", "40",
                "--out", tmp_path], capsys, monkeypatch)
    s = _summary(out)
    assert s["docs"] == 300 and str(s["codec"]).startswith("sq:bits=8")
    assert s["bytes_per_vector_stored"] == 384
    # Measured with `python examples/llamaindex_scifact.py --docs 300 --queries 40` (shipped
    # model, build B of 2026-12-06; 2789ecf's build A: 0.940): 0.970; floor 0.03 below.
    assert float(s["recall@10_approximator_queries"]) > 0.94  # type: ignore[arg-type]


def test_lancedb_registry_script(user_env: None, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    out = _run([EXAMPLES / "lancedb_registry.py", "--out", tmp_path], capsys, monkeypatch)
    s = _summary(out)
    assert s["rows"] == 3000 and s["finds_itself"] is True
    assert f"query: {s['query']}" in out
    # Measured with `python examples/lancedb_registry.py` (shipped model, build B of
    # 2026-12-06; 2789ecf's build A: 0.66): 0.674 of the teacher's exact top 10 (documents and
    # queries both embedded by the approximator here); floor 0.03 below.
    assert float(s["top10_shared_with_teacher"]) > 0.644  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["langchain_scifact.ipynb", "llamaindex_scifact.ipynb"])
def test_notebook_runs(name: str, user_env: None) -> None:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(EXAMPLES / name, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(EXAMPLES)}}).execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                     for o in c.get("outputs", []))
    assert "sq:bits=8" in text
    recall = float(re.search(r"recall@10 approximator queries: ([0-9.]+)", text).group(1))  # type: ignore[union-attr]
    # Measured by running the notebook (400 documents, 50 queries; shipped model, build B of
    # 2026-12-06, the outputs saved in it; 2789ecf's build A: 0.932): 0.956; floor 0.03 below.
    assert recall > 0.926
