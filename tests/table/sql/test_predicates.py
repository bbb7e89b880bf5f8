"""JSON-metadata predicates on a real Lance JSON column, checked against a Python oracle.

List membership (``array_contains``) is type-exact: JSON equality, never text equality.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import lance
import numpy as np
import pyarrow as pa
import pytest

from lance_spiral.errors import InvalidInputError
from lance_spiral.table.sql import predicates as pr

# Values whose text forms collide across types ("1" / 1 / 1.0 / true / "true"), edge numbers,
# and strings the SQL and JSONPath layers must escape.
VALUES: list[Any] = [
    1, 2, 0, -1, 1.0, 1.5, -1.5, 2.5e-8, 1e20, 2**53 + 1, 2**63, "1", "2", "1.0", "true",
    "null", "", "a", "é", "😀", "it's", 'q"b', "back\\slash", "a,b]", True, False, None,
]
KEYS = ["tags", "it's 😀 \"k\""]


def _docs() -> list[dict[str, Any]]:
    rng = np.random.default_rng(3)
    docs: list[dict[str, Any]] = [
        {"tags": [1, 2]}, {"tags": ["1", "2"]}, {"tags": [True]}, {"tags": ["true"]},
        {"tags": [1.0]}, {"tags": [1]}, {"tags": "1"}, {"tags": 1}, {"tags": [[1]]},
        {"tags": [[1], 1]}, {"tags": [{"tags": 1}]}, {"tags": []}, {"tags": [None]},
        {"tags": [""]}, {"other": [1]}, {"tags": [0, False]}, {"tags": [-0.0]},
    ]
    for _ in range(250):
        picks = rng.integers(0, len(VALUES), rng.integers(0, 5))
        items: list[Any] = [VALUES[int(i)] for i in picks]
        if rng.random() < 0.1:
            items.append([VALUES[int(rng.integers(0, len(VALUES)))]])
        if rng.random() < 0.05:
            items.append({"x": VALUES[int(rng.integers(0, len(VALUES)))]})
        r = rng.random()
        if r < 0.08:
            docs.append({"other": items})
        elif r < 0.16:
            docs.append({KEYS[0]: VALUES[int(rng.integers(0, len(VALUES)))]})
        else:
            docs.append({KEYS[0]: items, KEYS[1]: list(reversed(items))})
    return docs


DOCS = _docs()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> lance.LanceDataset:
    table = pa.table({
        "i": pa.array(range(len(DOCS)), pa.int64()),
        "metadata": pa.array([json.dumps(d) for d in DOCS], pa.json_(pa.utf8())),
    })
    path = Path(tmp_path_factory.mktemp("predicates")) / "d.lance"
    return lance.write_dataset(table, str(path))


def _rows(ds: lance.LanceDataset, where: str) -> list[int]:
    return sorted(ds.to_table(columns=["i"], filter=where).column("i").to_pylist())


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: numbers as numbers, booleans and null only equal themselves."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if a is None or b is None:
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return isinstance(a, str) and isinstance(b, str) and a == b


def contains_oracle(key: str, value: Any) -> list[int]:
    return [i for i, d in enumerate(DOCS)
            if isinstance(d.get(key), list) and any(json_equal(e, value) for e in d[key])]


def test_the_reported_confusions_are_gone(dataset: lance.LanceDataset) -> None:
    def hits(value: Any) -> list[int]:
        return [i for i in _rows(dataset, pr.array_contains("metadata", "tags", value)) if i < 17]

    assert 0 not in hits("1") and 1 in hits("1")  # "1" does not match [1, 2]
    assert 0 in hits(1) and 1 not in hits(1)  # 1 does not match ["1", "2"]
    assert 2 not in hits("true") and 3 in hits("true")  # "true" does not match [true]
    assert 2 in hits(True) and 3 not in hits(True)
    assert {4, 5} <= set(hits(1.0)) and {4, 5} <= set(hits(1))  # 1.0 matches [1], 1 [1.0]
    assert 15 in hits(0) and 15 in hits(False) and 2 not in hits(1)  # bools are not numbers
    assert 16 in hits(0)  # -0.0 == 0
    assert 6 not in hits(1) and 6 not in hits("1") and 7 not in hits(1)  # not lists
    assert 8 not in hits(1) and 9 in hits(1) and 10 not in hits(1)  # own elements only
    assert 12 in hits(None) and 13 in hits("") and 11 not in hits("")
    assert 14 not in hits(1)  # another key


@pytest.mark.parametrize("key", KEYS)
def test_membership_matches_the_oracle_for_every_value(
    dataset: lance.LanceDataset, key: str
) -> None:
    for value in [*VALUES, 2**70, -(2**63)]:
        pred = pr.array_contains("metadata", key, value)
        got = _rows(dataset, pred)
        assert got == contains_oracle(key, value), (key, value)
        # NOT is a true complement: a document without the list matches the negation.
        assert sorted(got + _rows(dataset, pr.not_(pred))) == list(range(len(DOCS)))


def test_any_and_all_combinations_match_the_oracle(dataset: lance.LanceDataset) -> None:
    for values in (["1", 1], [True, "true"], [1.0, "a"], ["é", None, 2]):
        preds = [pr.array_contains("metadata", "tags", v) for v in values]
        assert _rows(dataset, pr.or_(preds)) == sorted(
            set().union(*(contains_oracle("tags", v) for v in values)))
        assert _rows(dataset, pr.and_(preds)) == sorted(
            set.intersection(*(set(contains_oracle("tags", v)) for v in values)))


@pytest.mark.parametrize("bad", [math.nan, math.inf, [1], {"a": 1}, b"1", np.int64(1)])
def test_unsupported_membership_values_are_refused(bad: Any) -> None:
    with pytest.raises(InvalidInputError, match="membership"):
        pr.array_contains("metadata", "tags", bad)


@pytest.mark.parametrize("key", ["", None, 3])
def test_bad_keys_are_refused(key: Any) -> None:
    with pytest.raises(InvalidInputError, match="key"):
        pr.array_contains("metadata", key, 1)


def test_scalar_predicates_match_the_oracle(dataset: lance.LanceDataset) -> None:
    docs = [{"v": v} for v in VALUES] + [{"w": 1}, {"v": [1]}]
    table = pa.table({"i": pa.array(range(len(docs)), pa.int64()),
                      "metadata": pa.array([json.dumps(d) for d in docs], pa.json_(pa.utf8()))})
    ds = lance.write_dataset(table, dataset.uri.replace("d.lance", "s.lance"))

    def oracle(test: Any) -> list[int]:
        return [i for i, d in enumerate(docs) if test(d)]

    for value in ("1", 1, 1.0, True, None, ""):
        assert _rows(ds, pr.compare("metadata", "v", "=", value)) == oracle(
            lambda d, v=value: "v" in d and json_equal(d["v"], v)), value
    assert _rows(ds, pr.compare("metadata", "v", ">", 1)) == oracle(
        lambda d: isinstance(d.get("v"), int | float) and not isinstance(d["v"], bool)
        and d["v"] > 1)
    assert _rows(ds, pr.one_of("metadata", "v", ["a", 0])) == oracle(
        lambda d: "v" in d and any(json_equal(d["v"], x) for x in ("a", 0)))
    assert _rows(ds, pr.exists("metadata", "v")) == oracle(lambda d: "v" in d)
    assert _rows(ds, pr.is_empty("metadata", "v")) == oracle(
        lambda d: d.get("v") in (None, "") or d.get("v") == [])
    assert _rows(ds, pr.like("metadata", "v", "%a%")) == oracle(
        lambda d: isinstance(d.get("v"), str) and "a" in d["v"])
