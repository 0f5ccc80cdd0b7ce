"""NWS source (api.weather.gov): hourly forecasts per gridpoint, shared by the ZIPs in it.

``nws_forecast(zips, issue_time, settings=..., client=..., base_url=..., hours=72)``.

* ``/points/{lat},{lon}`` gives a ZIP's forecast office and grid cell. It rarely changes, so it
  is cached durably in SQLite (``nws_cache_path``); only unknown points are looked up.
* One ``/gridpoints/{office}/{x},{y}/forecast/hourly`` per unique gridpoint. api.weather.gov
  requires a ``User-Agent`` naming the app and a contact (``nws_user_agent``); without it we
  refuse to call. Its intermittent 500/503 answers are retried (see :mod:`._http`).
* ``startTime`` carries a local offset; times are converted to UTC and ``valid_time`` is the
  period's end (``endTime``, else start + 1 h).
* Wind: "10 mph" or "5 to 10 mph" → the upper value, since the range spans the hour/area and
  the facts (breezy/windy) should not understate it; QuantitativeValue objects
  (``{"unitCode": "wmoUnit:km_h-1", "value": …}``) are converted too. Temperatures in "F" / "C"
  or ``wmoUnit:degC``/``degF``. Probability of precipitation and relative humidity in %.
* The hourly forecast has no amounts: with ``nws_fetch_qpf`` the raw ``/gridpoints/{office}/
  {x},{y}`` QPF (``quantitativePrecipitation``, mm over ISO 8601 intervals like
  ``2026-01-15T12:00:00+00:00/PT6H``) and ``snowfallAmount`` are spread evenly over their
  hours; otherwise ``precip_in`` is 0 and the probability carries the signal.
* A point or gridpoint whose payload is bad (404, missing fields) fails only its ZIPs
  (``attrs["failures"]``); the provider being down (retries exhausted) stops the run.
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from pipeline.config.sources import SourceSettings, source_settings
from pipeline.sources._frame import empty_frame, finish
from pipeline.sources._http import RetryPolicy, Sleep, get_json
from pipeline.sources.errors import SourceConfigError, SourceError

SOURCE = "nws"
KMH_TO_MPH = 0.621371192
KT_TO_MPH = 1.150779448
MS_TO_MPH = 2.2369362920544


class PointCache:
    """Durable ``/points`` answers: (lat, lon to 4 decimals) → (office, x, y), in SQLite."""

    def __init__(self, path: Path | None) -> None:
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path) if path else ":memory:")
        self._db.execute("CREATE TABLE IF NOT EXISTS points (point TEXT PRIMARY KEY, "
                         "office TEXT, grid_x INTEGER, grid_y INTEGER, fetched_at REAL)")

    def get(self, point: str) -> tuple[str, int, int] | None:
        row = self._db.execute("SELECT office, grid_x, grid_y FROM points WHERE point = ?",
                               (point,)).fetchone()
        return (row[0], int(row[1]), int(row[2])) if row else None

    def put(self, point: str, gridpoint: tuple[str, int, int]) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO points VALUES (?, ?, ?, ?, ?)",
                             (point, *gridpoint, time.time()))

    def close(self) -> None:
        self._db.close()


def nws_forecast(
    zips: pd.DataFrame,
    issue_time: pd.Timestamp,
    *,
    settings: SourceSettings | None = None,
    client: httpx.Client | None = None,
    base_url: str | None = None,
    hours: int = 72,
    sleep: Sleep = time.sleep,
) -> pd.DataFrame:
    """Contract rows for ``zips`` from api.weather.gov hourly forecasts.

    Raises
    ------
    SourceConfigError
        No ``nws_user_agent`` set.
    SourceUnavailable
        api.weather.gov kept failing after the retries.
    """
    cfg = source_settings(settings)
    if not cfg.nws_user_agent:
        raise SourceConfigError(
            f"{SOURCE}: api.weather.gov requires a User-Agent naming the app and a contact; "
            'set ZIPCAST_SOURCES__NWS_USER_AGENT="zipcast (ops@example.com)"'
        )
    base = (base_url or cfg.nws_base_url).rstrip("/")
    headers = {"User-Agent": cfg.nws_user_agent, "Accept": "application/geo+json"}
    own = client is None
    client = client or httpx.Client(timeout=cfg.http_timeout_s, follow_redirects=True)
    cache = PointCache(cfg.nws_cache_path)
    policy = RetryPolicy.from_settings(cfg)

    def fetch(path: str) -> Any:
        return get_json(client, base + path, source=SOURCE, headers=headers, policy=policy,
                        sleep=sleep)

    failures: dict[str, str] = {}
    end = issue_time + pd.Timedelta(hours=hours)
    try:
        gridpoints = _gridpoints(zips, cache, fetch, base, failures)
        frames = []
        for (office, x, y), codes in gridpoints.items():
            where = f"/gridpoints/{office}/{x},{y}"
            try:
                hourly = _hourly_rows(fetch(f"{where}/forecast/hourly"), issue_time, end)
                if cfg.nws_fetch_qpf:
                    hourly = _add_amounts(hourly, fetch(where))
                else:
                    hourly["precip_in"] = 0.0
            except SourceError as err:
                failures.update(dict.fromkeys(codes, f"{err} ({base}{where})"))
                continue
            frames.append(hourly.merge(pd.DataFrame({"zip": codes}), how="cross"))
    finally:
        cache.close()
        if own:
            client.close()
    frame = pd.concat(frames, ignore_index=True) if frames else empty_frame()
    return finish(frame, failures, source=SOURCE)


def _gridpoints(zips, cache, fetch, base, failures) -> dict[tuple[str, int, int], list[str]]:
    """ZIPs grouped by NWS gridpoint, looking up (and caching) only unknown points."""
    groups: dict[tuple[str, int, int], list[str]] = {}
    for code, lat, lon in zip(zips["zip"].astype(str), zips["lat"], zips["lon"], strict=True):
        point = f"{lat:.4f},{lon:.4f}"  # api.weather.gov redirects finer coordinates
        gridpoint = cache.get(point)
        if gridpoint is None:
            try:
                props = _properties(fetch(f"/points/{point}"))
                gridpoint = (str(props["gridId"]), int(props["gridX"]), int(props["gridY"]))
            except (SourceError, KeyError, TypeError, ValueError) as err:
                failures[code] = f"no NWS gridpoint for {point} ({base}/points): {_why(err)}"
                continue
            cache.put(point, gridpoint)
        groups.setdefault(gridpoint, []).append(code)
    return groups


def _why(err: Exception) -> str:
    return f"missing field {err}" if isinstance(err, KeyError) else str(err)


def _properties(payload: Any) -> dict:
    if not isinstance(payload, dict) or not isinstance(payload.get("properties"), dict):
        raise SourceError("payload has no properties object")
    return payload["properties"]


def _hourly_rows(payload: Any, issue_time: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Contract columns (no zip) from a forecast/hourly payload."""
    periods = _properties(payload).get("periods")
    if not isinstance(periods, list) or not periods:
        raise SourceError("forecast has no periods")
    rows = []
    for number, period in enumerate(periods):
        try:
            start = pd.Timestamp(period["startTime"]).tz_convert("UTC")
            stop = (pd.Timestamp(period["endTime"]).tz_convert("UTC") if period.get("endTime")
                    else start + pd.Timedelta(hours=1))
            rows.append({
                "valid_time": stop,
                "temperature_f": temperature_f(period["temperature"],
                                               period.get("temperatureUnit")),
                "wind_mph": wind_mph(period["windSpeed"]),
                "gust_mph": wind_mph(period["windGust"]) if period.get("windGust") else np.nan,
                "precip_probability": percent(period.get("probabilityOfPrecipitation")),
                "relative_humidity": percent(period.get("relativeHumidity")),
            })
        except (KeyError, TypeError, ValueError) as err:
            raise SourceError(f"period {number} unusable: {_why(err)}") from None
    frame = pd.DataFrame(rows)
    frame["valid_time"] = pd.to_datetime(frame["valid_time"], utc=True)
    frame = frame[(frame["valid_time"] > issue_time) & (frame["valid_time"] <= end)]
    updated = _properties(payload).get("updateTime") or _properties(payload).get("generatedAt")
    frame["issue_time"] = pd.Timestamp(updated).tz_convert("UTC") if updated else issue_time
    return frame.reset_index(drop=True)


