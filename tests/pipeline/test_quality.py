"""Tests for the quality gate: per-ZIP checks, quarantine, stale substitutes and coverage."""

import json

import numpy as np
import pandas as pd
import pytest

from pipeline import contract
from pipeline.quality import CoverageTooLow, QualityRules, check_forecast
from pipeline.validate import ForecastContractError, validate_forecast

ISSUE = pd.Timestamp("2026-01-15 12:00", tz="UTC")
ZIPS = ["00501", "00502", "00503", "00504"]
LENIENT = QualityRules(min_coverage=0.0)


def _rows(zips=ZIPS, n_steps=6, issue=ISSUE, step="h") -> pd.DataFrame:
    """Good raw rows: every ZIP on the same hourly grid starting one hour after ``issue``."""
    times = pd.date_range(issue + pd.Timedelta(hours=1), periods=n_steps, freq=step)
    n = len(zips) * n_steps
    return pd.DataFrame({
        "zip": pd.Series(np.repeat(zips, n_steps), dtype="str"),
        "valid_time": np.tile(times, len(zips)),
        "issue_time": issue,
        "temperature_f": np.linspace(20, 40, n),
        "precip_in": 0.0,
        "wind_mph": 5.0,
        "gust_mph": 9.0,
        "precip_probability": 10.0,
        "cloud_cover": 50.0,
    })


def _check(frame, zips=ZIPS, **kwargs):
    kwargs.setdefault("rules", LENIENT)
    return check_forecast(frame, zips, issue_time=ISSUE, **kwargs)


def _at(frame, zip_code, hour):
    """Row label of ``zip_code`` at ``hour`` hours after the issue time."""
    when = ISSUE + pd.Timedelta(hours=hour)
    return frame.index[(frame["zip"] == zip_code) & (frame["valid_time"] == when)][0]


def test_clean_forecast_passes_untouched():
    """Good rows all pass: full coverage, nothing quarantined, the frame passes the contract."""
    frame = _rows()
    result = _check(frame, rules=QualityRules())
    assert result.coverage == 1.0
    assert result.quarantined == {} and result.stale == {} and result.left_out == []
    checked = validate_forecast(result.frame)
    pd.testing.assert_frame_equal(
        checked.reset_index(drop=True), validate_forecast(frame).reset_index(drop=True)
    )


def test_out_of_range_temperature_quarantines_the_zip_with_a_readable_reason():
    """A 212 °F reading quarantines its ZIP, naming the value, the time and the range."""
    frame = _rows()
    frame.loc[_at(frame, "00502", 2), "temperature_f"] = 212.0
    result = _check(frame)
    assert result.quarantined == {
        "00502": "temperature_f 212.0 °F at 2026-01-15 14:00 UTC outside -80..140"
    }
    assert result.categories == {"00502": "out of range"}
    assert result.left_out == ["00502"]
    assert sorted(result.frame["zip"].unique()) == ["00501", "00503", "00504"]
    assert result.coverage == 0.75
    validate_forecast(result.frame)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("precip_in", -0.01),
        ("wind_mph", -1.0),
        ("gust_mph", -2.0),
        ("precip_probability", 101.0),
        ("cloud_cover", -5.0),
        ("temperature_f", -81.0),
        ("temperature_f", np.inf),
    ],
)
def test_physical_ranges_match_the_contract(column, value):
    """Each value the pandera contract rejects quarantines exactly its ZIP."""
    frame = _rows()
    frame.loc[_at(frame, "00503", 3), column] = value
    with pytest.raises(ForecastContractError):
        validate_forecast(frame)  # the independent reference: the contract itself
    result = _check(frame)
    assert list(result.quarantined) == ["00503"]
    assert result.quarantined["00503"].startswith(column)
    assert result.categories["00503"] == "out of range"
    validate_forecast(result.frame)


def test_missing_required_value_quarantines_but_missing_optional_does_not():
    """NaN temperature quarantines its ZIP; NaN cloud cover (optional) is allowed."""
    frame = _rows()
    frame.loc[_at(frame, "00501", 4), "temperature_f"] = np.nan
    frame.loc[_at(frame, "00502", 4), "cloud_cover"] = np.nan
    result = _check(frame)
    assert result.quarantined == {"00501": "temperature_f missing at 2026-01-15 16:00 UTC"}
    assert result.categories["00501"] == "missing values"
    validate_forecast(result.frame)


