"""Tests for local-time windows, scaling and per-ZIP facts."""

import numpy as np
import pandas as pd
import pytest

from pipeline.features import build_series, scale_series, zip_facts
from pipeline.features.windows import WindowOutOfRange
from pipeline.settings import Settings

ISSUE = pd.Timestamp("2026-01-10 09:00", tz="UTC")  # 4 am in New York, 1 am in Los Angeles
ZIPS = pd.DataFrame(
    {
        "zip": ["10001", "90001"],
        "state": ["NY", "CA"],
        "timezone": ["America/New_York", "America/Los_Angeles"],
    }
)


def forecast(temperature, precip=None, *, step=1, issue=ISSUE, **extra):
    """Contract rows for ZIPS from arrays of shape (2, n_steps)."""
    temperature = np.asarray(temperature, dtype=float)
    n = temperature.shape[1]
    times = issue + pd.to_timedelta(np.arange(1, n + 1) * step, unit="h")
    frame = pd.DataFrame(
        {
            "zip": np.repeat(ZIPS["zip"].to_numpy(), n),
            "valid_time": np.tile(times, 2),
            "issue_time": issue,
            "temperature_f": temperature.ravel(),
            "precip_in": (np.zeros_like(temperature) if precip is None else precip).ravel(),
            "wind_mph": 5.0,
        }
    )
    for name, values in extra.items():
        frame[name] = np.asarray(values, dtype=float).ravel()
    return frame


def test_morning_window_starts_at_local_6am():
    """Each ZIP's window starts at 6 am in its own time zone and lasts 18 hours."""
    series = build_series(forecast(np.zeros((2, 72))), ZIPS, window="morning", settings=Settings())
    assert series.values.shape == (2, 18, 3)
    assert pd.Timestamp(series.valid_time[0, 0]) == pd.Timestamp("2026-01-10 11:00")
    assert pd.Timestamp(series.valid_time[1, 0]) == pd.Timestamp("2026-01-10 14:00")
    assert series.local_hour[:, 0].tolist() == [6.0, 6.0]
    assert series.local_hour[:, -1].tolist() == [23.0, 23.0]


def test_values_follow_the_local_window():
    """The value at the window's first step is the forecast at that ZIP's local 6 am."""
    temps = np.tile(np.arange(72, dtype=float), (2, 1))  # value = hours after issue - 1
    series = build_series(forecast(temps), ZIPS, window="morning", settings=Settings())
    assert series.var("temperature_f")[0, 0] == 1.0  # 11:00 UTC is step 2 (index 1)
    assert series.var("temperature_f")[1, 0] == 4.0  # 14:00 UTC is index 4


def test_evening_window_and_full():
    """Evening runs 5 pm to noon local (19 h); full keeps the whole horizon."""
    frame = forecast(np.zeros((2, 72)))
    evening = build_series(frame, ZIPS, window="evening", settings=Settings())
    assert evening.values.shape[1] == 19
    assert evening.local_hour[:, 0].tolist() == [17.0, 17.0]
    full = build_series(frame, ZIPS, window="full", settings=Settings())
    assert full.values.shape[1] == 72


