"""What a distributed ingest reads: a Ray Dataset, or Parquet / JSON-lines files.

The driver's fit sample (the first rows) is read straight from the files with pyarrow, in file
order, without a Ray job; a Ray Dataset source is sampled with ``take_batch``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from lance_spiral._optional import require
from lance_spiral.errors import InvalidInputError, NotFoundError

__all__ = ["Source", "read_source"]

_PARQUET = (".parquet", ".pq")
_JSON = (".jsonl", ".json", ".ndjson")


@dataclass
class Source:
    """A Ray Dataset to ingest, and where its rows come from.

    Attributes:
        dataset: The Ray Dataset.
        kind: ``"ray"``, ``"parquet"`` or ``"json"``.
        paths: The files (file sources).
    """

    dataset: Any
    kind: str
    paths: list[str] = field(default_factory=list)

    def head(self, n: int) -> pa.Table:
        """The first ``n`` rows (fewer when the source is smaller)."""
        if self.kind == "ray":
            out = self.dataset.limit(n).take_batch(n, batch_format="pyarrow")
            return out if isinstance(out, pa.Table) else pa.table({})
        parts: list[pa.Table] = []
        got = 0
        if self.kind == "parquet":
            import pyarrow.dataset as pads

            return pads.dataset(self.paths, format="parquet").head(n)
        import pyarrow.json as pajson

        for p in self.paths:
            tbl = pajson.read_json(p)
            parts.append(tbl.slice(0, n - got))
            got += parts[-1].num_rows
            if got >= n:
                break
        return pa.concat_tables(parts, promote_options="permissive") if parts else pa.table({})


def read_source(source: Any) -> Source:
    """A :class:`Source` from a Ray Dataset, or from Parquet / JSON-lines paths (one kind).

    Raises:
        NotFoundError: A local path does not exist.
        InvalidInputError: Mixed or unknown file kinds, or an empty list.
    """
    ray_data = require("ray.data", "distributed")
    if isinstance(source, ray_data.Dataset):
        return Source(source, "ray")
    given = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    if not given or not all(isinstance(p, (str, os.PathLike)) for p in given):
        raise InvalidInputError("source must be a Ray Dataset or Parquet/JSONL path(s)")
    paths: list[str] = [str(os.fspath(p)) for p in given]
    for p in paths:
        if "://" not in p and not Path(p).exists():
            raise NotFoundError(f"source file not found: {p}")
    kinds = {"parquet" if p.lower().endswith(_PARQUET)
             else "json" if p.lower().endswith(_JSON) else "?" for p in paths}
    if kinds == {"parquet"}:
        return Source(ray_data.read_parquet(paths), "parquet", paths)
    if kinds == {"json"}:
        return Source(ray_data.read_json(paths, lines=True), "json", paths)
    raise InvalidInputError(
        f"source paths must all be Parquet ({', '.join(_PARQUET)}) or JSON lines"
        f" ({', '.join(_JSON)}) files, got {paths}")