def test_values_that_are_not_numbers_quarantine_their_zip_only():
    """A string in a numeric column quarantines its ZIP; the rest come back as float64."""
    frame = _rows()
    frame["temperature_f"] = frame["temperature_f"].astype(object)
    frame.loc[_at(frame, "00504", 1), "temperature_f"] = "warm"
    result = _check(frame)
    assert result.quarantined == {
        "00504": "temperature_f 'warm' at 2026-01-15 13:00 UTC is not a number"
    }
    assert result.categories["00504"] == "not numeric"
    assert result.frame["temperature_f"].dtype == np.float64
    validate_forecast(result.frame)


def test_unreadable_or_missing_times_quarantine_their_zip():
    """A valid_time that is not a time, or a missing issue_time, quarantines its ZIP."""
    frame = _rows()
    frame["valid_time"] = frame["valid_time"].astype(object)
    frame.loc[_at(frame, "00501", 2), "valid_time"] = "tomorrow"
    frame["issue_time"] = frame["issue_time"].astype(object)
    frame.loc[frame["zip"] == "00502", "issue_time"] = None
    result = _check(frame)
    assert result.quarantined == {
        "00501": "valid_time 'tomorrow' is not a time",
        "00502": "issue_time missing",
    }
    assert set(result.categories.values()) == {"bad time"}
    validate_forecast(result.frame)


def test_duplicate_rows_quarantine_their_zip():
    """Two rows for the same (zip, valid_time) quarantine the ZIP, even if identical."""
    frame = _rows()
    frame = pd.concat([frame, frame.loc[[_at(frame, "00503", 5)]]], ignore_index=True)
    result = _check(frame)
    assert result.quarantined == {
        "00503": "1 duplicate (zip, valid_time) row(s), first for valid_time 2026-01-15 17:00 UTC"
    }
    assert result.categories["00503"] == "duplicate rows"
    validate_forecast(result.frame)


def test_missing_steps_name_the_first_gap_and_the_majority_grid():
    """A ZIP lacking steps of the majority grid is quarantined with the first missing time."""
    frame = _rows()
    frame = frame.drop(index=[_at(frame, "00502", 3), _at(frame, "00502", 4)])
    result = _check(frame)
    assert result.quarantined["00502"] == (
        "missing 2 of 6 time steps (first 2026-01-15 15:00 UTC; "
        "grid 6 steps, 1-hourly, 2026-01-15 13:00 UTC to 2026-01-15 18:00 UTC)"
    )
    assert result.categories["00502"] == "missing steps"
    assert result.grid == {"start": "2026-01-15T13:00:00+00:00", "step_hours": 1.0, "n_steps": 6}


def test_irregular_and_extra_steps_are_off_the_grid():
    """A half-hour offset and a step past the grid's end are both irregular steps."""
    frame = _rows()
    frame.loc[_at(frame, "00501", 3), "valid_time"] += pd.Timedelta(minutes=30)
    extra = frame.loc[[_at(frame, "00504", 6)]].assign(valid_time=ISSUE + pd.Timedelta(hours=7))
    frame = pd.concat([frame, extra], ignore_index=True)
    result = _check(frame)
    assert result.quarantined["00501"].startswith("valid_time 2026-01-15 15:30 UTC is off the grid")
    assert result.quarantined["00504"].startswith("valid_time 2026-01-15 19:00 UTC is off the grid")
    assert set(result.categories.values()) == {"irregular steps"}
    validate_forecast(result.frame)


def test_source_failures_pass_through_first_and_missing_zips_are_named():
    """A source's reason is kept verbatim and wins; a ZIP with no rows is 'no forecast rows'."""
    frame = _rows(zips=["00501", "00502", "00503"])
    frame.loc[_at(frame, "00501", 1), "temperature_f"] = 999.0
    frame.attrs["failures"] = {"00501": "HTTP 500 from api.example", "99999": "not asked"}
    result = _check(frame)
    assert result.quarantined == {
        "00501": "HTTP 500 from api.example",
        "00504": "no forecast rows",
    }
    assert result.categories == {"00501": "source failure", "00504": "no forecast rows"}


