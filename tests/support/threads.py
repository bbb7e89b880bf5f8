"""One writer thread and several reader threads on a shared handle, errors collected."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np


def write_while_reading(write: Callable[[], None],
                        read_once: Callable[[np.random.Generator], list[str]], *,
                        readers: int = 3, min_reads: int = 30,
                        timeout: float = 120.0) -> tuple[list[str], int]:
    """Run ``write`` on one thread while ``readers`` threads call ``read_once`` in a loop.

    Readers keep reading until the writer is done and at least ``min_reads`` reads were made in
    all; ``read_once`` returns the problems it saw (empty when the read was right). An exception
    on either side ends that thread and is reported as a problem.

    Returns:
        Every problem reported, and the number of reads made.
    """
    done = threading.Event()
    errors: list[str] = []
    reads = [0]

    def writer() -> None:
        try:
            write()
        except Exception as exc:  # reported to the test
            errors.append(f"writer: {exc!r}")
        finally:
            done.set()

    def reader(seed: int) -> None:
        rng = np.random.default_rng(seed)
        while not done.is_set() or reads[0] < min_reads:
            try:
                errors.extend(read_once(rng))
            except Exception as exc:  # reported to the test
                errors.append(f"reader: {exc!r}")
                return
            reads[0] += 1

    threads = [threading.Thread(target=writer)] + [
        threading.Thread(target=reader, args=(s,)) for s in range(readers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    return errors, reads[0]
