"""Auto-tuner: the fewest bytes per vector that meet a recall target on the user's own vectors.

:func:`choose_codec` fits candidate codecs (cheapest first) on a sample of the user's vectors,
measures recall@k of search on codes against exact search for held-out queries (held-out
sample vectors when none are given), and returns the smallest codec whose recall meets the
target with a margin: the lower end of a one-sided ~90% confidence interval on the per-query
mean recall must clear the target, so the choice also holds on queries it did not see.

Held-out *sample vectors* are easier queries than real ones (on WordNet, glosses as queries
missed 4.1% of the top-10 where real sentence queries missed 5.7% with the same codec), so
when no queries are given the measured miss rate must stay below ``shift_margin`` (0.6) times
the allowed one: a 0.95 target needs >= 0.97 on held-out sample vectors.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lance_spiral._validation import as_vectors, check_int, check_metric
from lance_spiral.codecs.base import Codec
from lance_spiral.codecs.metrics import exact_topk, recall_per_query
from lance_spiral.codecs.registry import make_codec
from lance_spiral.errors import InvalidInputError, InvalidParameterError, LanceSpiralError

__all__ = ["TunerResult", "choose_codec", "default_candidates"]

_Z = 1.28  # one-sided ~90% normal quantile


@dataclass
class TunerResult:
    """What :func:`choose_codec` chose and what it measured.

    Attributes:
        spec: Spec string of the chosen codec.
        codec: The chosen codec, fitted on the sample (minus held-out queries).
        bytes_per_vector: Its ``code_bytes``.
        param_bytes: Its parameter bytes.
        recall: Its measured recall@k on the held-out queries.
        met: Whether the target was met (``False``: no candidate met it; the best was returned).
        target_recall: The target.
        table: One row per candidate tried: spec, bytes_per_vector, param_bytes, recall,
            recall_lcb (lower confidence bound), fit_seconds, met, error (or ``None``).
    """

    spec: str
    codec: Codec
    bytes_per_vector: int
    param_bytes: int
    recall: float
    met: bool
    target_recall: float
    table: list[dict[str, Any]] = field(default_factory=list)


def default_candidates(dim: int, metric: str = "cosine") -> list[str]:
    """Candidate specs for ``dim``-dimensional vectors, roughly from fewest bytes up."""
    out = []
    for div in (16, 8):
        if dim // div >= 1:
            out.append(f"pq:m={dim // div},bits=8,metric={metric}")
    for div in (8, 4):
        if dim // div >= 1:
            out.append(f"spiral:n_subspaces={dim // div},n_bits=8,metric={metric}")
    if dim // 4 >= 1:
        out.append(f"spiral:quantization_levels=2,n_subspaces={dim // 4},n_bits=8,"
                   f"metric={metric}")
    out += [f"spiral:compression_ratio=0.9,metric={metric}", f"sq:bits=4,metric={metric}",
            f"spiral:compression_ratio=0.75,metric={metric}",
            f"sq:bits=8,metric={metric}", f"spiral:compression_ratio=0.7,metric={metric}",
            f"float16:metric={metric}"]
    return out


def choose_codec(
    sample: Any,
    target_recall: float = 0.95,
    metric: str = "cosine",
    candidates: list[str] | None = None,
    queries: Any = None,
    k: int = 10,
    seed: int = 0,
    shift_margin: float = 0.6,
) -> TunerResult:
    """Pick the codec with the fewest bytes per vector meeting ``target_recall`` (recall@k).

    Args:
        sample: ``[n, dim]`` vectors representative of the user's data (n >= 300).
        target_recall: Recall@k to reach on codes alone, in ``(0, 1]``.
        metric: ``cosine``, ``ip`` or ``l2``.
        candidates: Codec specs to try (default :func:`default_candidates`); tried from fewest
            code bytes up, stopping at the first that meets the target.
        queries: Optional ``[nq, dim]`` queries; default: ``min(200, n // 10)`` sample vectors,
            held out of the searched base.
        k: Neighbours for recall.
        seed: Seed for the hold-out split and codec fitting.
        shift_margin: With no ``queries``, the held-out miss rate must be at most this share of
            the allowed miss rate ``1 - target_recall`` (guards against easier self-queries).

    Returns:
        A :class:`TunerResult`.

    Raises:
        InvalidParameterError: Bad target, ``k``, or a sample too small for ``k``.
        InvalidInputError: Bad vectors.
    """
    x = as_vectors(sample, name="sample")
    metric = check_metric(metric)
    if isinstance(target_recall, bool) or not isinstance(target_recall, (int, float)) or not (
            0.0 < float(target_recall) <= 1.0):
        raise InvalidParameterError(f"target_recall must be in (0, 1], got {target_recall!r}")
    k = check_int(k, "k", lo=1)
    seed = check_int(seed, "seed", lo=0)
    if isinstance(shift_margin, bool) or not isinstance(shift_margin, (int, float)) or not (
            0.0 < float(shift_margin) <= 1.0):
        raise InvalidParameterError(f"shift_margin must be in (0, 1], got {shift_margin!r}")
    rng = np.random.default_rng(seed)
    bar = float(target_recall)
    if queries is None:
        bar = 1.0 - (1.0 - bar) * float(shift_margin)
        if x.shape[0] < 300:
            raise InvalidParameterError(
                f"choose_codec needs at least 300 sample vectors to hold out queries,"
                f" got {x.shape[0]}"
            )
        nq = min(200, x.shape[0] // 10)
        perm = rng.permutation(x.shape[0])
        q, base = x[perm[:nq]], np.ascontiguousarray(x[np.sort(perm[nq:])])
    else:
        q = as_vectors(queries, dim=x.shape[1], name="queries")
        base = x
    if base.shape[0] < k:
        raise InvalidParameterError(f"k={k} exceeds the {base.shape[0]} searchable vectors")
    truth = exact_topk(base, q, k, metric=metric)
    specs = list(candidates) if candidates is not None else default_candidates(x.shape[1],
                                                                               metric)
    if not specs:
        raise InvalidParameterError("candidates is empty")
    codecs = []
    for spec in specs:
        try:
            codecs.append((spec, make_codec(spec)))
        except LanceSpiralError as exc:
            raise InvalidParameterError(f"bad candidate {spec!r}: {exc}") from exc
    table: list[dict[str, Any]] = []
    fitted: list[tuple[dict[str, Any], Codec]] = []
    for spec, codec in sorted(codecs, key=lambda sc: _bytes_guess(sc[1], x.shape[1])):
        row: dict[str, Any] = {"spec": spec, "bytes_per_vector": None, "param_bytes": None,
                               "recall": None, "recall_lcb": None, "fit_seconds": None,
                               "met": False, "error": None}
        table.append(row)
        t0 = time.perf_counter()
        try:
            codec.fit(base, seed=seed)
        except (InvalidParameterError, InvalidInputError) as exc:
            row["error"] = str(exc)
            continue
        row["fit_seconds"] = round(time.perf_counter() - t0, 3)
        found = codec.search(q, codec.encode(base), k)[1]
        per_q = recall_per_query(found, truth, k)
        r = float(per_q.mean())
        lcb = r - _Z * float(per_q.std(ddof=1) if per_q.size > 1 else 0.0) / np.sqrt(per_q.size)
        row.update(bytes_per_vector=codec.code_bytes, param_bytes=codec.param_bytes,
                   recall=round(r, 4), recall_lcb=round(lcb, 4),
                   met=bool(lcb >= bar or r >= 1.0))
        fitted.append((row, codec))
        if row["met"]:
            break
    if not fitted:
        raise InvalidParameterError(
            "no candidate codec could be fitted on this sample: "
            + "; ".join(f"{r['spec']}: {r['error']}" for r in table)
        )
    met_rows = [(r, c) for r, c in fitted if r["met"]]
    row, codec = met_rows[0] if met_rows else max(fitted, key=lambda rc: rc[0]["recall"])
    return TunerResult(spec=codec.spec, codec=codec, bytes_per_vector=codec.code_bytes,
                       param_bytes=codec.param_bytes, recall=float(row["recall"]),
                       met=bool(met_rows), target_recall=float(target_recall), table=table)


def _bytes_guess(codec: Codec, dim: int) -> float:
    """Code bytes before fitting (a target-sized spiral codec needs ``dim``)."""
    try:
        return float(codec.code_bytes)
    except LanceSpiralError:
        cr = getattr(codec, "compression_ratio", None)
        if cr is not None:
            return (1.0 - float(cr)) * 4 * dim
        bits = getattr(codec, "bits", None)
        if codec.name == "float16":
            return 2.0 * dim
        return float(-(-int(bits) * dim // 8)) if isinstance(bits, int) else float("inf")
