"""Ingest, checked and kept: source rows → quality check/quarantine → contract → snapshot.

Every ingest is saved as an immutable Parquet snapshot (id: source, issue time and content
hash), so a run can be replayed from it (``zipcast run --replay SNAPSHOT``) with identical
results, and a ZIP whose new forecast fails can fall back to its last good one while that is
fresh enough — never silently.
"""

from __future__ import annotations

import hashlib
import json
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline import contract
from pipeline.frames import isin
from pipeline.quality import CoverageTooLow, QualityResult, check_forecast
from pipeline.settings import Settings
from pipeline.snapshots import (
    Snapshot,
    SnapshotNotFound,
    StagedSnapshot,
    latest_snapshot,
    load_snapshot,
    newest_snapshot_at,
    save_snapshot,
    stage_snapshot,
)
from pipeline.times import to_utc
from pipeline.validate import already_coerced, validate_forecast

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
    report = result.report()
    notes = [str(n) for n in raw.attrs.get("notes") or []]  # e.g. the model feed's cycle
    if notes:
        report["source_notes"] = notes
    forecast, snapshot = _validated_and_saved(result.frame, root, source, forecast_issue,
                                              meta={"options": options or {}, "quality": report})
    lines = notes + result.log_lines()
    for line in lines:
        log.warning(line) if result.quarantined or line in notes else log.info(line)
    return Ingest(forecast=forecast, issue_time=forecast_issue, snapshot_id=snapshot.id,
                  quality=report, log_lines=lines, sha256=snapshot.sha256)


def _validated_and_saved(frame: pd.DataFrame, root: Path, source: str, issue_time: pd.Timestamp,
                         meta: dict[str, Any]) -> tuple[pd.DataFrame, Snapshot]:
    """Validate the checked rows against the contract and save them as a snapshot.

    When validation can only pass or fail them, not change them (their columns are already
    in contract order and of the dtypes coercion gives: what the quality check hands over),
    the snapshot's file is written in a thread while they are validated (pyarrow lets go of
    the GIL) and stored only once they pass; rows that fail leave nothing behind. The bytes
    are those of writing after validation (measured: a national synthetic ingest 0.2 s
    shorter); rows validation did change after all (``DataFrame.equals``: columns, index,
    dtypes and values, 0.04 s nationally) are saved again. Otherwise the rows are validated,
    then saved, in turn.
    """
    def saved(rows: pd.DataFrame) -> Snapshot:  # in turn, after validation
        return save_snapshot(root, source, issue_time, _merged(root, source, issue_time, rows),
                             meta=meta)

    if not already_coerced(frame):
        forecast = validate_forecast(frame, source=source)
        return forecast, saved(forecast)
    with ThreadPoolExecutor(1, thread_name_prefix="snapshot") as beside:
        staging = beside.submit(lambda: stage_snapshot(
            root, source, issue_time, _merged(root, source, issue_time, frame), meta=meta))
        try:
            forecast = validate_forecast(frame, source=source)
            staged = staging.result()
        except BaseException:  # failed rows, a failed write, or an interrupt while waiting
            staging.add_done_callback(_discard)  # now, or by the thread once it is done
            raise
    if not forecast.equals(frame):  # validation changed them after all: keep its rows
        staged.discard()
        return forecast, saved(forecast)
    try:
        return forecast, staged.commit()
    except BaseException:
        staged.discard()
        raise


