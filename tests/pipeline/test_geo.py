"""Tests for the ZIP gazetteer."""

from zoneinfo import available_timezones

import pytest

from pipeline.geo import UnknownState, load_zips


def test_nation_has_every_active_located_zip(nation):
    """It returns the 41,084 active ZIPs with a location and time zone, less 6 military codes."""
    assert len(nation) == 41_084 - 6
    assert not {"09905", "09980", "09984"} & set(nation["zip"])
    assert nation["zip"].is_unique
    assert nation["zip"].str.fullmatch(r"\d{5}").all()
    assert {"DC", "PR", "VI", "GU", "AK", "HI"} <= set(nation["state"])
    assert len(set(nation["state"]) - {"DC", "PR", "VI", "GU", "AS", "MP", "FM", "MH", "PW"}) == 50


def test_geodataframe_shape(nation):
    """It is a GeoDataFrame in EPSG:4326 whose points match lat/lon."""
    assert nation.crs.to_epsg() == 4326
    assert {"zip", "city", "state", "county", "timezone", "geometry"} <= set(nation.columns)
    assert (nation.geometry.x == nation["lon"]).all()
    assert (nation.geometry.y == nation["lat"]).all()


def test_every_timezone_is_real(nation):
    """Every ZIP's time zone is an IANA zone (the package's one bad entry is repaired)."""
    assert set(nation["timezone"]) <= available_timezones()


def test_filter_by_state():
    """It filters by state codes, case-insensitively."""
    ri_ct = load_zips(["ri", "CT"])
    assert set(ri_ct["state"]) == {"RI", "CT"}
    assert len(ri_ct) == 90 + 422


def test_unknown_state_is_a_clear_error():
    """An unknown state code names the code and shows valid examples."""
    with pytest.raises(UnknownState, match="XX"):
        load_zips(["NY", "XX"])


def test_no_placeholder_locations(nation):
    """No ZIP sits at the package's (0, 0) placeholder; repaired ones sit in their own state."""
    assert ((nation["lat"].abs() > 1) | (nation["lon"].abs() > 1)).all()
    hicksville = nation.set_index("zip").loc["11805"]
    assert 40 < hicksville["lat"] < 41.5 and -74 < hicksville["lon"] < -73
    pohnpei = nation.set_index("zip").loc["96941"]
    assert 6 < pohnpei["lat"] < 8 and pohnpei["lon"] > 150


def test_gazetteer_cache_is_reused_and_rebuilt_when_damaged(tmp_path, monkeypatch):
    """The built gazetteer is cached on disk (same rows as building it), reused by the next
    process, and a damaged cache file is built again rather than trusted."""
    import pandas as pd

    from pipeline import geo
    from pipeline.settings import get_settings

    monkeypatch.setenv("ZIPCAST_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    geo._gazetteer.cache_clear()
    try:
        built = geo._gazetteer()
        (cached,) = (tmp_path / "cache").glob("gazetteer-*.parquet")
        geo._gazetteer.cache_clear()
        pd.testing.assert_frame_equal(geo._gazetteer(), built)
        cached.write_bytes(b"not parquet")
        geo._gazetteer.cache_clear()
        pd.testing.assert_frame_equal(geo._gazetteer(), built)
        pd.testing.assert_frame_equal(pd.read_parquet(cached), built)  # written again
    finally:
        get_settings.cache_clear()
        geo._gazetteer.cache_clear()
