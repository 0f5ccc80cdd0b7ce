"""Forecast snapshots: every ingest kept as Parquet, immutable, keyed by source, issue time and
content hash.

``<root>/<source>/<YYYYMMDDTHHMMZ>-<hash>.parquet`` holds the rows exactly as ingested (dtypes,
tz-aware UTC times and ``frame.attrs`` such as the source's ``failures`` survive the round
trip); ``<hash>`` is the first 12 hex digits of the file's sha256. The metadata (source,
issue_time, n_rows, n_zips and the ingest options such as path, seed or states) is stored in the
Parquet key-value metadata under ``zipcast``, so the file describes itself, and again with
``created_at`` in a sidecar ``<name>.json`` with the file's sha256, so listing snapshots does not
open Parquet files and loading one checks its bytes. The clock stays out of the Parquet file:
the same rows and options give the same bytes, hence the same id, and saving them again finds
the stored snapshot instead of piling up copies.

A snapshot's id is ``"<source>/<stamp>-<hash>"``, e.g. ``"table/20260701T1000Z-3f9c0a1b2c4d"``.
A run records it, and nothing is ever written over it: two ingests of one source and issue time
(two table files, a state run after a national one) are two snapshots, so a replay always finds
its own input. Ids without a hash (``"synthetic/20260115T1200Z"``) name snapshots stored before
ids had one (``<stamp>.parquet``) and still load; when no such file exists, they name the newest
snapshot of that issue time.

Files are written under a temporary name in the same folder and renamed into place, so a crash
never leaves half a snapshot.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.files import fsync, temp_beside, write_atomically
from pipeline.times import to_utc

__all__ = [
    "STAMP_FORMAT",
    "Snapshot",
    "SnapshotCorrupt",
    "SnapshotNotFound",
    "StagedSnapshot",
    "latest_snapshot",
    "list_snapshots",
    "load_snapshot",
    "newest_snapshot_at",
    "save_snapshot",
    "stage_snapshot",
]

STAMP_FORMAT = "%Y%m%dT%H%MZ"
META_KEY = b"zipcast"
_SOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
HASH_CHARS = 12  # of the sha256 in an id: 48 bits, unique among one issue time's snapshots
# a stored file's name: "<stamp>-<hash>", or "<stamp>" for snapshots saved before ids had a hash
_NAME = re.compile(r"^(?P<stamp>\d{8}T\d{4}Z)(?:-(?P<hash>[0-9a-f]{12}))?$")


class SnapshotNotFound(LookupError):
    """No snapshot with that id or path is stored."""


class SnapshotCorrupt(ValueError):
    """A snapshot file's bytes no longer match the sha256 recorded when it was saved."""


@dataclass(frozen=True)
class Snapshot:
    """One stored ingest: ``id`` is ``"<source>/<stamp>-<hash>"`` (or ``"<source>/<stamp>"``
    for one saved before ids had a hash); ``meta`` as saved."""

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


def _stage_parquet(folder: Path, stamp: str, table: pa.Table) -> tuple[Path, str]:
    """Write ``table`` under a temporary name in ``folder``; return that path and its sha256.

    The name is only known once the bytes are, so the file is written aside first and put
    in place by :func:`_place_parquet`.
    """
    temp = temp_beside(folder, f".{stamp}.parquet.")
    try:
        pq.write_table(table, temp)
        fsync(temp)
        return temp, file_sha256(temp)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _place_parquet(temp: Path, folder: Path, stamp: str, sha256: str) -> Path:
    """Rename a staged file to ``folder/<stamp>-<hash>.parquet``; a file already there
    holding these bytes is kept as it is."""
    try:
        path = folder / f"{stamp}-{sha256[:HASH_CHARS]}.parquet"
        if path.is_file() and file_sha256(path) == sha256:
            temp.unlink()
        else:  # new, or a damaged copy given back the bytes its id (and its runs) recorded
            os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path


