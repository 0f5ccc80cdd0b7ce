"""Tests for forecast snapshots: Parquet per source, issue time and content hash, atomic,
found by id."""

import hashlib
import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from pipeline.snapshots import (
    SnapshotCorrupt,
    SnapshotNotFound,
    latest_snapshot,
    list_snapshots,
    load_snapshot,
    save_snapshot,
)

ISSUE = pd.Timestamp("2026-01-15 12:00", tz="UTC")
CREATED = datetime(2026, 1, 15, 12, 5, tzinfo=UTC)


def _forecast(issue=ISSUE) -> pd.DataFrame:
    """Contract-shaped rows with ns and us UTC times, a str zip and a NaN."""
    times = pd.date_range(issue + pd.Timedelta(hours=1), periods=3, freq="h")
    frame = pd.DataFrame({
        "zip": pd.Series(np.repeat(["00501", "10001"], 3), dtype="str"),
        "valid_time": np.tile(times, 2),
        "issue_time": pd.Series([issue] * 6).dt.as_unit("us"),
        "temperature_f": [30.5, 31.0, np.nan, 60.0, 61.2, 62.0],
        "precip_in": 0.0,
        "wind_mph": 5.0,
    })
    frame.attrs["failures"] = {"99950": "outside the model grid"}
    return frame


def _save(root, source="synthetic", issue=ISSUE, frame=None, meta=None):
    return save_snapshot(root, source, issue, _forecast(issue) if frame is None else frame,
                         meta or {"seed": 7, "states": ["NY"]}, created_at=CREATED)


def test_round_trip_is_identical_with_metadata_and_checksum(tmp_path):
    """A saved frame loads back identical (dtypes, UTC times, attrs) with its metadata."""
    frame = _forecast()
    snap = save_snapshot(tmp_path, "synthetic", "2026-01-15 12:00", frame,
                         {"seed": 7, "states": ["NY"], "path": tmp_path / "in.csv"},
                         created_at=CREATED)
    assert snap.sha256 == hashlib.sha256(snap.path.read_bytes()).hexdigest()
    assert snap.id == f"synthetic/20260115T1200Z-{snap.sha256[:12]}"
    assert snap.path == tmp_path / "synthetic" / f"20260115T1200Z-{snap.sha256[:12]}.parquet"
    assert snap.meta["n_rows"] == 6 and snap.meta["n_zips"] == 2
    assert snap.meta["seed"] == 7 and snap.meta["states"] == ["NY"]
    assert snap.meta["path"] == str(tmp_path / "in.csv")
    assert snap.meta["issue_time"] == "2026-01-15T12:00:00+00:00"
    assert snap.meta["created_at"] == "2026-01-15T12:05:00+00:00"

    loaded, found = load_snapshot(tmp_path, snap.id)
    pd.testing.assert_frame_equal(loaded, frame)
    assert loaded["valid_time"].dtype == frame["valid_time"].dtype
    assert str(loaded["issue_time"].dtype) == "datetime64[us, UTC]"
    assert loaded.attrs == {"failures": {"99950": "outside the model grid"}}
    assert found == snap
    assert found.meta == snap.meta


def test_load_by_path_gives_the_same_frame(tmp_path):
    """A snapshot can be loaded by its .parquet path as well as by id."""
    snap = _save(tmp_path)
    by_path, found = load_snapshot(tmp_path, snap.path)
    by_id, _ = load_snapshot(tmp_path, snap.id)
    pd.testing.assert_frame_equal(by_path, by_id)
    assert found.id == snap.id


def test_save_leaves_no_temporary_files(tmp_path):
    """After saving (and re-saving the same rows) only the Parquet file and its sidecar
    remain."""
    snap = _save(tmp_path)
    assert _save(tmp_path) == snap
    name = snap.path.stem
    names = sorted(p.name for p in (tmp_path / "synthetic").iterdir())
    assert names == [f"{name}.json", f"{name}.parquet"]
    sidecar = json.loads((tmp_path / "synthetic" / f"{name}.json").read_text())
    assert sidecar["id"] == snap.id


