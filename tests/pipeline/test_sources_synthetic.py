"""Tests for the synthetic national forecast source."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.contract import COLUMNS, VARIABLES
from pipeline.geo import load_zips
from pipeline.sources.synthetic import synthetic_forecast

WINTER = "2025-01-15T12:00:00Z"
STATES = ["MN", "FL", "IA", "GA", "CO", "WA", "HI"]


@pytest.fixture(scope="module")
def nation() -> pd.DataFrame:
    return pd.DataFrame(load_zips().drop(columns="geometry"))


@pytest.fixture(scope="module")
def conus(nation) -> pd.DataFrame:
    keep = nation["lon"].between(-125, -66) & nation["lat"].between(24, 50)
    return nation[keep].reset_index(drop=True)


@pytest.fixture(scope="module")
def some(nation) -> pd.DataFrame:
    return nation[nation["state"].isin(STATES)].reset_index(drop=True)


@pytest.fixture(scope="module")
def winter(some) -> pd.DataFrame:
    return synthetic_forecast(some, WINTER, hours=48)


def test_contract_shape_dtypes_and_ranges(some, winter):
    """Columns, dtypes, one row per (zip, valid_time), no NaN and physical ranges hold."""
    df = winter
    assert list(df.columns) == COLUMNS
    assert len(df) == len(some) * 48
    assert df["zip"].dtype == "str"
    assert str(df["valid_time"].dtype) == "datetime64[us, UTC]"
    assert str(df["issue_time"].dtype) == "datetime64[us, UTC]"
    for col in VARIABLES:
        assert df[col].dtype == np.float64, col
    assert not df.isna().any().any()
    assert not df.duplicated(["zip", "valid_time"]).any()
    assert df["zip"].is_monotonic_increasing
    assert (df.groupby("zip")["valid_time"].diff().dropna() == pd.Timedelta("1h")).all()
    first = df["valid_time"].min()
    assert first == pd.Timestamp(WINTER) + pd.Timedelta("1h")
    assert df["temperature_f"].between(-80, 140).all()
    assert df["apparent_temperature_f"].between(-80, 140).all()
    for col in ["precip_probability", "cloud_cover", "relative_humidity"]:
        assert df[col].between(0, 100).all(), col
    for col in ["precip_in", "snow_in", "wind_mph"]:
        assert (df[col] >= 0).all(), col
    assert (df["gust_mph"] >= df["wind_mph"]).all()
    assert (df["weather_code"] == df["weather_code"].round()).all()
    assert df["weather_code"].between(0, 99).all()


def test_precip_fields_are_consistent(winter):
    """Where it rains the chance is high, clouds are thick and the code says precipitation."""
    wet = winter[winter["precip_in"] >= 0.01]
    assert len(wet) > 0
    assert (wet["precip_probability"] >= 50).all()
    assert (wet["weather_code"] >= 51).all()
    assert wet["cloud_cover"].mean() > 80
    dry = winter[winter["precip_in"] == 0]
    assert (dry["weather_code"] <= 48).all()
    assert (dry["snow_in"] == 0).all()
    snowing = winter[winter["snow_in"] > 0]
    assert snowing["temperature_f"].max() <= 36.0


def test_deterministic_and_seed_sensitive(some):
    """Same issue time and seed give an identical frame; another seed or issue time differs."""
    a = synthetic_forecast(some, WINTER, hours=24, seed=3)
    b = synthetic_forecast(some, WINTER, hours=24, seed=3)
    pd.testing.assert_frame_equal(a, b)
    c = synthetic_forecast(some, WINTER, hours=24, seed=4)
    assert not np.array_equal(a["temperature_f"].to_numpy(), c["temperature_f"].to_numpy())
    d = synthetic_forecast(some, "2025-01-16T12:00", hours=24, seed=3)
    assert not np.array_equal(a["precip_in"].to_numpy(), d["precip_in"].to_numpy())


def test_issue_time_forms_are_equivalent(some):
    """A naive or string issue time is UTC; valid times start at the floored hour + step."""
    small = some.head(50)
    a = synthetic_forecast(small, pd.Timestamp("2025-03-01 06:20"), hours=6)
    b = synthetic_forecast(small, "2025-03-01T06:20:00+00:00", hours=6)
    pd.testing.assert_frame_equal(a, b)
    assert a["valid_time"].min() == pd.Timestamp("2025-03-01 07:00", tz="UTC")
    assert (a["issue_time"] == pd.Timestamp("2025-03-01 06:20", tz="UTC")).all()


def test_subset_independence(some, winter):
    """A state's rows are the same whether it is asked for alone or with other states."""
    for state in ["MN", "HI"]:
        alone = synthetic_forecast(some[some["state"] == state], WINTER, hours=48)
        zips = set(some.loc[some["state"] == state, "zip"])
        part = winter[winter["zip"].isin(zips)].reset_index(drop=True)
        pd.testing.assert_frame_equal(alone, part)


