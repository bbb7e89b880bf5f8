"""Token-bucket rate limiting (requests and tokens per minute) and jittered exponential backoff.

Both take the clock and the sleep function as arguments, so their pacing is testable by counting
simulated seconds instead of measuring wall time.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

from lance_spiral.errors import InvalidParameterError

__all__ = ["RateLimiter", "TokenBucket", "backoff_delay"]

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class TokenBucket:
    """A thread-safe token bucket refilled at ``rate_per_minute``, holding at most ``capacity``.

    A request larger than the capacity is admitted once the bucket is full and drives the level
    negative, so oversize requests are paced instead of blocking forever.

    Args:
        rate_per_minute: Refill rate (> 0).
        capacity: Burst size; defaults to one second of refill (at least 1).
        clock: Monotonic time in seconds (injectable for tests).
        sleep: Sleep function (injectable for tests).
    """

    def __init__(
        self,
        rate_per_minute: float,
        capacity: float | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        if not isinstance(rate_per_minute, int | float) or not rate_per_minute > 0:
            raise InvalidParameterError(f"rate_per_minute must be > 0, got {rate_per_minute!r}")
        self.rate = float(rate_per_minute) / 60.0
        cap = max(1.0, self.rate) if capacity is None else float(capacity)
        if not cap > 0:
            raise InvalidParameterError(f"capacity must be > 0, got {capacity!r}")
        self.capacity = cap
        self._clock = clock
        self._sleep = sleep
        self._level = cap
        self._last = clock()
        self._lock = threading.Lock()
        self.waited = 0.0  # total seconds callers were told to sleep

    def _refill(self) -> None:
        now = self._clock()
        self._level = min(self.capacity, self._level + (now - self._last) * self.rate)
        self._last = now

    def acquire(self, amount: float = 1.0) -> float:
        """Take ``amount`` tokens, sleeping until they are available; returns seconds slept."""
        need = min(float(amount), self.capacity)
        slept = 0.0
        while True:
            with self._lock:
                self._refill()
                if self._level >= need - 1e-9 * max(1.0, need):  # float rounding of refills
                    self._level -= float(amount)
                    return slept
                wait = (need - self._level) / self.rate
                self.waited += wait
            self._sleep(wait)
            slept += wait

    def adjust(self, delta: float) -> None:
        """Debit (``delta > 0``) or refund (``delta < 0``) tokens after the true cost is known."""
        with self._lock:
            self._refill()
            self._level = min(self.capacity, self._level - float(delta))


class RateLimiter:
    """Requests-per-minute and tokens-per-minute buckets used together.

    Args:
        requests_per_minute: Request quota, or ``None`` for unlimited.
        tokens_per_minute: Input-token quota, or ``None`` for unlimited.
        burst_seconds: Bucket capacity in seconds of quota (1.0 = one second's worth).
        clock: Monotonic time in seconds (injectable for tests).
        sleep: Sleep function (injectable for tests).
    """

    def __init__(
        self,
        requests_per_minute: float | None,
        tokens_per_minute: float | None,
        *,
        burst_seconds: float = 1.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        if not isinstance(burst_seconds, int | float) or not burst_seconds > 0:
            raise InvalidParameterError(f"burst_seconds must be > 0, got {burst_seconds!r}")
        self.requests = (
            None if requests_per_minute is None else TokenBucket(
                requests_per_minute, max(1.0, requests_per_minute / 60 * burst_seconds),
                clock=clock, sleep=sleep)
        )
        self.tokens = (
            None if tokens_per_minute is None else TokenBucket(
                tokens_per_minute, max(1.0, tokens_per_minute / 60 * burst_seconds),
                clock=clock, sleep=sleep)
        )

    def acquire(self, tokens: float) -> float:
        """Admit one request of about ``tokens`` input tokens; returns seconds slept."""
        slept = 0.0
        if self.requests is not None:
            slept += self.requests.acquire(1.0)
        if self.tokens is not None:
            slept += self.tokens.acquire(tokens)
        return slept

    def correct_tokens(self, estimated: float, actual: float) -> None:
        """Settle the token bucket once the service has reported the true token count."""
        if self.tokens is not None and actual != estimated:
            self.tokens.adjust(actual - estimated)


def backoff_delay(
    attempt: int, *, base: float = 0.5, cap: float = 20.0, rng: random.Random | None = None
) -> float:
    """Equal-jitter exponential backoff: ``d/2 + uniform(0, d/2)`` with ``d = min(cap, base*2**n)``.

    Half the delay is fixed so that retries really back off; the random half spreads out
    clients that were throttled together.
    """
    r = rng if rng is not None else random
    d = min(cap, base * (2.0 ** attempt))
    return d / 2.0 + r.uniform(0.0, d / 2.0)