def test_rows_for_zips_not_asked_are_ignored_and_counted():
    """Rows for ZIPs nobody asked for are dropped and counted, not quarantined."""
    frame = _rows(zips=[*ZIPS, "77777"])
    result = _check(frame, rules=QualityRules())
    assert result.n_rows_unasked == 6
    assert "77777" not in set(result.frame["zip"])
    assert result.report()["n_rows_unasked"] == 6


def test_unsorted_input_comes_back_sorted_in_contract_order():
    """Shuffled rows with extra columns come back sorted by (zip, valid_time), contract columns."""
    frame = _rows().sample(frac=1.0, random_state=0)
    frame["note"] = "x"
    result = _check(frame, rules=QualityRules())
    out = result.frame
    assert list(out.columns) == [c for c in contract.COLUMNS if c in frame.columns]
    assert out.equals(out.sort_values(["zip", "valid_time"], ignore_index=True))


def test_missing_required_column_is_a_source_error_not_a_quarantine():
    """A frame without wind_mph raises ForecastContractError naming it."""
    with pytest.raises(ForecastContractError, match="wind_mph"):
        _check(_rows().drop(columns="wind_mph"))


def _last_good(hours_before: float) -> pd.DataFrame:
    """Contract rows of an earlier issue, one more step long so they reach past the grid."""
    earlier = ISSUE - pd.Timedelta(hours=hours_before)
    rows = _rows(n_steps=12, issue=earlier)
    rows["temperature_f"] = 55.0
    return validate_forecast(rows)


def test_fresh_last_good_forecast_is_substituted_and_reported_stale():
    """A quarantined ZIP gets its 6 h old forecast on the current grid, reported as stale."""
    frame = _rows()
    frame.loc[_at(frame, "00502", 2), "temperature_f"] = 212.0
    result = _check(frame, last_good=_last_good(6), rules=QualityRules())
    assert result.stale == {"00502": "2026-01-15T06:00:00+00:00"}
    assert result.left_out == []
    assert result.coverage == 1.0
    assert result.quarantined["00502"].startswith("temperature_f 212.0")
    assert result.stale_notes["00502"] == (
        "stale: using forecast issued 2026-01-15 06:00 UTC (6 h old)"
    )
    stale_rows = result.frame[result.frame["zip"] == "00502"]
    assert (stale_rows["temperature_f"] == 55.0).all()
    assert (stale_rows["issue_time"] == ISSUE - pd.Timedelta(hours=6)).all()
    assert stale_rows["valid_time"].min() == ISSUE + pd.Timedelta(hours=1)  # past steps dropped
    assert len(stale_rows) == 6
    assert any("stale: using forecast issued" in line for line in result.log_lines())
    validate_forecast(result.frame)


def test_too_old_last_good_forecast_is_refused():
    """A 13 h old last good forecast is not used (limit 12 h); the ZIP is left out, with why."""
    frame = _rows()
    frame.loc[_at(frame, "00502", 2), "temperature_f"] = 212.0
    result = _check(frame, last_good=_last_good(13))
    assert result.stale == {}
    assert result.left_out == ["00502"]
    assert result.quarantined["00502"].endswith(
        "no substitute: last good forecast issued 2026-01-14 23:00 UTC is 13 h old (limit 12 h)"
    )


def test_staleness_is_judged_at_the_injected_clock():
    """With now 10 h after the issue, a forecast issued 6 h before it is 16 h old: refused."""
    frame = _rows()
    frame.loc[_at(frame, "00502", 2), "temperature_f"] = 212.0
    late = ISSUE + pd.Timedelta(hours=10)
    result = _check(frame, last_good=_last_good(6), now=late)
    assert result.stale == {}
    assert "16 h old (limit 12 h)" in result.quarantined["00502"]


