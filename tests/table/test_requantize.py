"""requantize: a live table switches codec in one commit; readers never see a mix."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from lance_spiral.errors import InvalidInputError, InvalidParameterError, TableError
from lance_spiral.table import create_table, open_table
from tests.support.tables import rows


def _cos_all(t, emb) -> float:
    """Min cosine between each row's decoded vector and its original (ids 'doc<i>')."""
    tbl = t.to_arrow()
    idx = np.array([int(i[3:]) for i in tbl.column("id").to_pylist()])
    dec = t.decode_column(tbl.column(t.meta.codes_column))
    ref = emb[idx]
    return float(((dec * ref).sum(1) / np.linalg.norm(dec, axis=1)
                  / np.linalg.norm(ref, axis=1)).min())


@pytest.fixture()
def table(tmp_path, docs):
    return create_table(str(tmp_path / "t.lance"), docs, progress=False)


def test_requantize_to_a_given_codec(table, scifact_corpus_emb):
    v = table.version
    report = table.requantize("sq:bits=4")
    assert table.version == v + 1 == report["version"]
    assert report["previous_code_bytes"] == 384 and report["code_bytes"] == 192
    assert report["codec"] == table.codec.spec and table.meta.codec_spec == "sq:bits=4"
    assert report["rows"] == 2000 and report["sample_rows"] == 2000
    assert 0.8 < report["recall"] <= 1.0
    assert not table.meta.provisional and table.codec.code_bytes == 192
    assert _cos_all(table, scifact_corpus_emb) > 0.95
    old = table.checkout(v)
    assert old.codec.code_bytes == 384 and _cos_all(old, scifact_corpus_emb) > 0.99
    assert table.search(scifact_corpus_emb[11]).limit(1).to_list()[0]["id"] == "doc11"
    assert table.count_rows({"year": 1991}) == 67  # payload and filters kept
    table.add(rows(scifact_corpus_emb[2000:2010], start=2000))
    assert table.codec.code_bytes == 192 and table.count_rows() == 2010


def test_requantize_to_a_recall_target(table, scifact_corpus_emb):
    report = table.requantize(target_recall=0.9, sample=600)
    assert report["target_recall"] == 0.9 and report["sample_rows"] == 600
    assert report["met"] and report["recall"] >= 0.9 and report["candidates"]
    assert report["codec"] == table.codec.spec
    assert table.codec.code_bytes <= 384
    assert open_table(table.uri).codec.spec == report["codec"]
    assert table.search(scifact_corpus_emb[3]).limit(1).to_list()[0]["id"] == "doc3"


def test_a_writer_meanwhile_loses_nothing_and_nothing_is_mixed(table, scifact_corpus_emb):
    writer = open_table(table.uri)
    errors: list[BaseException] = []

    def add() -> None:
        try:
            for b in range(6):
                lo = 2000 + 50 * b
                writer.add(rows(scifact_corpus_emb[lo:lo + 50], start=lo))
        except BaseException as exc:
            errors.append(exc)

    th = threading.Thread(target=add)
    th.start()
    table.requantize("sq:bits=6")
    th.join(timeout=120)
    assert not errors, errors
    t = open_table(table.uri)
    ids = t.to_arrow().column("id").to_pylist()
    assert len(ids) == len(set(ids)) == 2300
    assert t.codec.spec.startswith("sq:bits=6")
    assert _cos_all(t, scifact_corpus_emb) > 0.98  # every row under the one codec
    for v in t.versions():  # every version ever committed decodes whole with its own codec
        old = t.checkout(v["version"])
        if old.count_rows():
            assert _cos_all(old, scifact_corpus_emb) > 0.98


def test_requantize_small_and_empty_tables(tmp_path, scifact_corpus_emb):
    t = create_table(str(tmp_path / "e.lance"))
    with pytest.raises(InvalidInputError, match="no rows"):
        t.requantize(target_recall=0.9)
    report = t.requantize("sq:bits=4")
    assert report["rows"] == 0 and t.meta.codec_spec == "sq:bits=4"
    t.add(rows(scifact_corpus_emb[:20]))
    assert t.meta.provisional and t.codec.code_bytes == 192  # provisional with the new target
    small = t.requantize("sq:bits=8")
    assert small["recall"] is None and not t.meta.provisional and t.codec.code_bytes == 384
    assert t.search(scifact_corpus_emb[4]).limit(1).to_list()[0]["id"] == "doc4"


def test_bad_requests(table, tmp_path, scifact_corpus_emb):
    v = table.version
    with pytest.raises(InvalidInputError, match="exactly one"):
        table.requantize()
    with pytest.raises(InvalidInputError, match="exactly one"):
        table.requantize("sq:bits=4", target_recall=0.9)
    with pytest.raises(InvalidParameterError):
        table.requantize("sq:bits=3")
    with pytest.raises(InvalidParameterError):
        table.requantize(target_recall=1.5)
    with pytest.raises(InvalidParameterError):
        table.requantize("sq:bits=4", sample=0)
    with pytest.raises(TableError, match="read-only"):
        table.checkout(v).requantize("sq:bits=4")
    assert table.version == v
    along = create_table(str(tmp_path / "a.lance"), rows(scifact_corpus_emb[:600]),
                         mode="alongside", fit_rows=300, progress=False)
    along.create_vector_index("IVF_PQ", num_partitions=2, num_sub_vectors=8)
    with pytest.raises(TableError, match="vector index"):
        along.requantize("sq:bits=4")
