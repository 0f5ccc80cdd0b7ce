"""Forecast sources: each turns what a provider sends into forecast-contract rows.

A source is a callable ``(zips, issue_time, **options) -> DataFrame`` registered by name in
:data:`SOURCES`. :func:`fetch_forecast` picks one, runs it and checks its output against the
contract (:func:`pipeline.validate.validate_forecast`), so nothing downstream sees bad rows.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import partial
from typing import Any

import pandas as pd

from pipeline.sources.errors import (
    ForecastUnavailable,
    InputError,
    ModelDataUnavailable,
    ModelFieldMissing,
    QuotaExceeded,
    SourceConfigError,
    SourceError,
    SourceUnavailable,
)
from pipeline.sources.gridded import gridded_forecast
from pipeline.sources.model_feed import fetch_analyses, fetch_cycle, model_forecast
from pipeline.sources.nws import nws_forecast
from pipeline.sources.open_meteo import open_meteo_forecast
from pipeline.sources.synthetic import synthetic_forecast
from pipeline.sources.table import table_forecast
from pipeline.times import to_utc
from pipeline.validate import validate_forecast

__all__ = [
    "MODEL_FEEDS",
    "SOURCES",
    "ForecastUnavailable",
    "InputError",
    "ModelDataUnavailable",
    "ModelFieldMissing",
    "QuotaExceeded",
    "SourceConfigError",
    "SourceError",
    "SourceUnavailable",
    "UnknownSource",
    "fetch_analyses",
    "fetch_cycle",
    "fetch_forecast",
    "to_utc",
]

SourceFn = Callable[..., pd.DataFrame]

SOURCES: dict[str, SourceFn] = {
    "synthetic": synthetic_forecast,
    "table": table_forecast,
    "gridded": gridded_forecast,
    "open-meteo": open_meteo_forecast,
    "nws": nws_forecast,
    # the model feed: the newest complete cycle fetched with herbie-data, read as gridded
    "nbm": partial(model_forecast, model="nbm"),
    "hrrr": partial(model_forecast, model="hrrr"),
    "gfs": partial(model_forecast, model="gfs"),
}


MODEL_FEEDS = frozenset({"nbm", "hrrr", "gfs"})  # sources that download (they take progress=)


class UnknownSource(ValueError):
    """The run named a source that is not registered."""


def _accepted(fn: SourceFn, options: dict[str, Any]) -> dict[str, Any]:
    """The options ``fn`` takes: a run passes one set (seed, hours, path, …) to any source."""
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return options
    return {k: v for k, v in options.items() if k in params and v is not None}


def fetch_raw(source: str, zips: pd.DataFrame, issue_time: Any, **options: Any) -> pd.DataFrame:
    """Run source ``source`` and return its rows as sent, unchecked (quality checks them).

    Raises
    ------
    UnknownSource, ForecastUnavailable (and its subclasses) when nothing usable came back;
    InputError when a file the source reads is missing, unreadable or lacks a column.
    """
    try:
        fn = SOURCES[source]
    except KeyError:
        raise UnknownSource(
            f"unknown source {source!r}; choose one of {', '.join(sorted(SOURCES))}"
        ) from None
    frame = fn(zips, to_utc(issue_time), **_accepted(fn, options))
    if frame.empty:
        raise ForecastUnavailable(f"source {source!r} returned no rows for {len(zips)} ZIPs")
    return frame


def fetch_forecast(
    source: str, zips: pd.DataFrame, issue_time: Any, **options: Any
) -> pd.DataFrame:
    """Run source ``source`` for ``zips`` at ``issue_time`` and return validated contract rows.

    Parameters
    ----------
    source : str
        A key of :data:`SOURCES`.
    zips : DataFrame
        Gazetteer rows (zip, lat, lon, timezone, …) to forecast for.
    issue_time : str, datetime or Timestamp
        The forecast's issue time; naive values are UTC.
    **options
        Passed to the source (e.g. ``seed``, ``hours``, ``step_hours`` for ``synthetic``).
    """
    return validate_forecast(fetch_raw(source, zips, issue_time, **options), source=source)