@pytest.mark.parametrize("step", [1, 3, 6])
def test_coarser_steps_work(step):
    """3- and 6-hourly forecasts give windows of hours // step steps."""
    frame = forecast(np.zeros((2, 72 // step)), step=step)
    series = build_series(frame, ZIPS, window="morning", settings=Settings())
    assert series.step_hours == step
    assert series.values.shape[1] == 18 // step


def test_window_past_horizon_is_a_clear_error():
    """A horizon too short for the window says so and suggests --window full."""
    with pytest.raises(WindowOutOfRange, match="--window full"):
        build_series(forecast(np.zeros((2, 12))), ZIPS, window="morning", settings=Settings())


def test_dst_start_keeps_6am_local():
    """On the day clocks spring forward, the window still starts at 6 am local."""
    issue = pd.Timestamp("2026-03-08 06:00", tz="UTC")  # 1 am EST, before the 2 am change
    series = build_series(
        forecast(np.zeros((2, 48)), issue=issue), ZIPS, window="morning", settings=Settings()
    )
    assert series.local_hour[:, 0].tolist() == [6.0, 6.0]
    assert pd.Timestamp(series.valid_time[0, 0]) == pd.Timestamp("2026-03-08 10:00")  # EDT


def test_missing_zip_is_reported_not_dropped_silently():
    """A gazetteer ZIP with no forecast rows is listed in missing_zips."""
    frame = forecast(np.zeros((2, 72)))
    zips = pd.concat(
        [ZIPS, pd.DataFrame({"zip": ["02901"], "state": ["RI"], "timezone": ["America/New_York"]})]
    )
    series = build_series(frame, zips, window="morning", settings=Settings())
    assert series.missing_zips == ["02901"]


def test_scaling_uses_editorial_units():
    """5 °F becomes one unit; precipitation per step is divided by the step length."""
    frame = forecast(np.full((2, 24), 50.0), step=3, precip=np.full((2, 24), 0.3))
    series = build_series(frame, ZIPS, window="full", settings=Settings())
    X, names = scale_series(series, Settings().scales)
    assert names == ["temperature_f", "precip_in", "wind_mph"]
    assert np.allclose(X[:, :, 0], 10.0)
    assert np.allclose(X[:, :, 1], 0.3 / 3 / 0.05)


def test_facts_read_high_low_rain_timing_and_wind():
    """Facts give high/low, rain with its local start and end hours, and the wind category."""
    temps = np.full((2, 72), 50.0)
    temps[0, 10] = 61.0  # NY 20:00 UTC = 3 pm local
    precip = np.zeros((2, 72))
    precip[1, 20:23] = 0.1  # LA: valid 06:00–08:00 UTC next day = 10 pm–midnight local
    frame = forecast(temps, precip, cloud_cover=np.full((2, 72), 90.0),
                     gust_mph=np.full((2, 72), 25.0))
    frame.loc[frame["zip"] == "90001", "wind_mph"] = 22.0
    series = build_series(frame, ZIPS, window="morning", settings=Settings())
    facts = zip_facts(series, Settings().facts).set_index("zip")
    assert facts.loc["10001", "high_f"] == 61.0 and facts.loc["10001", "low_f"] == 50.0
    assert not facts.loc["10001", "precip"] and facts.loc["10001", "precip_type"] == "none"
    la = facts.loc["90001"]
    assert la["precip"] and la["precip_type"] == "rain"
    assert la["precip_start_hour"] == 22.0  # 06:00 UTC = 10 pm PST
    assert la["precip_end_hour"] == 0.0  # the last wet step ends at midnight
    assert la["wind_category"] == "windy" and facts.loc["10001", "wind_category"] == "calm"
    assert la["sky"] == "overcast"


def test_facts_snow_mix_and_hazards():
    """Cold precipitation is snow, near-freezing is mix, and freeze/heat hazards are flagged."""
    temps = np.full((2, 72), 30.0)
    temps[1] = 34.0
    precip = np.full((2, 72), 0.05)
    series = build_series(forecast(temps, precip), ZIPS, window="morning", settings=Settings())
    facts = zip_facts(series, Settings().facts).set_index("zip")
    assert facts.loc["10001", "precip_type"] == "snow"
    assert facts.loc["90001", "precip_type"] == "mix"
    assert facts.loc["10001", "hazards"] == "freeze"
    hot = build_series(forecast(np.full((2, 72), 97.0)), ZIPS, window="morning",
                       settings=Settings())
    assert set(zip_facts(hot, Settings().facts)["hazards"]) == {"heat"}


def test_a_missing_snowfall_is_not_zero_snowfall():
    """At 34 F a wet step is mix by temperature; a snowfall column with no value there must
    not read as "no snow at all" (which would make it rain)."""
    from pipeline.features import SeriesSet
    from pipeline.features.facts import step_types

    values = np.array([[[34.0, 0.1, np.nan], [34.0, 0.1, 0.0]]])  # temperature, precip, snow
    series = SeriesSet(zips=np.array(["02903"]), variables=["temperature_f", "precip_in",
                                                            "snow_in"],
                       values=values, valid_time=np.zeros((1, 2), dtype="datetime64[ns]"),
                       local_hour=np.zeros((1, 2)), step_hours=1, window="full")
    kinds = step_types(series, Settings().facts)
    assert kinds.tolist() == [[1, 0]]  # unknown snowfall: temperature says mix; none: rain
