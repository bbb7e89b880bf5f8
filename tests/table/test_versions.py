"""Versions: list, checkout (read-only), restore, compact; side files stay per version."""

from __future__ import annotations

import pytest

from lance_spiral.errors import NotFoundError, TableError
from lance_spiral.table import create_table, open_table
from tests.support.tables import rows


def test_versions_checkout_restore_compact(tmp_path, docs, scifact_corpus_emb):
    uri = str(tmp_path / "t.lance")
    t = create_table(uri, docs, progress=False)
    v1 = t.version
    t.add(rows(scifact_corpus_emb[2000:2010], start=2000))
    t.delete({"year": {"$lt": 1995}})
    vs = t.versions()
    assert [v["version"] for v in vs] == list(range(1, t.version + 1))
    assert all("timestamp" in v for v in vs)
    old = t.checkout(v1)
    assert old.count_rows() == 2000
    assert old.search(scifact_corpus_emb[2005]).limit(1).to_list()[0]["id"] != "doc2005"
    with pytest.raises(TableError, match="read-only"):
        old.add(rows(scifact_corpus_emb[:1]))
    n_now = t.count_rows()
    t.restore(v1)
    assert t.count_rows() == 2000 and t.version == len(vs) + 1
    assert open_table(uri).count_rows() == 2000
    assert open_table(uri, version=len(vs)).count_rows() == n_now
    t.add(rows(scifact_corpus_emb[2000:2003], start=2000))
    t.delete({"year": 1999})
    before = t.search(scifact_corpus_emb[2001]).limit(3).to_list()
    t.compact()
    assert t.search(scifact_corpus_emb[2001]).limit(3).to_list() == before
    assert t.count_rows() == 2003 - 67
    with pytest.raises(NotFoundError):
        t.checkout(999)
    with pytest.raises(NotFoundError):
        t.restore(999)


def test_checkout_across_refit_uses_old_codec(tmp_path, scifact_corpus_emb):
    uri = str(tmp_path / "t.lance")
    t = create_table(uri, rows(scifact_corpus_emb[:5]), fit_rows=40)
    v_small = t.version
    t.add(rows(scifact_corpus_emb[5:50], start=5))
    assert not t.meta.provisional
    old = open_table(uri, version=v_small)
    assert old.meta.provisional and old.meta.codec_file != t.meta.codec_file
    assert old.search(scifact_corpus_emb[2]).limit(1).to_list()[0]["id"] == "doc2"
    t.restore(v_small)
    assert t.meta.provisional and t.count_rows() == 5
    t.add(rows(scifact_corpus_emb[5:6], start=5))
    assert t.search(scifact_corpus_emb[5]).limit(1).to_list()[0]["id"] == "doc5"
