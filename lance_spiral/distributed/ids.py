"""Id uniqueness for a distributed ingest, checked before any fragment is written.

``create_table`` / ``add`` refuse an id that appears twice in one write; a distributed ingest
must give the same answer, but no single process sees every row. The check is a Ray Data
aggregation over the id column only (the source's, plus the existing table's when appending):
a hash group-by with one partition per worker, then the groups counted more than once.
"""

from __future__ import annotations

from typing import Any

from lance_spiral._optional import require
from lance_spiral.errors import InvalidInputError

__all__ = ["check_unique_ids"]

_SHOWN = 5


def check_unique_ids(
    rds: Any,
    id_column: str,
    *,
    existing_uri: str | None = None,
    storage_options: dict[str, str] | None = None,
    partitions: int = 2,
) -> None:
    """Raise when an id appears twice in the source, or in the source and the table.

    Args:
        rds: The source Ray Dataset.
        id_column: The id column (null ids are left to the encoder's row checks).
        existing_uri: The table appended to (its ids count too), or None for a new table.
        storage_options: Lance storage options for ``existing_uri``.
        partitions: Hash partitions of the group-by (the number of workers).

    Raises:
        InvalidInputError: Repeated ids (up to five named); nothing has been written.
    """
    ray_data = require("ray.data", "distributed")
    expressions = require("ray.data.expressions", "distributed")
    col = expressions.col
    ids = rds.select_columns([id_column])
    if existing_uri is not None:
        old = ray_data.read_lance(existing_uri, columns=[id_column],
                                  storage_options=storage_options)
        new_type = ids.schema().base_schema.field(id_column).type
        old_type = old.schema().base_schema.field(id_column).type
        if new_type != old_type:
            raise InvalidInputError(
                f"source column {id_column!r} is {new_type}, the table's ids are {old_type}")
        ids = ids.union(old)
    counts = ids.groupby(id_column, num_partitions=max(1, partitions)).count()
    repeated = counts.filter(expr=(col("count()") > 1) & col(id_column).is_not_null())
    rows = repeated.take(_SHOWN)
    if rows:
        shown = ", ".join(f"{r[id_column]!r} ({r['count()']}x)" for r in rows)
        where = "in the source and the table" if existing_uri is not None else "in the source"
        raise InvalidInputError(
            f"ids must be unique: repeated {where}: {shown}"
            f"{' and more' if len(rows) == _SHOWN else ''}; nothing was written")