def _discard(staging: Future[StagedSnapshot]) -> None:
    """Remove a staged snapshot the ingest will not keep, once it is written (a staging that
    failed left nothing: its error, if any, gives way to the one that stopped the ingest)."""
    if not staging.cancelled() and staging.exception() is None:
        staging.result().discard()


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
    """This ingest's rows plus the other ZIPs of the newest snapshot of the same source and
    issue time (newer rows win), so a state run after a national one keeps the nation's rows
    for the next run's last good forecast. The merge is saved under its own id: the snapshot
    read here stays exactly as the runs that recorded it saw it."""
    newest = newest_snapshot_at(root, source, issue_time)
    if newest is None or not _has_other_zips(newest.path, forecast):
        return forecast
    stored, _ = load_snapshot(root, newest.id)
    others = stored[~isin(stored["zip"], forecast["zip"].unique())]
    if others.empty:
        return forecast
    merged = pd.concat([forecast, others.astype(forecast.dtypes.to_dict())], ignore_index=True)
    return merged.sort_values(["zip", "valid_time"], ignore_index=True)


def _has_other_zips(path: Path, forecast: pd.DataFrame) -> bool:
    """Whether the stored snapshot at ``path`` has ZIPs ``forecast`` lacks, from its ZIP
    column alone: a rerun of a national ingest need not load 300 MB to find none. An
    unreadable file says yes, so that loading it reports what is wrong with it."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:  # read as a dictionary: its distinct ZIPs without 3M strings
        column = pq.read_table(path, columns=["zip"], read_dictionary=["zip"]).column("zip")
        distinct = pc.unique(column)
    except (OSError, ValueError):
        return True
    if isinstance(distinct, pa.DictionaryArray):
        distinct = distinct.dictionary.take(distinct.indices)
    stored = pd.Series(distinct.to_pandas())
    return not isin(stored, forecast["zip"].unique()).all()


def replay(snapshot: str, settings: Settings) -> Ingest:
    """The forecast of an earlier ingest, exactly as it was used."""
    forecast, snap = load_snapshot(settings.snapshots_dir, snapshot)
    return Ingest(forecast=forecast, issue_time=to_utc(snap.issue_time), snapshot_id=snap.id,
                  quality=snap.meta.get("quality", {}), replayed=True, sha256=snap.sha256,
                  log_lines=[f"replaying snapshot {snap.id} (sha256 {snap.sha256[:12]}…)"])


# -- the ingest as an orchestrator caches it ------------------------------------------------


@dataclass
class IngestRef:
    """What a cached ingest keeps: the snapshot and its quality report, not the rows (those are
    in Parquet). The rows fetched in this process travel along in ``forecast``, but are never
    pickled into a cache: a cached ref is loaded back without them (see :func:`resolve`)."""

    snapshot_id: str
    issue_time: str
    quality: dict[str, Any]
    log_lines: list[str] = field(default_factory=list)
    sha256: str = ""
    failed_partitions: list[str] = field(default_factory=list)
    forecast: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    @property
    def complete(self) -> bool:
        """Every ZIP fetched fresh: no failed partition, no stale fallback, none left out
        (sources that fail per ZIP do not raise, so the quality counts tell)."""
        return not (self.failed_partitions or self.quality.get("n_stale")
                    or self.quality.get("n_left_out"))

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["forecast"] = None  # a cache holds the reference, never the national frame
        return state

    @classmethod
    def of(cls, got: Ingest, failed: list[str]) -> IngestRef:
        return cls(got.snapshot_id, got.issue_time.isoformat(), got.quality, got.log_lines,
                   got.sha256, failed, got.forecast)


def ingest_key(source: str, issue_time: Any, *, states: list[str] | None, path: str | None,
               seed: int, hours: int, data_dir: Path) -> str:
    """The ingest cache key: source and issue time, plus what else changes the rows (and the
    data folder whose snapshot store the cached result points into)."""
    options = json.dumps({"states": states, "path": path, "seed": seed, "hours": hours,
                          "data": str(Path(data_dir).resolve())}, sort_keys=True)
    digest = hashlib.sha256(options.encode()).hexdigest()[:10]
    return f"ingest-{source}-{to_utc(issue_time):%Y%m%dT%H%MZ}-{digest}"


def combine_partitions(
    parts: list[pd.DataFrame], outcomes: list[tuple[pd.DataFrame | None, BaseException | None]],
    *, retries: int,
) -> tuple[pd.DataFrame, list[str]]:
    """The fetched partitions' rows together, and the partitions that failed (named by their
    ZIP range, logged as errors: their ZIPs fall back to the last good forecast).

    Raises
    ------
    pipeline.sources.UnknownSource
        Retrying or falling back cannot fix a source that does not exist.
    pipeline.sources.InputError
        Nor a file that is missing, unreadable or lacks a column: the run stops and says so,
        rather than quietly forecasting from the last good snapshot.
    """
    from pipeline.sources import InputError, UnknownSource

    raws, failed = [], []
    for part, (raw_part, error) in zip(parts, outcomes, strict=True):
        where = f"ZIPs {part['zip'].iloc[0]}–{part['zip'].iloc[-1]}"
        if error is None and raw_part is not None:
            raws.append(raw_part)
            continue
        if isinstance(error, UnknownSource | InputError):
            raise error
        failed.append(where)
        log.error("ingest of %s failed after %d retries, falling back to the last good "
                  "forecast: %s: %s", where, retries, type(error).__name__, error)
    if not raws:
        return empty_forecast(), failed
    raw = pd.concat(raws, ignore_index=True)
    # pandas keeps attrs only when every part has the same: merge the parts' reports instead
    raw.attrs = {"failures": {z: why for part in raws
                              for z, why in (part.attrs.get("failures") or {}).items()},
                 "notes": list(dict.fromkeys(n for part in raws
                                             for n in part.attrs.get("notes") or []))}
    return raw, failed


def resolve(ref: IngestRef, zips: pd.DataFrame, settings: Settings) -> Ingest | None:
    """The ingest ``ref`` stands for, on ``zips``: its rows if it carries them (fetched in
    this process), else its snapshot's when the ref is complete and the snapshot is still
    there; None when it must be fetched again (the reason is logged)."""
    if ref.forecast is not None:
        forecast, lines, sha256 = ref.forecast, list(ref.log_lines), ref.sha256
    elif not ref.complete:
        log.warning("cached ingest %s was incomplete (%s failed partitions, %s stale and %s "
                    "left-out ZIPs); fetching again", ref.snapshot_id,
                    len(ref.failed_partitions), ref.quality.get("n_stale", 0),
                    ref.quality.get("n_left_out", 0))
        return None
    else:
        try:
            forecast, snap = load_snapshot(settings.snapshots_dir, ref.snapshot_id)
        except SnapshotNotFound:
            log.warning("cached ingest %s lost its snapshot; fetching again", ref.snapshot_id)
            return None
        lines = [f"reusing the ingest of {ref.snapshot_id} (cached by source and issue time)",
                 *ref.log_lines]
        sha256 = snap.sha256
    asked = isin(forecast["zip"], zips["zip"])
    if not asked.all() or not forecast.index.equals(pd.RangeIndex(len(forecast))):
        forecast = forecast[asked].reset_index(drop=True)  # else no copy of the nation
    return Ingest(forecast=forecast, issue_time=to_utc(ref.issue_time),
                  snapshot_id=ref.snapshot_id, quality=ref.quality, log_lines=lines,
                  sha256=sha256)


def covered_zips(zips: pd.DataFrame, got: Ingest, states: list[str] | None) -> pd.DataFrame:
    """The ZIPs asked for that the ingest has rows for (the quality step reported the others).

    Raises
    ------
    pipeline.sources.ForecastUnavailable
        When none of them has a forecast.
    """
    from pipeline.sources import ForecastUnavailable

    covered = zips[isin(zips["zip"], got.forecast["zip"].unique())].reset_index(drop=True)
    if covered.empty:
        raise ForecastUnavailable(
            f"{got.snapshot_id} has no forecast rows for the ZIPs asked "
            f"({', '.join(states or ['the nation'])}); check --states or the source")
    return covered
