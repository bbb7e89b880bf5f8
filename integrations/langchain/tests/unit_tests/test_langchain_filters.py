"""Dict filters -> Lance SQL, checked against a Python reference on a real Lance JSON column.

Hypothesis draws filters (every operator, nested $and/$or/$not); the documents have differing
keys and mixed value types (ints, floats, strings, booleans, null, lists).
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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_lance_spiral.filters import filter_to_sql

from lance_spiral.errors import InvalidInputError

KEYS = ["a", "b", "c", "it's"]
SCALARS: list[Any] = [-3, -1, 0, 1, 2, 2.0, 2.5, -0.5, "x", "y", "xy", "it's", "", True, False,
                      None]


def _docs() -> list[dict[str, Any]]:
    rng = np.random.default_rng(7)
    docs = []
    for _ in range(80):
        doc: dict[str, Any] = {}
        for key in KEYS:
            r = rng.random()
            if r < 0.25:
                continue
            if r < 0.35:
                doc[key] = [SCALARS[int(i)] for i in rng.integers(0, 10, size=2)]
            else:
                doc[key] = SCALARS[int(rng.integers(0, len(SCALARS)))]
        docs.append(doc)
    return docs


DOCS = _docs()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> lance.LanceDataset:
    table = pa.table({
        "id": pa.array([str(i) for i in range(len(DOCS))]),
        "metadata": pa.array([json.dumps(d) for d in DOCS], pa.json_(pa.utf8())),
    })
    return lance.write_dataset(table, str(tmp_path_factory.mktemp("lc-filters") / "d.lance"))


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _eq(doc: dict[str, Any], key: str, value: Any) -> bool:
    if key not in doc:
        return False
    got = doc[key]
    if _num(value):
        return _num(got) and math.isclose(float(got), float(value), rel_tol=0, abs_tol=0)
    if isinstance(value, bool) or value is None:
        return got is value
    return isinstance(got, str) and got == value


def _cmp(doc: dict[str, Any], key: str, op: str, value: Any) -> bool:
    got = doc.get(key)
    if _num(value) and _num(got):
        a, b = float(got), float(value)
    elif isinstance(value, str) and isinstance(got, str):
        a, b = got, value  # type: ignore[assignment]
    else:
        return False
    return {"$gt": a > b, "$gte": a >= b, "$lt": a < b, "$lte": a <= b}[op]


def _match(doc: dict[str, Any], flt: dict[str, Any]) -> bool:
    out = True
    for key, cond in flt.items():
        if key == "$and":
            ok = all(_match(doc, f) for f in cond)
        elif key == "$or":
            ok = any(_match(doc, f) for f in cond)
        elif key == "$not":
            ok = not _match(doc, cond)
        elif not isinstance(cond, dict):
            ok = _eq(doc, key, cond)
        else:
            ok = True
            for op, value in cond.items():
                if op == "$eq":
                    ok &= _eq(doc, key, value)
                elif op == "$ne":
                    ok &= not _eq(doc, key, value)
                elif op in ("$gt", "$gte", "$lt", "$lte"):
                    ok &= _cmp(doc, key, op, value)
                elif op == "$in":
                    ok &= any(_eq(doc, key, v) for v in value)
                elif op == "$nin":
                    ok &= not any(_eq(doc, key, v) for v in value)
                elif op == "$exists":
                    ok &= (key in doc) == value
                elif op == "$contains":
                    got = doc.get(key)
                    ok &= isinstance(got, list) and any(
                        (g is value) if isinstance(value, bool) else (
                            not isinstance(g, bool) and g == value) for g in got)
                else:  # pragma: no cover - strategy only draws the operators above
                    raise AssertionError(op)
        out = out and ok
    return out


keys = st.sampled_from(KEYS)
ordered = st.sampled_from([-1, 0, 2, 2.5, "x", "xy", ""])
scalar = st.sampled_from(SCALARS)
leaf = st.one_of(
    st.builds(lambda k, v: {k: v}, keys, scalar),
    st.builds(lambda k, op, v: {k: {op: v}}, keys, st.sampled_from(["$eq", "$ne"]), scalar),
    st.builds(lambda k, op, v: {k: {op: v}}, keys,
              st.sampled_from(["$gt", "$gte", "$lt", "$lte"]), ordered),
    st.builds(lambda k, op, v: {k: {op: v}}, keys, st.sampled_from(["$in", "$nin"]),
              st.lists(scalar, max_size=3)),
    st.builds(lambda k, v: {k: {"$exists": v}}, keys, st.booleans()),
    st.builds(lambda k, v: {k: {"$contains": v}}, keys, st.sampled_from([1, "x", 2.5, True])),
)
filters = st.recursive(
    leaf,
    lambda sub: st.one_of(
        st.builds(lambda fs: {"$and": fs}, st.lists(sub, min_size=1, max_size=3)),
        st.builds(lambda fs: {"$or": fs}, st.lists(sub, min_size=1, max_size=3)),
        st.builds(lambda f: {"$not": f}, sub),
    ),
    max_leaves=5,
)


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flt=filters)
def test_sql_selects_what_the_python_reference_selects(
    dataset: lance.LanceDataset, flt: dict[str, Any]
) -> None:
    sql = filter_to_sql(flt)
    assert sql is not None
    got = set(dataset.to_table(filter=sql, columns=["id"]).column("id").to_pylist())
    want = {str(i) for i, d in enumerate(DOCS) if _match(d, flt)}
    assert got == want, sql


def test_like_ilike_between_and_raw_sql(dataset: lance.LanceDataset, tmp_path: Path) -> None:
    def run(flt: Any) -> set[str]:
        sql = filter_to_sql(flt)
        assert sql is not None
        return set(dataset.to_table(filter=sql, columns=["id"]).column("id").to_pylist())

    strings = {str(i) for i, d in enumerate(DOCS) if isinstance(d.get("a"), str)}
    assert run({"a": {"$like": "x%"}}) == {
        i for i in strings if DOCS[int(i)]["a"].startswith("x")}
    assert run({"a": {"$ilike": "X_"}}) == {i for i in strings if DOCS[int(i)]["a"] == "xy"}
    assert run({"b": {"$between": [0, 2]}}) == {
        str(i) for i, d in enumerate(DOCS) if _num(d.get("b")) and 0 <= d["b"] <= 2}
    with pytest.raises(InvalidInputError, match="sql="):
        filter_to_sql("id = '3'")  # raw SQL only through the stores' sql= opt-in
    assert filter_to_sql(None) is None and filter_to_sql({}) is None
