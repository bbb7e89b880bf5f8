"""Chroma's where_document filters compiled to SQL, checked on a real Lance dataset of SciFact."""

from __future__ import annotations

import json
import re
from pathlib import Path

import lance
import pyarrow as pa
import pytest

from lance_spiral.documents import where_document_sql
from lance_spiral.errors import InvalidInputError


@pytest.fixture(scope="module")
def texts(shared_data: Path) -> list[str]:
    lines = (shared_data / "scifact" / "corpus.jsonl").read_text().splitlines()[:200]
    out = [f"{d['title']} {d['text']}" for d in map(json.loads, lines)]
    return [*out, "it's 100% \\ odd", "O'Brien"]


@pytest.fixture(scope="module")
def dataset(texts: list[str], tmp_path_factory: pytest.TempPathFactory) -> lance.LanceDataset:
    table = pa.table({"id": [str(i) for i in range(len(texts))], "text": texts})
    return lance.write_dataset(table, str(tmp_path_factory.mktemp("wd") / "t.lance"))


def _run(ds: lance.LanceDataset, flt: dict) -> set[int]:
    sql = where_document_sql(flt)
    assert sql is not None
    return {int(i) for i in ds.to_table(columns=["id"], filter=sql).column("id").to_pylist()}


CASES = [
    ({"$contains": "cancer"}, lambda t: "cancer" in t),
    ({"$contains": "Cancer"}, lambda t: "Cancer" in t),
    ({"$not_contains": "the"}, lambda t: "the" not in t),
    ({"$contains": "O'Brien"}, lambda t: "O'Brien" in t),
    ({"$contains": "100% \\"}, lambda t: "100% \\" in t),
    ({"$regex": r"\bp53\b"}, lambda t: re.search(r"\bp53\b", t) is not None),
    ({"$not_regex": "[0-9]{4}"}, lambda t: re.search("[0-9]{4}", t) is None),
    ({"$and": [{"$contains": "cell"}, {"$or": [{"$contains": "mice"}, {"$regex": "^A"}]}]},
     lambda t: "cell" in t and ("mice" in t or t.startswith("A"))),
]


@pytest.mark.parametrize(("flt", "pred"), CASES, ids=[json.dumps(c[0]) for c in CASES])
def test_matches_python_substring_and_regex(dataset: lance.LanceDataset, texts: list[str],
                                            flt: dict, pred: object) -> None:
    want = {i for i, t in enumerate(texts) if pred(t)}  # type: ignore[operator]
    assert _run(dataset, flt) == want


def test_malformed_filters_raise() -> None:
    assert where_document_sql(None) is None and where_document_sql({}) is None
    for bad in ({"$contains": "a", "$regex": "b"}, {"$startswith": "a"}, {"$contains": 3},
                {"$contains": ""}, {"$and": {"$contains": "a"}}, {"$or": []}, "cancer"):
        with pytest.raises(InvalidInputError):
            where_document_sql(bad)  # type: ignore[arg-type]