def test_failed_write_leaves_nothing_behind(tmp_path):
    """A frame Parquet cannot hold is refused without leaving a partial or temporary file."""
    frame = _forecast()
    frame["wind_mph"] = [1.0, "calm", 3.0, 4.0, 5.0, 6.0]
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        _save(tmp_path, frame=frame)
    assert list((tmp_path / "synthetic").iterdir()) == []
    with pytest.raises(TypeError, match="not JSON serializable"):
        _save(tmp_path, meta={"client": object()})
    assert list((tmp_path / "synthetic").iterdir()) == []


def test_missing_snapshot_lists_the_available_ids(tmp_path):
    """Asking for an unknown issue time names the ids stored for that source."""
    first = _save(tmp_path, issue=ISSUE)
    second = _save(tmp_path, issue=ISSUE + pd.Timedelta(hours=12))
    with pytest.raises(SnapshotNotFound) as err:
        load_snapshot(tmp_path, "synthetic/20260101T0000Z")
    text = str(err.value)
    assert "no snapshot 'synthetic/20260101T0000Z'" in text
    assert f"available for synthetic: {first.id}, {second.id}" in text


def test_unknown_source_lists_the_sources_with_snapshots(tmp_path):
    """Asking for a source with no snapshots names the sources that have some."""
    _save(tmp_path, source="open-meteo")
    with pytest.raises(SnapshotNotFound, match="no snapshots of 'nws' yet; .*open-meteo"):
        load_snapshot(tmp_path, "nws/20260115T1200Z")


def test_latest_snapshot_is_strictly_before_the_issue_time(tmp_path):
    """The last good lookup returns the newest snapshot issued before the given time."""
    saved = [_save(tmp_path, issue=ISSUE + pd.Timedelta(hours=hours)) for hours in (0, 6, 12)]
    _save(tmp_path, source="table", issue=ISSUE + pd.Timedelta(hours=9))
    found = latest_snapshot(tmp_path, "synthetic", before=ISSUE + pd.Timedelta(hours=12))
    assert found is not None and found.id == saved[1].id
    assert latest_snapshot(tmp_path, "synthetic", before="2026-01-15 12:00") is None
    assert latest_snapshot(tmp_path, "synthetic").id == saved[2].id
    assert latest_snapshot(tmp_path, "nws", before=ISSUE) is None


def test_list_snapshots_orders_by_source_then_issue_time_and_skips_stray_files(tmp_path):
    """Listing is sorted and ignores temporary and foreign files."""
    later = _save(tmp_path, issue=ISSUE + pd.Timedelta(hours=6))
    earlier = _save(tmp_path, issue=ISSUE)
    gridded = _save(tmp_path, source="gridded", issue=ISSUE)
    (tmp_path / "synthetic" / ".20260115T0000Z.parquet.abc.tmp").write_bytes(b"partial")
    (tmp_path / "synthetic" / "notes.parquet").write_bytes(b"junk")
    ids = [s.id for s in list_snapshots(tmp_path)]
    assert ids == [gridded.id, earlier.id, later.id]
    assert [s.id for s in list_snapshots(tmp_path, "gridded")] == [gridded.id]


def test_changed_file_is_reported_corrupt(tmp_path):
    """A snapshot whose bytes changed after saving fails its sha256 check on load."""
    snap = _save(tmp_path)
    other = _save(tmp_path / "elsewhere", frame=_forecast().assign(wind_mph=9.0))
    snap.path.write_bytes(other.path.read_bytes())
    with pytest.raises(SnapshotCorrupt, match="Re-ingest"):
        load_snapshot(tmp_path, snap.id)


def test_source_names_must_be_safe_folder_names(tmp_path):
    """A source name with a path separator is refused before anything is written."""
    with pytest.raises(ValueError, match="cannot be a snapshot folder"):
        _save(tmp_path, source="../evil")
