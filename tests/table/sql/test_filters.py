"""Dict filters compiled to Lance SQL, checked against a Python oracle on a real Lance dataset."""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import re
from pathlib import Path
from typing import Any

import lance
import numpy as np
import pyarrow as pa
import pytest

from lance_spiral.errors import InvalidInputError
from lance_spiral.table.sql import check_sql, compile_filter, filter_sql

ADVERSARIAL = ["it's", "x\\", "' OR 1=1 --", "a;b", "\\' OR TRUE OR '", "`id`", "%", "line\nbreak"]


def _make_rows(shared_data: Path, n: int = 400) -> list[dict[str, Any]]:
    titles = []
    with open(shared_data / "scifact" / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            titles.append(json.loads(line)["title"])
            if len(titles) == n:
                break
    titles[: len(ADVERSARIAL)] = ADVERSARIAL
    rows = []
    for i, title in enumerate(titles):
        words = re.findall(r"[a-z]+", title.lower())
        rows.append({
            "id": f"d{i}",
            "title": None if i % 17 == 12 else title,
            "year": None if i % 13 == 3 else 1990 + i % 30,
            "score": None if i % 11 == 4 else round(len(title) / 7.0, 3),
            "flag": None if i % 19 == 7 else bool(i % 3),
            "tags": None if i % 23 == 9 else words[:3],
            "nums": None if i % 29 == 2 else [i % 5, i % 7],
            "day": dt.date(2000, 1, 1) + dt.timedelta(days=i % 50),
            "odd col": i % 4,
            "it's": ADVERSARIAL[i % len(ADVERSARIAL)],
            "semi;colon": i % 6,
        })
    return rows


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, shared_data):
    rows = _make_rows(shared_data)
    schema = pa.schema([
        ("id", pa.string()), ("title", pa.string()), ("year", pa.int64()),
        ("score", pa.float64()), ("flag", pa.bool_()), ("tags", pa.list_(pa.string())),
        ("nums", pa.list_(pa.int64())), ("day", pa.date32()), ("odd col", pa.int32()),
        ("it's", pa.string()), ("semi;colon", pa.int8()),
        ("vector_codes", pa.list_(pa.uint8(), 2)),
    ])
    tbl = pa.Table.from_pylist([{**r, "vector_codes": [0, 1]} for r in rows], schema=schema)
    ds = lance.write_dataset(tbl, str(tmp_path_factory.mktemp("f") / "rows.lance"))
    return ds, rows


def _run(ds, flt) -> set[str]:
    sql = compile_filter(flt, ds.schema, protected=["vector_codes"])
    return set(ds.to_table(columns=["id"], filter=sql).column("id").to_pylist())


def _like(pattern: str, value: str) -> bool:
    rx = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, flags=re.S) is not None


def _eq(val: Any, v: Any) -> bool:
    return val is not None and val == v if v is not None else val is None


def _atom(val: Any, op: str, v: Any) -> bool:
    if op == "$eq":
        return _eq(val, v)
    if op == "$ne":
        return not _eq(val, v)
    if op in ("$in", "$nin"):
        hit = any(_eq(val, x) for x in v)
        return hit if op == "$in" else not hit
    if op == "$exists":
        return (val is not None) == v
    if val is None:
        return False
    if op == "$like":
        return _like(v, val)
    if op == "$contains":
        return any(e == v for e in val)
    return {"$gt": val > v, "$gte": val >= v, "$lt": val < v, "$lte": val <= v}[op]


def oracle(row: dict[str, Any], f: dict[str, Any]) -> bool:
    """The documented semantics, evaluated on one Python dict row."""
    out = True
    for key, val in f.items():
        if key == "$and":
            out &= all(oracle(row, g) for g in val)
        elif key == "$or":
            out &= any(oracle(row, g) for g in val)
        elif key == "$not":
            out &= not oracle(row, val)
        elif isinstance(val, dict):
            out &= all(_atom(row[key], op, v) for op, v in val.items())
        else:
            out &= _atom(row[key], "$eq", val)
    return out


def _expect(rows, flt) -> set[str]:
    return {r["id"] for r in rows if oracle(r, flt)}