def temperature_f(value: Any, unit: str | None = None) -> float:
    """°F from a number with ``temperatureUnit`` "F"/"C" or a QuantitativeValue."""
    if isinstance(value, dict):
        unit, value = value.get("unitCode", ""), value["value"]
    if value is None:
        raise ValueError("temperature is null")
    unit = (unit or "F").split(":")[-1].lower()
    if unit in ("c", "degc"):
        return float(value) * 9 / 5 + 32
    if unit in ("f", "degf"):
        return float(value)
    raise ValueError(f"unknown temperature unit {unit!r}")


_WIND = re.compile(r"^\s*(\d+(?:\.\d+)?)(?:\s*to\s*(\d+(?:\.\d+)?))?\s*(mph|km/h|kt|knots)?\s*$",
                   re.IGNORECASE)


def wind_mph(value: Any) -> float:
    """mph from "10 mph", "5 to 10 mph" (upper value) or a QuantitativeValue."""
    if isinstance(value, dict):
        speed, unit = value["value"], str(value.get("unitCode", "")).split(":")[-1]
        if speed is None:
            raise ValueError("wind speed is null")
        factor = {"km_h-1": KMH_TO_MPH, "m_s-1": MS_TO_MPH, "kt": KT_TO_MPH}.get(unit, 1.0)
        return float(speed) * factor
    match = _WIND.match(str(value))
    if not match:
        raise ValueError(f"unreadable wind speed {value!r}")
    speed = float(match.group(2) or match.group(1))
    unit = (match.group(3) or "mph").lower()
    return speed * {"km/h": KMH_TO_MPH, "kt": KT_TO_MPH, "knots": KT_TO_MPH}.get(unit, 1.0)


