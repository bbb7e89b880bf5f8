"""When a long-lived store looks for versions other processes committed.

A table handle stays on the version it last read or wrote, so a store kept open by an app would
never see another process's rows. LanceDB's answer is ``read_consistency_interval``; the stores
take the same option: after that many seconds, a read first moves the handle to the latest
version (cheap: the table's search state is extended by the new fragments only).
"""

from __future__ import annotations

import time
from datetime import timedelta

from lance_spiral.errors import InvalidParameterError

__all__ = ["Freshness"]


class Freshness:
    """A read consistency interval and when the handle was last brought up to date.

    Args:
        interval: Seconds or a ``timedelta``; ``0`` checks before every read, ``None`` never.

    Raises:
        InvalidParameterError: A negative, NaN or non-numeric interval.
    """

    def __init__(self, interval: float | timedelta | None) -> None:
        value = interval.total_seconds() if isinstance(interval, timedelta) else interval
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not value >= 0):
            raise InvalidParameterError("read_consistency_interval must be seconds >= 0, a"
                                        f" timedelta or None, got {interval!r}")
        self.interval = None if value is None else float(value)
        self._last = time.monotonic()

    def due(self) -> bool:
        """Whether the interval has passed since :meth:`mark`."""
        return self.interval is not None and time.monotonic() - self._last >= self.interval

    def mark(self) -> None:
        """Record that the handle was just brought up to date."""
        self._last = time.monotonic()
