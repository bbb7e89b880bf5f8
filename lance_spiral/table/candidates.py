"""Alongside mode with a Lance vector index: Lance gives candidates, the codes re-rank them.

Lance's index search (with ``nprobes`` and the filter applied inside Lance) returns ``k'`` row
ids of the snapshot's version; the codec re-scores their codes (from RAM, or read from the table
in the ``disk`` memory mode) and keeps the top ``k``; optionally the best ``exact`` of those are
re-scored with the stored float vectors, read by row id.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from lance_spiral.codecs import normalize_rows
from lance_spiral.kernels.topk import topk
from lance_spiral.table.ingest import vectors_from_arrow
from lance_spiral.table.snapshot import Snapshot
from lance_spiral.table.sql import lance_error
from lance_spiral.table.state import HotState

__all__ = ["exact_scores", "lance_candidates"]

Hits = tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]


def lance_candidates(snap: Snapshot, state: HotState, q: npt.NDArray[np.float32], k: int, *,
                     depth: int | None, nprobes: int | None, where: str | None,
                     prefilter: bool, exact: int) -> Hits:
    """Top-``k`` ``(scores, positions)`` of one query through the Lance vector index."""
    m = snap.meta
    want = max(depth or 4 * k, k)
    nearest: dict[str, Any] = {"column": m.vector_column, "q": q, "k": want,
                               "nprobes": nprobes or 20}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tbl = snap.dataset.to_table(columns=["_distance"], with_row_id=True,
                                        nearest=nearest, filter=where, prefilter=prefilter)
    except (ValueError, OSError) as exc:
        raise lance_error(exc, where) from exc
    cand = state.positions_of(tbl.column("_rowid").to_numpy().astype(np.uint64))
    if len(cand) == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.int64)
    codec = state.codec
    keep = min(max(k, exact), len(cand))
    vals, idx = topk(codec.score(codec.prepare(q), state.fetch_codes(cand)), keep)
    pos = cand[idx[0]]
    if exact == 0:
        return vals[0][:k], pos[:k]
    return exact_scores(snap, state, q, pos, k)


def exact_scores(snap: Snapshot, state: HotState, q: npt.NDArray[np.float32],
                 pos: npt.NDArray[np.int64], k: int) -> Hits:
    """Re-score positions with the stored float vectors (read by row id); top ``k``."""
    m = snap.meta
    rid = state.rowids_at(pos)
    tbl = snap.dataset._take_rows(pa.array(rid, pa.uint64()), columns=[m.vector_column])
    x = vectors_from_arrow(tbl.column(m.vector_column), m.vector_column)
    if m.metric == "l2":
        s = -((x - q[None, :]) ** 2).sum(axis=1)
    elif m.metric == "cosine":
        s = normalize_rows(x) @ normalize_rows(q[None, :])[0]
    else:
        s = x @ q
    best = np.argsort(-s, kind="stable")[:k]
    return s[best].astype(np.float32), pos[best]
