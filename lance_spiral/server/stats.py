"""Quantisation statistics of a collection, measured on its own vectors, cached per version.

* **recall@10 estimate**: the collection's fitted codec encodes its reference sample (the first
  float vectors it received, :mod:`lance_spiral.server.records`); held-out sample vectors are
  searched on those codes and compared with exact search over the same sample
  (:func:`~lance_spiral.codecs.metrics.exact_topk`), as
  :func:`~lance_spiral.codecs.choose_codec` measures its candidates, so the figure and the
  optimiser's sit on one chart.
* **latency**: ``p50_ms`` / ``p95_ms`` / ``qps`` of the table's real search path (top-10, one
  client, after a warm-up) over sample queries, at this version.
* **bytes**: the codec's code bytes, every stored byte of a row's vector (codes, candidate bits
  and partition id, or the float column in ``alongside`` mode), the table folder on disk (all
  versions kept), the same rows as float32, and the bytes held in RAM for search.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from lance_spiral.codecs import Codec
from lance_spiral.codecs.metrics import exact_topk, recall_at
from lance_spiral.table import CompressedTable

__all__ = ["MIN_REFERENCE", "StatsCache", "codec_recall", "measure", "stored_bytes_per_vector"]

MIN_REFERENCE = 60
K = 10


def codec_recall(codec: Codec, sample: npt.NDArray[np.float32], metric: str, *, seed: int = 0
                 ) -> tuple[float, int]:
    """Recall@10 of ``codec`` on ``sample``: held-out sample vectors vs exact search.

    Returns:
        ``(recall, n_queries)``; queries are ``min(200, n // 10)`` sample vectors held out of
        the searched base (the protocol of :func:`~lance_spiral.codecs.choose_codec`).
    """
    n = len(sample)
    nq = max(1, min(200, n // 10))
    perm = np.random.default_rng(seed).permutation(n)
    q, base = sample[perm[:nq]], np.ascontiguousarray(sample[np.sort(perm[nq:])])
    truth = exact_topk(base, q, K, metric=metric)
    found = codec.search(q, codec.encode(base), K)[1]
    return float(recall_at(found, truth, K)), nq


def stored_bytes_per_vector(table: CompressedTable) -> int:
    """Bytes every row stores for its vector.

    The codes, plus the candidate bits and partition id in ``compressed`` mode, or the float32
    column in ``alongside`` mode.
    """
    codec, dim, m = table.codec, table.dim or 0, table.meta
    if codec is None:
        return 0
    if table.mode == "compressed":
        names = table.schema.names
        bits = (table.schema.field(m.bits_column).type.byte_width
                if m.bits_column in names else -(-dim // 64) * 8)
        return int(codec.code_bytes) + int(bits) + 4
    return int(codec.code_bytes) + 4 * dim


def _latency(table: CompressedTable, queries: npt.NDArray[np.float32]) -> dict[str, float]:
    for q in queries[:3]:
        table.search(q).limit(K).to_arrow()
    times = []
    for q in queries:
        t0 = time.perf_counter()
        table.search(q).limit(K).to_arrow()
        times.append(time.perf_counter() - t0)
    ms = np.asarray(times) * 1000.0
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p95_ms": round(float(np.percentile(ms, 95)), 3),
            "qps": round(float(len(ms) / max(ms.sum() / 1000.0, 1e-9)), 1),
            "latency_queries": len(ms)}


def _probe_queries(table: CompressedTable, reference: npt.NDArray[np.float32], n: int
                   ) -> npt.NDArray[np.float32]:
    if len(reference) and reference.shape[1] == table.dim:
        pick = np.random.default_rng(1).permutation(len(reference))[:n]
        return reference[pick]
    m = table.meta
    ids = table.dataset.to_table(columns=[m.id_column], limit=n).column(m.id_column).to_pylist()
    if not ids:
        return np.zeros((0, table.dim or 0), np.float32)
    col = table.get(ids, with_vectors=True).column(m.vector_column).combine_chunks()
    return np.asarray(col.flatten(), dtype=np.float32).reshape(len(col), -1)


def measure(table: CompressedTable, reference: npt.NDArray[np.float32], *,
            latency_queries: int = 50) -> dict[str, Any]:
    """All statistics of ``table``'s current version (see the module docs)."""
    m = table.meta
    rows = table.count_rows()
    dim = table.dim
    codec = table.codec
    per_vec = stored_bytes_per_vector(table)
    float32_bytes = rows * (dim or 0) * 4
    out: dict[str, Any] = {
        "rows": rows, "dim": dim, "metric": m.metric, "mode": m.mode,
        "codec": codec.spec if codec is not None else m.codec_spec,
        "target_codec": m.codec_spec, "provisional": bool(m.provisional),
        "version": table.version,
        "code_bytes": int(codec.code_bytes) if codec is not None else None,
        "bytes_per_vector": per_vec,
        "disk_bytes": table.disk_bytes(),
        "float32_bytes": float32_bytes,
        "compression_ratio": round(4.0 * dim / per_vec, 3) if dim and per_vec else None,
        "resident_bytes": table.resident_bytes() if rows else 0,
        "recall_at_10_estimate": None, "recall_sample": len(reference),
        "recall_queries": 0, "p50_ms": None, "p95_ms": None, "qps": None,
    }
    if codec is not None and dim and len(reference) >= MIN_REFERENCE and \
            reference.shape[1] == dim:
        r, nq = codec_recall(codec, reference, m.metric)
        out["recall_at_10_estimate"] = round(r, 4)
        out["recall_queries"] = nq
    if rows and dim:
        q = _probe_queries(table, reference, latency_queries)
        if len(q):
            out.update(_latency(table, q))
    return out


class StatsCache:
    """Statistics per ``(collection, version)``, each measured once even under concurrent asks."""

    def __init__(self, keep: int = 256) -> None:
        self._cache: dict[tuple[str, int], dict[str, Any]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._keep = keep

    def get(self, name: str, version: int, compute: Callable[[], dict[str, Any]]
            ) -> dict[str, Any]:
        """The cached statistics of ``name`` at ``version``, computing them on a miss."""
        key = (name, version)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        with self._lock:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            hit = self._cache.get(key)
            if hit is None:
                hit = compute()
                with self._lock:
                    if len(self._cache) >= self._keep:
                        self._cache.pop(next(iter(self._cache)))
                    self._cache[key] = hit
            return hit

    def latest(self, name: str) -> dict[str, Any] | None:
        """The most recent cached statistics of ``name`` (any version), if any."""
        found = [(v, s) for (n, v), s in list(self._cache.items()) if n == name]
        return max(found, key=lambda vs: vs[0])[1] if found else None

    def forget(self, name: str) -> None:
        """Drop every cached entry of ``name`` (the collection was dropped)."""
        with self._lock:
            for key in [k for k in self._cache if k[0] == name]:
                self._cache.pop(key, None)
