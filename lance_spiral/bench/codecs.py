"""``lance-spiral bench codecs``: bytes, recall, cosine and speed of codecs on ``.npy`` embeddings.

For each codec spec: fit on a training sample, encode the whole base, measure reconstruction
cosine, recall@10 of a search scored on the codes (exhaustive, against exact ground truth),
recall@10 after re-ranking the top ``k'`` with a finer codec (``--rerank-codec``), and encode /
decode throughput on one thread. With ``--faiss`` the same measurements run for faiss-cpu
indexes in the same process (``"system": "faiss"``), at the byte budgets of our rows.
"""

from __future__ import annotations

import argparse
import inspect
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lance_spiral._validation import as_vectors, check_int, check_metric
from lance_spiral.bench.evaluation import Reranker, one_thread, throughput
from lance_spiral.bench.report import format_table, plot_recall_vs_bytes, write_results
from lance_spiral.codecs import Codec, available_codecs, make_codec, parse_spec
from lance_spiral.codecs.metrics import (
    check_ground_truth,
    exact_topk,
    recall_at,
    reconstruction_cosine,
)
from lance_spiral.errors import InvalidInputError, NotFoundError

__all__ = ["DEFAULT_CODECS", "add_arguments", "bench_codecs", "codec_row", "load_npy", "run"]

DEFAULT_CODECS = ("sq:bits=8", "sq:bits=6", "sq:bits=4", "sq:bits=2", "float16", "binary")
# Added to the defaults when their codec is registered (H3's product / residual / spiral codecs).
OPTIONAL_DEFAULTS = ("pq:m=48,bits=8", "pq:m=96,bits=4,opq=1", "spiral:profile=balanced")
QUANTISER_NAMES = ("pq", "rq", "ivfpq", "spiral")
K = 10


