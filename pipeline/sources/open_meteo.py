"""Open-Meteo source: batched multi-location hourly forecasts, quota-aware, with retries.

``open_meteo_forecast(zips, issue_time, settings=..., client=..., base_url=..., hours=72)``.

* ZIPs are grouped by grid cell (``open_meteo_grid_deg``, 0.1° ≈ the ~11 km models behind the
  API), so ZIPs in one cell share one location; ``open_meteo_batch_size`` locations go in one
  request as comma-separated ``latitude``/``longitude`` lists (the answer is a JSON list).
* Quota: Open-Meteo counts every location of a request as a call, and a location with more
  than 10 variables or more than 2 weeks counts ``max(1, vars/10) * max(1, days/14)`` calls.
  A :class:`~pipeline.sources._http.CallBudget` waits out the minute/hour limits and refuses the
  run with :class:`QuotaExceeded` *before* the first call if the day's budget cannot cover it.
* ``temperature_unit=fahrenheit``, ``wind_speed_unit=mph``, ``precipitation_unit=inch``,
  ``timezone=GMT`` and ``timeformat=unixtime``: times are unambiguous UTC seconds. Hourly sums
  (precipitation, snowfall) cover the preceding hour, so the stamp is the step's end — the
  contract's ``valid_time``. Assumption: with ``precipitation_unit=inch`` Open-Meteo returns
  ``snowfall`` in inches too (its default is cm); ``hourly_units`` is checked to catch a change.
* A location whose payload lacks fields is reported in ``attrs["failures"]``; the rest go on.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import numpy as np
import pandas as pd

from pipeline.config.sources import SourceSettings, source_settings
from pipeline.sources._frame import empty_frame, finish
from pipeline.sources._http import CallBudget, Clock, RetryPolicy, Sleep, get_json
from pipeline.sources.errors import SourceError

SOURCE = "open-meteo"
PUBLIC_URL = "https://api.open-meteo.com"
CUSTOMER_URL = "https://customer-api.open-meteo.com"

HOURLY = {
    "temperature_2m": "temperature_f",
    "apparent_temperature": "apparent_temperature_f",
    "precipitation_probability": "precip_probability",
    "precipitation": "precip_in",
    "snowfall": "snow_in",
    "wind_speed_10m": "wind_mph",
    "wind_gusts_10m": "gust_mph",
    "cloud_cover": "cloud_cover",
    "relative_humidity_2m": "relative_humidity",
    "weather_code": "weather_code",
}
REQUIRED = ("temperature_2m", "precipitation", "wind_speed_10m")
EXPECTED_UNITS = {"temperature_2m": "°F", "precipitation": "inch", "wind_speed_10m": "mp/h"}


def call_weight(n_variables: int, days: float) -> float:
    """Open-Meteo calls one location costs: more than 10 variables or 14 days count extra."""
    return max(1.0, n_variables / 10) * max(1.0, days / 14)


def open_meteo_forecast(
    zips: pd.DataFrame,
    issue_time: pd.Timestamp,
    *,
    settings: SourceSettings | None = None,
    client: httpx.Client | None = None,
    base_url: str | None = None,
    hours: int = 72,
    budget: CallBudget | None = None,
    sleep: Sleep = time.sleep,
    clock: Clock = time.time,
) -> pd.DataFrame:
    """Contract rows for ``zips`` from Open-Meteo's ``/v1/forecast``.

    Parameters
    ----------
    zips : DataFrame
        Gazetteer rows with ``zip``, ``lat``, ``lon``.
    issue_time : Timestamp
        Steps after it, up to ``hours`` later, are kept.
    settings : SourceSettings, optional
        ``open_meteo_*`` and ``http_*`` fields.
    client : httpx.Client, optional
        Made (and closed) here when not given; timeout ``http_timeout_s``.
    base_url : str, optional
        Overrides the settings' URL (self-hosted or test server).
    budget : CallBudget, optional
        Share one across runs to count the day's calls; default from the settings.
    sleep, clock : callables
        Injected for tests (backoff waits, budget windows).
    """
    cfg = source_settings(settings)
    key = cfg.open_meteo_api_key.get_secret_value() if cfg.open_meteo_api_key else None
    url = (base_url or cfg.open_meteo_base_url or (CUSTOMER_URL if key else PUBLIC_URL))
    url = url.rstrip("/") + "/v1/forecast"
    budget = budget or CallBudget(cfg.open_meteo_calls_per_minute, cfg.open_meteo_calls_per_hour,
                                  cfg.open_meteo_calls_per_day, clock=clock, sleep=sleep,
                                  source=SOURCE)
    start = issue_time.tz_convert("UTC").floor("h")
    end = issue_time.tz_convert("UTC") + pd.Timedelta(hours=hours)
    weight = call_weight(len(HOURLY), (end - start) / pd.Timedelta(days=1))
    cells = _cells(zips, cfg.open_meteo_grid_deg)
    batches = [cells[i:i + cfg.open_meteo_batch_size]
               for i in range(0, len(cells), cfg.open_meteo_batch_size)]
    budget.check_day(weight * len(cells))  # refuse the whole run up front, not half-way
    params_base: dict[str, Any] = {
        "hourly": ",".join(HOURLY), "temperature_unit": "fahrenheit", "wind_speed_unit": "mph",
        "precipitation_unit": "inch", "timezone": "GMT", "timeformat": "unixtime",
        "start_hour": start.strftime("%Y-%m-%dT%H:%M"), "end_hour": end.strftime("%Y-%m-%dT%H:%M"),
    }
    if key:
        params_base["apikey"] = key
    own = client is None
    client = client or httpx.Client(timeout=cfg.http_timeout_s)
    frames, failures = [], {}
    try:
        for number, batch in enumerate(batches, 1):
            where = f" (batch {number} of {len(batches)})"
            params = {**params_base,
                      "latitude": ",".join(f"{lat:.4f}" for lat, _, _ in batch),
                      "longitude": ",".join(f"{lon:.4f}" for _, lon, _ in batch)}
            budget.spend(weight * len(batch))
            payload = get_json(client, url, source=SOURCE, params=params, sleep=sleep,
                               policy=RetryPolicy.from_settings(cfg), where=where)
            locations = payload if isinstance(payload, list) else [payload]
            if len(locations) != len(batch):
                raise SourceError(f"{SOURCE}: {url}{where}: asked for {len(batch)} locations, "
                                  f"got {len(locations)}")
            for (_, _, codes), location in zip(batch, locations, strict=True):
                try:
                    frames.append(_location_rows(location, codes, issue_time, end))
                except SourceError as err:
                    failures.update(dict.fromkeys(codes, f"{err} from {url}{where}"))
    finally:
        if own:
            client.close()
    frame = pd.concat(frames, ignore_index=True) if frames else empty_frame()
    return finish(frame, failures, source=SOURCE)


def _cells(zips: pd.DataFrame, grid_deg: float) -> list[tuple[float, float, list[str]]]:
    """Grid cells holding ZIPs: (lat, lon, [zip, …]); cell centres are the request points."""
    lat = np.round(zips["lat"].to_numpy(float) / grid_deg) * grid_deg
    lon = np.round(zips["lon"].to_numpy(float) / grid_deg) * grid_deg
    groups = pd.DataFrame({"lat": lat.round(4), "lon": lon.round(4),
                           "zip": zips["zip"].astype(str).to_numpy()})
    return [(la, lo, list(g["zip"])) for (la, lo), g in groups.groupby(["lat", "lon"], sort=True)]


def _location_rows(location: Any, codes: list[str], issue_time: pd.Timestamp,
                   end: pd.Timestamp) -> pd.DataFrame:
    """Rows for the ZIPs of one location; SourceError says what the payload lacks."""
    if not isinstance(location, dict):
        raise SourceError(f"location payload is {type(location).__name__}, not an object")
    if location.get("error"):
        raise SourceError(f"provider error {location.get('reason', '')!r}")
    hourly = location.get("hourly")
    if not isinstance(hourly, dict) or "time" not in hourly:
        raise SourceError("payload has no hourly.time")
    missing = [v for v in REQUIRED if v not in hourly]
    if missing:
        raise SourceError(f"payload lacks hourly {', '.join(missing)}")
    units = location.get("hourly_units") or {}
    wrong = [f"{v} in {units[v]!r}" for v, u in EXPECTED_UNITS.items()
             if v in units and units[v] != u]
    if wrong:
        raise SourceError(f"unexpected units: {', '.join(wrong)}")
    times = pd.to_datetime(pd.Series(hourly["time"], dtype="float64"), unit="s", utc=True)
    columns = {}
    for name, column in HOURLY.items():
        if name in hourly:
            values = pd.to_numeric(pd.Series(hourly[name], dtype="object"), errors="coerce")
            if len(values) != len(times):
                raise SourceError(f"hourly {name} has {len(values)} values for "
                                  f"{len(times)} times")
            columns[column] = values.astype("float64").to_numpy()
    one = pd.DataFrame({"valid_time": times, **columns})
    one = one[(one["valid_time"] > issue_time) & (one["valid_time"] <= end)]
    if one[["temperature_f", "precip_in", "wind_mph"]].isna().any(axis=None):
        raise SourceError("null temperature, precipitation or wind in hourly values")
    one["issue_time"] = issue_time
    return one.merge(pd.DataFrame({"zip": codes}), how="cross")
