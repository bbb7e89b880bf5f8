"""Scale-out on Ray (``[distributed]`` extra): distributed ingest and sharded search.

Ray and lance-ray are imported only when a function here runs; without them it raises
:class:`~lance_spiral.errors.MissingDependencyError` naming the extra.
"""

from lance_spiral.distributed.ingest import ingest
from lance_spiral.distributed.sharded import ShardedQuery, ShardedTable, open_sharded

__all__ = ["ShardedQuery", "ShardedTable", "ingest", "open_sharded"]