@pytest.mark.parametrize("step_hours", [1, 3])
def test_row_blocks_in_threads_give_the_same_frame(some, monkeypatch, step_hours):
    """Row blocks, in turn in one thread or side by side in threads, give the one-block
    frame, bit for bit (97 rows a block: the last one shorter)."""
    from pipeline.sources import synthetic

    monkeypatch.setattr(synthetic, "_MAX_THREADS", 1)
    monkeypatch.setattr(synthetic, "_BLOCK_ROWS", 10**9)
    whole = synthetic_forecast(some, WINTER, hours=24, step_hours=step_hours, seed=5)
    assert len(some) % 97 and len(some) > 3 * 97
    monkeypatch.setattr(synthetic, "_BLOCK_ROWS", 97)
    pd.testing.assert_frame_equal(
        synthetic_forecast(some, WINTER, hours=24, step_hours=step_hours, seed=5), whole,
        check_exact=True)
    monkeypatch.setattr(synthetic, "_MAX_THREADS", 3)
    monkeypatch.setattr(synthetic, "_MIN_BLOCK_ROWS", 100)
    monkeypatch.setattr(synthetic, "_usable_cores", lambda: 3)
    pd.testing.assert_frame_equal(
        synthetic_forecast(some, WINTER, hours=24, step_hours=step_hours, seed=5), whole,
        check_exact=True)


