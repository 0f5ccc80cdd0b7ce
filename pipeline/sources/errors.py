"""Named errors of the forecast sources: what went wrong, where, and what to do.

``ForecastUnavailable`` means "no usable forecast now" (retryable later: provider down, quota
used up); ``SourceError`` means "what the provider or file sent is unusable" (fix the input).
"""

from __future__ import annotations


class ForecastUnavailable(RuntimeError):
    """A source returned no rows for the requested ZIPs and issue time."""


class SourceUnavailable(ForecastUnavailable):
    """A provider could not be reached or kept failing after the allowed retries."""


class QuotaExceeded(ForecastUnavailable):
    """The run would exceed the provider's call budget; refused before calling."""


class SourceError(ValueError):
    """A provider or file sent something that cannot be turned into contract rows."""


class SourceConfigError(ValueError):
    """A source setting is missing or wrong (e.g. no User-Agent for api.weather.gov)."""
