"""Issue 16, row A: two table runs with one issue time and different files overwrote one
snapshot, so replaying the first run reported "DIFFERENT".

A snapshot is immutable: its id carries the content hash, saving other rows at the same issue
time writes a new id, and a replay always finds its own input. Old ids (``<source>/<stamp>``)
of runs stored before still load.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import pytest
from typer.testing import CliRunner

from pipeline.geo import load_zips
from pipeline.settings import get_settings
from pipeline.snapshots import latest_snapshot, list_snapshots, load_snapshot, save_snapshot

ISSUE = "2026-07-01T10:00:00Z"
DE = load_zips(["DE"])


def _csv(path, seed: int, issue: str = ISSUE):
    """One state's synthetic forecast written as a table file (different seed, other rows)."""
    from pipeline.sources import fetch_forecast

    fetch_forecast("synthetic", DE, issue, seed=seed, hours=24).to_csv(path, index=False)
    return path


def _frame(value: float) -> pd.DataFrame:
    issue = pd.Timestamp(ISSUE)
    return pd.DataFrame({
        "zip": ["19701", "19702"], "valid_time": [issue + pd.Timedelta(hours=1)] * 2,
        "issue_time": [issue] * 2, "temperature_f": [value, value + 1], "precip_in": 0.0,
        "wind_mph": 5.0,
    })


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """The runs' data folder, private to the test."""
    monkeypatch.setenv("ZIPCAST_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_two_table_runs_at_one_issue_time_each_replay_identical(data_dir, prefect_harness):
    """Two table runs with one issue time and different files keep two snapshots, and
    replaying the first by run id reproduces it identically from its own snapshot."""
    from flows.cli import app
    from flows.twice_daily import twice_daily

    runs = [twice_daily(source="table", path=str(_csv(data_dir / f"{name}.csv", seed)),
                        states=["DE"], issue_time=ISSUE, max_slots=4, with_baselines=False,
                        notify_editors=False)
            for name, seed in (("first", 1), ("second", 2))]
    first, second = runs
    assert first["snapshot"] != second["snapshot"]
    assert first["snapshot_sha256"] != second["snapshot_sha256"]
    replayed = CliRunner().invoke(app, ["run", "--replay", first["run_id"], "--json"])
    assert replayed.exit_code == 0, replayed.output
    verdict = json.loads(replayed.stdout)
    assert verdict["snapshot"] == first["snapshot"]
    assert verdict["snapshot_sha256"] == first["snapshot_sha256"]
    assert verdict["replay_of"]["identical"] is True, verdict["replay_of"]


def test_saving_other_rows_at_the_same_issue_time_leaves_the_first_snapshot(tmp_path):
    """A second save of the same source and issue time gets a new id carrying its hash; the
    first snapshot's file, hash and rows stay as they were."""
    first = save_snapshot(tmp_path, "table", ISSUE, _frame(50.0))
    before = first.path.read_bytes()
    second = save_snapshot(tmp_path, "table", ISSUE, _frame(70.0))
    assert first.id != second.id
    assert first.id == f"table/20260701T1000Z-{first.sha256[:12]}"
    assert first.path.read_bytes() == before
    rows, found = load_snapshot(tmp_path, first.id)
    assert found.sha256 == first.sha256
    pd.testing.assert_frame_equal(rows, _frame(50.0))
    assert [s.id for s in list_snapshots(tmp_path, "table")] == [first.id, second.id]


def test_the_newest_save_of_an_issue_time_is_the_last_good_forecast(tmp_path):
    """Of several snapshots of one issue time, the last good lookup (and the bare
    ``<source>/<stamp>`` id) takes the one saved last."""
    save_snapshot(tmp_path, "table", ISSUE, _frame(50.0),
                  created_at=datetime(2026, 7, 1, 10, 5, tzinfo=UTC))
    newer = save_snapshot(tmp_path, "table", ISSUE, _frame(40.0),
                          created_at=datetime(2026, 7, 1, 10, 9, tzinfo=UTC))
    later = latest_snapshot(tmp_path, "table", before="2026-07-01T22:00Z")
    assert later is not None and later.id == newer.id
    assert load_snapshot(tmp_path, "table/20260701T1000Z")[1].id == newer.id


def test_snapshots_stored_under_old_ids_still_load(tmp_path):
    """A snapshot saved as ``<source>/<stamp>.parquet`` (before ids had a hash) is listed,
    found by its old id, and checked against its recorded sha256."""
    new = save_snapshot(tmp_path, "table", ISSUE, _frame(50.0))
    folder = tmp_path / "table"
    new.path.rename(folder / "20260701T1000Z.parquet")
    sidecar = json.loads(new.path.with_suffix(".json").read_text())
    new.path.with_suffix(".json").unlink()
    sidecar["id"] = "table/20260701T1000Z"
    (folder / "20260701T1000Z.json").write_text(json.dumps(sidecar))
    assert [s.id for s in list_snapshots(tmp_path)] == ["table/20260701T1000Z"]
    rows, found = load_snapshot(tmp_path, "table/20260701T1000Z")
    assert found.sha256 == new.sha256
    pd.testing.assert_frame_equal(rows, _frame(50.0))


def test_a_state_run_merges_into_a_new_snapshot(settings):
    """A state run at the issue time of a wider run writes a new snapshot with both states'
    rows; the wider run's recorded snapshot keeps its bytes and rows."""
    from pipeline.ingest import check_and_keep
    from pipeline.sources import fetch_raw

    wide_zips = load_zips(["DE", "RI"])
    wide = check_and_keep(fetch_raw("synthetic", wide_zips, ISSUE, seed=1), wide_zips,
                          source="synthetic", issue_time=ISSUE, settings=settings)
    state = check_and_keep(fetch_raw("synthetic", DE, ISSUE, seed=2), DE,
                           source="synthetic", issue_time=ISSUE, settings=settings)
    assert state.snapshot_id != wide.snapshot_id
    kept, found = load_snapshot(settings.snapshots_dir, wide.snapshot_id)
    assert found.sha256 == wide.sha256
    pd.testing.assert_frame_equal(kept, wide.forecast)
    merged, _ = load_snapshot(settings.snapshots_dir, state.snapshot_id)
    assert set(merged["zip"]) == set(wide_zips["zip"])
    de_rows = merged[merged["zip"].isin(DE["zip"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(de_rows, state.forecast.reset_index(drop=True))
