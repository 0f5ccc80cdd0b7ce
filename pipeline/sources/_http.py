"""Shared HTTP habits of the web sources: retries with backoff, Retry-After, a call budget.

The HTTP client, the clock and the sleep function are parameters, so tests run against a local
server with a fake clock and no real waiting.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from pipeline.config.sources import SourceSettings
from pipeline.http_retry import parse_retry_after
from pipeline.sources.errors import QuotaExceeded, SourceError, SourceUnavailable

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})

Sleep = Callable[[float], None]
Clock = Callable[[], float]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry: ``backoff_s * 2**attempt``, capped, Retry-After wins."""

    retries: int = 4
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0

    @classmethod
    def from_settings(cls, settings: SourceSettings) -> RetryPolicy:
        return cls(settings.http_retries, settings.http_backoff_s, settings.http_max_backoff_s)


def retry_after_s(response: httpx.Response, now: Clock = time.time) -> float | None:
    """Seconds the server asks us to wait (``Retry-After`` as seconds or an HTTP date)."""
    return parse_retry_after(response.headers.get("Retry-After"),
                             now=datetime.fromtimestamp(now(), UTC))


def get_json(
    client: httpx.Client,
    url: str,
    *,
    source: str,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    policy: RetryPolicy = RetryPolicy(),
    sleep: Sleep = time.sleep,
    where: str = "",
) -> Any:
    """GET ``url`` and decode JSON, retrying 429 / 5xx / timeouts / connection errors.

    Raises
    ------
    SourceUnavailable
        Still failing after ``policy.retries`` retries; says what failed, where, how often.
    SourceError
        A non-retryable status (e.g. 400, 404) or a body that is not JSON.
    """
    response = get(client, url, source=source, params=params, headers=headers,
                   policy=policy, sleep=sleep, where=where)
    try:
        return response.json()
    except ValueError as err:
        raise SourceError(
            f"{source}: malformed JSON from {_base(url)}{where}: {err}; "
            f"body starts {response.text[:80]!r}"
        ) from None


def get(
    client: httpx.Client,
    url: str,
    *,
    source: str,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    policy: RetryPolicy = RetryPolicy(),
    sleep: Sleep = time.sleep,
    where: str = "",
) -> httpx.Response:
    """GET ``url`` with retries (see :func:`get_json`); returns the 2xx response."""
    problem = ""
    for attempt in range(policy.retries + 1):
        wait = min(policy.backoff_s * 2**attempt, policy.max_backoff_s)
        try:
            response = client.get(url, params=params, headers=headers)
        except httpx.TimeoutException as err:
            problem = f"timed out ({type(err).__name__})"
        except httpx.TransportError as err:
            problem = f"connection failed ({type(err).__name__}: {err})"
        else:
            if response.is_success:
                return response
            if response.status_code not in RETRY_STATUS:
                raise SourceError(
                    f"{source}: HTTP {response.status_code} from {_base(url)}{where}: "
                    f"{_reason(response)}"
                )
            problem = f"HTTP {response.status_code} {_reason(response)}"
            asked = retry_after_s(response)
            if asked is not None:
                wait = min(asked, policy.max_backoff_s)
        if attempt < policy.retries:
            log.warning("%s: %s from %s%s; retry %d/%d in %.1f s", source, problem,
                        _base(url), where, attempt + 1, policy.retries, wait)
            sleep(wait)
    raise SourceUnavailable(
        f"{source}: {problem} from {_base(url)}{where} after {policy.retries + 1} attempt(s); "
        "the provider may be down or rate-limiting — try again later"
    )


def _base(url: str) -> str:
    return url.split("?", 1)[0]


def _reason(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:120] if text else response.reason_phrase


@dataclass
class CallBudget:
    """Sliding-window call budget (per minute / hour / day) with an injected clock.

    Weights are provider "calls" (Open-Meteo counts one per location, more for many variables).
    Minute and hour limits are waited out with ``sleep``; the day limit is refused with
    :class:`QuotaExceeded`, since waiting a day helps no run. Keep one budget per process (the
    flow can pass the same object to every run) so usage carries across runs.
    """

    per_minute: float | None = None
    per_hour: float | None = None
    per_day: float | None = None
    clock: Clock = time.time
    sleep: Sleep = time.sleep
    source: str = "open-meteo"
    _used: deque[tuple[float, float]] = field(default_factory=deque)

    def used(self, seconds: float) -> float:
        """Calls spent in the last ``seconds``."""
        since = self.clock() - seconds
        return sum(w for t, w in self._used if t > since)

    def check_day(self, weight: float) -> None:
        """Refuse a run that needs ``weight`` calls when the day's budget cannot cover it."""
        if self.per_day is None:
            return
        left = self.per_day - self.used(86_400)
        if weight > left:
            raise QuotaExceeded(
                f"{self.source}: this run needs {weight:,.0f} calls but only {left:,.0f} of "
                f"the {self.per_day:,.0f}/day budget are left; use a coarser grid "
                "(ZIPCAST_SOURCES__OPEN_METEO_GRID_DEG), fewer ZIPs, an API key, or wait"
            )

    def spend(self, weight: float) -> None:
        """Record ``weight`` calls, first waiting until minute/hour windows have room."""
        self.check_day(weight)
        for limit, window in ((self.per_minute, 60.0), (self.per_hour, 3_600.0)):
            if limit is None:
                continue
            if weight > limit:
                raise QuotaExceeded(
                    f"{self.source}: one request of {weight:,.0f} calls exceeds the "
                    f"{limit:,.0f} per {window:.0f} s limit; lower the batch size"
                )
            while self.used(window) + weight > limit:
                oldest = min(t for t, _ in self._used if t > self.clock() - window)
                wait = oldest + window - self.clock() + 0.01
                log.info("%s: call budget full, waiting %.1f s", self.source, wait)
                self.sleep(max(wait, 0.01))
        now = self.clock()
        self._used.append((now, weight))
        while self._used and self._used[0][0] <= now - 86_400:
            self._used.popleft()
