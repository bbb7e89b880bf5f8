"""Inference of a distilled approximator: tokeniser + onnxruntime, batched, with an LRU cache.

This module imports neither torch nor sentence-transformers.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections import OrderedDict
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from lance_spiral.embed.approximator.folders import (
    default_model_dir,
    missing_folder_message,
    shipped_model_dir,
)
from lance_spiral.embed.approximator.tokenizer import Tokenizer
from lance_spiral.errors import (
    CorruptDataError,
    FormatVersionError,
    InvalidInputError,
    NotFoundError,
)
from lance_spiral.kernels.threads import numba_threads

__all__ = ["Approximator", "shared_approximator"]

_FILES = (
    "model.onnx",
    "model.int8.onnx",
    "tables.safetensors",
    "head.onnx",
    "head.int8.onnx",
    "tokenizer.json",
    "config.json",
    # The sources' licences and notices travel with every copy of a model (WordNet's must).
    "SOURCES.md",
    "NOTICE.md",
)
_SMALL_BATCH = 16  # fewer texts than this pool on the calling thread alone
# 1: float16 fast-path tables; 2: int8 with row/column scales; 3: 2 + optional context tables;
# 4: 3 whose context keys may be stored as their map of the features (derived at load)
_FORMAT_VERSIONS = (1, 2, 3, 4)


class Approximator:
    """A fast student embedder living in its teacher's space.

    Use :meth:`load`; ``embed(texts)`` returns unit-norm float32 rows.

    Args:
        directory: Model directory written by the distiller.
        quantized: int8 matrix products: on the fast path the head ``head.int8.onnx`` (3.2x
            faster head, mean cosine 0.9996 to the float32 head on SciFact), else the whole
            int8 graph ``model.int8.onnx`` (exported with ``quantize=True``).
        fast: Use the folded tables + numba pooling + ``head.onnx`` when present (same maths as
            ``model.onnx``, much faster on long texts); False forces the whole ONNX graph.
        threads: Threads of one call: onnxruntime intra-op threads and numba's pooling threads
            (None: their defaults, except that fewer than 16 texts pool on the calling thread).
            numba's setting is restored after each call.
        cache_size: Entries in the LRU cache of recent texts (0 disables).
        batch_size: Texts per onnxruntime call.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        quantized: bool = False,
        fast: bool = True,
        threads: int | None = None,
        cache_size: int = 4096,
        batch_size: int = 256,
    ) -> None:
        import onnxruntime as ort

        d = Path(directory)
        if not d.is_dir():
            raise NotFoundError(missing_folder_message(d))
        model_file = d / ("model.int8.onnx" if quantized else "model.onnx")
        head_file = d / ("head.int8.onnx" if quantized else "head.onnx")
        use_tables = fast and (d / "tables.safetensors").is_file() and head_file.is_file()
        needed = [d / "tokenizer.json", d / "config.json"]
        if not use_tables:
            needed.insert(0, model_file)  # the fast path does not need the whole graph
        for f in needed:
            if not f.is_file():
                hint = (
                    f"neither {head_file.name} nor the whole int8 graph: re-export, or distill "
                    "with --quantize"
                    if f == model_file and quantized
                    else "an incomplete model folder: copy or distil it again"
                )
                raise NotFoundError(f"approximator file {f} not found ({hint})")
        if cache_size < 0 or batch_size < 1:
            raise InvalidInputError("cache_size must be >= 0 and batch_size >= 1")
        self.directory = d
        self.threads = threads
        self._model_file = model_file
        try:
            self.config = json.loads((d / "config.json").read_text())
            version = self.config.get("format_version")
        except (ValueError, AttributeError) as exc:  # bad JSON, bad text, not an object
            raise CorruptDataError(f"{d / 'config.json'} is not a JSON object: {exc}") from exc
        if version not in _FORMAT_VERSIONS:
            raise FormatVersionError(f"approximator format {version} unsupported")
        try:
            tok = json.loads((d / "tokenizer.json").read_text())
            self.tokenizer = Tokenizer(
                tok["kinds"],
                tok["texts"],
                max_tokens=int(tok["max_tokens"]),
                skipgrams=bool(tok["skipgrams"]),
                window=tok.get("window"),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # ValueError covers bad JSON and the tokeniser's own parameter/input errors.
            raise CorruptDataError(f"{d / 'tokenizer.json'} is corrupt: {exc!r}") from exc
        opts = ort.SessionOptions()
        if threads is not None:
            opts.intra_op_num_threads = int(threads)
            opts.inter_op_num_threads = 1
        # The whole-graph session is opened only when the fast path is not used (it would hold
        # a second copy of the tables: ~90 MB at 50,000 mined entries).
        self._session: Any = None
        self._tables: tuple[np.ndarray, np.ndarray] | None = None
        self._scales: tuple[np.ndarray, np.ndarray] | None = None
        self._context: Any = None
        self._head = None
        if use_tables:
            self._load_tables(d / "tables.safetensors")
            self._head = ort.InferenceSession(
                str(head_file), opts, providers=["CPUExecutionProvider"]
            )
        self._head_file = head_file
        if self._tables is None:
            self._session = ort.InferenceSession(
                str(model_file), opts, providers=["CPUExecutionProvider"]
            )
        self.dim = int(self.config["dim"])
        self.batch_size = int(batch_size)
        self.cache_size = int(cache_size)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        # The LRU order changes on every hit: threads sharing this instance (the adapters run
        # embeds in worker threads) take this lock for every cache read and write.
        self._cache_lock = threading.Lock()

    def _load_tables(self, path: Path) -> None:
        """Read and check the fast path's tables (int8 + scales, or float16 from format 1)."""
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        try:
            t = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CorruptDataError(f"{path} is not a readable safetensors file: {exc}") from exc
        feats, logits = t.get("features"), t.get("logits")
        if feats is None or logits is None or feats.ndim != 2 or logits.ndim != 2:
            raise CorruptDataError(f"{path} lacks 2-D 'features' and 'logits' tables")
        n, width = feats.shape
        heads = logits.shape[1]
        if logits.shape[0] != n or heads < 1 or width % heads:
            raise CorruptDataError(
                f"{path}: features {feats.shape} and logits {logits.shape} do not match"
            )
        if n != self.tokenizer.size:
            raise CorruptDataError(
                f"{path} has {n} rows for {self.tokenizer.size} vocabulary entries"
            )
        if feats.dtype == np.int8:
            rows, cols = t.get("row_scales"), t.get("col_scales")
            if rows is None or cols is None or rows.shape != (n,) or cols.shape != (width,):
                raise CorruptDataError(f"{path}: int8 features without matching row/col scales")
            self._scales = (rows.astype(np.float32), cols.astype(np.float32))
            self._tables = (feats, logits.astype(np.float32))
        else:
            self._tables = (feats.astype(np.float32), logits.astype(np.float32))
            # Ones made once: pooling float tables then allocates nothing per call.
            self._scales = (np.ones(n, np.float32), np.ones(width, np.float32))
        if not np.isfinite(self._tables[1]).all() or (
            self._scales is not None and not all(np.isfinite(x).all() for x in self._scales)
        ):
            raise CorruptDataError(f"{path} holds NaN or inf")
        from lance_spiral.embed.approximator.context import ContextPass

        try:
            self._context = ContextPass.from_tables(t, n, width)
        except InvalidInputError as exc:
            raise CorruptDataError(f"{path}: {exc}") from exc
        model = self.config.get("model")
        wants = model.get("context_heads", 0) if isinstance(model, dict) else 0
        if isinstance(wants, bool) or not isinstance(wants, int):
            raise CorruptDataError(f"config.json: context_heads {wants!r} is not an int")
        has = self._context.heads if self._context is not None else 0
        if wants != has:
            raise CorruptDataError(
                f"{path} has a context pass of {has} heads, config.json says {wants}"
            )

    @classmethod
    def load(
        cls, directory: str | os.PathLike[str] | None = None, **kwargs: object
    ) -> Approximator:
        """Open a model directory (default: :func:`default_model_dir`).

        Args:
            directory: Model directory.
            **kwargs: Passed to the constructor (``quantized``, ``threads``, ``cache_size``...).

        Returns:
            The approximator.
        """
        return cls(directory if directory is not None else default_model_dir(), **kwargs)  # type: ignore[arg-type]

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Copy the model files, and its ``SOURCES.md`` / ``NOTICE.md``, into ``directory``.

        Returns:
            The directory.
        """
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        for name in _FILES:
            src = self.directory / name
            if src.is_file() and src.resolve() != (out / name).resolve():
                shutil.copy2(src, out / name)
        return out

    @property
    def name(self) -> str:
        """Which model this is: ``name`` (or ``model_id``) from its config.json, else its folder.

        The shipped model's name ends in `` (shipped)`` (``general (shipped)`` without a config
        name), so reports say which model they used.
        """
        cfg = self.config.get("name") or self.config.get("model_id")
        try:
            shipped = self.directory.resolve() == shipped_model_dir().resolve()
        except OSError:
            shipped = False
        if isinstance(cfg, str) and cfg.strip():
            label = cfg.strip()
        else:
            label = "general" if shipped else self.directory.name
        return f"{label} (shipped)" if shipped else label

    @property
    def size_mb(self) -> float:
        """Size of the files this instance infers from (tables + head or model, tokenizer), MB."""
        if self._tables is not None:
            names = ["tables.safetensors", self._head_file.name, "tokenizer.json"]
        else:
            names = [self._model_file.name, "tokenizer.json"]
        return sum((self.directory / n).stat().st_size for n in names) / 1e6

    def _run(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        flat, offsets = self.tokenizer.tokenize_batch(texts)
        lengths = np.diff(offsets)
        if self._tables is not None and self._head is not None:
            from lance_spiral.embed.approximator.pooling import pool_folded

            # numba's thread count is per calling thread: set for this call only, then restored.
            # A few texts run on the calling thread: a parallel region costs more than it saves
            # and, on a busy machine, waiting for worker threads adds tail latency.
            threads = self.threads
            if threads is None and len(texts) < _SMALL_BATCH:
                threads = 1
            with numba_threads(threads) if threads is not None else nullcontext():
                pooled = pool_folded(flat, offsets, *self._tables, self._scales)
                if self._context is not None:
                    pooled = self._context.apply(flat, offsets, pooled)
            for start in range(0, len(texts), self.batch_size):
                part = pooled[start : start + self.batch_size]
                out[start : start + len(part)] = self._head.run(None, {"pooled": part})[0]
            return out
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            width = max(int(lengths[idx].max()), 1)
            mask = np.arange(width)[None, :] < lengths[idx][:, None]
            pos = offsets[idx][:, None] + np.arange(width)[None, :]
            ids = np.zeros((len(idx), width), dtype=np.int64)
            ids[mask] = flat[pos[mask]]
            out[idx] = self._session.run(None, {"ids": ids})[0]
        return out

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts.

        Args:
            texts: A list/sequence of strings (not a bare string).

        Returns:
            float32 [n, dim], unit norm (an empty text gets the model's constant vector).

        Raises:
            InvalidInputError: If ``texts`` is a string or holds non-strings.
        """
        if isinstance(texts, (str, bytes)):
            raise InvalidInputError("texts must be a list of str, not a single string")
        texts = list(texts)
        bad = [type(t).__name__ for t in texts if not isinstance(t, str)]
        if bad:
            raise InvalidInputError(f"texts must all be str, found {bad[0]}")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        if self.cache_size == 0:
            return self._run(texts)
        missing: dict[str, list[int]] = {}
        with self._cache_lock:
            for i, t in enumerate(texts):
                hit = self._cache.get(t)
                if hit is not None:
                    self._cache.move_to_end(t)
                    out[i] = hit
                else:
                    missing.setdefault(t, []).append(i)
        if missing:
            todo = list(missing)
            vecs = self._run(todo)  # outside the lock: threads embed at the same time
            for t, v in zip(todo, vecs, strict=False):
                out[missing[t]] = v
            with self._cache_lock:
                for t, v in zip(todo, vecs, strict=False):
                    self._cache[t] = v
                    self._cache.move_to_end(t)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return out


_SHARED: dict[tuple[str, bool], Approximator] = {}
_SHARED_LOCK = threading.Lock()


def shared_approximator(directory: str | os.PathLike[str] | None = None, *,
                        quantized: bool = False) -> Approximator:
    """One :class:`Approximator` per model folder and process, loaded on first use.

    The framework adapters and the LanceDB registry function call this on every embed: the
    model is loaded once even when threads ask at the same time, and every adapter in the
    process shares it.
    """
    path = Path(directory) if directory is not None else default_model_dir()
    key = (str(path.expanduser().resolve()), bool(quantized))
    model = _SHARED.get(key)
    if model is None:
        with _SHARED_LOCK:
            model = _SHARED.get(key)
            if model is None:
                model = Approximator.load(path, quantized=quantized)
                _SHARED[key] = model
    return model
