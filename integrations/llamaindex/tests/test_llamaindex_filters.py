"""MetadataFilters -> Lance SQL, checked against LlamaIndex's own in-memory filter semantics.

The oracle is ``llama_index.core.vector_stores.utils.build_metadata_filter_fn`` (the semantics of
LlamaIndex's SimpleVectorStore); the SQL runs on a real Lance dataset with a JSON column.
"""

from __future__ import annotations

import json
from typing import Any

import lance
import pyarrow as pa
import pytest
from lance_spiral_llamaindex.filters import filters_to_sql
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)
from llama_index.core.vector_stores.utils import build_metadata_filter_fn

from lance_spiral.errors import InvalidInputError

DOCS: dict[str, dict[str, Any]] = {
    "a": {"author": "alice", "year": 2020, "score": 0.5, "tags": ["x", "y"], "title": "Deep Nets"},
    "b": {"author": "bob", "year": 2021, "score": 1.5, "tags": ["y"], "title": "deep sea 100%"},
    "c": {"author": "carol", "year": 2019.0, "tags": [], "title": ""},
    "d": {"author": "O'Brien", "year": "2020", "score": None, "tags": ["z", "x"]},
    "e": {},
    "f": {"author": "alice", "year": 2022, "score": -2, "tags": ["x"], "title": "under_score"},
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> lance.LanceDataset:
    path = tmp_path_factory.mktemp("filters") / "docs.lance"
    table = pa.table(
        {
            "id": list(DOCS),
            "metadata": pa.array([json.dumps(m) for m in DOCS.values()], pa.json_(pa.utf8())),
        }
    )
    return lance.write_dataset(table, str(path))


def _run(ds: lance.LanceDataset, filters: MetadataFilters) -> set[str]:
    sql = filters_to_sql(filters)
    assert sql is not None
    return set(ds.to_table(filter=sql, columns=["id"]).column("id").to_pylist())


def _oracle_one(flt: MetadataFilter, doc: dict[str, Any]) -> bool:
    fn = build_metadata_filter_fn(lambda _: doc, MetadataFilters(filters=[flt]))
    try:
        return fn("x")
    except TypeError:  # the oracle raises on type mismatches ("a" > 1): no match
        return False


def _oracle(filters: MetadataFilters, doc: dict[str, Any]) -> bool:
    hits = [
        _oracle(f, doc) if isinstance(f, MetadataFilters) else _oracle_one(f, doc)
        for f in filters.filters
    ]
    if filters.condition == FilterCondition.OR:
        return any(hits)
    if filters.condition == FilterCondition.NOT:
        return not any(hits)
    return all(hits)


def _expected(filters: MetadataFilters) -> set[str]:
    return {i for i, doc in DOCS.items() if _oracle(filters, doc)}


CASES: list[tuple[str, FilterOperator, Any]] = [
    ("author", FilterOperator.EQ, "alice"),
    ("author", FilterOperator.EQ, "O'Brien"),
    ("year", FilterOperator.EQ, 2020),
    ("year", FilterOperator.EQ, 2019),
    ("year", FilterOperator.EQ, "2020"),
    ("author", FilterOperator.NE, "alice"),
    ("year", FilterOperator.NE, 2020),
    ("year", FilterOperator.GT, 2020),
    ("year", FilterOperator.GTE, 2020),
    ("year", FilterOperator.LT, 2021),
    ("year", FilterOperator.LTE, 2020.5),
    ("score", FilterOperator.GT, 0.0),
    ("score", FilterOperator.LTE, 0.5),
    ("author", FilterOperator.GT, "b"),
    ("author", FilterOperator.IN, ["alice", "carol"]),
    ("year", FilterOperator.IN, [2019, 2021]),
    ("author", FilterOperator.NIN, ["alice", "carol"]),
    ("year", FilterOperator.NIN, [2020]),
    ("tags", FilterOperator.CONTAINS, "x"),
    ("title", FilterOperator.CONTAINS, "eep"),
    ("tags", FilterOperator.ANY, ["z", "y"]),
    ("tags", FilterOperator.ALL, ["x", "y"]),
    ("tags", FilterOperator.ALL, ["x"]),
    ("title", FilterOperator.TEXT_MATCH, "deep"),
    ("title", FilterOperator.TEXT_MATCH, "100%"),
    ("title", FilterOperator.TEXT_MATCH, "r_s"),
    ("title", FilterOperator.TEXT_MATCH_INSENSITIVE, "DEEP"),
    ("title", FilterOperator.IS_EMPTY, None),
    ("tags", FilterOperator.IS_EMPTY, None),
    ("score", FilterOperator.IS_EMPTY, None),
]


@pytest.mark.parametrize(
    ("key", "op", "value"), CASES, ids=[f"{k}-{o.value}-{v}" for k, o, v in CASES]
)
def test_every_operator_matches_llamaindex_semantics(
    dataset: lance.LanceDataset, key: str, op: FilterOperator, value: Any
) -> None:
    filters = MetadataFilters(filters=[MetadataFilter(key=key, operator=op, value=value)])
    assert _run(dataset, filters) == _expected(filters)


def test_every_operator_is_covered() -> None:
    assert {op for _, op, _ in CASES} == set(FilterOperator)


def test_not_equal_is_a_real_inequality(dataset: lance.LanceDataset) -> None:
    filters = MetadataFilters(filters=[MetadataFilter(key="title", operator="!=", value="deep")])
    sql = filters_to_sql(filters)
    assert sql is not None and "LIKE 'deep'" not in sql
    # "deep sea 100%" contains "deep" but is not equal to it: it must match.
    assert "b" in _run(dataset, filters)
    assert _run(dataset, filters) == _expected(filters)


@pytest.mark.parametrize("condition", list(FilterCondition))
def test_nested_conditions(dataset: lance.LanceDataset, condition: FilterCondition) -> None:
    inner_or = MetadataFilters(
        filters=[
            MetadataFilter(key="author", value="bob"),
            MetadataFilter(key="year", operator=FilterOperator.LT, value=2020),
        ],
        condition=FilterCondition.OR,
    )
    inner_not = MetadataFilters(
        filters=[MetadataFilter(key="tags", operator=FilterOperator.CONTAINS, value="z")],
        condition=FilterCondition.NOT,
    )
    filters = MetadataFilters(filters=[inner_or, inner_not], condition=condition)
    got = _run(dataset, filters)
    assert got == _expected(filters)
    deep = MetadataFilters(filters=[filters, MetadataFilter(key="author", value="alice")],
                           condition=FilterCondition.OR)
    assert _run(dataset, deep) == _expected(deep)


def test_empty_filters_are_no_filter() -> None:
    assert filters_to_sql(None) is None
    assert filters_to_sql(MetadataFilters(filters=[])) is None


def test_malformed_filters_raise() -> None:
    with pytest.raises(InvalidInputError, match="needs a list"):
        filters_to_sql(MetadataFilters(filters=[MetadataFilter(key="a", operator="in", value=1)]))
    with pytest.raises(InvalidInputError, match="needs a string"):
        filters_to_sql(
            MetadataFilters(filters=[MetadataFilter(key="a", operator="text_match", value=3)])
        )
