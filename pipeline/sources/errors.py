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


class InputError(SourceError):
    """A file given to a source cannot be used as it is: it does not exist, cannot be read or
    decoded, is of an unknown type, or lacks a column or variable the contract needs.

    Deterministic: fetching again gives the same error, so a run neither retries it nor falls
    back to the last good forecast; it stops and names the file and what to fix.
    """


class ModelDataUnavailable(SourceUnavailable):
    """No complete model cycle was found, or a step of the chosen cycle could not be fetched
    whole after the retries (the archive is behind, or lost a file); try again later or point
    ``ZIPCAST_SOURCES__MODEL_PRIORITY`` at another archive."""


class ModelFieldMissing(SourceError):
    """A published model step lacks a field the contract needs (its ``.idx`` has no line for
    it): the model or product is not the one expected; fetching again will not help."""
