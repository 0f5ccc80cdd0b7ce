"""Tests of the table source (CSV / Parquet of contract columns)."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.config.sources import SourceSettings
from pipeline.sources.errors import SourceError
from pipeline.sources.table import table_forecast
from pipeline.validate import validate_forecast

ISSUE = pd.Timestamp("2026-01-15T12:00Z")


def write_csv(path, text: str):
    path.write_text(text)
    return path


def test_zip_keyed_csv_with_naive_times(tmp_path, few_zips):
    """Naive times read as UTC, short ZIPs are zero-padded, absent ZIPs are reported."""
    path = write_csv(tmp_path / "f.csv", "zip,valid_time,temperature_f,precip_in,wind_mph\n"
                     "10001,2026-01-15 13:00,31.5,0.0,8\n2134,2026-01-15T14:00-05:00,30,0.1,9\n")
    zips = pd.DataFrame({"zip": ["10001", "02134", "60601"]})
    frame = table_forecast(zips, ISSUE, path=path)
    checked = validate_forecast(frame, source="table")
    assert list(checked["zip"]) == ["02134", "10001"]
    assert checked["valid_time"].iloc[0] == pd.Timestamp("2026-01-15T19:00Z")
    assert (checked["issue_time"] == ISSUE).all()  # no issue_time column: the run's
    assert frame.attrs["failures"] == {"60601": "not in the table"}


def test_point_keyed_parquet_takes_nearest_within_limit(tmp_path, few_zips):
    """Each ZIP takes its nearest point within 25 km; farther ZIPs are reported, not filled."""
    rows = pd.DataFrame({
        "lat": [40.75, 41.88], "lon": [-74.0, -87.62],
        "valid_time": pd.to_datetime(["2026-01-15T13:00Z"] * 2),
        "issue_time": pd.to_datetime(["2026-01-15T12:00Z"] * 2),
        "temperature_f": [30.0, 20.0], "precip_in": [0.0, 0.0], "wind_mph": [5.0, 15.0],
    })
    rows.to_parquet(tmp_path / "p.parquet")
    frame = table_forecast(few_zips, ISSUE, path=tmp_path / "p.parquet",
                           settings=SourceSettings(table_max_distance_km=25))
    assert dict(zip(frame["zip"], frame["temperature_f"], strict=True)) == {
        "10001": 30.0, "10018": 30.0, "60601": 20.0}
    assert set(frame.attrs["failures"]) == {"80202", "96813"}
    assert "no table point within 25 km" in frame.attrs["failures"]["80202"]


def test_missing_columns_name_the_file(tmp_path, few_zips):
    """A file without wind_mph raises SourceError naming the file and the column."""
    path = write_csv(tmp_path / "bad.csv", "zip,valid_time,temperature_f,precip_in\n"
                     "10001,2026-01-15T13:00Z,30,0\n")
    with pytest.raises(SourceError, match=r"bad\.csv: missing column\(s\) wind_mph"):
        table_forecast(few_zips, ISSUE, path=path)


def test_unparseable_time_gives_the_line(tmp_path, few_zips):
    """An unreadable valid_time is reported with its CSV line number."""
    path = write_csv(tmp_path / "t.csv", "zip,valid_time,temperature_f,precip_in,wind_mph\n"
                     "10001,2026-01-15T13:00Z,30,0,5\n10001,tomorrow-ish,31,0,5\n")
    with pytest.raises(SourceError, match=r"unparseable valid_time at line\(s\) 3"):
        table_forecast(few_zips, ISSUE, path=path)


def test_non_numeric_value_gives_the_line(tmp_path, few_zips):
    """A temperature that is not a number is reported with its line."""
    path = write_csv(tmp_path / "n.csv", "zip,valid_time,temperature_f,precip_in,wind_mph\n"
                     "10001,2026-01-15T13:00Z,warm,0,5\n")
    with pytest.raises(SourceError, match=r"temperature_f is not a number at line\(s\) 2"):
        table_forecast(few_zips, ISSUE, path=path)


def test_missing_file_is_a_clear_error(tmp_path, few_zips):
    """A path that does not exist says so."""
    with pytest.raises(SourceError, match="no such file"):
        table_forecast(few_zips, ISSUE, path=tmp_path / "nope.csv")


@pytest.mark.slow
def test_national_csv(tmp_path, nation):
    """A national 24-step CSV (≈1 M rows) reads into valid contract rows."""
    steps = pd.date_range("2026-01-15T13:00Z", periods=24, freq="h")
    rows = pd.DataFrame({"zip": nation["zip"].repeat(len(steps)).to_numpy(),
                         "valid_time": list(steps) * len(nation)})
    rows["temperature_f"], rows["precip_in"], rows["wind_mph"] = 50.0, 0.0, 5.0
    rows.to_csv(tmp_path / "n.csv", index=False)
    frame = table_forecast(nation, ISSUE, path=tmp_path / "n.csv")
    assert len(validate_forecast(frame)) == len(rows)
