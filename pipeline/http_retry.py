"""``Retry-After`` for every HTTP client in zipcast (forecast sources and dispatch channels)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from pipeline.times import utc


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from an HTTP ``Retry-After`` header (RFC 9110 §10.2.3).

    Parameters
    ----------
    value : str or None
        Either delay-seconds (``"120"``) or an HTTP-date (``"Wed, 21 Oct 2015 07:28:00 GMT"``).
    now : datetime, optional
        The current time for an HTTP-date (aware); default: the system clock.

    Returns
    -------
    float or None
        Non-negative seconds, or None when the header is missing or unreadable.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    when = utc(when)  # an HTTP-date is always GMT
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())
