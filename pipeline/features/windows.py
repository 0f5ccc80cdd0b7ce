"""Local-time windows: turn contract rows into one series per ZIP over its own local day.

Each ZIP's window is cut in its own time zone, so "rain at 3 pm" means 3 pm where the
subscriber lives. The *morning* window starts at the next local 6 am at or after the issue
time and runs 18 hours; *evening* starts at the next local 5 pm and runs to noon the next day;
*full* is the whole horizon, for inputs that cover less than a day. Windows are settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline import contract
from pipeline.frames import factorize
from pipeline.settings import Settings, VariableScale


class WindowOutOfRange(ValueError):
    """The forecast horizon does not cover the requested local window for some ZIPs."""


@dataclass
class SeriesSet:
    """Every ZIP's forecast over its local window, in contract units.

    Attributes
    ----------
    zips : ndarray of str, shape (n_locations,)
    variables : list of str, the contract variables present, in contract order
    values : ndarray of shape (n_locations, n_steps, n_variables), contract units; NaN = missing
    valid_time : ndarray of datetime64[ns] (UTC), shape (n_locations, n_steps)
    local_hour : ndarray of float, shape (n_locations, n_steps); local clock hour at valid_time
    step_hours : int
    window : str
    missing_zips : list of str, ZIPs asked for that the forecast has no rows for
    """

    zips: np.ndarray
    variables: list[str]
    values: np.ndarray
    valid_time: np.ndarray
    local_hour: np.ndarray
    step_hours: int
    window: str
    missing_zips: list[str] = field(default_factory=list)

    def var(self, name: str) -> np.ndarray:
        """The (n_locations, n_steps) series of one variable, or NaN if it is absent."""
        if name not in self.variables:
            return np.full(self.values.shape[:2], np.nan)
        return self.values[:, :, self.variables.index(name)]


def _step_hours(valid_times: pd.DatetimeIndex) -> int:
    if len(valid_times) < 2:
        raise WindowOutOfRange("the forecast has a single valid time; a window needs two or more")
    step = pd.Series(valid_times).diff().dropna().min()
    hours = step / pd.Timedelta(hours=1)
    if hours not in (1, 2, 3, 6, 12):
        raise WindowOutOfRange(f"unsupported forecast step of {hours} h; use 1-, 3- or 6-hourly")
    return int(hours)


def _window_starts(
    timezones: pd.Series, issue_time: pd.Timestamp, start_hour: int
) -> np.ndarray:
    """UTC start of each ZIP's window: the next local ``start_hour`` at or after issue_time."""
    starts = np.empty(len(timezones), dtype="datetime64[ns]")
    for tz, idx in timezones.groupby(timezones).indices.items():
        # work on the local wall clock, then localize: "6 am" stays 6 am across DST changes
        wall_issue = issue_time.tz_convert(tz).tz_localize(None)
        wall = wall_issue.normalize() + pd.Timedelta(hours=start_hour)
        if wall < wall_issue:
            wall += pd.Timedelta(days=1)
        start = wall.tz_localize(tz, ambiguous=True, nonexistent="shift_forward")
        starts[idx] = start.tz_convert("UTC").tz_localize(None).to_datetime64()
    return starts


