"""Numba thread count for one block of code, restored afterwards (numba's setting is per thread)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numba

__all__ = ["numba_threads", "query_threads", "single_thread"]


@contextlib.contextmanager
def numba_threads(n: int) -> Iterator[None]:
    """Run the block's numba kernels on at most ``n`` threads, then restore the caller's setting.

    The setting is thread-local in numba, so a block on one thread never changes another's.
    """
    old = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(n), int(numba.config.NUMBA_NUM_THREADS))))  # type: ignore[attr-defined]
    try:
        yield
    finally:
        numba.set_num_threads(old)


def single_thread() -> contextlib.AbstractContextManager[None]:
    """Run numba kernels on the calling thread only.

    One query's kernels are small: launching a parallel region costs more than it saves and, on a
    busy machine, waiting for worker threads adds tail latency. Batches run queries in parallel
    on a thread pool instead (the kernels release the GIL).
    """
    return numba_threads(1)


def query_threads() -> int:
    """Threads one query's kernels may use: the calling thread's numba setting.

    All cores by default; a process serving one shard on fewer cores (a Ray actor) lowers it
    with :func:`numba_threads` around its searches.
    """
    return int(numba.get_num_threads())