def test_last_good_forecast_that_fails_too_is_refused():
    """A last good forecast with its own bad value is not substituted."""
    frame = _rows()
    frame.loc[_at(frame, "00502", 2), "temperature_f"] = 212.0
    last = _last_good(6)
    last.loc[(last["zip"] == "00502") & (last["valid_time"] == ISSUE + pd.Timedelta(hours=3)),
             "wind_mph"] = -4.0
    result = _check(frame, last_good=last)
    assert result.left_out == ["00502"]
    assert "no substitute: last good forecast also fails: wind_mph -4.0 mph" in (
        result.quarantined["00502"]
    )


def test_source_outage_is_bridged_by_the_last_good_forecast():
    """With no fresh rows at all, every ZIP gets its fresh-enough last good forecast."""
    frame = _rows().iloc[0:0]
    result = _check(frame, last_good=_last_good(3), rules=QualityRules())
    assert set(result.stale) == set(ZIPS)
    assert set(result.categories.values()) == {"no forecast rows"}
    assert result.frame["valid_time"].min() > ISSUE
    validate_forecast(result.frame)


def test_low_coverage_raises_with_numbers_reasons_and_a_way_forward():
    """Below min_coverage, CoverageTooLow gives coverage, threshold, top reasons and the fix."""
    frame = _rows()
    frame.loc[_at(frame, "00501", 2), "temperature_f"] = 212.0
    frame.attrs["failures"] = {"00502": "timeout"}
    with pytest.raises(CoverageTooLow) as err:
        check_forecast(frame, ZIPS, issue_time=ISSUE)
    text = str(err.value)
    assert "coverage 50.00% (2 of 4 ZIPs usable" in text
    assert "below the minimum 98.00%" in text
    assert "out of range: 1 ZIPs" in text and "source failure: 1 ZIPs" in text
    assert "ZIPCAST_QUALITY__MIN_COVERAGE" in text and "fewer states" in text
    assert err.value.result.left_out == ["00501", "00502"]


def test_report_counts_reasons_by_category_and_is_json():
    """report() is plain JSON with counts per category and at most max_examples examples."""
    frame = _rows()
    frame.loc[_at(frame, "00501", 2), "temperature_f"] = 212.0
    frame.loc[_at(frame, "00502", 2), "wind_mph"] = -1.0
    frame.attrs["failures"] = {"00503": "timeout"}
    result = _check(frame, rules=QualityRules(min_coverage=0, max_examples=2),
                    last_good=_last_good(6))
    report = json.loads(json.dumps(result.report()))
    assert report["quarantined"] == {"out of range": 2, "source failure": 1}
    assert (report["n_asked"], report["n_good"], report["n_stale"], report["n_left_out"]) == (
        4, 1, 3, 0)
    assert report["coverage"] == 1.0
    assert len(report["examples"]) == 2
    assert report["examples"][0]["stale_issue_time"] == "2026-01-15T06:00:00+00:00"
    lines = result.log_lines()
    assert lines[0].startswith("quality: 1 of 4 ZIPs good, 3 stale, 0 left out")
    assert lines[-1].startswith("  … and 1 more")


def test_national_size_frame_is_checked_in_one_pass():
    """A 41,078-ZIP × 72-step frame with two bad ZIPs quarantines just those two."""
    n_zips, n_steps = 41_078, 72
    zips = np.char.zfill(np.arange(1, n_zips + 1).astype(str), 5)
    times = pd.date_range(ISSUE + pd.Timedelta(hours=1), periods=n_steps, freq="h")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "zip": pd.Series(np.repeat(zips, n_steps), dtype="str"),
        "valid_time": np.tile(times, n_zips),
        "issue_time": ISSUE,
        "temperature_f": rng.uniform(-10, 100, n_zips * n_steps).round(1),
        "precip_in": 0.0,
        "wind_mph": rng.uniform(0, 30, n_zips * n_steps).round(1),
    })
    frame.loc[72 * 100 + 5, "temperature_f"] = 150.0
    frame = frame.drop(index=72 * 2000 + 10)
    result = check_forecast(frame, zips, issue_time=ISSUE)
    assert set(result.quarantined) == {"00101", "02001"}
    assert result.categories == {"00101": "out of range", "02001": "missing steps"}
    assert len(result.frame) == (n_zips - 2) * n_steps