def build_series(
    forecast: pd.DataFrame,
    zips: pd.DataFrame,
    *,
    window: str,
    settings: Settings,
    issue_time: pd.Timestamp | None = None,
) -> SeriesSet:
    """Cube the contract rows and cut each ZIP's local window.

    Parameters
    ----------
    forecast : DataFrame
        Validated contract rows (any order).
    zips : DataFrame
        Gazetteer rows with ``zip`` and ``timezone``; output order follows it.
    window : {"morning", "evening", "full"} or a key of ``settings.windows``
    settings : Settings
    issue_time : Timestamp, optional
        The run's issue time, from which local windows start; default: the newest
        ``issue_time`` in the rows (older ones may be stale substitutes).

    Returns
    -------
    SeriesSet with ``values`` of shape (n_locations, n_steps, n_variables).
    """
    times = pd.DatetimeIndex(forecast["valid_time"].unique()).sort_values()
    step = _step_hours(times)
    t0 = times[0]
    n_t = int((times[-1] - t0) / pd.Timedelta(hours=step)) + 1
    variables = [v for v in contract.VARIABLES if v in forecast.columns]

    order = pd.Index(zips["zip"].to_numpy())
    # each distinct ZIP looked up once (3M rows as Python strings cost ~200 MB nationally)
    codes, distinct = factorize(forecast["zip"])
    row_zip = np.where(codes >= 0, order.get_indexer(np.asarray(distinct, dtype=object))[codes],
                       -1)
    keep = row_zip >= 0
    row_t = ((forecast["valid_time"] - t0) / pd.Timedelta(hours=step)).to_numpy().astype(int)
    at_zip = row_zip[keep]
    present = np.zeros(len(order), dtype=bool)
    present[at_zip] = True
    missing = order[~present].tolist()

    issue_time = pd.Timestamp(issue_time if issue_time is not None
                              else forecast["issue_time"].max())
    if window == "full":
        start_idx = np.zeros(len(order), dtype=int)
        n_win = n_t
    else:
        try:
            spec = settings.windows[window]
        except KeyError:
            raise ValueError(
                f"unknown window {window!r}; choose full or one of {', '.join(settings.windows)}"
            ) from None
        starts = _window_starts(zips["timezone"].reset_index(drop=True), issue_time,
                                spec.start_hour)
        offset = (starts - t0.tz_localize(None).to_datetime64()) / np.timedelta64(1, "h")
        start_idx = np.ceil(offset / step).astype(int).clip(min=0)
        n_win = spec.hours // step
        late = start_idx + n_win > n_t
        if late.any():
            raise WindowOutOfRange(
                f"the {window} window ({spec.hours} h from {spec.start_hour}:00 local) runs past "
                f"the forecast horizon ({n_t * step} h from {t0}) for {int(late.sum())} ZIPs; "
                "use a longer horizon, a later issue time, or --window full"
            )
    idx = start_idx[:, None] + np.arange(n_win)[None, :]
    # only the rows inside each ZIP's window are placed (a national window is a quarter of
    # the horizon): values[z, i] is the row at step start_idx[z] + i, NaN where none is
    at_win = row_t[keep] - start_idx[at_zip]
    inside = (at_win >= 0) & (at_win < n_win)
    at = at_zip[inside] * n_win + at_win[inside]
    values = np.full((len(order), n_win, len(variables)), np.nan)
    cells = values.reshape(len(order) * n_win, len(variables))  # a view: (ZIP, step) rows
    every = bool(keep.all())
    for j, name in enumerate(variables):  # a column at a time: no copy of the national frame
        column = forecast[name].to_numpy(dtype=float)
        cells[at, j] = (column if every else column[keep])[inside]
    grid = t0.tz_localize(None).to_datetime64() + np.arange(n_t) * np.timedelta64(step, "h")
    valid_time = grid[idx]
    local_hour = _local_hours(valid_time, zips["timezone"].to_numpy())
    return SeriesSet(
        zips=order.to_numpy(dtype=str),
        variables=variables,
        values=values,
        valid_time=valid_time,
        local_hour=local_hour,
        step_hours=step,
        window=window,
        missing_zips=missing,
    )


def window_end(timezones: pd.Series, issue_time: pd.Timestamp, window: str,
               settings: Settings) -> pd.Timestamp:
    """When the last of these time zones' ``window`` ends (UTC) for a run issued at
    ``issue_time``; ``full`` windows have no fixed end (the issue time + the horizon)."""
    if window not in settings.windows:
        return pd.Timestamp(issue_time) + pd.Timedelta(hours=settings.horizon_hours)
    spec = settings.windows[window]
    zones = pd.Series(pd.unique(timezones.astype(str)))
    starts = _window_starts(zones, pd.Timestamp(issue_time), spec.start_hour)
    return pd.Timestamp(starts.max()).tz_localize("UTC") + pd.Timedelta(hours=spec.hours)


def _local_hours(valid_time: np.ndarray, timezones: np.ndarray) -> np.ndarray:
    """Local clock hour (0–23, fractional for odd offsets) at each valid time."""
    out = np.empty(valid_time.shape, dtype=float)
    for tz in np.unique(timezones):
        rows = np.flatnonzero(timezones == tz)
        flat = pd.DatetimeIndex(valid_time[rows].ravel()).tz_localize("UTC").tz_convert(tz)
        hours = flat.hour + flat.minute / 60.0
        out[rows] = np.asarray(hours, dtype=float).reshape(len(rows), -1)
    return out


def scale_series(
    series: SeriesSet, scales: dict[str, VariableScale]
) -> tuple[np.ndarray, list[str]]:
    """The clustering input: each scaled variable as ``value / unit * sqrt(weight)``.

    One unit of distance then means a comparable editorial difference (5 °F ~ 25 points of
    precipitation chance). Per-step amounts (``precip_in``) are divided by the step length so
    1-, 3- and 6-hourly data scale alike. Gaps are filled along time (nearest step), then by
    the national mean at that step, so DTW never sees NaN.

    Returns
    -------
    X : ndarray of shape (n_locations, n_steps, n_scaled_variables)
    names : list of str, the variables used
    """
    names = [v for v in scales if v in series.variables and scales[v].weight > 0]
    if not names:
        raise ValueError(f"none of the scaled variables {list(scales)} is in the forecast")
    columns = []
    for name in names:
        spec = scales[name]
        raw = series.var(name)
        if name in ("precip_in", "snow_in"):
            raw = raw / series.step_hours
        filled = _fill_gaps(raw)
        columns.append(filled / spec.unit * np.sqrt(spec.weight))
    return np.stack(columns, axis=-1), names


def _fill_gaps(values: np.ndarray) -> np.ndarray:
    """Fill NaN along time with the nearest earlier (then later) value, then the step mean."""
    if not np.isnan(values).any():
        return values
    frame = pd.DataFrame(values.T).ffill().bfill()
    out = frame.to_numpy().T
    if np.isnan(out).any():
        step_mean = np.nanmean(out, axis=0)
        step_mean = np.where(np.isnan(step_mean), 0.0, step_mean)
        out = np.where(np.isnan(out), step_mean[None, :], out)
    return out
