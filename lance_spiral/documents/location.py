"""Where a document store's table lives: one table URI, or a database folder plus a table name.

LanceDB users pass a database URI and a ``table_name`` (several tables in one folder, each at
``<database>/<name>.lance``, which ``lancedb.connect(database).open_table(name)`` opens too);
Chroma users pass ``persist_directory`` and ``collection_name``. The adapters accept both
spellings and, for backward compatibility, a bare ``uri`` naming the table itself.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import lance

from lance_spiral.errors import InvalidParameterError

__all__ = ["drop_table", "is_remote", "resolve_location", "table_exists", "table_uri"]

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def is_remote(uri: str) -> bool:
    """Whether ``uri`` names an object store (``s3://``, ``gs://``...) rather than a path."""
    return "://" in uri and not uri.startswith("file://")


def _absolute(uri: str) -> str:
    if uri.startswith("file://"):
        uri = uri[len("file://"):]
    return uri if is_remote(uri) else str(Path(uri).expanduser().resolve())


def table_uri(database: str, name: str) -> str:
    """The URI of table ``name`` in the database folder ``database`` (``<database>/<name>.lance``).

    Raises:
        InvalidParameterError: A name LanceDB would refuse (empty, a path, odd characters).
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name.endswith(".lance"):
        raise InvalidParameterError(
            f"table name {name!r} is not valid: use letters, digits, '_', '-' and '.', without"
            " a '.lance' suffix or a path (as LanceDB table names)")
    base = _absolute(database)
    return f"{base.rstrip('/')}/{name}.lance"


def resolve_location(
    uri: str | os.PathLike[str] | None = None,
    *,
    table_name: str | None = None,
    persist_directory: str | os.PathLike[str] | None = None,
    collection_name: str | None = None,
    default_name: str,
) -> str | None:
    """The table URI from the spellings the frameworks use (None: a temporary table).

    * ``uri`` alone: the table itself (``data/docs.lance``);
    * ``uri`` + ``table_name`` (LanceDB): ``<uri>/<table_name>.lance``;
    * ``persist_directory`` [+ ``collection_name``] (Chroma): ``<dir>/<name>.lance``, the name
      defaulting to ``default_name``;
    * only a name, or nothing: a temporary folder (Chroma's ephemeral client).

    Raises:
        InvalidParameterError: Both ``uri`` and ``persist_directory``, or both ``table_name``
            and ``collection_name``, or an invalid name.
    """
    if uri is not None and persist_directory is not None:
        raise InvalidParameterError(
            "pass either uri (LanceDB style) or persist_directory (Chroma style), not both")
    if table_name is not None and collection_name is not None:
        raise InvalidParameterError(
            "pass either table_name (LanceDB style) or collection_name (Chroma style), not both")
    for label, value in (("uri", uri), ("persist_directory", persist_directory)):
        if value is not None and (not isinstance(value, str | os.PathLike) or not str(value)):
            raise InvalidParameterError(f"{label} must be a non-empty path or URI, got {value!r}")
    name = table_name if table_name is not None else collection_name
    if uri is not None:
        return _absolute(str(uri)) if name is None else table_uri(str(uri), name)
    if persist_directory is not None:
        return table_uri(str(persist_directory), name or default_name)
    if name is not None:
        table_uri("/", name)  # validate now, not at the first write
    return None


def table_exists(uri: str, storage_options: dict[str, str] | None = None) -> bool:
    """Whether a Lance dataset (of any kind, even a damaged one) is at ``uri``.

    On a local path this looks for the ``_versions`` folder, so a table whose manifest cannot be
    read still counts as present (opening it then raises the library's error instead of the
    store treating it as empty). On an object store it asks Lance.
    """
    if not is_remote(uri):
        return os.path.isdir(os.path.join(uri, "_versions"))
    try:
        lance.dataset(uri, storage_options=storage_options)
    except (ValueError, OSError):
        return False
    return True


def drop_table(uri: str, storage_options: dict[str, str] | None = None) -> None:
    """Delete the table at ``uri`` with every version and side file (no-op when absent)."""
    lance.LanceDataset.drop(uri, storage_options=storage_options, ignore_not_found=True)
