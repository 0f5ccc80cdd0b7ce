"""What the sheet shows per slot, and the per-run pictures (sparklines, maps), cached.

The per-run pieces are read from the run's ``sheet/`` files, which the store step writes
(:mod:`pipeline.review.precompute`); a run stored before them computes each piece once and
writes it there.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from pipeline.dispatch.subscribers import subscriber_counts
from pipeline.drawing.maps import thumbnails
from pipeline.editorial.gate import send_time
from pipeline.editorial.render import (
    CONTEXT_COLUMNS,
    PLACEHOLDERS,
    PREVIEW_MEMBERS,
    member_context,
)
from pipeline.features import SeriesSet
from pipeline.features.windows import build_series
from pipeline.frames import records
from pipeline.geo import city_names, load_zips
from pipeline.review.sheet_files import SheetFiles
from pipeline.settings import ReviewSettings, Settings
from pipeline.store.assignments import read_assignments
from pipeline.store.models import Run, Slot
from pipeline.times import utc

EASTERN = ZoneInfo("America/New_York")
LOG = logging.getLogger(__name__)



def member_bands(run_dir: str | Path, window: str, issue_time: pd.Timestamp,
                 settings: Settings, zips: pd.DataFrame, slot_of: pd.Series,
                 series: SeriesSet | None = None) -> dict[str, dict]:
    """Per slot, the 10th and 90th percentile per step of temperature and precip chance.

    Parameters
    ----------
    zips : gazetteer rows (zip, timezone) of the run's member ZIPs
    slot_of : ZIP -> short slot id
    series : the run's series when already built (else rebuilt from ``forecast.parquet``)

    Returns
    -------
    dict slot_id -> {"temperature_f": (lo, hi), "precip_probability": (lo, hi)}, each an
    ndarray of shape (n_steps,); empty when the forecast file is missing.
    """
    if series is None:
        path = Path(run_dir) / "forecast.parquet"
        if not path.exists():
            return {}
        forecast = pd.read_parquet(path)
        zips = zips[zips["zip"].isin(slot_of.index)].reset_index(drop=True)
        series = build_series(forecast, zips, window=window, settings=settings,
                              issue_time=issue_time)
    labels = slot_of.reindex(series.zips).to_numpy()
    bands: dict[str, dict] = {}
    for slot in pd.unique(labels):
        rows = labels == slot
        bands[str(slot)] = {name: _percentiles(series.var(name)[rows], (10, 90))
                            for name in ("temperature_f", "precip_probability")}
    return bands


def _percentiles(values: np.ndarray, qs: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """Per step (axis 0 reduced), NaNs skipped; without NaNs the same numbers by the fast
    path (``nanpercentile`` goes row by row in Python: half a second per national run)."""
    if np.isnan(values).any():
        return tuple(np.nanpercentile(values, q, axis=0) for q in qs)
    return tuple(np.percentile(values, q, axis=0) for q in qs)


def run_members(assignments: pd.DataFrame, cities: Mapping[str, str]
                ) -> tuple[pd.DataFrame, dict[str, list[dict]]]:
    """The run's member facts and, per slot, its members' placeholder values.

    Parameters
    ----------
    assignments : the run's ``assignments.parquet`` rows
    cities : ZIP -> city name

    Returns
    -------
    facts : the assignments rows with a ``city`` column, sorted by slot, distance, ZIP
    members : slot id -> :func:`~pipeline.editorial.render.member_context` per member, in
        the same order as ``facts`` (nearest the barycenter first, as ``slot_members``)
    """
    facts = assignments.assign(city=assignments["zip"].map(cities).fillna("").astype(str))
    facts = facts.sort_values(["slot_id", "distance", "zip"], ignore_index=True)
    members: dict[str, list[dict]] = {}
    read = [c for c in ("slot_id", "city", *CONTEXT_COLUMNS) if c in facts]  # not all 30
    for row in records(facts[read]):
        members.setdefault(str(row["slot_id"]), []).append(member_context(row, row["city"]))
    return facts, members


def keep_piece(write: Callable[[], None], what: str, run_dir: str) -> None:
    """Keep a piece computed for an old run; a folder that cannot be written costs only time."""
    try:
        write()
    except OSError as err:
        LOG.warning("could not keep the sheet's %s in %s: %s", what, run_dir, err)


def missing_placeholders(members: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Placeholders some of the slot's ZIPs have no value for (``{{ rain_start }}`` where it
    snows or stays dry), with how many ZIPs lack each: using one blocks approval."""
    if not members:
        return {}
    shapes = Counter(frozenset(member) for member in members)  # a handful of distinct key sets
    return {name: n for name in PLACEHOLDERS
            if (n := sum(k for keys, k in shapes.items() if name not in keys))}