@dataclass
class StagedSnapshot:
    """A snapshot's Parquet file written under a temporary name, not yet stored: nothing
    lists or loads it until :meth:`commit`; :meth:`discard` removes it (see
    :func:`stage_snapshot`)."""

    source: str
    issue_time: pd.Timestamp
    temp: Path  # in the snapshot's folder
    sha256: str
    content: dict[str, Any]
    created_at: datetime

    def commit(self) -> Snapshot:
        """Put the file in place, with its sidecar; the Snapshot stored with these bytes."""
        path = _place_parquet(self.temp, self.temp.parent,
                              self.issue_time.strftime(STAMP_FORMAT), self.sha256)
        sidecar_path = path.with_suffix(".json")
        if sidecar_path.is_file():
            stored = _snapshot_at(path)
            if stored.sha256 == self.sha256:
                return stored  # saved before, with these very bytes
        record = {**self.content, "created_at": pd.Timestamp(self.created_at).isoformat()}
        snapshot = Snapshot(f"{self.source}/{path.stem}", self.source, self.issue_time, path,
                            self.sha256, record)
        sidecar = {"id": snapshot.id, "sha256": snapshot.sha256, "meta": record}

        def write_sidecar(temp: Path) -> None:
            temp.write_text(json.dumps(sidecar, indent=1))

        write_atomically(sidecar_path, write_sidecar)
        return snapshot

    def discard(self) -> None:
        """Remove the staged file: the rows were not kept after all."""
        self.temp.unlink(missing_ok=True)


def save_snapshot(
    root: Path,
    source: str,
    issue_time: Any,
    frame: pd.DataFrame,
    meta: dict[str, Any] | None = None,
    *,
    created_at: datetime | None = None,
) -> Snapshot:
    """Write ``frame`` as ``root/<source>/<stamp>-<hash>.parquet`` and return its Snapshot.

    Never replaces a stored snapshot: other rows (or options) give another hash, hence another
    id; the same rows and options give the same bytes, and the snapshot stored with them (and
    its ``created_at``) is returned.

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
        The clock; defaults to now (UTC). Kept in the sidecar only (see the module docstring).
    """
    staged = stage_snapshot(root, source, issue_time, frame, meta, created_at=created_at)
    try:
        return staged.commit()
    except BaseException:
        staged.discard()
        raise


def stage_snapshot(
    root: Path,
    source: str,
    issue_time: Any,
    frame: pd.DataFrame,
    meta: dict[str, Any] | None = None,
    *,
    created_at: datetime | None = None,
) -> StagedSnapshot:
    """The first half of :func:`save_snapshot` (same parameters): the file written aside.

    An ingest writes the file while it validates the rows and stores it only once they
    pass (:meth:`StagedSnapshot.commit`), or removes it (:meth:`StagedSnapshot.discard`).
    """
    source = _check_source(source)
    issue = to_utc(issue_time)
    stamp = issue.strftime(STAMP_FORMAT)
    folder = Path(root) / source
    folder.mkdir(parents=True, exist_ok=True)
    content: dict[str, Any] = {
        **(meta or {}),
        "source": source,
        "issue_time": issue.isoformat(),
        "n_rows": int(len(frame)),
        "n_zips": int(frame["zip"].nunique()) if "zip" in frame else 0,
        "columns": [str(c) for c in frame.columns],
        "attrs": frame.attrs,
    }
    content = json.loads(_dumps(content))  # fail on unserializable metadata before any write

    table = pa.Table.from_pandas(frame)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), META_KEY: _dumps(content).encode()}
    )
    temp, sha256 = _stage_parquet(folder, stamp, table)
    return StagedSnapshot(source, issue, temp, sha256, content, created_at or datetime.now(UTC))


def _snapshot_at(path: Path) -> Snapshot:
    """The Snapshot of a stored file, from its sidecar (or the Parquet metadata if missing)."""
    source, name = path.parent.name, path.stem
    match = _NAME.match(name)
    if match is None:
        raise SnapshotNotFound(f"{path} is not a snapshot file (<stamp>-<hash>.parquet)")
    stamp = match["stamp"]
    issue = pd.Timestamp(datetime.strptime(stamp, STAMP_FORMAT).replace(tzinfo=UTC))
    sidecar = path.with_suffix(".json")
    if sidecar.exists():
        saved = json.loads(sidecar.read_text())
        return Snapshot(f"{source}/{name}", source, issue, path, saved["sha256"], saved["meta"])
    # saved before the sidecar landed (a crash between the two renames): hash it now
    raw = (pq.read_schema(path).metadata or {}).get(META_KEY, b"{}")
    return Snapshot(f"{source}/{name}", source, issue, path, file_sha256(path), json.loads(raw))