def percent(value: Any) -> float:
    """A percentage from a number or ``{"unitCode": "wmoUnit:percent", "value": …}``."""
    if isinstance(value, dict):
        value = value.get("value")
    return float(value) if value is not None else np.nan


def spread_hourly(layer: Any, *, to_inches: bool = True) -> pd.Series:
    """Hourly amounts (in) from a gridpoint layer of ISO 8601 intervals, spread evenly.

    ``layer`` is ``{"uom": "wmoUnit:mm", "values": [{"validTime": "…+00:00/PT6H", "value":
    2.5}, …]}``; each interval's amount is split over its hours, indexed by each hour's end.
    """
    if not isinstance(layer, dict) or not isinstance(layer.get("values"), list):
        raise SourceError("gridpoint layer has no values list")
    uom = str(layer.get("uom", "wmoUnit:mm")).split(":")[-1]
    per_in = {"mm": 25.4, "m": 0.0254, "cm": 2.54, "in": 1.0}.get(uom)
    if per_in is None:
        raise SourceError(f"unknown amount unit {uom!r}")
    amounts: dict[pd.Timestamp, float] = {}
    for item in layer["values"]:
        try:
            start_text, duration = str(item["validTime"]).split("/")
            start = pd.Timestamp(start_text).tz_convert("UTC")
            n_hours = max(1, round(pd.Timedelta(duration) / pd.Timedelta(hours=1)))
            value = float(item["value"] or 0.0) / (per_in if to_inches else 1.0)
        except (KeyError, TypeError, ValueError) as err:
            raise SourceError(f"bad interval {item!r}: {_why(err)}") from None
        for k in range(1, n_hours + 1):
            amounts[start + pd.Timedelta(hours=k)] = value / n_hours
    return pd.Series(amounts, dtype="float64")


def _add_amounts(hourly: pd.DataFrame, grid_payload: Any) -> pd.DataFrame:
    props = _properties(grid_payload)
    qpf = spread_hourly(props.get("quantitativePrecipitation"))
    hourly["precip_in"] = hourly["valid_time"].map(qpf).fillna(0.0).round(3).to_numpy()
    if isinstance(props.get("snowfallAmount"), dict):
        snow = spread_hourly(props["snowfallAmount"])
        hourly["snow_in"] = hourly["valid_time"].map(snow).fillna(0.0).round(3).to_numpy()
    return hourly
