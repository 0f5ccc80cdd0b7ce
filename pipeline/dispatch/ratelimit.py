"""Pacing sends: a token bucket per channel, and the wait before a retry.

A provider's rate (one SMS a second on a US long code, an SMTP relay's hourly quota) is a
property of the channel, so the dispatcher holds one :class:`RateLimiter` per channel and calls
:meth:`RateLimiter.acquire` before every send.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# 2**60 base steps already exceed any sensible cap; the exponent is clipped so a runaway
# attempt count never overflows a float
_MAX_EXPONENT = 60


class RateLimiter:
    """A token bucket: ``per_second`` tokens a second, at most ``burst`` saved up.

    Parameters
    ----------
    per_second : float
        Sustained rate in messages per second; 0 (or less) means unlimited.
    burst : int, default 1
        Tokens the bucket holds; it starts full, so the first ``burst`` calls do not wait.
    clock : callable returning float, default time.monotonic
        Seconds on a monotonic clock.
    sleep : callable taking float, default time.sleep
        How to wait; tests pass a fake that advances their fake clock.
    full : bool, default True
        Start with ``burst`` tokens; False starts empty, so the first call already waits
        ``1 / per_second`` (several limiters sharing one provider limit — the partitions of
        a dispatch — then do not all burst at once when they start).

    Notes
    -----
    Thread-safe: a caller reserves its token under a lock (the balance may go negative, which
    queues callers fairly) and sleeps outside it.
    """

    def __init__(self, per_second: float, burst: int = 1,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, full: bool = True) -> None:
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        self.per_second = per_second
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst) if full else 0.0
        self._updated = clock()
        self._lock = threading.Lock()

    @property
    def unlimited(self) -> bool:
        """True when the limiter never waits."""
        return self.per_second <= 0

    def _reserve(self) -> float:
        """Take one token (possibly borrowed) and return how long to wait for it."""
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._updated)
            self._updated = now
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.per_second)
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.per_second

    def acquire(self) -> float:
        """Block until a token is available and take it.

        Returns
        -------
        float
            Seconds waited (0.0 when a token was ready or the limiter is unlimited).
        """
        if self.unlimited:
            return 0.0
        wait = self._reserve()
        if wait > 0:
            self._sleep(wait)
        return wait

    def try_acquire(self) -> bool:
        """Take a token only if one is ready now; never blocks."""
        if self.unlimited:
            return True
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._updated)
            self._updated = now
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.per_second)
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False


def backoff(attempt: int, base_s: float, max_s: float,
            retry_after: float | None = None) -> float:
    """Seconds to wait before retry number ``attempt`` of a transient failure.

    Parameters
    ----------
    attempt : int
        1 for the wait after the first failure, 2 after the second, ...
    base_s : float
        The first wait; each further one doubles it (2, 4, 8 … s for ``base_s=2``).
    max_s : float
        Cap on any wait, including one the provider asked for.
    retry_after : float, optional
        The provider's ``Retry-After`` in seconds; when given it is used instead of the
        exponential wait (the provider knows its own limit), still capped at ``max_s``.

    Returns
    -------
    float
        Seconds, in ``[0, max_s]``.
    """
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    if retry_after is not None:
        return min(max(0.0, float(retry_after)), max_s)
    return min(base_s * 2.0 ** min(attempt - 1, _MAX_EXPONENT), max_s)