FIXED = [
    {}, {"year": 1995}, {"year": None}, {"year": {"$ne": 1995}}, {"year": {"$gt": 2010}},
    {"year": {"$gte": 2010, "$lt": 2015}}, {"year": {"$lte": 1991}}, {"year": {"$gt": 2010.5}},
    {"year": {"$lt": 1992.5}}, {"year": 1995.0}, {"year": {"$in": [1990, 1991, None]}},
    {"year": {"$nin": [1990, 1991]}}, {"year": {"$in": []}}, {"year": {"$nin": []}},
    {"score": {"$gt": 10.0}}, {"score": {"$lte": 9}}, {"flag": True}, {"flag": {"$ne": True}},
    {"flag": {"$in": [False, None]}}, {"title": "it's"}, {"title": "x\\"},
    {"title": "' OR 1=1 --"}, {"title": "a;b"}, {"title": "\\' OR TRUE OR '"},
    {"title": {"$like": "%cell%"}}, {"title": {"$like": "_t's"}}, {"title": {"$exists": False}},
    {"tags": {"$contains": "cell"}}, {"tags": {"$exists": False}}, {"nums": {"$contains": 3}},
    {"nums": {"$contains": 3.0}}, {"nums": {"$contains": 2.5}},
    {"day": {"$gte": dt.date(2000, 2, 1)}}, {"odd col": 2}, {"it's": "a;b"},
    {"semi;colon": {"$in": [1, 5]}}, {"$or": [{"year": 1995}, {"flag": False}]},
    {"$and": [{"year": {"$gt": 2000}}, {"$not": {"flag": True}}]}, {"$not": {"year": 1995}},
    {"$not": {"$or": [{"title": {"$like": "A%"}}, {"year": {"$exists": False}}]}},
    {"$or": []}, {"$and": []}, {"year": np.int64(1995)}, {"score": {"$gt": np.float32(10)}},
]


@pytest.mark.parametrize("flt", FIXED, ids=[json.dumps(f, default=str) for f in FIXED])
def test_each_operator_matches_the_oracle(dataset, flt):
    ds, rows = dataset
    assert _run(ds, flt) == _expect(rows, flt)


def _random_filter(rng: random.Random, rows, depth: int = 0) -> dict[str, Any]:
    if depth < 2 and rng.random() < 0.35:
        op = rng.choice(["$and", "$or", "$not"])
        if op == "$not":
            return {op: _random_filter(rng, rows, depth + 1)}
        return {op: [_random_filter(rng, rows, depth + 1) for _ in range(rng.randint(1, 3))]}
    row = rng.choice(rows)
    col = rng.choice(["title", "year", "score", "flag", "tags", "nums", "odd col", "it's"])
    val = row[col]
    if col in ("tags", "nums"):
        if not val or rng.random() < 0.2:
            return {col: {"$exists": rng.random() < 0.5}}
        return {col: {"$contains": rng.choice(val)}}
    if val is None:
        return {col: rng.choice([None, {"$ne": None}, {"$exists": True}])}
    ops = ["$eq", "$ne", "$in", "$nin"]
    if col in ("year", "score", "odd col", "title"):
        ops += ["$gt", "$gte", "$lt", "$lte"]
    if col == "title":
        ops.append("$like")
    op = rng.choice(ops)
    if op in ("$in", "$nin"):
        others = [r[col] for r in rng.sample(rows, 3) if r[col] is not None]
        return {col: {op: [val, *others]}}
    if op == "$like":
        return {col: {op: val[:4] + "%"}}
    return {col: val} if op == "$eq" and rng.random() < 0.5 else {col: {op: val}}


def test_random_filters_match_the_oracle(dataset):
    ds, rows = dataset
    rng = random.Random(22)
    for _ in range(150):
        flt = _random_filter(rng, rows)
        assert _run(ds, flt) == _expect(rows, flt), flt


def test_injection_attempts_match_only_their_own_rows(dataset):
    ds, rows = dataset
    for value in ADVERSARIAL:
        got = _run(ds, {"title": value})
        assert got == {r["id"] for r in rows if r["title"] == value} and len(got) == 1
        got = _run(ds, {"it's": {"$in": [value]}})
        assert got == {r["id"] for r in rows if r["it's"] == value}
        assert len(got) < len(rows)
        assert _run(ds, {"title": {"$like": value}}) <= {r["id"] for r in rows
                                                           if r["title"] is not None}


def test_identifiers_are_always_quoted(dataset):
    ds, _ = dataset
    sql = compile_filter({"semi;colon": 1, "odd col": {"$gt": 1}}, ds.schema)
    assert "`semi;colon`" in sql and "`odd col`" in sql
    with pytest.raises(InvalidInputError, match="cannot be used in a filter"):
        compile_filter({"a`b": 1}, pa.schema([("a`b", pa.int64())]))


