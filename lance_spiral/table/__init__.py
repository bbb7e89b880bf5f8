"""Compressed Lance tables: plain Lance datasets of encoded vectors, with fast search.

Example:
    >>> from lance_spiral.table import create_table
    >>> t = create_table("/tmp/docs.lance", rows, codec="sq:bits=8")  # doctest: +SKIP
    >>> t.search(query_vector).where("year > 2020").limit(10).to_list()  # doctest: +SKIP
"""

from lance_spiral.table.compress import CompressResult, compress_table
from lance_spiral.table.create import create_table
from lance_spiral.table.meta import FORMAT_VERSION, TableMeta
from lance_spiral.table.query import Query
from lance_spiral.table.snapshot import Snapshot
from lance_spiral.table.table import MODES, CompressedTable, open_table

__all__ = ["FORMAT_VERSION", "MODES", "CompressResult", "CompressedTable", "Query", "Snapshot",
           "TableMeta", "compress_table", "create_table", "open_table"]
