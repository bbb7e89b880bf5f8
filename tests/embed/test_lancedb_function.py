"""The "lance-spiral-approx" LanceDB embedding function: auto-embedding, and reopening a table."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import lancedb
import numpy as np
import pytest
from lancedb.embeddings import get_registry
from lancedb.pydantic import LanceModel, Vector

from lance_spiral.embed.approximator import Approximator
from lance_spiral.embed.lancedb_function import ALIAS, ApproximatorEmbeddingFunction
from lance_spiral.errors import DTypeError


@pytest.fixture
def texts(shared_data: Path) -> list[str]:
    lines = (shared_data / "scifact" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["title"] for line in lines[:40]]


def test_source_and_vector_fields_embed_on_add_and_search(
    tmp_path: Path, tiny_model_dir: Path, texts: list[str]
) -> None:
    func = get_registry().get(ALIAS).create(model_dir=str(tiny_model_dir))
    assert isinstance(func, ApproximatorEmbeddingFunction)

    class Doc(LanceModel):  # type: ignore[misc]
        text: str = func.SourceField()
        vector: Vector(func.ndims()) = func.VectorField()  # type: ignore[valid-type]

    db = lancedb.connect(tmp_path)
    table = db.create_table("docs", schema=Doc)
    table.add([{"text": t} for t in texts])
    stored = np.stack(table.to_pandas()["vector"].to_numpy())
    want = Approximator.load(tiny_model_dir).embed(texts)
    np.testing.assert_allclose(stored, want, atol=1e-5)
    hits = table.search(texts[3]).limit(3).to_list()
    assert hits[0]["text"] == texts[3]


def test_reopen_needs_the_plugin_import(
    tmp_path: Path, tiny_model_dir: Path, texts: list[str]
) -> None:
    func = get_registry().get(ALIAS).create(model_dir=str(tiny_model_dir))

    class Doc(LanceModel):  # type: ignore[misc]
        text: str = func.SourceField()
        vector: Vector(func.ndims()) = func.VectorField()  # type: ignore[valid-type]

    lancedb.connect(tmp_path).create_table("docs", schema=Doc).add([{"text": t} for t in texts])
    script = textwrap.dedent(
        f"""
        import lancedb
        db = lancedb.connect({str(tmp_path)!r})
        try:
            db.open_table("docs").add([{{"text": "x"}}])
            print("ADD_WITHOUT_PLUGIN_OK")
        except Exception as exc:
            print("ADD_WITHOUT_PLUGIN_FAILED", type(exc).__name__)
        import lance_spiral.embed.lancedb_function  # the documented way to reopen
        table = db.open_table("docs")
        table.add([{{"text": "a new title"}}])
        print("ROWS", table.count_rows())
        print("TOP", table.search("a new title").limit(1).to_list()[0]["text"])
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "ADD_WITHOUT_PLUGIN_FAILED" in proc.stdout
    assert f"ROWS {len(texts) + 1}" in proc.stdout
    assert "TOP a new title" in proc.stdout


def test_rejects_non_text(tiny_model_dir: Path) -> None:
    func = get_registry().get(ALIAS).create(model_dir=str(tiny_model_dir))
    with pytest.raises(DTypeError, match=r"texts\[1\] must be str"):
        func.generate_embeddings(["ok", 3])
    assert func.generate_embeddings([]) == []


def test_no_argument_means_the_shipped_model(
    monkeypatch: pytest.MonkeyPatch, texts: list[str]
) -> None:
    monkeypatch.delenv("LANCE_SPIRAL_APPROXIMATOR", raising=False)
    func = get_registry().get(ALIAS).create()
    assert func.model_dir is None and func.ndims() == 384
    got = np.stack(func.generate_embeddings(texts[:5]))
    np.testing.assert_allclose(got, Approximator.load().embed(texts[:5]), atol=1e-6)
