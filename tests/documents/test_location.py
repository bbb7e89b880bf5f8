"""Where a document table lives: table URIs, database folders with names, Chroma's spelling."""

from __future__ import annotations

from pathlib import Path

import pytest

from lance_spiral.documents import resolve_location, table_uri
from lance_spiral.documents.location import drop_table, table_exists
from lance_spiral.errors import InvalidParameterError


def test_spellings(tmp_path: Path) -> None:
    db = str(tmp_path)
    assert resolve_location(tmp_path / "t.lance", default_name="x") == f"{db}/t.lance"
    assert resolve_location(db, table_name="docs", default_name="x") == f"{db}/docs.lance"
    assert resolve_location(persist_directory=db, default_name="langchain") == (
        f"{db}/langchain.lance")
    assert resolve_location(persist_directory=db, collection_name="c", default_name="x") == (
        f"{db}/c.lance")
    assert resolve_location(default_name="x") is None
    assert resolve_location(collection_name="only", default_name="x") is None
    assert table_uri("s3://bucket/db/", "t") == "s3://bucket/db/t.lance"


def test_bad_spellings(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="not both"):
        resolve_location(tmp_path, persist_directory=tmp_path, default_name="x")
    with pytest.raises(InvalidParameterError, match="not both"):
        resolve_location(tmp_path, table_name="a", collection_name="b", default_name="x")
    for name in ("", "../up", "a/b", "x.lance", ".hidden", "sp ace"):
        with pytest.raises(InvalidParameterError, match="table name"):
            resolve_location(tmp_path, table_name=name, default_name="x")
    with pytest.raises(InvalidParameterError, match="uri"):
        resolve_location("", default_name="x")


def test_exists_and_drop(tmp_path: Path) -> None:
    import lance
    import pyarrow as pa

    uri = str(tmp_path / "d.lance")
    assert not table_exists(uri)
    lance.write_dataset(pa.table({"a": [1]}), uri)
    (tmp_path / "d.lance" / "_lance_spiral").mkdir()
    assert table_exists(uri)
    drop_table(uri)
    assert not (tmp_path / "d.lance").exists()
    drop_table(uri)  # absent: no error
