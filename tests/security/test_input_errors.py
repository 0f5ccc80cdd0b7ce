"""Issue 16, row B: a table missing a column was fetched three times (~100 s of retries), then
fell back to the last good forecast or ended with "CoverageTooLow … no forecast rows", the real
cause buried in Prefect tracebacks.

A deterministic input error (missing column, unreadable or undecodable file, unknown file type,
a path that does not exist) is a :class:`pipeline.sources.InputError`: it is not retried, does
not fall back, and ``zipcast run`` ends with it as its last line, naming the file.
"""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from pipeline.geo import load_zips
from pipeline.settings import get_settings

GOOD_ISSUE = "2026-07-01T04:00:00Z"
ISSUE = "2026-07-01T10:00:00Z"
DE = load_zips(["DE"])


def _table(issue: str) -> pd.DataFrame:
    from pipeline.sources import fetch_forecast

    return fetch_forecast("synthetic", DE, issue, seed=1, hours=24)


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """The runs' data folder, private to the test."""
    monkeypatch.setenv("ZIPCAST_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _counting_fetch(monkeypatch) -> dict:
    """Replace the flow's fetch task by one that counts its calls (retries included)."""
    from prefect import task
    from prefect.cache_policies import NONE

    from flows import twice_daily as module
    from pipeline import sources

    calls = {"n": 0}

    def fetch(source, zips, issue_time, seed, hours, path, settings):
        calls["n"] += 1
        return sources.fetch_raw(source, zips, issue_time, seed=seed, hours=hours, path=path,
                                 settings=settings)

    monkeypatch.setattr(module, "fetch", task(fetch, name="fetch", cache_policy=NONE))
    return calls


def _missing_column(folder):
    path = folder / "x.csv"
    _table(ISSUE).drop(columns=["temperature_f"]).to_csv(path, index=False)
    return path


def _corrupt_parquet(folder):
    path = folder / "x.parquet"
    path.write_bytes(b"PAR1 this is not a parquet file PAR1")
    return path


def _no_such_file(folder):
    return folder / "nowhere" / "x.csv"


@pytest.mark.parametrize(("make", "cause"), [
    (_missing_column, "missing column(s) temperature_f"),
    (_corrupt_parquet, "cannot read"),
    (_no_such_file, "no such file"),
])
def test_bad_table_fails_at_once_with_the_cause_last(data_dir, prefect_harness, monkeypatch,
                                                      make, cause):
    """A bad table file fails the run after one fetch (no retries, no fallback to the good
    forecast saved earlier), and the last line printed names the file and the cause."""
    from flows.cli import app
    from flows.twice_daily import twice_daily

    good = data_dir / "good.csv"
    _table(GOOD_ISSUE).to_csv(good, index=False)
    twice_daily(source="table", path=str(good), states=["DE"], issue_time=GOOD_ISSUE,
                max_slots=4, with_baselines=False, notify_editors=False)
    calls = _counting_fetch(monkeypatch)
    bad = make(data_dir)
    result = CliRunner().invoke(app, ["run", "--source", "table", "--path", str(bad),
                                      "--states", "DE", "--issue-time", ISSUE,
                                      "--no-baselines"])
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # said, not raised
    assert calls["n"] == 1
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("error: ") and str(bad) in last and cause in last, last


def test_missing_column_message_says_what_a_table_needs(tmp_path):
    """The missing-column error names the file, the column and the columns a table needs."""
    from pipeline.sources import InputError
    from pipeline.sources.table import table_forecast

    path = _missing_column(tmp_path)
    with pytest.raises(InputError) as err:
        table_forecast(DE, pd.Timestamp(ISSUE), path=path)
    assert str(err.value).startswith(f"table: {path}: missing column(s) temperature_f; "
                                     "a table needs zip (or lat and lon), valid_time, "
                                     "temperature_f, precip_in, wind_mph")


@pytest.mark.parametrize("name", ["x.csv", "x.parquet", "x.xlsx"])
def test_unreadable_table_files_are_input_errors(tmp_path, name):
    """An absent file, an undecodable file and an unknown file type are InputErrors."""
    from pipeline.sources import InputError
    from pipeline.sources.table import table_forecast

    with pytest.raises(InputError, match="no such file"):
        table_forecast(DE, pd.Timestamp(ISSUE), path=tmp_path / name)
    (tmp_path / name).write_bytes(b"\x00\xff\xfe garbage \x00")
    with pytest.raises(InputError, match=str(tmp_path / name)):
        table_forecast(DE, pd.Timestamp(ISSUE), path=tmp_path / name)


def test_unreadable_gridded_files_are_input_errors(tmp_path):
    """No files at a path and a file that is neither GRIB nor NetCDF are InputErrors."""
    from pipeline.sources import InputError
    from pipeline.sources.gridded import gridded_forecast

    with pytest.raises(InputError, match="no files at"):
        gridded_forecast(DE, pd.Timestamp(ISSUE), path=tmp_path / "gfs.grib2")
    (tmp_path / "gfs.grib2").write_text("not a grib")
    with pytest.raises(InputError, match="neither GRIB nor NetCDF"):
        gridded_forecast(DE, pd.Timestamp(ISSUE), path=tmp_path / "gfs.grib2")


def test_combine_partitions_re_raises_input_errors():
    """A partition that failed on its input fails the ingest instead of falling back."""
    from pipeline.ingest import combine_partitions
    from pipeline.sources import InputError

    parts = [DE.iloc[:48], DE.iloc[48:]]
    error = InputError("table: /data/x.csv: missing column(s) wind_mph")
    with pytest.raises(InputError, match="missing column"):
        combine_partitions(parts, [(DE.iloc[:0], None), (None, error)], retries=2)
