"""Switch a live collection's codec (``quantize``) or pick one for a recall target (``optimize``).

Both re-encode the collection in one commit through
:meth:`~lance_spiral.table.CompressedTable.requantize`: searches running meanwhile see the old
codes or the new ones, never a mix. ``optimize`` runs :func:`~lance_spiral.codecs.choose_codec`
on the collection's reference sample (its own float vectors, see
:mod:`lance_spiral.server.records`) and applies the codec with the fewest bytes that meets the
target; every candidate it measured goes into the collection's history (the dashboard's chart).
"""

from __future__ import annotations

from typing import Any

from lance_spiral.codecs import choose_codec, make_codec
from lance_spiral.errors import InvalidInputError, InvalidParameterError, UnknownCodecError
from lance_spiral.server.rows import jsonable
from lance_spiral.server.service import Service
from lance_spiral.server.stats import MIN_REFERENCE

__all__ = ["STORAGE_MODES", "optimize", "quantize"]

STORAGE_MODES = ("compressed", "alongside")
MIN_SAMPLE = 300


def _check_spec(spec: Any, metric: str) -> str:
    if not isinstance(spec, str) or not spec.strip():
        raise UnknownCodecError(f"codec must be a codec spec such as 'sq:bits=4', got {spec!r}")
    make_codec(spec, metric=metric)
    return spec.strip()


def _check_mode(mode: Any, current: str) -> None:
    if mode is None or mode == current:
        return
    if mode in STORAGE_MODES:
        raise InvalidParameterError(
            f"this collection is stored in mode {current!r}; a live collection keeps its storage"
            f" mode (create a new collection in mode {mode!r} and add the rows there)")
    raise InvalidParameterError(f"mode must be one of {STORAGE_MODES}, got {mode!r}")


def quantize(service: Service, name: str, *, codec: str | None = None,
             target_recall: float | None = None, mode: str | None = None) -> dict[str, Any]:
    """Re-encode collection ``name`` with ``codec``, or with the codec meeting ``target_recall``.

    Returns:
        ``{"name", "previous_codec", "codec", "version", "requantize": {...what the table
        measured...}, "stats": {...at the new version...}}``.

    Raises:
        InvalidInputError: Neither or both of codec / target_recall.
        UnknownCodecError, InvalidParameterError: Bad codec spec, target or mode.
    """
    col = service.catalog.get(name)
    if (codec is None) == (target_recall is None):
        raise InvalidInputError("quantize needs exactly one of codec or target_recall")
    t = col.table
    _check_mode(mode, t.mode)
    with col.lock:
        t = col.table
        before = t.codec.spec if t.codec is not None else t.meta.codec_spec
        if codec is not None:
            result = t.requantize(_check_spec(codec, t.metric))
        else:
            result = t.requantize(target_recall=service.check_target(target_recall))
    stats = service.stats(name)
    return {"name": name, "previous_codec": before, "codec": stats["codec"],
            "version": stats["version"], "requantize": jsonable(result), "stats": stats}


def optimize(service: Service, name: str, *, target_recall: float,
             candidates: list[str] | None = None) -> dict[str, Any]:
    """Choose the fewest-bytes codec meeting ``target_recall`` and apply it.

    ``choose_codec`` measures the candidates on the collection's own reference vectors.

    Returns:
        ``{"name", "target_recall", "chosen", "met", "recall", "bytes_per_vector",
        "sample_rows", "candidates": [...choose_codec's table...], "version", "stats"}``.

    Raises:
        InvalidParameterError: Bad target or candidates; fewer than 300 reference vectors.
    """
    col = service.catalog.get(name)
    target = service.check_target(target_recall)
    t = col.table
    if candidates is not None:
        if not isinstance(candidates, list) or not candidates:
            raise InvalidParameterError("candidates must be a non-empty list of codec specs")
        candidates = [_check_spec(c, t.metric) for c in candidates]
    sample = service._reference(col)
    if len(sample) < max(MIN_SAMPLE, MIN_REFERENCE):
        raise InvalidParameterError(
            f"optimize needs at least {MIN_SAMPLE} reference vectors of collection {name!r};"
            f" it has {len(sample)} (they are kept from the first rows added through the"
            " server): add more rows, or use quantize with a codec")
    res = choose_codec(sample, target, metric=t.metric, candidates=candidates)
    with col.lock:
        t = col.table
        applied = t.requantize(res.spec)
        version = t.version
    tried = [row for row in res.table if row["recall"] is not None]
    met = [row for row in tried if row["met"]]
    pick = met[0] if met else max(tried, key=lambda r: r["recall"])
    col.records.record([{
        "source": "optimize", "spec": res.spec if row is pick else row["spec"],
        "code_bytes": row["bytes_per_vector"],
        "recall_at_10": row["recall"], "table_version": version, "chosen": row is pick}
        for row in tried])
    stats = service.stats(name)
    return {"name": name, "target_recall": target, "chosen": res.spec, "met": res.met,
            "recall": res.recall, "bytes_per_vector": res.bytes_per_vector,
            "param_bytes": res.param_bytes, "sample_rows": len(sample),
            "candidates": jsonable(res.table), "requantize": jsonable(applied),
            "version": version, "stats": stats}
