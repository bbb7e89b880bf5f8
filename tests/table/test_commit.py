"""Concurrent writers on real tables: N processes at once, no row lost, none mixed up."""

from __future__ import annotations

from collections import Counter

import lance
import numpy as np
import pyarrow as pa
import pytest
from lance import LanceDataset, LanceOperation
from lance.fragment import write_fragments

from lance_spiral.table import create_table, open_table
from lance_spiral.table.commit import Target, WriteConflictError, commit_append, commit_overwrite
from tests.support.writers import N_WRITERS as N
from tests.support.writers import writers  # noqa: F401  (fixture)


def _slices(proc: int, base: int, adds: int, size: int) -> list[list[int]]:
    start = base + proc * adds * size
    return [[start + a * size, start + (a + 1) * size] for a in range(adds)]


def _check(uri: str, emb: np.ndarray, expected: set[str], prefix: str = "r") -> None:
    t = open_table(uri)
    tbl = t.to_arrow()
    counts = Counter(tbl.column("id").to_pylist())
    dup = {k: c for k, c in counts.items() if c > 1}
    assert not dup, f"ids written twice: {list(dup)[:5]}"
    assert set(counts) == expected, (len(set(counts)), len(expected))
    # every row's codes decode (with the table's one codec) to its own vector
    n = tbl.column("n").to_numpy()
    dec = t.decode_column(tbl.column(t.meta.codes_column))
    ref = emb[n]
    cos = (dec * ref).sum(1) / np.linalg.norm(dec, axis=1) / np.linalg.norm(ref, axis=1)
    assert float(cos.min()) > 0.99
    assert all(i.startswith(prefix) for i in counts)


@pytest.mark.parametrize(("scenario", "start_rows", "fit_rows"), [
    ("empty", 0, 500),          # first fill races, then the refit at 500 races
    ("small", 100, 600),        # provisional appends race, crossing fit_rows mid-way
    ("established", 1200, 1000),
])
def test_processes_adding_at_once_lose_no_row(tmp_path, writers, scifact_corpus_emb,  # noqa: F811
                                              scenario, start_rows, fit_rows):
    uri = str(tmp_path / f"{scenario}.lance")
    emb = scifact_corpus_emb
    t = create_table(uri, fit_rows=fit_rows, progress=False)
    if start_rows:
        t.add({"id": [f"r{i}" for i in range(start_rows)], "vector": emb[:start_rows],
               "n": np.arange(start_rows)})
    adds, size = 3, 100
    cmds = [{"op": "add", "uri": uri, "rows": _slices(p, start_rows, adds, size)}
            for p in range(N)]
    results = writers.run(cmds)
    assert results == [[size] * adds] * N  # each add returns the rows IT wrote
    expected = {f"r{i}" for i in range(start_rows + N * adds * size)}
    _check(uri, emb, expected)
    assert open_table(uri).meta.provisional == (start_rows + N * adds * size < fit_rows)


def test_processes_creating_one_table_at_once(tmp_path, writers,  # noqa: F811
                                              scifact_corpus_emb):
    uri = str(tmp_path / "created.lance")
    cmds = [{"op": "create", "uri": uri, "rows": [[p * 200, (p + 1) * 200]], "fit_rows": 300}
            for p in range(N)]
    writers.run(cmds)
    _check(uri, scifact_corpus_emb, {f"r{i}" for i in range(N * 200)})
    assert open_table(uri).versions()[0]["version"] == 1


def test_concurrent_upserts_of_the_same_ids_insert_once(tmp_path, writers,  # noqa: F811
                                                        scifact_corpus_emb):
    uri = str(tmp_path / "upsert.lance")
    emb = scifact_corpus_emb
    create_table(uri, {"id": [f"r{i}" for i in range(1200)], "vector": emb[:1200],
                       "n": np.arange(1200)}, progress=False)
    # every process upserts the same 50 existing ids and the same 50 new ones
    cmds = [{"op": "upsert", "uri": uri, "rows": [[1150, 1250]]} for _ in range(N)]
    results = writers.run(cmds)
    assert sum(r[0]["inserted"] for r in results) == 50
    assert all(r[0]["inserted"] + r[0]["updated"] == 100 for r in results)
    _check(uri, emb, {f"r{i}" for i in range(1250)})


def _dataset(tmp_path) -> tuple[Target, int]:
    uri = str(tmp_path / "raw.lance")
    ds = lance.write_dataset(pa.table({"id": [0, 1]}), uri)
    return Target(uri), int(ds.version)


def test_overwrite_commits_only_on_the_version_it_read(tmp_path):
    """The Lance behaviour the rewrites rely on (compare-and-swap of the next version)."""
    target, v = _dataset(tmp_path)
    schema = pa.schema([("id", pa.int64())])
    frags = write_fragments(pa.table({"id": [9]}), target.uri, schema=schema)
    lance.write_dataset(pa.table({"id": [2]}), target.uri, mode="append")
    with pytest.raises(WriteConflictError):
        commit_overwrite(target, schema, frags, v)
    assert sorted(target.open().to_table().column("id").to_pylist()) == [0, 1, 2]
    latest = int(target.open().version)
    assert commit_overwrite(target, schema, frags, latest).to_table().column(
        "id").to_pylist() == [9]
    with pytest.raises(WriteConflictError):  # creating over an existing dataset
        commit_overwrite(target, schema, frags, None)


def test_append_after_a_rewrite_conflicts(tmp_path):
    target, v = _dataset(tmp_path)
    frags = write_fragments(pa.table({"id": [5]}), target.uri)
    lance.write_dataset(pa.table({"id": [7]}), target.uri, mode="overwrite")
    with pytest.raises(WriteConflictError):
        commit_append(target, frags, v)
    # appends over appends are rebased by Lance, not refused
    v2 = int(target.open().version)
    frags = write_fragments(pa.table({"id": [5]}), target.uri)
    LanceDataset.commit(target.uri, LanceOperation.Append(
        write_fragments(pa.table({"id": [6]}), target.uri)), read_version=v2)
    assert sorted(commit_append(target, frags, v2).to_table().column("id").to_pylist()) == \
        [5, 6, 7]
