"""Forecast snapshots: every ingest kept as Parquet, keyed by source and issue time.

``<root>/<source>/<YYYYMMDDTHHMMZ>.parquet`` holds the rows exactly as ingested (dtypes,
tz-aware UTC times and ``frame.attrs`` such as the source's ``failures`` survive the round
trip). The metadata (source, issue_time, n_rows, n_zips, created_at and the ingest options such
as path, seed or states) is stored in the Parquet key-value metadata under ``zipcast``, so the
file describes itself, and again in a sidecar ``<stamp>.json`` with the file's sha256, so
listing snapshots does not open Parquet files and loading one checks its bytes.

Both files are written under a temporary name in the same folder and renamed into place, so a
crash never leaves half a snapshot. Saving the same source and issue time again replaces it.
A snapshot's id is ``"<source>/<stamp>"``, e.g. ``"synthetic/20260115T1200Z"``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.times import to_utc

__all__ = [
    "STAMP_FORMAT",
    "Snapshot",
    "SnapshotCorrupt",
    "SnapshotNotFound",
    "latest_snapshot",
    "list_snapshots",
    "load_snapshot",
    "save_snapshot",
]

STAMP_FORMAT = "%Y%m%dT%H%MZ"
META_KEY = b"zipcast"
_SOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_STAMP = re.compile(r"^\d{8}T\d{4}Z$")


class SnapshotNotFound(LookupError):
    """No snapshot with that id or path is stored."""


class SnapshotCorrupt(ValueError):
    """A snapshot file's bytes no longer match the sha256 recorded when it was saved."""


@dataclass(frozen=True)
class Snapshot:
    """One stored ingest: ``id`` is ``"<source>/<stamp>"``; ``meta`` as saved."""

    id: str
    source: str
    issue_time: pd.Timestamp
    path: Path
    sha256: str
    meta: dict[str, Any] = field(default_factory=dict, compare=False)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_source(source: str) -> str:
    if not _SOURCE_NAME.match(source):
        raise ValueError(
            f"source name {source!r} cannot be a snapshot folder; use letters, digits, '.', "
            "'_' or '-' (e.g. 'open-meteo')"
        )
    return source


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"snapshot metadata: {type(value).__name__} is not JSON serializable")


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default, sort_keys=True)


