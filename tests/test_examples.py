"""Every example script and notebook runs, and the README examples of both packages run as written.

The examples use the approximator from ``$LANCE_SPIRAL_APPROXIMATOR``; here a tiny one trained in
seconds (so retrieval figures of approximator queries are low; teacher-query figures are real).
"""

from __future__ import annotations

import json
import os
import re
import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    # Shared with the integration packages' tests (same env key as their conftests).
    built = os.environ.get("LANCE_SPIRAL_TEST_TINY_APPROXIMATOR")
    if built and Path(built).is_dir():
        return Path(built)
    from tests.support.tiny_model import tiny_approximator

    path = tiny_approximator(tmp_path_factory.mktemp("examples-model"), n_texts=200, epochs=4,
                             data_dir=shared_data)
    os.environ["LANCE_SPIRAL_TEST_TINY_APPROXIMATOR"] = str(path)
    return path


@pytest.fixture
def model_env(model_dir: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch,
              tmp_path: Path) -> dict[str, str]:
    env = {"LANCE_SPIRAL_APPROXIMATOR": str(model_dir),
           "LANCE_SPIRAL_SHARED_DATA": str(shared_data)}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    return env


def _run(args: list[str], capsys: pytest.CaptureFixture[str],
         monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a script in this process (as ``__main__``) and return what it printed."""
    monkeypatch.setattr(sys, "argv", [str(a) for a in args])
    runpy.run_path(str(args[0]), run_name="__main__")
    return capsys.readouterr().out


def _summary(stdout: str) -> dict[str, object]:
    line = next(x for x in stdout.splitlines() if x.startswith("SUMMARY "))
    return json.loads(line[len("SUMMARY "):])  # type: ignore[no-any-return]


def test_langchain_script(model_env: dict[str, str], tmp_path: Path,
                          capsys: pytest.CaptureFixture[str],
                          monkeypatch: pytest.MonkeyPatch) -> None:
    out = _run([EXAMPLES / "langchain_scifact.py", "--docs", "300", "--queries", "40",
                "--out", tmp_path], capsys, monkeypatch)
    s = _summary(out)
    assert s["docs"] == 300 and s["queries"] == 40
    assert s["bytes_per_vector_stored"] == 384 and s["bytes_per_vector_float32"] == 1536
    # Teacher queries over SQ8-compressed teacher documents: exact search gives ~0.9 here.
    assert float(s["recall@10_teacher_queries"]) > 0.8  # type: ignore[arg-type]
    assert 0.0 <= float(s["recall@10_approximator_queries"]) <= 1.0  # type: ignore[arg-type]


def test_llamaindex_script(model_env: dict[str, str], tmp_path: Path,
                           capsys: pytest.CaptureFixture[str],
                           monkeypatch: pytest.MonkeyPatch) -> None:
    out = _run([EXAMPLES / "llamaindex_scifact.py", "--docs", "300", "--queries", "40",
                "--out", tmp_path], capsys, monkeypatch)
    s = _summary(out)
    assert s["docs"] == 300 and str(s["codec"]).startswith("sq:bits=8")
    assert s["bytes_per_vector_stored"] == 384


def test_lancedb_registry_script(model_env: dict[str, str], tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    out = _run([EXAMPLES / "lancedb_registry.py", "--out", tmp_path], capsys, monkeypatch)
    s = _summary(out)
    query = next(x for x in out.splitlines() if x.startswith("query: "))[len("query: "):]
    assert s["rows"] == 200
    assert s["top"][0] == query  # type: ignore[index]


@pytest.mark.parametrize("name", ["langchain_scifact.ipynb", "llamaindex_scifact.ipynb"])
def test_notebook_runs(name: str, model_env: dict[str, str]) -> None:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(EXAMPLES / name, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(EXAMPLES)}}).execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                     for o in c.get("outputs", []))
    assert "sq:bits=8" in text and "recall@10" in text


@pytest.mark.parametrize("package", ["langchain", "llamaindex"])
def test_readme_example_runs_as_written(package: str, model_env: dict[str, str],
                                        tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (ROOT / "integrations" / package / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert blocks, f"no python example in integrations/{package}/README.md"
    script = tmp_path / "readme_example.py"
    script.write_text(blocks[0], encoding="utf-8")
    out = _run([script], capsys, monkeypatch)
    assert out.strip(), "the README example prints its results"