def _saved_at(snapshot: Snapshot) -> pd.Timestamp:
    """When a snapshot was saved: its recorded ``created_at``, else the file's time."""
    created = snapshot.meta.get("created_at")
    if created:
        return to_utc(created)
    return pd.Timestamp(snapshot.path.stat().st_mtime, unit="s", tz="UTC")


def list_snapshots(root: Path, source: str | None = None) -> list[Snapshot]:
    """Stored snapshots (of ``source``, or all), ordered by source, issue time, then when
    they were saved (several snapshots of one issue time: the newest last)."""
    root = Path(root)
    folders = [root / source] if source else sorted(p for p in root.glob("*") if p.is_dir())
    found = []
    for folder in folders:
        for path in sorted(folder.glob("*.parquet")):
            if _NAME.match(path.stem):
                found.append(_snapshot_at(path))
    return sorted(found, key=lambda s: (s.source, s.issue_time, _saved_at(s), s.id))


def latest_snapshot(root: Path, source: str, before: Any = None) -> Snapshot | None:
    """The newest snapshot of ``source`` issued strictly before ``before`` (any time if None);
    of several with that issue time, the one saved last."""
    limit = to_utc(before) if before is not None else None
    earlier = [s for s in list_snapshots(root, source) if limit is None or s.issue_time < limit]
    return earlier[-1] if earlier else None


def newest_snapshot_at(root: Path, source: str, issue_time: Any) -> Snapshot | None:
    """The snapshot of ``source`` issued at ``issue_time`` (to the minute) saved last, if any."""
    return _newest_with_stamp(Path(root), source, to_utc(issue_time).strftime(STAMP_FORMAT))


def _newest_with_stamp(root: Path, source: str, stamp: str) -> Snapshot | None:
    # only this issue time's files: a source folder keeps every ingest ever saved
    same = [_snapshot_at(path) for path in (root / source).glob(f"{stamp}*.parquet")
            if (name := _NAME.match(path.stem)) and name["stamp"] == stamp]
    return max(same, key=lambda s: (_saved_at(s), s.id)) if same else None


def _resolve(root: Path, snapshot: str | Path) -> Path:
    text = str(snapshot)
    if isinstance(snapshot, Path) or text.endswith(".parquet"):
        path = Path(snapshot)
        return path if path.is_absolute() or path.exists() else Path(root) / path
    path = Path(root) / f"{text}.parquet"
    source, _, name = text.rpartition("/")
    bare = _NAME.match(name)
    if not path.is_file() and source and bare and not bare["hash"]:
        # "<source>/<stamp>" with no file of that old-style name: the newest of that issue time
        newest = _newest_with_stamp(Path(root), source, bare["stamp"])
        if newest is not None:
            return newest.path
    return path


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
        "Pass an id as `zipcast snapshots` lists it ('<source>/YYYYMMDDTHHMMZ-<hash>'), "
        "'<source>/YYYYMMDDTHHMMZ' for the newest of that issue time, or a .parquet path"
    )


def load_snapshot(root: Path, snapshot: str | Path) -> tuple[pd.DataFrame, Snapshot]:
    """The stored frame (dtypes, UTC times and attrs as saved) and its Snapshot.

    ``snapshot`` is an id (``"table/20260701T1000Z-3f9c0a1b2c4d"``; an id without the hash
    names an old-style file, else the newest snapshot of that issue time) or a path to the
    .parquet file.

    Raises
    ------
    SnapshotNotFound
        Listing the ids available for that source.
    SnapshotCorrupt
        The file's sha256 differs from the one recorded when it was saved (or from the hash
        in its name).
    """
    path = _resolve(root, snapshot)
    name = _NAME.match(path.stem)
    if not path.is_file() or name is None:
        raise _not_found(root, snapshot, path)
    record = _snapshot_at(path)
    actual = file_sha256(path)
    if actual != record.sha256 or not actual.startswith(name["hash"] or ""):
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
