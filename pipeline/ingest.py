"""Ingest, checked and kept: source rows → quality check/quarantine → contract → snapshot.

Every ingest is saved as a Parquet snapshot keyed by source and issue time, so a run can be
replayed from it (``zipcast run --replay SNAPSHOT``) with identical results, and a ZIP whose new
forecast fails can fall back to its last good one while that is fresh enough — never silently.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pipeline import contract
from pipeline.quality import CoverageTooLow, QualityResult, check_forecast
from pipeline.settings import Settings
from pipeline.snapshots import (
    SnapshotNotFound,
    latest_snapshot,
    load_snapshot,
    save_snapshot,
)
from pipeline.times import to_utc
from pipeline.validate import validate_forecast

log = logging.getLogger(__name__)


@dataclass
class Ingest:
    """What a run forecasts from, and how it got it."""

    forecast: pd.DataFrame  # contract rows, validated
    issue_time: pd.Timestamp  # the forecast's own issue time (model run time for gridded)
    snapshot_id: str
    quality: dict[str, Any]
    log_lines: list[str] = field(default_factory=list)
    replayed: bool = False
    sha256: str = ""  # of the snapshot file, for lineage


def empty_forecast() -> pd.DataFrame:
    """Contract columns, no rows: what a source that failed completely gives the checks."""
    frame = pd.DataFrame({c: pd.Series(dtype=float) for c in contract.COLUMNS})
    frame["zip"] = frame["zip"].astype(str)
    for column in ("valid_time", "issue_time"):
        frame[column] = pd.Series(dtype="datetime64[ns, UTC]")
    return frame


def check_and_keep(
    raw: pd.DataFrame,
    zips: pd.DataFrame,
    *,
    source: str,
    issue_time: Any,
    settings: Settings,
    options: dict[str, Any] | None = None,
) -> Ingest:
    """Quarantine bad ZIPs (stale fallback), check the contract, save the snapshot.

    Raises
    ------
    pipeline.quality.CoverageTooLow
        When too few ZIPs have a usable forecast (the message says which reasons dominate).
    """
    forecast_issue = (to_utc(raw["issue_time"].max()) if len(raw) and "issue_time" in raw
                      else to_utc(issue_time))
    root = settings.snapshots_dir
    result = _checked(raw, zips, forecast_issue, settings, root, source)
    forecast = validate_forecast(result.frame, source=source)
    report = result.report()
    snapshot = save_snapshot(root, source, forecast_issue, _merged(root, source, forecast_issue,
                                                                   forecast),
                             meta={"options": options or {}, "quality": report})
    lines = result.log_lines()
    for line in lines:
        log.warning(line) if result.quarantined else log.info(line)
    return Ingest(forecast=forecast, issue_time=forecast_issue, snapshot_id=snapshot.id,
                  quality=report, log_lines=lines, sha256=snapshot.sha256)


def _checked(
    raw: pd.DataFrame, zips: pd.DataFrame, issue_time: pd.Timestamp, settings: Settings,
    root, source: str,
) -> QualityResult:
    """Check the rows; load the last good forecast (a national snapshot is ~20 MB) only when
    some ZIP needs it."""
    try:
        result = check_forecast(raw, zips, issue_time=issue_time, rules=settings.quality)
        if not result.quarantined:
            return result
    except CoverageTooLow:
        pass  # the last good forecast may rescue coverage
    last = latest_snapshot(root, source, before=issue_time)
    last_good = load_snapshot(root, last.id)[0] if last else None
    return check_forecast(raw, zips, issue_time=issue_time, rules=settings.quality,
                          last_good=last_good)


def _merged(root, source: str, issue_time: pd.Timestamp, forecast: pd.DataFrame) -> pd.DataFrame:
    """This ingest's rows plus the other ZIPs already in the snapshot of the same source and
    issue time (a state run and a national run share one snapshot; newer rows win)."""
    try:
        stored, _ = load_snapshot(root, f"{source}/{issue_time:%Y%m%dT%H%MZ}")
    except SnapshotNotFound:
        return forecast
    others = stored[~stored["zip"].isin(forecast["zip"].unique())]
    if others.empty:
        return forecast
    merged = pd.concat([forecast, others.astype(forecast.dtypes.to_dict())], ignore_index=True)
    return merged.sort_values(["zip", "valid_time"], ignore_index=True)


def replay(snapshot: str, settings: Settings) -> Ingest:
    """The forecast of an earlier ingest, exactly as it was used."""
    forecast, snap = load_snapshot(settings.snapshots_dir, snapshot)
    return Ingest(forecast=forecast, issue_time=to_utc(snap.issue_time), snapshot_id=snap.id,
                  quality=snap.meta.get("quality", {}), replayed=True, sha256=snap.sha256,
                  log_lines=[f"replaying snapshot {snap.id} (sha256 {snap.sha256[:12]}…)"])