def slot_head(members: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The sheet row's part of a slot's members: the preview ones (nearest the barycenter)
    and the placeholders some lack."""
    return {"preview": [dict(m) for m in members[:PREVIEW_MEMBERS]],
            "missing": missing_placeholders(members)}


@dataclass
class RunAssets:
    """Per-run pictures and member facts, read from the run's ``sheet/`` files (see
    :mod:`pipeline.review.sheet_files`) and kept for the process.

    A run stored before those files existed gets each piece computed on first use and
    written there, so the next process only reads it.
    """

    run_id: str
    run_dir: str
    members: dict[str, list[dict]] = field(default_factory=dict)
    bands: dict[str, dict] | None = None
    maps: dict[str, str] | None = None
    detail: object | None = None  # tables.RunDetail, only for runs without sheet files
    tables: dict[str, object] = field(default_factory=dict)  # slot id -> tables.SlotTable
    areas: dict[str, str] = field(default_factory=dict)  # slot id -> area SVG (title mark)
    audience: tuple[float, dict[str, int]] | None = None  # (counted at, slot id -> count)
    heads: dict[str, dict] | None = None  # slot id -> slot_head(members)
    lock: threading.Lock = field(default_factory=threading.Lock)
    files: SheetFiles = field(init=False)
    _facts: dict[str, pd.DataFrame] | None = field(default=None, init=False, repr=False)
    _members_ready: bool = field(default=False, init=False, repr=False)
    _members_lock: threading.Lock = field(default_factory=threading.Lock, init=False,
                                          repr=False)

    def __post_init__(self) -> None:
        self.files = SheetFiles(self.run_dir)

    def members_of(self, slot: Slot) -> list[dict]:
        """Placeholder values of every member ZIP of ``slot``, nearest the barycenter first
        (see :func:`pipeline.editorial.render.slot_members`)."""
        with self._members_lock:
            if slot.slot_id not in self.members:
                if not self._members_ready and self._stored_members():
                    self._members_ready = True
                stored = self.files.read_members(slot.slot_id) if self._members_ready \
                    else None
                if stored is not None:
                    self.members[slot.slot_id] = stored
                else:  # not written (or the folder is being replaced): from the run itself
                    self._compute_members()
            return self.members.setdefault(slot.slot_id, [])

    def head_of(self, slot: Slot) -> dict[str, Any]:
        """What the slot's sheet row needs of its members (:func:`slot_head`): from the
        run's ``sheet/heads.json``, else from all its members."""
        with self.lock:
            if self.heads is None:
                self.heads = (self.files.read_heads() if self.files.usable() else None) or {}
            head = self.heads.get(slot.slot_id)
        if head is None:
            head = slot_head(self.members_of(slot))
            with self.lock:
                self.heads[slot.slot_id] = head
        return head

    def facts_of(self, slot: Slot) -> pd.DataFrame:
        """The member facts of ``slot`` (assignments rows with ``city``), in the order of
        :meth:`members_of`; empty when the run has no assignments file."""
        with self._members_lock:
            if self._facts is None:
                if not self._stored_members():
                    self._compute_members()
                frame = self.files.read_facts() if self.files.usable() else None
                frame = frame if frame is not None else pd.DataFrame(
                    {"zip": pd.Series([], dtype=str), "slot_id": pd.Series([], dtype=str)})
                self._facts = {str(k): g.reset_index(drop=True)
                               for k, g in frame.groupby("slot_id", sort=False)}
                self._facts[""] = frame.iloc[:0]
            return self._facts.get(slot.slot_id, self._facts[""])

    def slot_of(self) -> pd.DataFrame:
        """Rows (zip, slot_id) of every member ZIP of the run."""
        with self._members_lock:
            frame = None
            if self._stored_members() or self._compute_members():
                frame = self.files.read_facts(["zip", "slot_id"])
            return frame if frame is not None else _assignments(self.run_dir)

    def _stored_members(self) -> bool:
        return self.files.usable() and self.files.has_members()

    def _compute_members(self) -> bool:
        """Members of every slot from ``assignments.parquet`` (an old run), kept and written;
        True when they were written."""
        assignments = read_assignments(self.run_dir)
        if assignments is None:
            return False
        facts, members = run_members(assignments, city_names())
        self.members.update(members)
        if not self.files.claim():
            return False

        def write() -> None:
            self.files.write_facts(facts)
            for slot_id, rows in members.items():
                self.files.write_members(slot_id, rows)
            self.files.mark_members()

        keep_piece(write, "members", self.run_dir)
        return self.files.has_members()


MAX_CACHED_RUNS = 4  # two windows a day: today's and yesterday's runs stay in memory
_CACHE_LOCK = threading.Lock()


def assets_for(cache: dict, run: Run) -> RunAssets:
    """The run's assets from ``cache`` (app state), created on first use; only the
    :data:`MAX_CACHED_RUNS` most recently used runs are kept."""
    with _CACHE_LOCK:
        assets = cache.pop(run.id, None) or RunAssets(run.id, run.run_dir)
        cache[run.id] = assets  # most recent last
        while len(cache) > MAX_CACHED_RUNS:
            cache.pop(next(iter(cache)))
        return assets


def _assignments(run_dir: str) -> pd.DataFrame:
    frame = read_assignments(run_dir, columns=["zip", "slot_id"])
    return pd.DataFrame({"zip": [], "slot_id": []}) if frame is None else frame