@pytest.mark.parametrize(("flt", "match"), [
    ({"year": "1995"}, "holds numbers"),
    ({"year": True}, "holds numbers"),
    ({"title": 1}, "holds strings"),
    ({"flag": 1}, "holds booleans"),
    ({"flag": {"$gt": True}}, "only \\$eq"),
    ({"score": float("nan")}, "non-finite"),
    ({"score": {"$lt": math.inf}}, "non-finite"),
    ({"year": {"$gt": None}}, "cannot take None"),
    ({"year": [1990, 1991]}, "use \\{'\\$in'"),
    ({"year": {"$in": 1990}}, "list of values"),
    ({"year": {"$in": "1990"}}, "list of values"),
    ({"year": {"$in": [1990, "1991"]}}, "holds numbers"),
    ({"year": 2**63}, "out of the range"),
    ({"semi;colon": 300}, "out of the range"),
    ({"year": {"$contains": 1}}, "needs a list column"),
    ({"title": {"$contains": "a"}}, "use \\$like"),
    ({"tags": {"$contains": 1}}, "holds strings"),
    ({"nums": {"$contains": "1"}}, "holds numbers"),
    ({"nums": {"$contains": True}}, "holds numbers"),
    ({"tags": "cell"}, "holds lists"),
    ({"year": {"$like": "19%"}}, "needs a string column"),
    ({"title": {"$like": 3}}, "string pattern"),
    ({"title": {"$exists": 1}}, "True or False"),
    ({"day": dt.datetime(2000, 1, 1)}, "datetime.date"),
    ({"day": "2000-01-01"}, "datetime.date"),
    ({"nope": 1}, "unknown column 'nope'"),
    ({"vector_codes": {"$exists": True}}, "internal"),
    ({"_rowid": 1}, "internal"),
    ({"year": {"$regex": "x"}}, "unknown operator '\\$regex'"),
    ({"year": {}}, "empty dict"),
    ({"$where": "1"}, "unknown filter operator"),
    ({"$and": {"year": 1}}, "list of filters"),
    ({"$or": "year = 1"}, "list of filters"),
    ({"$and": ["year = 1"]}, "use sql=|raw SQL"),
    ({1: 2}, "keys must be strings"),
])
def test_bad_filters_name_the_problem(dataset, flt, match):
    ds, _ = dataset
    with pytest.raises(InvalidInputError, match=match):
        compile_filter(flt, ds.schema, protected=["vector_codes"])


def test_deep_nesting_and_non_dicts_are_refused(dataset):
    ds, _ = dataset
    flt: dict[str, Any] = {"year": 1}
    for _ in range(40):
        flt = {"$not": flt}
    with pytest.raises(InvalidInputError, match="nested deeper"):
        compile_filter(flt, ds.schema)
    for bad in ("year = 1", ["year"], 3, None):
        with pytest.raises(InvalidInputError):
            compile_filter(bad, ds.schema)  # type: ignore[arg-type]


def test_timestamps(tmp_path):
    ts = [dt.datetime(2020, 1, 1, 12), dt.datetime(2021, 1, 1), None]
    tbl = pa.table({"id": [1, 2, 3], "ts": pa.array(ts, pa.timestamp("us")),
                    "tz": pa.array(ts, pa.timestamp("us", tz="UTC"))})
    ds = lance.write_dataset(tbl, str(tmp_path / "ts.lance"))

    def ids(flt):
        sql = compile_filter(flt, ds.schema)
        return ds.to_table(columns=["id"], filter=sql).column("id").to_pylist()

    assert ids({"ts": {"$gt": dt.datetime(2020, 6, 1)}}) == [2]
    assert ids({"ts": dt.datetime(2020, 1, 1, 12)}) == [1]
    assert ids({"tz": {"$lt": dt.datetime(2020, 6, 1, tzinfo=dt.UTC)}}) == [1]
    with pytest.raises(InvalidInputError, match="timezone-aware"):
        compile_filter({"tz": dt.datetime(2020, 1, 1)}, ds.schema)
    with pytest.raises(InvalidInputError, match="naive"):
        compile_filter({"ts": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)}, ds.schema)


def test_check_sql_refuses_a_second_statement():
    assert check_sql("title = 'a;b'") == "title = 'a;b'"
    assert check_sql("`semi;colon` = 1 AND title = 'it''s;'") == \
        "`semi;colon` = 1 AND title = 'it''s;'"
    for bad in ("year = 1; year = 2", "title = 'x'; DROP", "year = 1 -- ; x", "", "  ", None, 3):
        with pytest.raises(InvalidInputError):
            check_sql(bad)


def test_check_sql_matches_what_lance_would_drop(dataset):
    ds, rows = dataset
    raw = "`odd col` = 1; `odd col` = 2"
    lance_rows = ds.to_table(columns=["id"], filter=raw).num_rows
    assert lance_rows == sum(r["odd col"] == 1 for r in rows)  # Lance drops the second part
    with pytest.raises(InvalidInputError, match="silently drop"):
        check_sql(raw)


def test_filter_sql_routes_dicts_and_raw_sql(dataset):
    ds, _ = dataset
    assert filter_sql(None, None, ds.schema) is None
    assert filter_sql(None, "year > 1", ds.schema) == "year > 1"
    assert "`year`" in (filter_sql({"year": 1}, None, ds.schema) or "")
    with pytest.raises(InvalidInputError, match="sql="):
        filter_sql("year = 1", None, ds.schema)
    with pytest.raises(InvalidInputError, match="not both"):
        filter_sql({"year": 1}, "year = 1", ds.schema)
    with pytest.raises(InvalidInputError, match="internal"):
        filter_sql({"vector_codes": 1}, None, ds.schema, protected=["vector_codes"])
