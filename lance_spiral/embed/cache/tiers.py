"""A three-tier embedding cache: hot LRU, compressed LRU, and a Lance table on disk.

Tiers, all keyed by the SHA-256 of the text within one ``model`` key:

* **L1** -- exact float32 vectors in an in-memory LRU bounded by bytes.
* **L2** -- vectors compressed by a codec from :mod:`lance_spiral.codecs` (``float16`` by
  default, or e.g. ``"sq:bits=8"``) in a second LRU bounded by bytes. Entries evicted from L1
  are demoted here; an L2 hit is decoded and promoted back to L1. Codecs that learn parameters
  are fitted on the first ``l2_fit_rows`` demoted vectors (held as float16 until then).
* **L3** -- a Lance table on disk (``l3_dir``), one per model key, with columns ``model``,
  ``text_sha256`` and ``vector`` (float32, exact: the disk tier never loses precision). New
  entries are buffered and appended in batches (each append is one atomic Lance commit), so a
  crash loses at most the unflushed buffer, never the table. Duplicate keys (two processes
  writing the same text) are harmless: reads keep the first row. The table survives restarts;
  :meth:`TieredCache.optimize` compacts it and indexes the key column. Several processes may
  share ``l3_dir``: no flush loses another's rows, and a table left half-written by a killed
  process is rebuilt with a warning (:mod:`lance_spiral.embed.cache.disk`).

Byte accounting counts vector or code bytes plus the 32-byte key per entry (Python object
overhead is not counted). Every method is thread-safe.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from lance_spiral._validation import as_vectors
from lance_spiral.embed.cache.disk import DiskTier, text_key
from lance_spiral.embed.protocol import check_texts
from lance_spiral.errors import (
    DimensionError,
    InvalidParameterError,
    UnknownCodecError,
)

if TYPE_CHECKING:
    from lance_spiral.codecs import Codec

__all__ = ["TieredCache"]

_KEY_BYTES = 32
_STAGED, _CODED = 0, 1


class TieredCache:
    """L1 float32 LRU + L2 compressed LRU + optional L3 Lance table, keyed by text hash.

    Args:
        model: The model key (include anything that changes the vectors: dimensions, options).
        l1_bytes: Budget of the exact in-memory tier (0 disables it).
        l2_bytes: Budget of the compressed in-memory tier (0 disables it).
        l2_codec: Codec spec for L2, e.g. ``"float16"`` or ``"sq:bits=8"``.
        l3_dir: Folder for the on-disk Lance table; ``None`` keeps the cache in memory only.
        l3_flush_rows: Buffered new entries that trigger an append to L3.
        l2_fit_rows: Demoted vectors used to fit an L2 codec that learns parameters.

    Raises:
        InvalidParameterError: Bad sizes or codec parameters.
        UnknownCodecError: ``l2_codec`` names a codec that is not registered.
    """

    def __init__(
        self,
        model: str,
        *,
        l1_bytes: int = 64 << 20,
        l2_bytes: int = 256 << 20,
        l2_codec: str = "float16",
        l3_dir: str | Path | None = None,
        l3_flush_rows: int = 256,
        l2_fit_rows: int = 256,
    ) -> None:
        if not isinstance(model, str) or not model:
            raise InvalidParameterError(f"model must be a non-empty string, got {model!r}")
        for label, v, lo in (("l1_bytes", l1_bytes, 0), ("l2_bytes", l2_bytes, 0),
                             ("l3_flush_rows", l3_flush_rows, 1), ("l2_fit_rows", l2_fit_rows, 1)):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise InvalidParameterError(f"{label} must be an int >= {lo}, got {v!r}")
        self._codec = _make_l2_codec(l2_codec)
        self.model = model
        self.l1_bytes, self.l2_bytes = l1_bytes, l2_bytes
        self.l2_codec = l2_codec
        self.l3_flush_rows, self.l2_fit_rows = l3_flush_rows, l2_fit_rows
        self.dim: int | None = None
        self._l1: OrderedDict[bytes, npt.NDArray[np.float32]] = OrderedDict()
        self._l2: OrderedDict[bytes, tuple[int, npt.NDArray[Any]]] = OrderedDict()
        self._l1_used = self._l2_used = 0
        self._mem_lock = threading.RLock()
        self._counts = dict.fromkeys(
            ("l1_hits", "l1_misses", "l2_hits", "l2_misses", "l3_hits", "l3_misses", "puts",
             "l1_evictions", "l2_evictions", "demotions", "promotions"), 0)
        self._l3: DiskTier | None = None
        if l3_dir is not None:
            self._l3 = DiskTier(model, l3_dir, flush_rows=l3_flush_rows)
            self.dim = self._l3.dim()
            atexit.register(_flush_at_exit, weakref.ref(self))

    @property
    def l3_uri(self) -> str | None:
        """URI of the disk tier's Lance table (``None`` without a disk tier)."""
        return None if self._l3 is None else self._l3.uri

    # -- public API ------------------------------------------------------------------------

    def get_many(
        self, texts: Sequence[str]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """Look texts up in L1, then L2, then L3.

        Args:
            texts: The texts (an empty list gives empty results).

        Returns:
            ``(vectors float32[n, dim], missing_idx int64[m])``: rows of missing texts are zero;
            ``dim`` is 0 while the cache has never seen a vector.

        Raises:
            DTypeError: ``texts`` is not a list of str.
        """
        items = check_texts(texts, allow_empty=True)
        keys = [text_key(t) for t in items]
        found: dict[int, npt.NDArray[np.float32]] = {}
        l2_found: list[tuple[int, bytes, tuple[int, npt.NDArray[Any]]]] = []
        with self._mem_lock:
            for i, k in enumerate(keys):
                v = self._l1.get(k)
                if v is not None:
                    self._l1.move_to_end(k)
                    found[i] = v
                    continue
                entry = self._l2.pop(k, None)
                if entry is not None:
                    self._l2_used -= self._l2_entry_bytes(entry)
                    l2_found.append((i, k, entry))
            n_l1 = len(found)
            self._counts["l1_hits"] += n_l1
            self._counts["l1_misses"] += len(keys) - n_l1
            self._counts["l2_hits"] += len(l2_found)
            self._counts["l2_misses"] += len(keys) - n_l1 - len(l2_found)
            if l2_found:
                decoded = self._l2_decode([e for _, _, e in l2_found])
                promoted = []
                for (i, k, _), v in zip(l2_found, decoded, strict=True):
                    found[i] = v
                    promoted.append((k, v))
                self._counts["promotions"] += len(promoted)
                self._l1_insert(promoted)
        rest = [i for i in range(len(keys)) if i not in found]
        if rest and self._l3 is not None:
            hits = self._l3.lookup([keys[i] for i in rest])
            promoted = []
            for i in rest:
                v = hits.get(keys[i])
                if v is not None:
                    found[i] = v
                    promoted.append((keys[i], v))
            with self._mem_lock:
                self._counts["l3_hits"] += len(promoted)
                self._counts["l3_misses"] += len(rest) - len(promoted)
                self._l1_insert(promoted)
        dim = self.dim or 0
        out = np.zeros((len(keys), dim), dtype=np.float32)
        for i, v in found.items():
            out[i] = v
        missing = np.array([i for i in range(len(keys)) if i not in found], dtype=np.int64)
        return out, missing

    def put_many(self, texts: Sequence[str], vectors: Any) -> None:
        """Store vectors for texts in L1 (evictions demote to L2) and, if enabled, in L3.

        Args:
            texts: The texts.
            vectors: float ``[len(texts), dim]``.

        Raises:
            DTypeError: Bad texts or non-float vectors.
            DimensionError: Row count or width does not match.
            NonFiniteError: NaN or infinite values.
        """
        items = check_texts(texts)
        vecs = as_vectors(vectors, name="vectors", dim=self.dim)
        if vecs.shape[0] != len(items):
            raise DimensionError(f"got {len(items)} texts but {vecs.shape[0]} vectors")
        keys = [text_key(t) for t in items]
        with self._mem_lock:
            if self.dim is None:
                self.dim = int(vecs.shape[1])
            elif vecs.shape[1] != self.dim:
                raise DimensionError(
                    f"vectors have dimension {vecs.shape[1]}, cache holds {self.dim}")
            self._counts["puts"] += len(keys)
            pairs = [(k, vecs[i].copy()) for i, k in enumerate(keys)]
            for k, _ in pairs:
                if k in self._l2:
                    self._l2_used -= self._l2_entry_bytes(self._l2.pop(k))
            self._l1_insert(pairs)
        if self._l3 is not None:
            self._l3.put(pairs, int(vecs.shape[1]))

    def flush(self) -> int:
        """Append buffered entries to L3 (one atomic commit); returns rows written."""
        return 0 if self._l3 is None else self._l3.flush(self.dim)

    def close(self) -> None:
        """Flush L3; the cache stays usable."""
        self.flush()

    def __enter__(self) -> TieredCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def optimize(self) -> None:
        """Flush, compact the L3 table's fragments and (re)build a BTREE index on the key."""
        if self._l3 is not None:
            self._l3.optimize(self.dim)

    def stats(self) -> dict[str, Any]:
        """Per-tier hit/miss counters, entries and bytes, evictions, demotions, promotions."""
        with self._mem_lock:
            out: dict[str, Any] = dict(self._counts)
            out.update(l1_entries=len(self._l1), l1_bytes=self._l1_used,
                       l2_entries=len(self._l2), l2_bytes=self._l2_used,
                       l2_codec=self.l2_codec, model=self.model, dim=self.dim)
        out["l3_pending"] = 0 if self._l3 is None else self._l3.pending
        out["l3_rows_written"] = 0 if self._l3 is None else self._l3.rows_written
        out["l3_appends"] = 0 if self._l3 is None else self._l3.appends
        lookups = out["l1_hits"] + out["l1_misses"]
        hits = out["l1_hits"] + out["l2_hits"] + out["l3_hits"]
        out["hit_rate"] = hits / lookups if lookups else 0.0
        return out

    def __len__(self) -> int:
        with self._mem_lock:
            return len(self._l1) + len(self._l2)

    # -- memory tiers ----------------------------------------------------------------------

    def _l1_insert(self, pairs: list[tuple[bytes, npt.NDArray[np.float32]]]) -> None:
        """Insert into L1 (caller holds the memory lock); evicted entries go to L2."""
        size = 4 * (self.dim or 0) + _KEY_BYTES
        evicted: list[tuple[bytes, npt.NDArray[np.float32]]] = []
        for k, v in pairs:
            if k in self._l1:
                self._l1.move_to_end(k)
                self._l1[k] = v
                continue
            self._l1[k] = v
            self._l1_used += size
            while self._l1_used > self.l1_bytes and self._l1:
                ek, ev = self._l1.popitem(last=False)
                self._l1_used -= size
                evicted.append((ek, ev))
        self._counts["l1_evictions"] += len(evicted)
        if evicted and self.l2_bytes > 0:
            self._l2_insert(evicted)

    def _l2_insert(self, pairs: list[tuple[bytes, npt.NDArray[np.float32]]]) -> None:
        # A vector evicted from L1 in this same batch may have been promoted just before.
        pairs = [(k, v) for k, v in pairs if k not in self._l1]
        if not pairs:
            return
        x = np.stack([v for _, v in pairs])
        if self._codec is None or not self._codec.fitted:
            staged = [(_STAGED, row) for row in x.astype(np.float16)]
            self._l2_put([k for k, _ in pairs], staged)
            self._maybe_fit_codec()
        else:
            codes = self._codec.encode(x)
            self._l2_put([k for k, _ in pairs], [(_CODED, row) for row in codes])
        self._counts["demotions"] += len(pairs)

    def _l2_put(self, keys: list[bytes], entries: list[tuple[int, npt.NDArray[Any]]]) -> None:
        for k, e in zip(keys, entries, strict=True):
            old = self._l2.pop(k, None)
            if old is not None:
                self._l2_used -= self._l2_entry_bytes(old)
            self._l2[k] = e
            self._l2_used += self._l2_entry_bytes(e)
        while self._l2_used > self.l2_bytes and self._l2:
            _, e = self._l2.popitem(last=False)
            self._l2_used -= self._l2_entry_bytes(e)
            self._counts["l2_evictions"] += 1

    def _maybe_fit_codec(self) -> None:
        if self._codec is None:
            return
        staged = [(k, e) for k, e in self._l2.items() if e[0] == _STAGED]
        if len(staged) < self.l2_fit_rows:
            return
        x = np.stack([e[1] for _, e in staged]).astype(np.float32)
        self._codec.fit(x)
        codes = self._codec.encode(x)
        for (k, e), c in zip(staged, codes, strict=True):
            self._l2_used += c.nbytes - e[1].nbytes
            self._l2[k] = (_CODED, c)

    def _l2_decode(
        self, entries: list[tuple[int, npt.NDArray[Any]]]
    ) -> list[npt.NDArray[np.float32]]:
        out: list[npt.NDArray[np.float32] | None] = [None] * len(entries)
        coded = [i for i, e in enumerate(entries) if e[0] == _CODED]
        if coded and self._codec is not None:
            dec = self._codec.decode(np.stack([entries[i][1] for i in coded]))
            for j, i in enumerate(coded):
                out[i] = dec[j]
        for i, e in enumerate(entries):
            if e[0] == _STAGED:
                out[i] = e[1].astype(np.float32)
        return [v for v in out if v is not None]

    @staticmethod
    def _l2_entry_bytes(entry: tuple[int, npt.NDArray[Any]]) -> int:
        return int(entry[1].nbytes) + _KEY_BYTES

def _make_l2_codec(spec: str) -> Codec | None:
    """Build the L2 codec; ``None`` means plain numpy float16 (same bytes as the codec)."""
    from lance_spiral.codecs import make_codec

    try:
        return make_codec(spec, metric="ip")
    except UnknownCodecError:
        if spec.strip() == "float16":
            return None
        raise
    except Exception as exc:
        raise InvalidParameterError(f"bad l2_codec {spec!r}: {exc}") from exc


def _flush_at_exit(ref: weakref.ReferenceType[TieredCache]) -> None:
    cache = ref()
    if cache is not None:
        try:
            cache.flush()
        except Exception:  # at interpreter shutdown losing a cache buffer is acceptable
            return