def test_three_hourly_matches_hourly(some, winter):
    """3-hourly amounts are sums of hourly amounts; instantaneous values agree at shared times."""
    three = synthetic_forecast(some, WINTER, hours=48, step_hours=3)
    assert len(three) == len(some) * 16
    hourly = winter.copy()
    # the 3-hour step ending at issue + 3k hours covers the hours ending 3k-2, 3k-1 and 3k
    first = pd.Timestamp(WINTER)
    k = ((hourly["valid_time"] - first) / pd.Timedelta("1h")).astype(int)
    hourly["step_end"] = first + pd.to_timedelta(((k + 2) // 3) * 3, unit="h")
    sums = hourly.groupby(["zip", "step_end"], sort=True)[["precip_in", "snow_in"]].sum()
    for col in ["precip_in", "snow_in"]:
        np.testing.assert_allclose(three[col].to_numpy(), sums[col].to_numpy(), atol=1e-9)
    shared = hourly.merge(three, on=["zip", "valid_time"], suffixes=("_1", "_3"))
    assert len(shared) == len(three)
    for col in ["temperature_f", "wind_mph", "cloud_cover", "relative_humidity"]:
        np.testing.assert_array_equal(shared[f"{col}_1"], shared[f"{col}_3"])
    six = synthetic_forecast(some.head(200), WINTER, hours=48, step_hours=6)
    assert len(six) == 200 * 8


def test_winter_climate_north_vs_south(some, winter):
    """A January forecast is far colder in Minnesota than in Florida."""
    t = winter.merge(some[["zip", "state"]], on="zip").groupby("state")["temperature_f"].mean()
    assert t["FL"] - t["MN"] > 30
    assert t["HI"] > 60


def test_diurnal_cycle_in_solar_time(some, winter):
    """Local mid-afternoon is warmer than local pre-dawn on the same day for most ZIPs."""
    m = winter.merge(some[["zip", "lon"]], on="zip")
    solar = (m["valid_time"].dt.hour + m["lon"] / 15.0) % 24
    day = ((m["valid_time"] - pd.Timestamp(WINTER)) / pd.Timedelta("1h") + m["lon"] / 15.0) // 24
    m = m.assign(solar=solar.round().astype(int) % 24, day=day)
    pre_dawn = m[m["solar"].isin([5, 6])].groupby(["zip", "day"])["temperature_f"].mean()
    afternoon = m[m["solar"].isin([14, 15])].groupby(["zip", "day"])["temperature_f"].mean()
    both = pd.concat({"dawn": pre_dawn, "noon": afternoon}, axis=1).dropna()
    assert len(both) > len(some)
    assert (both["noon"] > both["dawn"]).mean() > 0.7


def test_spatially_smooth(some, winter):
    """ZIPs within ~10 km differ far less in temperature than random pairs."""
    z = some.set_index("zip").loc[winter["zip"].unique()]
    hour = winter[winter["valid_time"] == winter["valid_time"].min() + pd.Timedelta("18h")]
    temp = hour.set_index("zip")["temperature_f"].loc[z.index].to_numpy()
    lat, lon = np.radians(z["lat"].to_numpy()), np.radians(z["lon"].to_numpy())
    rng = np.random.default_rng(0)
    i = rng.integers(0, len(z), 20000)
    j = rng.integers(0, len(z), 20000)

    def km(a, b):
        dlat, dlon = lat[a] - lat[b], (lon[a] - lon[b]) * np.cos(lat[a])
        return 6371.0 * np.hypot(dlat, dlon)

    random_diff = np.abs(temp[i] - temp[j]).mean()
    order = np.argsort(z["lon"].to_numpy())
    a, b = order[:-1], order[1:]  # neighbours in longitude, then keep the close ones
    close = (km(a, b) < 10.0) & (km(a, b) > 0.0)
    assert close.sum() > 100
    near_diff = np.abs(temp[a[close]] - temp[b[close]]).mean()
    assert near_diff < 0.25 * random_diff


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rain_band_moves_east(conus, seed):
    """Rain covers a real share of the country and its pattern moves east over a day."""
    df = synthetic_forecast(conus, WINTER, hours=30, seed=seed)
    df = df.merge(conus[["zip", "lon"]], on="zip")
    share = df.assign(wet=df["precip_in"] >= 0.01).groupby("valid_time")["wet"].mean()
    assert 0.05 <= share.max() <= 0.6
    bins = np.arange(-125.0, -65.0, 1.0)
    times = sorted(df["valid_time"].unique())
    profiles = []
    for t in (times[5], times[29]):
        hour = df[df["valid_time"] == t]
        total, _ = np.histogram(hour["lon"], bins)
        wet, _ = np.histogram(hour.loc[hour["precip_in"] >= 0.01, "lon"], bins)
        profiles.append(wet / np.maximum(total, 1))
    a, b = profiles

    def overlap(k):
        return float(np.dot(a[: len(a) - k], b[k:])) if k >= 0 else float(np.dot(a[-k:], b[:k]))

    best = max(range(-15, 31), key=overlap)
    assert 3 <= best <= 25, best  # 8–15° of longitude a day


@pytest.mark.slow
def test_national_generation(nation):
    """The whole nation (~41,000 ZIPs) comes out as every ZIP × 72 hourly steps."""
    df = synthetic_forecast(nation, WINTER)
    assert len(nation) > 41_000
    assert len(df) == len(nation) * 72
    assert df["zip"].nunique() == len(nation)
    assert not df.isna().any().any()
