"""Creating and opening tables: empty, tiny, medium; plain Lance/LanceDB compatibility."""

from __future__ import annotations

import lance
import lancedb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from lance_spiral.errors import (
    DimensionError,
    DTypeError,
    InvalidInputError,
    InvalidParameterError,
    NonFiniteError,
    NotFoundError,
    TableError,
)
from lance_spiral.table import create_table, open_table
from tests.support.tables import rows


def test_empty_table_learns_dim_on_first_add(tmp_path, scifact_corpus_emb):
    t = create_table(str(tmp_path / "t.lance"))
    assert t.count_rows() == 0 and t.dim is None
    assert t.search(scifact_corpus_emb[0]).limit(3).to_list() == []
    t.add(rows(scifact_corpus_emb[:2]))
    assert t.dim == 384 and t.count_rows() == 2
    t.add(rows(scifact_corpus_emb[2:5], start=2))
    assert t.count_rows() == 5
    res = t.search(scifact_corpus_emb[3]).limit(2).to_list()
    assert res[0]["id"] == "doc3"
    assert res[0]["_score"] > 0.99
    assert set(res[0]) == {"id", "year", "title", "_score"}


def test_empty_with_dim_then_tiny_adds(tmp_path, scifact_corpus_emb):
    t = create_table(str(tmp_path / "t.lance"), dim=384, metric="cosine")
    assert t.dim == 384
    with pytest.raises(DimensionError):
        t.add(rows(np.ones((2, 16), np.float32)))
    for i in range(0, 9, 3):
        t.add(rows(scifact_corpus_emb[i:i + 3], start=i))
    assert t.count_rows() == 9 and t.meta.provisional
    for i in range(9):
        assert t.search(scifact_corpus_emb[i]).limit(1).to_list()[0]["id"] == f"doc{i}"


def test_crossing_fit_rows_refits_in_one_commit(tmp_path, scifact_corpus_emb):
    t = create_table(str(tmp_path / "t.lance"), fit_rows=50)
    t.add(rows(scifact_corpus_emb[:30]))
    assert t.meta.provisional
    v = t.version
    t.add(rows(scifact_corpus_emb[30:60], start=30))
    assert t.version == v + 1
    assert not t.meta.provisional and t.count_rows() == 60
    assert t.codec is not None and t.codec.name == "sq"
    old = t.checkout(v)
    assert old.count_rows() == 30 and old.meta.provisional
    for i in (0, 31, 59):
        assert t.search(scifact_corpus_emb[i]).limit(1).to_list()[0]["id"] == f"doc{i}"


@pytest.mark.parametrize("kind", ["arrow", "pandas", "dicts", "columns", "batches"])
def test_input_kinds(tmp_path, docs, kind):
    n = 300
    cols = {k: v[:n] for k, v in docs.items()}
    if kind == "arrow":
        data = pa.table({"id": cols["id"], "vector": [list(v) for v in cols["vector"]],
                         "year": cols["year"], "title": cols["title"]})
    elif kind == "pandas":
        data = pd.DataFrame({"id": cols["id"], "vector": list(cols["vector"]),
                             "year": cols["year"], "title": cols["title"]})
    elif kind == "dicts":
        data = rows(cols["vector"])
    elif kind == "columns":
        data = cols
    else:
        data = iter([rows(cols["vector"][:100]), rows(cols["vector"][100:], start=100)])
    t = create_table(str(tmp_path / "t.lance"), data, progress=False)
    assert t.count_rows() == n
    assert t.get(["doc7"]).to_pylist() == [{"id": "doc7", "year": 1997, "title": "title 7"}]


def test_plain_lance_and_lancedb_can_open(tmp_path, docs):
    create_table(str(tmp_path / "docs.lance"), docs, progress=False)
    ds = lance.dataset(str(tmp_path / "docs.lance"))
    assert ds.count_rows() == 2000
    db = lancedb.connect(str(tmp_path))
    tbl = db.open_table("docs")
    assert tbl.count_rows() == 2000
    assert "vector_codes" in tbl.schema.names
    assert tbl.search().where("year = 1995").limit(5).to_arrow().num_rows == 5


def test_medium_table_codes_are_small(tmp_path, docs):
    t = create_table(str(tmp_path / "t.lance"), docs, progress=False)
    assert not t.meta.provisional
    assert t.codec.code_bytes == 384
    float_bytes = 2000 * 384 * 4
    assert t.disk_bytes() < 0.45 * float_bytes


def test_exists_and_open_errors(tmp_path, docs):
    uri = str(tmp_path / "t.lance")
    create_table(uri, rows(docs["vector"][:3]))
    with pytest.raises(TableError, match="already exists"):
        create_table(uri)
    assert create_table(uri, exist_ok=True).count_rows() == 3
    with pytest.raises(NotFoundError):
        open_table(str(tmp_path / "missing.lance"))
    plain = str(tmp_path / "plain.lance")
    lance.write_dataset(pa.table({"a": [1]}), plain)
    with pytest.raises(NotFoundError, match="not a lance-spiral table"):
        open_table(plain)


def test_bad_parameters(tmp_path):
    uri = str(tmp_path / "t.lance")
    with pytest.raises(InvalidParameterError):
        create_table(uri, mode="fast")
    with pytest.raises(InvalidParameterError):
        create_table(uri, metric="hamming")
    with pytest.raises(InvalidParameterError):
        create_table(uri, dim=0)
    with pytest.raises(InvalidParameterError):
        create_table(uri, vector_column="_v")


def test_bad_rows(tmp_path, scifact_corpus_emb):
    t = create_table(str(tmp_path / "t.lance"), rows(scifact_corpus_emb[:3]))
    bad = rows(scifact_corpus_emb[3:5], start=3)
    bad[0]["vector"] = np.full(384, np.nan, np.float32)
    with pytest.raises(NonFiniteError):
        t.add(bad)
    with pytest.raises(DimensionError):
        t.add([{"id": "x", "vector": [0.1] * 384}, {"id": "y", "vector": [0.1] * 10}])
    with pytest.raises(InvalidInputError, match="no vector column"):
        t.add([{"id": "x", "emb": [0.1] * 384}])
    with pytest.raises(InvalidInputError, match="null id"):
        t.add({"id": [None], "vector": scifact_corpus_emb[:1]})
    with pytest.raises(DTypeError):
        t.add("not data")
    with pytest.raises(InvalidInputError, match="columns the table does not"):
        t.add([{"id": "z", "vector": scifact_corpus_emb[9], "other": 1}])
    assert t.add([]) == 0
    assert t.count_rows() == 3


def test_codes_column_is_extension_typed_and_decodable(tmp_path, docs):
    from lance_spiral.arrow import EncodedVectorType, decode_column

    uri = str(tmp_path / "t.lance")
    t = create_table(uri, docs, progress=False)
    col = lance.dataset(uri).to_table(columns=["vector_codes"]).column(0)
    assert isinstance(col.type, EncodedVectorType)
    assert col.type.codec_name == "sq" and col.type.params_ref == t.meta.codec_file
    dec = decode_column(col)
    ref = docs["vector"] / np.linalg.norm(docs["vector"], axis=1, keepdims=True)
    cos = (dec * ref).sum(1) / np.linalg.norm(dec, axis=1)
    assert float(cos.min()) > 0.998
