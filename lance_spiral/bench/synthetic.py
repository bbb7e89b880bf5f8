"""Scale-benchmark data derived from real embeddings, and its exact ground truth.

The shared real set has 117,659 WordNet gloss embeddings (384-d, unit norm) and 1,000 real query
embeddings; a million-row benchmark needs more rows with the same geometry. Row ``i`` of the
synthetic base is a mixture of two real rows plus isotropic noise, re-normalised::

    v = w * x[a] + (1 - w) * x[b] + sigma * g / sqrt(d),   w ~ U(w_lo, 1), g ~ N(0, I)

(``a``, ``b`` uniform over the real rows). Query ``j`` mixes real query ``j mod 1000`` with one
real row the same way (``query_weight`` on the query). Every row is a pure function of
``(seed, chunk)``, so any worker regenerates any chunk: nothing large is stored.

Ground truth is exact: cosine (inner product of unit vectors) of every query with every row, in
blocks (a BLAS matrix product per block), keeping a running top-``k``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from lance_spiral._validation import check_int
from lance_spiral.errors import InvalidParameterError, NotFoundError

__all__ = ["CHUNK", "MixtureData", "exact_ground_truth"]

CHUNK = 65536


@dataclass
class MixtureData:
    """The generator (see module docs).

    Attributes:
        base_path: ``.npy`` of real row embeddings ``[N, d]`` (float16 or float32).
        query_path: ``.npy`` of real query embeddings ``[M, d]``.
        seed: Seed of every chunk's random stream.
        w_lo: Lower bound of the dominant row's weight.
        sigma: Noise scale (norm of the noise is about ``sigma``).
        query_weight: Weight of the real query in a synthetic query.
        query_sigma: Noise scale of queries.
    """

    base_path: str
    query_path: str
    seed: int = 0
    w_lo: float = 0.6
    sigma: float = 0.2
    query_weight: float = 0.85
    query_sigma: float = 0.1

    def __post_init__(self) -> None:
        for p in (self.base_path, self.query_path):
            if not Path(p).exists():
                raise NotFoundError(f"file not found: {p}")
        if not 0.0 <= self.w_lo <= 1.0 or self.sigma < 0 or self.query_sigma < 0:
            raise InvalidParameterError("w_lo must be in [0, 1] and the noise scales >= 0")
        self._real: npt.NDArray[np.float32] | None = None

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state["_real"] = None  # workers reload the rows from the file: never shipped
        return state

    @property
    def real(self) -> npt.NDArray[np.float32]:
        """The real rows, float32 unit norm (loaded once)."""
        if self._real is None:
            x = np.asarray(np.load(self.base_path, mmap_mode="r"), dtype=np.float32)
            self._real = x / np.linalg.norm(x, axis=1, keepdims=True)
        return self._real

    @property
    def dim(self) -> int:
        """Vector width."""
        return int(self.real.shape[1])

    def chunk(self, index: int, rows: int = CHUNK) -> npt.NDArray[np.float32]:
        """Rows ``[index * CHUNK, index * CHUNK + rows)`` of the base (``rows <= CHUNK``)."""
        check_int(index, "index", lo=0)
        check_int(rows, "rows", lo=0, hi=CHUNK)
        rng = np.random.default_rng([self.seed, 1, index])
        x = self.real
        a = rng.integers(0, len(x), CHUNK)[:rows]
        b = rng.integers(0, len(x), CHUNK)[:rows]
        w = rng.uniform(self.w_lo, 1.0, CHUNK)[:rows, None].astype(np.float32)
        g = rng.standard_normal((rows, x.shape[1]), dtype=np.float32)
        v = w * x[a] + (1.0 - w) * x[b] + (self.sigma / np.sqrt(x.shape[1])) * g
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)

    def base(self, n: int) -> Iterator[tuple[int, npt.NDArray[np.float32]]]:
        """``(first row id, rows)`` chunks of the first ``n`` base rows."""
        check_int(n, "n", lo=1)
        for i in range(-(-n // CHUNK)):
            yield i * CHUNK, self.chunk(i, min(CHUNK, n - i * CHUNK))

    def queries(self, nq: int) -> npt.NDArray[np.float32]:
        """``nq`` synthetic queries (independent of the base rows' streams)."""
        check_int(nq, "nq", lo=1)
        real_q = np.asarray(np.load(self.query_path), dtype=np.float32)
        real_q /= np.linalg.norm(real_q, axis=1, keepdims=True)
        rng = np.random.default_rng([self.seed, 2])
        x = self.real
        b = rng.integers(0, len(x), nq)
        g = rng.standard_normal((nq, x.shape[1]), dtype=np.float32)
        v = (self.query_weight * real_q[np.arange(nq) % len(real_q)]
             + (1.0 - self.query_weight) * x[b] + (self.query_sigma / np.sqrt(x.shape[1])) * g)
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def exact_ground_truth(data: MixtureData, n: int, queries: npt.NDArray[np.float32], k: int = 10,
                       progress: bool = False) -> tuple[npt.NDArray[np.int64],
                                                        npt.NDArray[np.float32]]:
    """Exact top-``k`` row ids and cosines of ``queries`` over the first ``n`` base rows.

    Returns:
        ``(ids int64 [nq, k], scores float32 [nq, k])``, best first.
    """
    nq = len(queries)
    best_s = np.full((nq, k), -np.inf, dtype=np.float32)
    best_i = np.full((nq, k), -1, dtype=np.int64)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, unit="rows", desc="ground truth")
    for start, x in data.base(n):
        s = queries @ x.T
        kk = min(k, s.shape[1])
        part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        cand_s = np.concatenate([best_s, np.take_along_axis(s, part, axis=1)], axis=1)
        cand_i = np.concatenate([best_i, part + start], axis=1)
        top = np.argsort(-cand_s, axis=1, kind="stable")[:, :k]
        best_s = np.take_along_axis(cand_s, top, axis=1)
        best_i = np.take_along_axis(cand_i, top, axis=1)
        if bar is not None:
            bar.update(len(x))
    if bar is not None:
        bar.close()
    return best_i, best_s
