"""Tests for the forecast contract check."""

import numpy as np
import pandas as pd
import pytest

from pipeline import contract
from pipeline.validate import ForecastContractError, validate_forecast


def _rows(n_zips: int = 3, n_steps: int = 4) -> pd.DataFrame:
    times = pd.date_range("2026-01-10 13:00", periods=n_steps, freq="h", tz="UTC")
    return pd.DataFrame(
        {
            "zip": np.repeat([f"{i:05d}" for i in range(1, n_zips + 1)], n_steps),
            "valid_time": np.tile(times, n_zips),
            "issue_time": pd.Timestamp("2026-01-10 12:00", tz="UTC"),
            "temperature_f": 40.0,
            "precip_in": 0.0,
            "wind_mph": 5.0,
        }
    )


def test_good_rows_pass_in_contract_order():
    """Valid rows come back unchanged, in contract column order, optional columns allowed."""
    frame = _rows()
    frame.insert(0, "cloud_cover", 50.0)
    out = validate_forecast(frame)
    assert list(out.columns) == [c for c in contract.COLUMNS if c in frame.columns]
    assert len(out) == len(frame)


def test_bad_values_are_reported_with_column_and_row():
    """Out-of-range values and bad ZIPs are listed with their column, check and row."""
    frame = _rows()
    frame.loc[5, "temperature_f"] = 200.0
    frame.loc[2, "zip"] = "1234"
    with pytest.raises(ForecastContractError) as err:
        validate_forecast(frame, source="table")
    text = str(err.value)
    assert text.startswith("table: 2 contract violation")
    assert "temperature_f" in text and "row 5" in text
    assert "zip" in text and "row 2" in text


def test_missing_required_column_names_it():
    """A missing required column is named, with the full list of required columns."""
    with pytest.raises(ForecastContractError, match="wind_mph"):
        validate_forecast(_rows().drop(columns="wind_mph"))


def test_duplicate_zip_time_is_rejected():
    """Two rows for one (zip, valid_time) break the contract."""
    frame = _rows()
    with pytest.raises(ForecastContractError, match="contract violation"):
        validate_forecast(pd.concat([frame, frame.iloc[:1]], ignore_index=True))


def test_duplicates_in_sorted_rows_are_rejected_too():
    """The one-pass uniqueness check for ZIP-major rows hides nothing: a repeated hour inside
    a ZIP's rows, or a ZIP's rows coming back after another's, are reported as pandera does."""
    frame = _rows()
    frame["zip"] = frame["zip"].astype("str")
    repeated = frame.copy()
    repeated.loc[3, "valid_time"] = repeated.loc[2, "valid_time"]
    back = pd.concat([frame, frame[frame["zip"] == "00001"].assign(
        valid_time=frame["valid_time"].iloc[:4] + pd.Timedelta(hours=1))], ignore_index=True)
    for bad, rows in ((repeated, "row 2"), (back, "row 1")):
        with pytest.raises(ForecastContractError, match="multiple_fields_uniqueness") as err:
            validate_forecast(bad)
        assert rows in str(err.value)
    assert len(validate_forecast(frame)) == len(frame)  # sorted and unique: passes


def test_a_repeated_key_column_gets_the_contract_message():
    """Two ``zip`` columns (a source file with the field twice) reach pandera, as before."""
    frame = _rows()
    frame["zip"] = frame["zip"].astype("str")
    frame.loc[1, "zip"] = "bad"
    frame.insert(1, "zip", frame["zip"], allow_duplicates=True)
    with pytest.raises(ForecastContractError, match="str_matches"):
        validate_forecast(frame)
