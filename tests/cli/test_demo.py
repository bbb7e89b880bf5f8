"""The demo on the bundled WordNet sample: codec table, compressed Lance table, demo.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lance_spiral.cli import main
from lance_spiral.errors import NotFoundError
from lance_spiral.sample import load_sample

DATA = Path(__file__).resolve().parents[2] / "lance_spiral" / "data"


def test_bundled_sample_is_small_real_and_licensed() -> None:
    docs, vecs, queries, qvecs = load_sample()
    assert len(docs) == vecs.shape[0] == 3000 and vecs.shape[1] == 384
    assert len(queries) == qvecs.shape[0] == 100
    assert all(d["text"] and d["title"] for d in docs)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=2e-3)
    total = sum(p.stat().st_size for p in DATA.iterdir() if p.is_file())
    assert total < 4_000_000
    notice = (DATA / "NOTICE.md").read_text()
    assert "WordNet 3.0 Copyright 2006 by Princeton University" in notice


def test_load_sample_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="demo sample file"):
        load_sample(tmp_path)


def test_demo_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LANCE_SPIRAL_APPROXIMATOR", raising=False)  # the shipped model
    out = tmp_path / "demo-out"
    assert main(["-q", "demo", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    doc = json.loads((out / "demo.json").read_text())
    rows = {r["codec"]: r for r in doc["codecs"]}
    assert "sq:bits=8" in "".join(rows)
    sq8 = next(r for c, r in rows.items() if c.startswith("sq:bits=8"))
    assert sq8["recall_at_10"] >= 0.97 and sq8["bytes_per_vector"] == 384
    table = doc["table"]
    assert table is not None, doc["table_note"]
    assert table["rows"] == 3000
    assert table["recall_at_10_vs_exact"] >= 0.95
    assert table["examples"] and len(table["examples"][0]["hits"]) == 3
    # The query texts, embedded at demo time by the shipped approximator, hits printed as text.
    ap = doc["approximator"]
    assert ap["model"].endswith("(shipped)") and ap["queries"] == 100
    assert ap["embed_ms_median"] > 0 and ap["search_ms_median"] > 0
    first = ap["examples"][0]
    assert first["query"] in printed and first["hits"][0]["title"] in printed
    assert "agreement with the teacher" in printed
    # Measured with `lance-spiral demo --out demo-out` on the shipped model (build B, 2026-12-06;
    # 2789ecf's build A: 0.853 / 0.862): query cosine to the teacher 0.863, top-10 shared with
    # teacher queries 0.866; floors = measured minus 0.02 / 0.03.
    assert ap["cosine_to_teacher_mean"] > 0.843
    assert ap["top10_overlap_with_teacher_queries"] > 0.836
    # A second run into the same folder reuses/rebuilds the table, not duplicates it.
    assert main(["-q", "demo", "--out", str(out)]) == 0
    assert json.loads((out / "demo.json").read_text())["table"]["rows"] == 3000
