"""faiss-cpu rows for the codec benchmark, measured exactly like lance-spiral's rows.

Rows: scalar quantisers SQ8/SQ6/SQ4, RaBitQ 1-bit (when the faiss build has it), and at each
byte budget of our product/residual/spiral rows: PQ, OPQ+PQ, IVF-PQ and a residual quantiser.
``bytes_per_vector`` is faiss's standalone code size (``sa_code_size``), which for IVF-PQ
includes the inverted-list id; ``param_bytes`` the serialised trained index before any vector
is added. IVF-PQ scans every list (``nprobe = nlist``) so that the row measures the encoding, not
the coarse candidate selection.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from lance_spiral._optional import require
from lance_spiral.bench.evaluation import Reranker, one_thread, throughput
from lance_spiral.codecs.base import normalize_rows
from lance_spiral.codecs.metrics import recall_at, reconstruction_cosine
from lance_spiral.errors import InvalidParameterError

__all__ = ["FAMILIES", "faiss_rows", "faiss_specs"]

K = 10
# Residual quantisers encode with a beam search whose cost grows with the number of stages;
# past this many bytes a row would dominate the benchmark's run time.
RQ_MAX_BYTES = 64
RQ_TRAIN_MAX = 25_600
# faiss learns OPQ with 50 alternations of PQ training; with more than this many sub-spaces
# (budgets of 128+ bytes, where PQ is already near-lossless) it outlasts the rest of the run.
OPQ_MAX_M = 96
FAMILIES = ("sq", "rabitq", "pq", "opq", "ivfpq", "rq")


def _largest_divisor(d: int, at_most: int) -> int:
    return max(m for m in range(1, min(d, max(1, at_most)) + 1) if d % m == 0)


def faiss_specs(
    dim: int, n: int, budgets: list[int], families: tuple[str, ...] = FAMILIES,
) -> list[tuple[str, str]]:
    """``(label, index_factory string)`` pairs for the faiss rows at the given byte budgets.

    Args:
        dim: Vector dimension.
        n: Base size (sets the IVF list count).
        budgets: Bytes per vector to match with PQ / OPQ / IVF-PQ / RQ.
        families: Which of :data:`FAMILIES` to include.

    Raises:
        InvalidParameterError: An unknown family.
    """
    unknown = set(families) - set(FAMILIES)
    if unknown:
        raise InvalidParameterError(
            f"unknown faiss index families {sorted(unknown)}; choose from {FAMILIES}"
        )
    specs = []
    if "sq" in families:
        specs += [("faiss:SQ8", "SQ8"), ("faiss:SQ6", "SQ6"), ("faiss:SQ4", "SQ4")]
    if "rabitq" in families:
        specs.append(("faiss:RaBitQ1", "RaBitQ"))
    nlist = int(max(16, min(1024, 2 ** round(np.log2(max(16.0, 4 * np.sqrt(n)))), n // 39)))
    for b in sorted(set(budgets)):
        m = _largest_divisor(dim, b)
        if "pq" in families:
            specs.append((f"faiss:PQ{m}x8", f"PQ{m}"))
        if "opq" in families and m <= OPQ_MAX_M:
            specs.append((f"faiss:OPQ{m},PQ{m}x8", f"OPQ{m},PQ{m}"))
        if "ivfpq" in families:
            specs.append((f"faiss:IVF{nlist},PQ{m}x8", f"IVF{nlist},PQ{m}"))
        if "rq" in families and b <= RQ_MAX_BYTES:
            specs.append((f"faiss:RQ{b}x8", f"RQ{b}x8"))
    return specs


def _build(faiss: Any, factory: str, dim: int, metric: str) -> Any:
    mt = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
    if factory == "RaBitQ":
        return faiss.IndexRaBitQ(dim, mt)
    index = faiss.index_factory(dim, factory, mt)
    if factory.startswith("RQ"):
        rq = faiss.downcast_index(index).rq
        rq.max_beam_size = 4
    return index


def _row(
    faiss: Any, label: str, factory: str, base: np.ndarray, queries: np.ndarray,
    gt: np.ndarray, train: np.ndarray, metric: str, reranker: Reranker | None,
    rerank_k: int, timing_n: int,
) -> dict[str, Any]:
    dim = base.shape[1]
    index = _build(faiss, factory, dim, metric)
    tr = train[:RQ_TRAIN_MAX] if factory.startswith("RQ") else train
    t0 = time.perf_counter()
    index.train(tr)
    train_s = time.perf_counter() - t0
    param_bytes = int(faiss.serialize_index(index).size)
    code_size = int(index.sa_code_size())
    ivf = faiss.try_extract_index_ivf(index)
    extra: dict[str, Any] = {}
    if ivf is not None:
        ivf.nprobe = ivf.nlist
        extra["nprobe"] = int(ivf.nlist)
    index.add(base)
    kk = max(K, rerank_k) if reranker is not None else K
    _, ids = index.search(queries, kk)
    ids = ids.astype(np.int64)
    rr = recall_at(reranker.rerank(queries, ids[:, :rerank_k], K), gt, K) \
        if reranker is not None else None
    sl = np.ascontiguousarray(base[: min(timing_n, base.shape[0])])
    enc = dec = float("nan")
    cos = None
    try:
        codes = index.sa_encode(sl)
        # Cosine over the whole base, like lance-spiral's rows.
        cos = np.concatenate([
            reconstruction_cosine(base[s : s + 32768], np.asarray(
                index.sa_decode(index.sa_encode(base[s : s + 32768])), dtype=np.float32))
            for s in range(0, base.shape[0], 32768)
        ])
        with one_thread():
            enc = throughput(_call(index.sa_encode, sl), sl.shape[0])
            dec = throughput(_call(index.sa_decode, codes), sl.shape[0])
    except RuntimeError as exc:  # some faiss indexes have no standalone codec
        extra["note"] = f"no standalone encode/decode: {str(exc).splitlines()[0][:120]}"
    return {
        "system": "faiss",
        "codec": label,
        "spec": factory,
        "bytes_per_vector": float(code_size),
        "param_bytes": param_bytes,
        "cos_mean": float(cos.mean()) if cos is not None else None,
        "cos_p01": float(np.percentile(cos, 1)) if cos is not None else None,
        "recall_at_10": recall_at(ids, gt, K),
        "recall_at_10_rerank": rr,
        "encode_vps": None if np.isnan(enc) else float(enc),
        "decode_vps": None if np.isnan(dec) else float(dec),
        "train_s": round(train_s, 3),
        **extra,
    }


def _call(fn: Callable[[np.ndarray], Any], arg: np.ndarray) -> Callable[[], Any]:
    return lambda: fn(arg)


def faiss_rows(
    base: npt.NDArray[np.float32],
    queries: npt.NDArray[np.float32],
    gt: npt.NDArray[np.int64],
    train: npt.NDArray[np.float32],
    *,
    budgets: list[int],
    families: tuple[str, ...] = FAMILIES,
    metric: str = "ip",
    reranker: Reranker | None = None,
    rerank_k: int = 100,
    timing_n: int = 20000,
    seed: int = 0,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Measure faiss-cpu indexes on the same data, ground truth and re-ranker.

    Args:
        base: Base vectors ``[n, d]``.
        queries: Queries ``[nq, d]``.
        gt: Exact top ids ``[nq, >= 10]``.
        train: Training sample (the same one our codecs used).
        budgets: Bytes per vector of our quantiser rows; PQ/OPQ/IVF-PQ/RQ rows match them.
        families: Index families to run (see :data:`FAMILIES`).
        metric: ``ip``, ``cosine`` or ``l2``.
        reranker: Finer codec for the re-rank column.
        rerank_k: Candidates re-ranked per query.
        timing_n: Vectors for one-thread encode/decode timing.
        seed: Unused by faiss (its k-means seeds are fixed); kept for a uniform signature.
        progress: Show tqdm progress.

    Returns:
        Result rows with ``"system": "faiss"``.

    Raises:
        MissingDependencyError: faiss-cpu is not installed.
    """
    from tqdm.auto import tqdm

    faiss = require("faiss", "bench")
    if metric == "cosine":
        base, queries, train = normalize_rows(base), normalize_rows(queries), normalize_rows(train)
    base = np.ascontiguousarray(base, dtype=np.float32)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    train = np.ascontiguousarray(train, dtype=np.float32)
    n, dim = base.shape
    specs = [s for s in faiss_specs(dim, n, budgets, families)
             if s[1] != "RaBitQ" or hasattr(faiss, "IndexRaBitQ")]
    rows = []
    bar = tqdm(specs, desc="faiss", unit="index", disable=not progress)
    for label, factory in bar:
        bar.set_postfix_str(label)
        rows.append(_row(faiss, label, factory, base, queries, gt, train, metric, reranker,
                         rerank_k, timing_n))
    return rows
