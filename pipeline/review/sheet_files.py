"""The sheet's files in a run folder: what the review pages need, ready to read.

The store step writes them (see :func:`pipeline.review.precompute.write_sheet`) so that a
fresh server process opening a national run only reads small files; runs stored before them
get each piece computed on first use and written here (issue 15, point 6).

``<run_dir>/sheet/``:

* ``manifest.json``: format version, and the size and mtime of ``assignments.parquet`` the
  files were made from (a changed file makes them stale: they are dropped and made again)
* ``members/<slot>.json``: placeholder values per member ZIP (see
  :func:`pipeline.editorial.render.member_context`), nearest the barycenter first, as
  ``{"keys": [...], "rows": [[...values, mask], ...]}`` (mask: which keys the ZIP has)
* ``facts.parquet``: the assignments rows with the ZIP's city, by slot, distance, ZIP
* ``bands.json``: per slot, 10th/90th percentile per step (see ``member_bands``)
* ``maps/<slot>.svg``: the sheet's thumbnails
* ``table/<slot>.parquet``: the detail page's member rows as display text, by state, ZIP
* ``areas/<slot>.svg``: the detail page's area map, its title left as :data:`TITLE_MARK`

Every file is written beside its place and renamed into it, so a reader never sees half.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

VERSION = 1
FOLDER = "sheet"
TITLE_MARK = "@@area-title@@"  # replaced by the slot's (escaped) title when served


def _publish(staging: str, path: Path) -> None:
    os.chmod(staging, 0o644)  # mkstemp makes 0600; the server may run as another user
    os.replace(staging, path)


def _write_bytes(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "wb") as out:
        out.write(content)
    _publish(staging, path)


def _write_text(path: Path, text: str) -> None:
    _write_bytes(path, text.encode())


def _write_parquet(path: Path, frame: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(handle)
    frame.to_parquet(staging, index=False)
    _publish(staging, path)


class SheetFiles:
    """The ``sheet/`` folder of one run: paths, freshness, and typed readers and writers.

    Parameters
    ----------
    run_dir : the run folder (holding ``assignments.parquet``)
    folder : where the files live; default ``run_dir / "sheet"``
    """

    def __init__(self, run_dir: str | Path, folder: Path | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.root = folder if folder is not None else self.run_dir / FOLDER

    # -- freshness ------------------------------------------------------------------------

    def source_stamp(self) -> dict[str, int] | None:
        """Size and mtime of the run's ``assignments.parquet``; None when it is gone."""
        try:
            stat = (self.run_dir / "assignments.parquet").stat()
        except FileNotFoundError:
            return None
        return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}

    def manifest(self) -> dict[str, Any] | None:
        try:
            return dict(json.loads((self.root / "manifest.json").read_text()))
        except (FileNotFoundError, ValueError):
            return None

    def usable(self) -> bool:
        """Whether files here may be read, dropping stale ones (made from another
        ``assignments.parquet``, or by another format version) on the way."""
        stamp = self.source_stamp()
        if stamp is None:
            return False
        manifest = self.manifest()
        if manifest is not None and (manifest.get("version") != VERSION
                                     or manifest.get("assignments") != stamp):
            shutil.rmtree(self.root, ignore_errors=True)
            manifest = None
        return manifest is not None

    def start(self) -> None:
        """Write the manifest for the current ``assignments.parquet`` (before any piece)."""
        _write_text(self.root / "manifest.json", json.dumps(
            {"version": VERSION, "assignments": self.source_stamp()}))

    def claim(self) -> bool:
        """Make sure pieces may be written here for the current ``assignments.parquet``
        (writing the manifest if there is none); False when that file is gone."""
        if self.usable():
            return True
        if self.source_stamp() is None:
            return False
        self.start()
        return True

    # -- members and facts ----------------------------------------------------------------

    def write_members(self, slot_id: str, members: Sequence[Mapping[str, Any]]) -> None:
        # members have a handful of key sets (their keys in order), so the keys in order of
        # first appearance and each set's bits are worked out once per set, not per member
        shapes = dict.fromkeys(tuple(m) for m in members)
        keys = list(dict.fromkeys(k for shape in shapes for k in shape))
        bit = {k: 1 << i for i, k in enumerate(keys)}
        mask = {shape: sum(bit[k] for k in shape) for shape in shapes}
        # the last cell of a row says which keys the ZIP has (bit i: keys[i]), so a key
        # with no value stays absent and a key holding None stays None
        rows = [[m.get(k) for k in keys] + [mask[tuple(m)]] for m in members]
        _write_text(self.root / "members" / f"{slot_id}.json",
                    json.dumps({"keys": keys, "rows": rows}, separators=(",", ":")))

    def read_members(self, slot_id: str) -> list[dict] | None:
        """A slot's member dicts, as written; None when not written."""
        try:
            stored = json.loads((self.root / "members" / f"{slot_id}.json").read_text())
        except FileNotFoundError:
            return None
        keys = stored["keys"]
        present: dict[int, list[int]] = {}
        out = []
        for row in stored["rows"]:
            mask = row[-1]
            if (index := present.get(mask)) is None:
                index = present[mask] = [i for i in range(len(keys)) if mask >> i & 1]
            out.append({keys[i]: row[i] for i in index})
        return out

    def write_heads(self, heads: Mapping[str, Mapping[str, Any]]) -> None:
        """Per slot what its sheet row needs of its members: the first few (the preview)
        and the placeholders some of them lack, so the sheet never reads every member."""
        _write_text(self.root / "heads.json", json.dumps(heads, separators=(",", ":")))

    def read_heads(self) -> dict[str, dict] | None:
        try:
            return json.loads((self.root / "heads.json").read_text())
        except FileNotFoundError:
            return None

    def mark_members(self) -> None:
        """Say every slot's members and the facts are written (a slot with no file has
        no members)."""
        _write_text(self.root / "members" / "done", "")

    def has_members(self) -> bool:
        return (self.root / "members" / "done").exists()

    def write_facts(self, facts: pd.DataFrame) -> None:
        _write_parquet(self.root / "facts.parquet", facts)

    def read_facts(self, columns: Sequence[str] | None = None) -> pd.DataFrame | None:
        path = self.root / "facts.parquet"
        if not path.exists():
            return None
        return pd.read_parquet(path, columns=list(columns) if columns else None)

    # -- pictures -------------------------------------------------------------------------

    def write_bands(self, bands: Mapping[str, Mapping[str, tuple]]) -> None:
        def plain(values: Any) -> list[float | None]:
            return [None if not np.isfinite(v) else round(float(v), 2)
                    for v in np.asarray(values, dtype=float)]

        _write_text(self.root / "bands.json", json.dumps(
            {slot: {name: [plain(lo), plain(hi)] for name, (lo, hi) in band.items()}
             for slot, band in bands.items()}, separators=(",", ":")))

    def read_bands(self) -> dict[str, dict] | None:
        """Per slot {variable: (lo, hi)} as float arrays (NaN where a step had no value)."""
        try:
            stored = json.loads((self.root / "bands.json").read_text())
        except FileNotFoundError:
            return None
        return {slot: {name: tuple(np.array(side, dtype=float) for side in sides)
                       for name, sides in band.items()} for slot, band in stored.items()}

    def write_maps(self, maps: Mapping[str, str]) -> None:
        for slot_id, svg in maps.items():
            _write_text(self.root / "maps" / f"{slot_id}.svg", svg)
        _write_text(self.root / "maps" / "done", "")  # a run may have slots without a map

    def read_maps(self) -> dict[str, str] | None:
        folder = self.root / "maps"
        if not (folder / "done").exists():
            return None
        return {path.stem: path.read_text() for path in folder.glob("*.svg")}

    def write_tables(self, tables: Mapping[str, pd.DataFrame], *, has_facts: bool) -> None:
        """Every slot's member table; ``has_facts``: False when only membership was known."""
        for slot_id, table in tables.items():
            _write_parquet(self.root / "table" / f"{slot_id}.parquet", table)
        _write_text(self.root / "table" / "done", json.dumps({"has_facts": has_facts}))

    def tables_have_facts(self) -> bool | None:
        """Whether the stored tables carry facts; None when no tables are stored."""
        try:
            return bool(json.loads((self.root / "table" / "done").read_text())["has_facts"])
        except FileNotFoundError:
            return None

    def read_table(self, slot_id: str) -> pd.DataFrame | None:
        """A slot's stored member table (None for a slot with no members)."""
        path = self.root / "table" / f"{slot_id}.parquet"
        return pd.read_parquet(path) if path.exists() else None

    def write_area(self, slot_id: str, svg: str) -> None:
        _write_text(self.root / "areas" / f"{slot_id}.svg", svg)

    def read_area(self, slot_id: str) -> str | None:
        path = self.root / "areas" / f"{slot_id}.svg"
        return path.read_text() if path.exists() else None
