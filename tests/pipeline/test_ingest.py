"""Tests for ingest: checks, stale fallback from the last snapshot, and replay."""

import threading

import pandas as pd
import pytest

from pipeline import ingest
from pipeline.geo import load_zips
from pipeline.ingest import check_and_keep, replay
from pipeline.quality import check_forecast
from pipeline.snapshots import load_snapshot, save_snapshot
from pipeline.sources import fetch_raw
from pipeline.validate import ForecastContractError, already_coerced

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


def _stored_files(settings):
    return sorted(p.name for p in settings.snapshots_dir.rglob("*") if p.is_file())


def test_snapshot_written_beside_validation_has_the_bytes_of_writing_after_it(settings, tmp_path):
    """The checked rows are written while they are validated; the file is the one saving
    the validated rows gives."""
    rows = fetch_raw("synthetic", ZIPS, "2026-01-15T09:00Z", seed=0)
    got = check_and_keep(rows, ZIPS, source="synthetic", issue_time="2026-01-15T09:00Z",
                         settings=settings)
    after = save_snapshot(tmp_path / "after", "synthetic", "2026-01-15T09:00Z", got.forecast,
                          meta={"options": {}, "quality": got.quality})
    assert after.sha256 == got.sha256
    assert len(_stored_files(settings)) == 2  # the file and its sidecar, no temporary left


def test_rows_that_fail_validation_leave_no_snapshot(settings, monkeypatch):
    """Written beside the validation, a snapshot of rows that then fail it is never stored."""
    def refuse(frame, *, source):
        raise ForecastContractError(f"{source}: 1 contract violation(s)")

    monkeypatch.setattr(ingest, "validate_forecast", refuse)
    rows = fetch_raw("synthetic", ZIPS, "2026-01-15T09:00Z", seed=0)
    with pytest.raises(ForecastContractError, match="contract violation"):
        check_and_keep(rows, ZIPS, source="synthetic", issue_time="2026-01-15T09:00Z",
                       settings=settings)
    assert _stored_files(settings) == []


def test_the_snapshot_is_written_in_a_thread_while_the_rows_are_validated(settings,
                                                                         monkeypatch):
    """Checked rows of the contract's dtypes take the side-by-side path."""
    threads = []
    stage = ingest.stage_snapshot

    def recording(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return stage(*args, **kwargs)

    monkeypatch.setattr(ingest, "stage_snapshot", recording)
    rows = fetch_raw("synthetic", ZIPS, "2026-01-15T09:00Z", seed=0)
    check_and_keep(rows, ZIPS, source="synthetic", issue_time="2026-01-15T09:00Z",
                   settings=settings)
    assert len(threads) == 1 and threads[0].startswith("snapshot")


def test_an_interrupted_validation_leaves_no_snapshot(settings, monkeypatch):
    """Ctrl-C while the rows are validated: the file written beside them is removed."""
    def interrupted(frame, *, source):
        raise KeyboardInterrupt

    monkeypatch.setattr(ingest, "validate_forecast", interrupted)
    rows = fetch_raw("synthetic", ZIPS, "2026-01-15T09:00Z", seed=0)
    with pytest.raises(KeyboardInterrupt):
        check_and_keep(rows, ZIPS, source="synthetic", issue_time="2026-01-15T09:00Z",
                       settings=settings)
    assert _stored_files(settings) == []


def test_a_snapshot_that_cannot_be_written_fails_the_ingest_with_its_cause(settings):
    """Options that are not JSON stop the ingest with that error, and write nothing."""
    rows = fetch_raw("synthetic", ZIPS, "2026-01-15T09:00Z", seed=0)
    with pytest.raises(TypeError, match="not JSON serializable"):
        check_and_keep(rows, ZIPS, source="synthetic", issue_time="2026-01-15T09:00Z",
                       settings=settings, options={"path": object()})
    assert _stored_files(settings) == []


def test_rows_validation_changes_are_saved_as_changed(settings, monkeypatch):
    """Should validation change rows it was expected only to check, the snapshot holds the
    rows it handed back, not the ones written beside it."""
    validate = ingest.validate_forecast

    def narrowing(frame, *, source):
        return validate(frame, source=source).astype({"cloud_cover": "float32"})

    monkeypatch.setattr(ingest, "validate_forecast", narrowing)
    rows = fetch_raw("synthetic", ZIPS, "2026-01-15T09:00Z", seed=0)
    got = check_and_keep(rows, ZIPS, source="synthetic", issue_time="2026-01-15T09:00Z",
                         settings=settings)
    stored, _ = load_snapshot(settings.snapshots_dir, got.snapshot_id)
    assert stored["cloud_cover"].dtype == "float32"
    assert len(_stored_files(settings)) == 2


def test_already_coerced_only_for_contract_typed_rows_in_contract_order():
    rows = fetch_raw("synthetic", ZIPS, "2026-01-15T09:00Z", seed=0)
    checked = check_forecast(rows, ZIPS, issue_time="2026-01-15T09:00Z").frame
    assert already_coerced(checked)
    assert not already_coerced(rows)  # the source's microsecond times
    assert not already_coerced(checked[checked.columns[::-1]])
    assert not already_coerced(checked.astype({"temperature_f": "float32"}))
