"""Tests for ingest: checks, stale fallback from the last snapshot, and replay."""

import pandas as pd

from pipeline.geo import load_zips
from pipeline.ingest import check_and_keep, replay
from pipeline.sources import fetch_raw

ZIPS = load_zips(["RI"])


def test_broken_zip_falls_back_to_last_good_snapshot(settings):
    """A ZIP whose new rows fail uses its forecast from the previous ingest, and says so."""
    first = fetch_raw("synthetic", ZIPS, "2026-01-15T03:00Z", seed=0)
    check_and_keep(first, ZIPS, source="synthetic", issue_time="2026-01-15T03:00Z",
                   settings=settings)
    second = fetch_raw("synthetic", ZIPS, "2026-01-15T09:00Z", seed=0)
    broken = ZIPS["zip"].iloc[0]
    second.loc[second["zip"] == broken, "temperature_f"] = 500.0
    got = check_and_keep(second, ZIPS, source="synthetic", issue_time="2026-01-15T09:00Z",
                         settings=settings)
    assert got.quality["n_stale"] == 1 and got.quality["coverage"] == 1.0
    rows = got.forecast[got.forecast["zip"] == broken]
    assert (rows["issue_time"] == pd.Timestamp("2026-01-15T03:00Z")).all()
    assert any("stale" in line for line in got.log_lines)


def test_clean_ingest_is_snapshotted_and_replayable(settings):
    """A clean ingest is kept as a snapshot that replays to the identical forecast."""
    rows = fetch_raw("synthetic", ZIPS, "2026-01-15T09:00Z", seed=0)
    got = check_and_keep(rows, ZIPS, source="synthetic", issue_time="2026-01-15T09:00Z",
                         settings=settings)
    assert got.snapshot_id == f"synthetic/20260115T0900Z-{got.sha256[:12]}"
    assert got.quality["n_stale"] == 0
    again = replay(got.snapshot_id, settings)
    pd.testing.assert_frame_equal(again.forecast, got.forecast)