def bands(assets: RunAssets, run: Run, settings: Settings) -> dict[str, dict]:
    """Member bands per slot (see :func:`member_bands`): read from the sheet files, or
    computed once per run (and kept there)."""
    with assets.lock:
        if assets.bands is None and assets.files.usable():
            assets.bands = assets.files.read_bands()
        if assets.bands is None:
            slot_of = assets.slot_of().set_index("zip")["slot_id"]
            try:
                assets.bands = member_bands(run.run_dir, run.window,
                                            pd.Timestamp(utc(run.issue_time)), settings,
                                            load_zips(), slot_of)
            except Exception:  # noqa: BLE001 -- a missing picture must not block the sheet
                assets.bands = {}
                return assets.bands
            if assets.files.claim():
                computed = assets.bands
                keep_piece(lambda: assets.files.write_bands(computed), "bands",
                           assets.run_dir)
        return assets.bands


def slot_maps(assets: RunAssets) -> dict[str, str]:
    """A small SVG per slot: the run's area in grey, the slot in colour, insets off the
    mainland."""
    with assets.lock:
        if assets.maps is None and assets.files.usable():
            assets.maps = assets.files.read_maps()
        if assets.maps is None:
            assets.maps = thumbnails(assets.slot_of(), load_zips())
            if assets.files.claim():
                computed = assets.maps
                keep_piece(lambda: assets.files.write_maps(computed), "maps",
                           assets.run_dir)
        return assets.maps


AUDIENCE_TTL_S = 60.0


class SubscriberCounts:
    """Active subscribers per ZIP, shared by every run's sheet and fact check.

    Subscribers change all day, so they cannot be counted when a run is stored: they are
    counted while the server starts (before it takes requests, so the first sheet opened
    after a restart finds them ready); when asked for after :data:`AUDIENCE_TTL_S`
    seconds they are recounted in the background while the request gets the last counts.
    A GROUP BY over a million subscribers costs more than the whole sheet.
    """

    def __init__(self, url: str, clock: Callable[[], float]) -> None:
        self.url, self.clock = url, clock
        self.lock = threading.Lock()
        self.counted: tuple[float, pd.Series] | None = None
        self.recount: threading.Thread | None = None

    def warm(self) -> None:
        """Count now (at start-up); a failure only means counting again on first use."""
        try:
            self.get()
        except Exception:  # noqa: BLE001 -- the first request counts again and reports
            pass

    def _count(self) -> None:
        try:
            per_zip = subscriber_counts(self.url)
        except Exception:  # noqa: BLE001 -- the sheet works without counts (ZIPs weigh alike)
            LOG.warning("counting subscribers failed; the sheet counts none for now",
                        exc_info=True)
            per_zip = pd.Series([], dtype="int64", name="subscribers")
        with self.lock:
            self.counted = (self.clock(), per_zip)

    def get(self) -> tuple[float, pd.Series]:
        """(when counted, subscribers per ZIP); older than the TTL: recounted in the
        background (one recount at a time), these counts meanwhile."""
        with self.lock:
            counted = self.counted
            stale = counted is not None and self.clock() - counted[0] > AUDIENCE_TTL_S
            if stale and (self.recount is None or not self.recount.is_alive()):
                self.recount = threading.Thread(target=self._recount, daemon=True,
                                                name="subscriber-recount")
                self.recount.start()
        if counted is None:  # never counted (the start-up count failed): count now
            self._count()
            return self.get()
        return counted

    def _recount(self) -> None:
        try:
            self._count()
        except Exception:  # noqa: BLE001 -- keep the last counts; the next ask tries again
            LOG.warning("recounting subscribers failed; keeping the last counts", exc_info=True)

    def join(self, timeout: float | None = None) -> None:
        """Wait for a background recount, if one is running (tests, benchmarks)."""
        if self.recount is not None:
            self.recount.join(timeout)


def audience(assets: RunAssets, counts: SubscriberCounts) -> dict[str, int]:
    """Active subscribers per slot of the run (slot id -> count), from the shared counts."""
    stamp, per_zip = counts.get()
    with assets.lock:
        if assets.audience is None or assets.audience[0] != stamp:
            slot_of = assets.slot_of()
            n = slot_of.assign(n=slot_of["zip"].map(per_zip).fillna(0).astype(int))
            assets.audience = (stamp, {str(k): int(v) for k, v in
                                       n.groupby("slot_id")["n"].sum().items()})
        return assets.audience[1]


def deadline(run: Run, review: ReviewSettings, now: datetime) -> dict:
    """The run's send time (see :func:`pipeline.editorial.gate.send_time`) and the time left."""
    send_at = send_time(run, review)
    left = send_at - now
    minutes = int(left.total_seconds() // 60)
    return {"send_at": send_at, "send_at_et": send_at.astimezone(EASTERN),
            "passed": minutes < 0, "left": f"{minutes // 60} h {minutes % 60:02d} min"}
