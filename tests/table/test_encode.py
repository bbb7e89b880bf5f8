"""Small tables compressed from the first row: the provisional codec, measured on SciFact."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lance_spiral.codecs.metrics import exact_topk, recall_at
from lance_spiral.table import create_table


@pytest.fixture(scope="module")
def test_queries(shared_data, scifact_query_emb):
    with open(shared_data / "scifact" / "queries.jsonl", encoding="utf-8") as fh:
        test = [i for i, line in enumerate(fh) if json.loads(line).get("split") == "test"]
    return scifact_query_emb[np.array(test)]


def _recall(t, x, q) -> float:
    res = t.search(q).limit(10).to_arrow()
    qi = res.column("_query_index").to_numpy()
    ids = np.array([int(i[1:]) for i in res.column("id").to_pylist()])
    return recall_at([ids[qi == i] for i in range(len(q))], exact_topk(x, q, 10, metric="cosine"))


def _build(uri, x, codec, batch):
    t = create_table(uri, codec=codec, progress=False)
    for s in range(0, len(x), batch):
        t.add({"id": [f"d{i}" for i in range(s, min(s + batch, len(x)))], "vector": x[s:s + batch]})
    return t


@pytest.mark.parametrize(("n", "batch"), [(200, 20), (900, 900)])
def test_small_tables_hold_float16_recall_at_half_its_bytes(tmp_path, scifact_corpus_emb,
                                                            test_queries, n, batch):
    x = scifact_corpus_emb[np.random.default_rng(n).choice(len(scifact_corpus_emb), n,
                                                           replace=False)]
    f16 = _build(str(tmp_path / "f16.lance"), x, "float16", batch)
    sq8 = _build(str(tmp_path / "sq8.lance"), x, "sq:bits=8", batch)
    assert not f16.meta.provisional and f16.codec.code_bytes == 768
    assert sq8.meta.provisional and sq8.codec.code_bytes == 384  # the target's size
    assert sq8.meta.stored_codec == sq8.codec.spec and sq8.codec.name == "sq"
    assert "stored as 'sq:bits=8" in repr(sq8) and "until 1000 rows" in repr(sq8)
    r16, r8 = _recall(f16, x, test_queries), _recall(sq8, x, test_queries)
    assert r8 >= r16 - 0.01, (r8, r16)


def test_rows_outside_the_ranges_widen_them(tmp_path, scifact_corpus_emb):
    t = create_table(str(tmp_path / "t.lance"), progress=False)
    t.add({"id": [f"d{i}" for i in range(50)], "vector": scifact_corpus_emb[:50]})
    first = t.meta.codec_file
    odd = scifact_corpus_emb[50:51].copy()
    odd[0, 7] = 3.0  # after normalisation ~0.95 in one coordinate: far outside +-4.5/sqrt(384)
    t.add({"id": ["odd"], "vector": odd})
    assert t.meta.codec_file != first and t.meta.provisional
    hit = t.search(odd[0]).limit(1).to_list()[0]
    assert hit["id"] == "odd" and hit["_score"] > 0.99
    vec = np.asarray(t.get(["odd"], with_vectors=True).column("vector").to_pylist()[0])
    assert float(vec @ odd[0] / np.linalg.norm(vec) / np.linalg.norm(odd[0])) > 0.999
    same = t.meta.codec_file
    t.add({"id": ["d51"], "vector": scifact_corpus_emb[51:52]})
    assert t.meta.codec_file == same  # inside the ranges: appended, no re-encode


def test_ip_and_l2_tables_scale_their_ranges(tmp_path, scifact_corpus_emb):
    for metric in ("ip", "l2"):
        x = scifact_corpus_emb[:40] * 3.0
        t = create_table(str(tmp_path / f"{metric}.lance"), metric=metric, progress=False)
        t.add({"id": [f"d{i}" for i in range(40)], "vector": x})
        assert t.meta.provisional and t.codec.code_bytes == 384
        for i in (0, 17, 39):
            assert t.search(x[i]).limit(1).to_list()[0]["id"] == f"d{i}"


def test_targets_without_training_are_final_from_the_first_row(tmp_path, scifact_corpus_emb):
    t = create_table(str(tmp_path / "t.lance"), codec="float16", progress=False)
    t.add({"id": ["a", "b"], "vector": scifact_corpus_emb[:2]})
    assert not t.meta.provisional and t.meta.stored_codec.startswith("float16")
    assert "stored as" not in repr(t)