def load_npy(path: str | Path, *, name: str = "embeddings") -> npt.NDArray[np.float32]:
    """Load a float16/float32/float64 ``.npy`` matrix ``[n, d]`` as float32.

    Raises:
        NotFoundError: The file does not exist.
        DTypeError / DimensionError / NonFiniteError: Unusable content.
    """
    p = Path(path)
    if not p.is_file():
        raise NotFoundError(f"{name} file not found: {p}")
    try:
        arr = np.load(p, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise InvalidInputError(f"{name} file {p} is not a plain .npy array: {exc}") from exc
    return as_vectors(np.asarray(arr), name=f"{name} ({p.name})")


def _search_ids(
    codec: Codec, queries: npt.NDArray[np.float32], codes: npt.NDArray[np.uint8], k: int,
    block: int = 64,
) -> npt.NDArray[np.int64]:
    from lance_spiral.kernels.topk import topk

    k = min(k, codes.shape[0])
    out = np.empty((queries.shape[0], k), dtype=np.int64)
    for s in range(0, queries.shape[0], block):
        scores = codec.score(codec.prepare(queries[s : s + block]), codes)
        out[s : s + block] = topk(np.ascontiguousarray(scores, dtype=np.float32), k)[1]
    return out


def _encode_all(codec: Codec, x: npt.NDArray[np.float32], chunk: int = 65536) -> np.ndarray:
    return np.concatenate([codec.encode(x[s : s + chunk]) for s in range(0, x.shape[0], chunk)])


def _cosines(codec: Codec, x: np.ndarray, codes: np.ndarray, chunk: int = 32768) -> np.ndarray:
    return np.concatenate([
        reconstruction_cosine(x[s : s + chunk], codec.decode(codes[s : s + chunk]))
        for s in range(0, x.shape[0], chunk)
    ])


def _ordering(codec: Codec, sample: npt.NDArray[np.float32]) -> dict[str, Any] | None:
    if codec.name != "spiral":
        return None
    try:
        from lance_spiral.codecs.spiral import ordering_report  # type: ignore[attr-defined]
    except ImportError:
        return None
    sig = inspect.signature(ordering_report)
    kwargs: dict[str, Any] = {}
    if "codec" in sig.parameters:
        kwargs["codec"] = codec
    else:
        kwargs = {k: v for k, v in codec.params().items() if k in sig.parameters}
    report = ordering_report(sample, **kwargs)
    return dict(report) if isinstance(report, dict) else {"report": report}


def codec_row(
    codec: Codec,
    base: npt.NDArray[np.float32],
    queries: npt.NDArray[np.float32],
    gt: npt.NDArray[np.int64],
    train: npt.NDArray[np.float32],
    *,
    reranker: Reranker | None = None,
    rerank_k: int = 100,
    timing_n: int = 20000,
    seed: int = 0,
    label: str | None = None,
) -> dict[str, Any]:
    """Fit, encode and measure one codec; returns its result row.

    Args:
        codec: An unfitted (or fitted) codec.
        base: Base vectors ``[n, d]``.
        queries: Queries ``[nq, d]``.
        gt: Exact top ids ``[nq, >= 10]``.
        train: Training sample.
        reranker: Finer codec for the re-rank column (``None``: no re-rank).
        rerank_k: Candidates re-ranked per query.
        timing_n: Vectors used for the one-thread encode/decode timing.
        seed: Training seed.
        label: The row's ``codec`` value (default: the codec's spec without defaults).

    Returns:
        The row (see the module docstring of :mod:`lance_spiral.bench.codecs`).
    """
    t0 = time.perf_counter()
    if not codec.fitted:
        codec.fit(train, seed=seed)
    train_s = time.perf_counter() - t0
    codes = _encode_all(codec, base)
    cos = _cosines(codec, base, codes)
    kk = max(K, rerank_k) if reranker is not None else K
    ids = _search_ids(codec, queries, codes, kk)
    rr = None
    if reranker is not None and reranker.codec.spec != codec.spec:
        rr = recall_at(reranker.rerank(queries, ids[:, :rerank_k], K), gt, K)
    sl = base[: min(timing_n, base.shape[0])]
    sl_codes = codes[: sl.shape[0]]
    with one_thread():
        enc = throughput(lambda: codec.encode(sl), sl.shape[0])
        dec = throughput(lambda: codec.decode(sl_codes), sl.shape[0])
    row: dict[str, Any] = {
        "system": "lance-spiral",
        "codec": label or _short_spec(codec),
        "spec": codec.spec,
        "bytes_per_vector": float(codec.code_bytes),
        "param_bytes": int(codec.param_bytes),
        "cos_mean": float(cos.mean()),
        "cos_p01": float(np.percentile(cos, 1)),
        "recall_at_10": recall_at(ids, gt, K),
        "recall_at_10_rerank": rr,
        "encode_vps": float(enc),
        "decode_vps": float(dec),
        "train_s": round(train_s, 3),
    }
    order = _ordering(codec, train[:20000])
    if order is not None:
        row["ordering"] = order
    return row


def _short_spec(codec: Codec) -> str:
    params = {k: v for k, v in codec.params().items() if not (k == "metric" and v == "ip")}
    kv = ",".join(f"{k}={v}" for k, v in params.items())
    return f"{codec.name}:{kv}" if kv else codec.name


def _make(spec: str, metric: str) -> Codec:
    _, params = parse_spec(spec)
    return make_codec(spec) if "metric" in params else make_codec(spec, metric=metric)


def default_specs() -> list[str]:
    """The default codec list: SQ 8/6/4/2, float16, binary, and pq/spiral when registered."""
    names = set(available_codecs())
    specs = [s for s in DEFAULT_CODECS if parse_spec(s)[0] in names]
    specs += [s for s in OPTIONAL_DEFAULTS if parse_spec(s)[0] in names]
    return specs


def bench_codecs(
    base: Any,
    queries: Any,
    gt: Any | None = None,
    *,
    specs: list[str] | None = None,
    metric: str = "ip",
    faiss: bool = False,
    faiss_families: tuple[str, ...] | None = None,
    rerank_codec: str | None = "sq:bits=8",
    rerank_k: int = 100,
    train: int | None = None,
    timing_n: int = 20000,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the codec benchmark in memory and return the ``results.json`` document.

    Args:
        base: Base vectors ``[n, d]`` (float16/32/64).
        queries: Queries ``[nq, d]``.
        gt: Exact top ids ``[nq, >= 10]``; computed by brute force when ``None``.
        specs: Codec specs (default: :func:`default_specs`).
        metric: Metric for codecs whose spec does not name one, and for the ground truth.
        faiss: Also run faiss-cpu rows (needs the ``bench`` extra).
        faiss_families: faiss index families (default all: sq, rabitq, pq, opq, ivfpq, rq).
        rerank_codec: Finer codec for the re-rank column (``None`` to skip).
        rerank_k: Candidates re-ranked per query.
        train: Training sample size (default ``min(n, 100_000)``).
        timing_n: Vectors used for one-thread encode/decode timing.
        seed: Seed for sampling and training.
        progress: Show tqdm progress.

    Returns:
        ``{"rows": [...], "n", "dim", "nq", ...}``.

    Raises:
        UnknownCodecError: An unknown codec name (checked before any work).
        InvalidParameterError: Bad codec parameters.
        DimensionError: Queries or ground truth of the wrong shape.
    """
    from tqdm.auto import tqdm

    metric = check_metric(metric)
    b = as_vectors(base, name="base")
    q = as_vectors(queries, dim=b.shape[1], name="queries")
    rerank_k = check_int(rerank_k, "rerank_k", lo=K)
    n, d = b.shape
    specs = list(specs) if specs else default_specs()
    codecs = [_make(s, metric) for s in specs]  # fail fast on unknown specs / bad parameters
    rr_codec = _make(rerank_codec, metric) if rerank_codec else None
    if faiss:
        from lance_spiral._optional import require
        from lance_spiral.bench.faiss_rows import FAMILIES, faiss_specs

        require("faiss", "bench")
        faiss_specs(d, n, [K], tuple(faiss_families or FAMILIES))  # validates the families
    ntrain = min(n, check_int(train, "train", lo=1) if train is not None else 100_000)
    rng = np.random.default_rng(seed)
    tr_idx = np.sort(rng.choice(n, size=ntrain, replace=False)) if ntrain < n else None
    tr = b[tr_idx] if tr_idx is not None else b
    t0 = time.perf_counter()
    if gt is None:
        gt_ids = exact_topk(b, q, max(K, 100), metric=metric)
        gt_source = "exact (computed)"
    else:
        gt_ids = check_ground_truth(gt, q.shape[0], n, K)
        gt_source = "given"
    gt_s = time.perf_counter() - t0
    reranker = Reranker(rr_codec.fit(tr, seed=seed), b) if rr_codec is not None else None

    rows: list[dict[str, Any]] = []
    bar = tqdm(list(zip(specs, codecs, strict=True)), desc="codecs", unit="codec",
               disable=not progress)
    for spec, codec in bar:
        bar.set_postfix_str(spec)
        rows.append(codec_row(codec, b, q, gt_ids, tr, reranker=reranker, rerank_k=rerank_k,
                              timing_n=timing_n, seed=seed, label=spec.strip()))
    if faiss:
        from lance_spiral.bench.faiss_rows import faiss_rows

        budgets = sorted({int(r["bytes_per_vector"]) for r, c in zip(rows, codecs, strict=True)
                          if c.name in QUANTISER_NAMES})
        rows += faiss_rows(b, q, gt_ids, tr, budgets=budgets or [48, 96],
                           families=tuple(faiss_families or FAMILIES), metric=metric,
                           reranker=reranker, rerank_k=rerank_k, timing_n=timing_n,
                           seed=seed, progress=progress)
    return {
        "rows": rows,
        "n": int(n),
        "dim": int(d),
        "nq": int(q.shape[0]),
        "metric": metric,
        "k": K,
        "train_n": int(ntrain),
        "rerank_codec": rr_codec.spec if rr_codec is not None else None,
        "rerank_k": rerank_k if rr_codec is not None else None,
        "ground_truth": gt_source,
        "ground_truth_s": round(gt_s, 3),
        "timing": f"encode/decode vectors/s on 1 thread over {min(timing_n, n)} vectors",
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or None,
                    "platform": platform.platform()},
    }


# --------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``bench codecs`` arguments to ``parser``."""
    parser.add_argument("base", help="base embeddings .npy [n, d] (float16/float32)")
    parser.add_argument("--queries", required=True, help="query embeddings .npy [nq, d]")
    parser.add_argument("--gt", help="ground-truth ids .npy [nq, >=10] (exact search if absent)")
    parser.add_argument("--codec", action="append", dest="codecs", metavar="SPEC",
                        help="codec spec, repeatable (default: sq 8/6/4/2, float16, binary,"
                             " and pq/spiral when available)")
    parser.add_argument("--faiss", action="store_true", help="add faiss-cpu rows (same run)")
    parser.add_argument("--faiss-indexes", default="sq,rabitq,pq,opq,ivfpq,rq",
                        help="comma list of faiss families to run (default: all)")
    parser.add_argument("--rerank-codec", default="sq:bits=8", metavar="SPEC",
                        help="finer codec for re-ranking ('none' to skip)")
    parser.add_argument("--rerank-k", type=int, default=100, help="candidates to re-rank")
    parser.add_argument("--train", type=int, default=None,
                        help="training sample size (default min(n, 100000))")
    parser.add_argument("--metric", default="ip", help="ip | cosine | l2 (default ip)")
    parser.add_argument("--timing-n", type=int, default=20000,
                        help="vectors for the one-thread encode/decode timing")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench-out/codecs", help="output folder")
    parser.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress bars")


def run(args: argparse.Namespace) -> int:
    """Run ``bench codecs`` from parsed arguments; returns the exit code."""
    quiet = bool(getattr(args, "quiet", False))
    base = load_npy(args.base, name="base")
    queries = load_npy(args.queries, name="queries")
    gt = None
    if args.gt:
        p = Path(args.gt)
        if not p.is_file():
            raise NotFoundError(f"ground-truth file not found: {p}")
        gt = np.load(p, allow_pickle=False)
    rerank = None if str(args.rerank_codec).lower() in ("none", "") else args.rerank_codec
    result = bench_codecs(
        base, queries, gt, specs=args.codecs, metric=args.metric, faiss=args.faiss,
        faiss_families=tuple(f.strip() for f in str(args.faiss_indexes).split(",") if f.strip()),
        rerank_codec=rerank, rerank_k=args.rerank_k, train=args.train,
        timing_n=args.timing_n, seed=args.seed, progress=not quiet,
    )
    result["base_file"] = str(args.base)
    result["queries_file"] = str(args.queries)
    out = Path(args.out)
    path = write_results(result, out)
    png = plot_recall_vs_bytes(result["rows"], out / "recall_vs_bytes.png",
                               title=f"{Path(args.base).name}: n={result['n']}, d={result['dim']}")
    print(format_table(result["rows"]))
    print(f"\nwrote {path} and {png}")
    return 0
