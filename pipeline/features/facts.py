"""The facts an editor writes from, per ZIP over its local window.

Each ZIP gets its high and low, whether it rains or snows (and when, in local hours), its wind
category, its sky and its hazards. Thresholds live in :class:`pipeline.settings.FactRules`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipeline.features.windows import SeriesSet
from pipeline.settings import FactRules

FACT_COLUMNS = [
    "zip",
    "high_f",
    "low_f",
    "pop_max",
    "precip_total_in",
    "snow_total_in",
    "precip",
    "precip_type",
    "precip_start_hour",
    "precip_end_hour",
    "precip_start_offset_h",
    "precip_onset_h",
    "wind_max_mph",
    "gust_max_mph",
    "wind_category",
    "cloud_mean",
    "sky",
    "hazards",
    "step_hours",
    "window_hours",
    "window_start_h",
]

WIND_CATEGORIES = ["calm", "breezy", "windy", "very windy"]
SKY_CATEGORIES = ["sunny", "partly cloudy", "mostly cloudy", "overcast"]


def wet_steps(series: SeriesSet, rules: FactRules) -> np.ndarray:
    """(n_locations, n_steps) bool: measurable precipitation, or a chance above the rule."""
    amount = np.nan_to_num(series.var("precip_in"))
    chance = np.nan_to_num(series.var("precip_probability"))
    return (amount >= rules.precip_amount_in) | (chance >= rules.precip_probability)


def step_types(series: SeriesSet, rules: FactRules) -> np.ndarray:
    """(n_locations, n_steps) int: 0 rain, 1 mix, 2 snow, for each step (wet or not).

    With a snowfall column, a step is snow when snowfall is at least 8:1 of the liquid amount,
    rain when it is under 2:1 and above freezing; otherwise (and where snowfall is missing)
    temperature decides.
    """
    temp = series.var("temperature_f")
    kind = np.where(temp <= rules.snow_below_f, 2, np.where(temp >= rules.rain_above_f, 0, 1))
    if "snow_in" in series.variables:
        raw = series.var("snow_in")
        snow = np.nan_to_num(raw)
        liquid = np.nan_to_num(series.var("precip_in"))
        ratio = np.divide(snow, liquid, out=np.zeros_like(snow), where=liquid > 0)
        by_ratio = np.where(ratio >= 8, 2, np.where((ratio < 2) & (temp > rules.snow_below_f),
                                                    0, kind))
        by_ratio = np.where((ratio >= 2) & (ratio < 8), 1, by_ratio)
        # a step without a snowfall value is decided by temperature (missing is not zero)
        kind = np.where(np.isnan(raw), kind, by_ratio)
    return kind


def categorize(values: np.ndarray, bounds: list[float], names: list[str]) -> np.ndarray:
    """Names for values by ascending bounds: below bounds[0] → names[0], and so on."""
    return np.asarray(names, dtype=object)[np.searchsorted(bounds, values, side="right")]


def zip_facts(series: SeriesSet, rules: FactRules) -> pd.DataFrame:
    """One row of facts per ZIP (columns :data:`FACT_COLUMNS`), in ``series.zips`` order."""
    temp = series.var("temperature_f")
    wet = wet_steps(series, rules)
    kinds = step_types(series, rules)
    any_wet = wet.any(axis=1)
    n_steps = wet.shape[1]
    first = np.argmax(wet, axis=1)
    last = n_steps - 1 - np.argmax(wet[:, ::-1], axis=1)
    rows = np.arange(len(wet))
    start_hour = np.where(any_wet, series.local_hour[rows, first], np.nan)
    end_hour = np.where(any_wet, (series.local_hour[rows, last] + series.step_hours) % 24, np.nan)

    wet_kinds = np.where(wet, kinds, -1)
    has_rain = (wet_kinds == 0).any(axis=1)
    has_snow = (wet_kinds == 2).any(axis=1)
    has_mix = (wet_kinds == 1).any(axis=1)
    precip_type = np.select(
        [~any_wet, has_mix | (has_rain & has_snow), has_snow],
        ["none", "mix", "snow"],
        default="rain",
    )

    wind = series.var("wind_mph")
    gust = series.var("gust_mph")
    wind_max = np.nanmax(wind, axis=1)
    gust_max = np.nanmax(np.fmax(gust, wind), axis=1)
    cloud = series.var("cloud_cover")
    has_cloud = ~np.isnan(cloud).all(axis=1)
    cloud_mean = np.full(len(wet), np.nan)
    cloud_mean[has_cloud] = np.nanmean(cloud[has_cloud], axis=1)
    sky = categorize(
        np.nan_to_num(cloud_mean),
        [rules.sky_partly_cloudy, rules.sky_mostly_cloudy, rules.sky_overcast],
        SKY_CATEGORIES,
    )
    sky = np.where(has_cloud, sky, np.array(None, dtype=object))
    high = np.nanmax(temp, axis=1)
    low = np.nanmin(temp, axis=1)
    precip_total = np.nansum(series.var("precip_in"), axis=1)
    window_hours = wet.shape[1] * series.step_hours
    facts = pd.DataFrame(
        {
            "zip": series.zips,
            "high_f": high,
            "low_f": low,
            "pop_max": np.nanmax(series.var("precip_probability"), axis=1)
            if "precip_probability" in series.variables
            else np.nan,
            "precip_total_in": precip_total,
            "snow_total_in": np.nansum(series.var("snow_in"), axis=1),
            "precip": any_wet,
            "precip_type": precip_type,
            "precip_start_hour": start_hour,
            "precip_end_hour": end_hour,
            # hours from the window's start: comparable across time zones and past midnight
            "precip_start_offset_h": np.where(any_wet, first * series.step_hours, np.nan),
            # what a message's "from about 2 pm" is checked against (see onset_hours)
            "precip_onset_h": onset_hours(series, first, any_wet),
            "wind_max_mph": wind_max,
            "gust_max_mph": gust_max,
            "wind_category": categorize(
                wind_max,
                [rules.wind_breezy_mph, rules.wind_windy_mph, rules.wind_very_windy_mph],
                WIND_CATEGORIES,
            ),
            "cloud_mean": cloud_mean,
            "sky": sky,
        }
    )
    facts["hazards"] = _hazards(high, low, precip_total, gust_max, rules)
    facts["step_hours"] = series.step_hours
    facts["window_hours"] = window_hours
    facts["window_start_h"] = series.local_hour[:, 0]  # local clock at the window's first step
    return facts[FACT_COLUMNS]



def onset_hours(series: SeriesSet, first: np.ndarray, any_wet: Any) -> np.ndarray:
    """The onset a subscriber reads: local hours since midnight of the day the window starts.

    So 14 is 2 pm on that day and 26 is 2 am the next; an evening window's "2 am" never
    matches rain at 5 pm. Clock and day come from the first wet step's local time; rounding
    the day absorbs a daylight-saving hour between the window's start and the onset.
    """
    rows = np.arange(len(first))
    clock = series.local_hour[rows, first]
    since = series.local_hour[:, 0] + first * series.step_hours
    day = np.round((since - clock) / 24.0)
    return np.where(any_wet, day * 24.0 + clock, np.nan)


def _hazards(
    high: np.ndarray, low: np.ndarray, precip: np.ndarray, gust: np.ndarray, rules: FactRules
) -> np.ndarray:
    """Comma-joined hazard names per ZIP ("" for none), in a fixed order."""
    flags = {
        "heat": high >= rules.heat_f,
        "freeze": low <= rules.freeze_f,
        "heavy rain": precip >= rules.heavy_rain_in,
        "strong gusts": gust >= rules.strong_gust_mph,
    }
    names = np.array(list(flags), dtype=object)
    matrix = np.stack(list(flags.values()), axis=1)
    return np.array([",".join(names[row]) for row in matrix], dtype=object)