def _write_atomically(final: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(temp)`` on a temporary file beside ``final``, then rename it into place."""
    handle, name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp")
    os.close(handle)
    temp = Path(name)
    try:
        write(temp)
        with temp.open("rb") as written:
            os.fsync(written.fileno())
        os.replace(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def save_snapshot(
    root: Path,
    source: str,
    issue_time: Any,
    frame: pd.DataFrame,
    meta: dict[str, Any] | None = None,
    *,
    created_at: datetime | None = None,
) -> Snapshot:
    """Write ``frame`` as ``root/<source>/<stamp>.parquet`` atomically and return its Snapshot.

    Parameters
    ----------
    root : Path
        The snapshots folder (e.g. ``settings.data_dir / "snapshots"``).
    source : str
        The source name; becomes the sub-folder.
    issue_time : str, datetime or Timestamp
        Naive means UTC; the file name keeps it to the minute.
    frame : DataFrame
        The ingested rows (raw or contract); ``frame.attrs`` must be JSON-serializable.
    meta : dict, optional
        Ingest options to keep (path, seed, states, …); added to the computed metadata.
    created_at : datetime, optional
        The clock; defaults to now (UTC).
    """
    source = _check_source(source)
    issue = to_utc(issue_time)
    stamp = issue.strftime(STAMP_FORMAT)
    folder = Path(root) / source
    folder.mkdir(parents=True, exist_ok=True)
    when = created_at or datetime.now(UTC)
    record: dict[str, Any] = {
        **(meta or {}),
        "source": source,
        "issue_time": issue.isoformat(),
        "n_rows": int(len(frame)),
        "n_zips": int(frame["zip"].nunique()) if "zip" in frame else 0,
        "columns": [str(c) for c in frame.columns],
        "created_at": pd.Timestamp(when).isoformat(),
        "attrs": frame.attrs,
    }
    record = json.loads(_dumps(record))  # fail on unserializable metadata before any write

    table = pa.Table.from_pandas(frame)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), META_KEY: _dumps(record).encode()}
    )
    path = folder / f"{stamp}.parquet"
    digest: dict[str, str] = {}

    def write_parquet(temp: Path) -> None:
        pq.write_table(table, temp)
        digest["sha256"] = file_sha256(temp)

    _write_atomically(path, write_parquet)
    snapshot = Snapshot(f"{source}/{stamp}", source, issue, path, digest["sha256"], record)
    sidecar = {"id": snapshot.id, "sha256": snapshot.sha256, "meta": record}

    def write_sidecar(temp: Path) -> None:
        temp.write_text(json.dumps(sidecar, indent=1))

    _write_atomically(path.with_suffix(".json"), write_sidecar)
    return snapshot


def _snapshot_at(path: Path) -> Snapshot:
    """The Snapshot of a stored file, from its sidecar (or the Parquet metadata if missing)."""
    source, stamp = path.parent.name, path.stem
    issue = pd.Timestamp(datetime.strptime(stamp, STAMP_FORMAT).replace(tzinfo=UTC))
    sidecar = path.with_suffix(".json")
    if sidecar.exists():
        saved = json.loads(sidecar.read_text())
        return Snapshot(f"{source}/{stamp}", source, issue, path, saved["sha256"], saved["meta"])
    # saved before the sidecar landed (a crash between the two renames): hash it now
    raw = (pq.read_schema(path).metadata or {}).get(META_KEY, b"{}")
    return Snapshot(f"{source}/{stamp}", source, issue, path, file_sha256(path),
                    json.loads(raw))


def list_snapshots(root: Path, source: str | None = None) -> list[Snapshot]:
    """Stored snapshots (of ``source``, or all), ordered by source then issue time."""
    root = Path(root)
    folders = [root / source] if source else sorted(p for p in root.glob("*") if p.is_dir())
    found = []
    for folder in folders:
        for path in sorted(folder.glob("*.parquet")):
            if _STAMP.match(path.stem):
                found.append(_snapshot_at(path))
    return sorted(found, key=lambda s: (s.source, s.issue_time))


def latest_snapshot(root: Path, source: str, before: Any = None) -> Snapshot | None:
    """The newest snapshot of ``source`` issued strictly before ``before`` (any time if None)."""
    limit = to_utc(before) if before is not None else None
    earlier = [s for s in list_snapshots(root, source) if limit is None or s.issue_time < limit]
    return earlier[-1] if earlier else None


def _resolve(root: Path, snapshot: str | Path) -> Path:
    text = str(snapshot)
    if isinstance(snapshot, Path) or text.endswith(".parquet"):
        path = Path(snapshot)
        return path if path.is_absolute() or path.exists() else Path(root) / path
    return Path(root) / f"{text}.parquet"


def _not_found(root: Path, snapshot: str | Path, path: Path) -> SnapshotNotFound:
    source = path.parent.name
    available = [s.id for s in list_snapshots(root, source)] if (Path(root) / source).is_dir() \
        else []
    if available:
        shown = ", ".join(available[-10:])
        more = f" (newest 10 of {len(available)})" if len(available) > 10 else ""
        hint = f"available for {source}{more}: {shown}"
    else:
        sources = sorted(p.name for p in Path(root).glob("*") if p.is_dir())
        hint = (f"no snapshots of {source!r} yet; sources with snapshots: "
                f"{', '.join(sources) or 'none'}")
    return SnapshotNotFound(
        f"no snapshot {str(snapshot)!r} under {root} ({path}); {hint}. "
        "Pass an id like '<source>/YYYYMMDDTHHMMZ' or a .parquet path"
    )


def load_snapshot(root: Path, snapshot: str | Path) -> tuple[pd.DataFrame, Snapshot]:
    """The stored frame (dtypes, UTC times and attrs as saved) and its Snapshot.

    ``snapshot`` is an id (``"synthetic/20260115T1200Z"``) or a path to the .parquet file.

    Raises
    ------
    SnapshotNotFound
        Listing the ids available for that source.
    SnapshotCorrupt
        The file's sha256 differs from the one recorded when it was saved.
    """
    path = _resolve(root, snapshot)
    if not path.is_file():
        raise _not_found(root, snapshot, path)
    record = _snapshot_at(path)
    actual = file_sha256(path)
    if actual != record.sha256:
        raise SnapshotCorrupt(
            f"snapshot {record.id} ({path}) has sha256 {actual[:12]}…, but {record.sha256[:12]}… "
            "was recorded when it was saved; the file changed since. Re-ingest that issue "
            "time, or delete the snapshot and its .json sidecar"
        )
    table = pq.read_table(path)
    frame = table.to_pandas()
    saved = json.loads((table.schema.metadata or {}).get(META_KEY, b"{}"))
    frame.attrs.update(saved.get("attrs") or {})
    return frame, record
