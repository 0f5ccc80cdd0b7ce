"""Observed facts: each ZIP's window as it happened, by the same facts code as the forecast.

The observations are put on the run's own window steps (each ZIP's local window, from the
run's forecast), then :func:`pipeline.features.zip_facts` reads them exactly as it reads a
forecast. What the code cannot know is marked, per ZIP and per fact, instead of guessed:

- **high, low, wind, sky**: known when at least ``min_coverage`` of the window's steps were
  observed. A partial record still decides what it already proves: an observed 80 F makes the
  high at least 80, so "highs near 70F" is false whatever the missing hours held.
- **precipitation yes/no**: known when every step has an hourly amount; otherwise from longer
  totals (a gauge's 24 h total, Stage IV): a total inside the window that is measurable means
  wet, and totals covering the whole window that are all below the measurable amount mean dry.
  A 24 h total that reaches outside the window cannot say it rained *in* the window.
- **type** (rain/snow/mix): known where it is dry, or where every wet step had a temperature.
- **onset**: known where every step of the window has an hourly amount.
- **hazards**, each on its own: observed when the observed values reach the threshold; known
  absent only when the values it needs are known.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.features import SeriesSet, zip_facts
from pipeline.features.facts import step_types
from pipeline.settings import FactRules
from pipeline.truth.rule import HAZARDS, WIND_CATEGORIES, FactArrays, hazard_bits
from pipeline.verify.observations import OBS_VARIABLES, Observations

KNOWN_COLUMNS = ("known_high", "known_low", "known_precip", "known_type", "known_onset",
                 "known_wind", "known_sky", "known_hazards", "n_observed_steps")


@dataclass
class ObservedFacts:
    """Observed facts per ZIP (``arrays``, in ``zips`` order) and what of them is known.

    ``arrays.high``/``low`` are the extremes of the observed steps (so partial); ``partial_*``
    say which ZIPs have any observation of a value at all. ``known_hazards`` is a bit mask like
    ``arrays.hazards``: bit i set when the i-th hazard's presence or absence is known.
    """

    zips: np.ndarray
    arrays: FactArrays
    known_high: np.ndarray
    known_low: np.ndarray
    known_precip: np.ndarray
    known_type: np.ndarray
    known_onset: np.ndarray
    known_wind: np.ndarray
    known_sky: np.ndarray
    known_hazards: np.ndarray
    any_temperature: np.ndarray
    any_wind: np.ndarray
    # zip_facts columns (observed) + KNOWN_COLUMNS, for storage; None in a take (the checks
    # read the arrays only, and a frame slice per message group would cost for nothing)
    frame: pd.DataFrame | None

    def __len__(self) -> int:
        return len(self.zips)

    def take(self, index: np.ndarray) -> ObservedFacts:
        return ObservedFacts(
            zips=self.zips[index], arrays=self.arrays.take(index),
            known_high=self.known_high[index], known_low=self.known_low[index],
            known_precip=self.known_precip[index], known_type=self.known_type[index],
            known_onset=self.known_onset[index], known_wind=self.known_wind[index],
            known_sky=self.known_sky[index], known_hazards=self.known_hazards[index],
            any_temperature=self.any_temperature[index], any_wind=self.any_wind[index],
            frame=None)


def observed_series(window: SeriesSet, obs: Observations) -> SeriesSet:
    """The observations on the run's window steps (same ZIPs, valid times and local hours).

    Instantaneous values are taken at each step's valid time; a step's precipitation is the
    sum of the hourly amounts in it, NaN unless every hour of it was observed.
    """
    n, n_steps = window.valid_time.shape
    step = window.step_hours
    n_hours = n_steps * step
    hourly = obs.hourly
    variables = [v for v in OBS_VARIABLES if v in hourly.columns]
    cube = np.full((n, n_hours, len(variables)), np.nan)
    if len(hourly):
        row = pd.Index(window.zips).get_indexer(hourly["zip"].to_numpy(dtype=object))
        ok = row >= 0
        # hour index within the ZIP's window: its first hour ends at (first step - step + 1 h)
        first_hour = window.valid_time[:, 0] - np.timedelta64(step - 1, "h")
        times = hourly["valid_time"].dt.tz_localize(None).to_numpy("datetime64[ns]")
        offset = np.full(len(hourly), -1, dtype=np.int64)
        offset[ok] = ((times[ok] - first_hour[row[ok]]) // np.timedelta64(1, "h")).astype(
            np.int64)
        inside = ok & (offset >= 0) & (offset < n_hours)
        for j, name in enumerate(variables):
            cube[row[inside], offset[inside], j] = hourly[name].to_numpy(float)[inside]
    values = np.full((n, n_steps, len(variables)), np.nan)
    last = slice(step - 1, None, step)  # the hour ending at each step's valid time
    for j, name in enumerate(variables):
        if name in ("precip_in", "snow_in"):
            values[:, :, j] = cube[:, :, j].reshape(n, n_steps, step).sum(axis=2)
        else:
            values[:, :, j] = cube[:, last, j]
    return SeriesSet(zips=window.zips, variables=variables, values=values,
                     valid_time=window.valid_time, local_hour=window.local_hour,
                     step_hours=step, window=window.window)


def observed_facts(window: SeriesSet, obs: Observations, rules: FactRules, *,
                   min_coverage: float) -> ObservedFacts:
    """Observed facts for every ZIP of ``window`` (the run's forecast window).

    Parameters
    ----------
    window : the run's SeriesSet (its ZIPs, local windows and step)
    obs : observations (hourly and longer totals)
    rules : ``settings.facts``, the same thresholds as the forecast's facts
    min_coverage : share of steps that must be observed for high, low, wind and sky
    """
    series = observed_series(window, obs)
    n, n_steps = window.valid_time.shape
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows: facts are NaN
        facts = zip_facts(series, rules)
    temp, precip = series.var("temperature_f"), series.var("precip_in")
    wind, gust, cloud = series.var("wind_mph"), series.var("gust_mph"), series.var("cloud_cover")

    def coverage(values: np.ndarray) -> np.ndarray:
        return (~np.isnan(values)).sum(axis=1) / n_steps

    known_temp = coverage(temp) >= min_coverage
    known_wind = coverage(wind) >= min_coverage
    known_gust = known_wind & (coverage(gust) >= min_coverage)
    known_sky = coverage(cloud) >= min_coverage
    complete = ~np.isnan(precip).any(axis=1)
    any_temp = ~np.isnan(temp).all(axis=1)
    any_wind = ~np.isnan(wind).all(axis=1)

    wet_step = np.nan_to_num(precip) >= rules.precip_amount_in
    seen_wet = wet_step.any(axis=1)  # an observed measurable hour proves "not dry"
    hours_total = np.nansum(precip, axis=1)
    # longer totals decide yes/no where the hours do not
    totals_wet, totals_dry, heavy, light = _from_totals(window, obs.totals, rules)
    known_precip = complete | seen_wet | totals_wet | totals_dry
    wet = np.where(complete, seen_wet, seen_wet | totals_wet)
    from_totals = ~complete & ~seen_wet & totals_wet  # wet, but no hour of it observed
    # the window's total only when every hour is known (a partial sum is a lower bound)
    total = np.where(complete, hours_total, np.where(known_precip & ~wet, 0.0, np.nan))
    # the onset: every hour up to the first wet one observed (all of them when it stayed dry)
    first = np.argmax(wet_step, axis=1)
    before = np.arange(n_steps)[None, :] < first[:, None]
    known_onset = complete | (seen_wet & ~(np.isnan(precip) & before).any(axis=1))
    temp_at_wet = ~(wet_step & np.isnan(temp)).any(axis=1)
    known_type = known_precip & (~wet | (complete & temp_at_wet))

    kind = facts["precip_type"].to_numpy(dtype=object).copy()
    kind = np.where(known_precip & ~wet, "none", kind)
    # wet from totals: rain or snow only when every step's temperature says so
    steps_kind = np.where(np.isnan(temp), -1, step_types(series, rules))
    all_rain = (steps_kind == 0).all(axis=1)
    all_snow = (steps_kind == 2).all(axis=1)
    kind = np.where(from_totals, np.where(all_snow, "snow", "rain"), kind)
    known_type |= from_totals & (all_rain | all_snow)
    facts["precip_type"] = kind
    facts["precip"] = kind != "none"
    facts["precip_total_in"] = total

    hazards = hazard_bits(facts["hazards"])
    heavy_bit = 1 << HAZARDS.index("heavy rain")
    conflict = heavy & light  # two sources disagree (a gauge's total and an analysis')
    hazards = np.where(~complete & heavy & ~conflict, hazards | heavy_bit, hazards)
    known_bits = np.zeros(n, dtype=np.int64)
    for bit, name in enumerate(HAZARDS):
        present = (hazards >> bit) & 1 == 1
        if name in ("heat", "freeze"):
            known = known_temp | present
        elif name == "heavy rain":  # an hourly sum reaching the amount proves it too
            known = complete | present | ((heavy | light) & ~conflict)
        else:
            known = known_gust | present
        known_bits |= known.astype(np.int64) << bit
    facts["hazards"] = [",".join(h for b, h in enumerate(HAZARDS) if m >> b & 1)
                        for m in hazards]
    # NaN winds and clouds read as a category in zip_facts; they are masked by known_* here
    facts["wind_category"] = facts["wind_category"].where(any_wind, WIND_CATEGORIES[0])
    frame = facts.assign(known_high=known_temp, known_low=known_temp, known_precip=known_precip,
                         known_type=known_type, known_onset=known_onset, known_wind=known_wind,
                         known_sky=known_sky, known_hazards=known_bits,
                         n_observed_steps=(~np.isnan(temp)).sum(axis=1))
    arrays = FactArrays.from_frame(frame)
    arrays.kind = np.where(known_precip, arrays.kind, 0).astype(np.int8)
    arrays.onset = np.where(known_onset, arrays.onset, np.nan)
    return ObservedFacts(
        zips=np.asarray(window.zips), arrays=arrays, known_high=known_temp, known_low=known_temp,
        known_precip=known_precip, known_type=known_type, known_onset=known_onset,
        known_wind=known_wind, known_sky=known_sky, known_hazards=known_bits,
        any_temperature=any_temp, any_wind=any_wind, frame=frame)


def _from_totals(window: SeriesSet, totals: pd.DataFrame, rules: FactRules
                 ) -> tuple[np.ndarray, ...]:
    """Per ZIP, from accumulations longer than a step: (wet, dry, heavy, light).

    ``wet``: a measurable total wholly inside the window; ``dry``: totals covering the whole
    window, each below the measurable amount; ``heavy``: totals wholly inside the window adding
    up to the heavy-rain amount; ``light``: totals covering the window adding up to less.
    """
    n = len(window.zips)
    out = [np.zeros(n, dtype=bool) for _ in range(4)]
    if totals is None or not len(totals):
        return tuple(out)
    row = pd.Index(window.zips).get_indexer(totals["zip"].to_numpy(dtype=object))
    ok = row >= 0
    if not ok.any():
        return tuple(out)
    t = totals[ok]
    row = row[ok]
    start = t["start"].dt.tz_localize(None).to_numpy("datetime64[ns]")
    end = t["end"].dt.tz_localize(None).to_numpy("datetime64[ns]")
    amount = t["precip_in"].to_numpy(float)
    w_start = window.valid_time[row, 0] - np.timedelta64(window.step_hours, "h")
    w_end = window.valid_time[row, -1]
    inside = (start >= w_start) & (end <= w_end)
    covers = (start <= w_start) & (end >= w_end)
    measurable = amount >= rules.precip_amount_in
    wet, dry, heavy, light = out
    np.logical_or.at(wet, row[inside & measurable], True)
    # one total covering the window: dry when not measurable; heavy-rain known absent when
    # below the heavy amount (what fell in the window is at most the total)
    np.logical_or.at(dry, row[covers & ~measurable], True)
    np.logical_or.at(light, row[covers & (amount < rules.heavy_rain_in)], True)
    # heavy: one total inside the window reaching the amount (totals may overlap: a 6 h and
    # a 24 h analysis of the same rain are never added up)
    np.logical_or.at(heavy, row[inside & (amount >= rules.heavy_rain_in)], True)
    dry &= ~wet
    return wet, dry, heavy, light


__all__ = ["KNOWN_COLUMNS", "ObservedFacts", "observed_facts", "observed_series"]
