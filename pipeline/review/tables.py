"""The slot detail page's tables: member rows, misfits and per-state truth (its area map is
drawn by :mod:`pipeline.drawing.area`).

Computations only (no FastAPI). The run's member facts come from its ``assignments.parquet``
(one row per ZIP: slot, DTW distance, fits, automatic message and the ZIP's facts), joined to
the gazetteer for city and location; when the file is gone the stored ``slot_members`` rows
give at least membership, distance and fit.

The store step formats every slot's member table and draws its area into the run's
``sheet/`` files (:mod:`pipeline.review.sheet_files`), so the page only reads one slot's
table and pages through it (:data:`PER_PAGE` rows a page). For a run stored before those
files, the joined table and the dissolved slot areas are built once per run, kept on the
run's :class:`~pipeline.review.sheet.RunAssets`, and written there.

Member tables of national slots run to thousands of rows, so every cell is formatted here in
one pass and the template only prints strings.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.drawing.area import area_svg
from pipeline.drawing.charts import series_chart_svg
from pipeline.drawing.shapes import PANELS, panel_index, slot_shapes
from pipeline.geo import load_zips
from pipeline.review.sheet import RunAssets
from pipeline.review.sheet import keep_piece as keep
from pipeline.review.sheet_files import TITLE_MARK
from pipeline.store.assignments import read_assignments
from pipeline.store.models import Slot, SlotMember
from pipeline.times import clock

# the facts shown per member; a stored-members fallback has none of them
FACT_COLUMNS = ("automatic_message", "high_f", "low_f", "pop_max", "precip", "precip_type",
                "precip_start_hour", "wind_category", "sky", "hazards")
NO_VALUE = "—"
PER_PAGE = 200  # member rows per detail page: a 5,000-ZIP slot in one page was 1.4 MB
MISFITS_SHOWN = 200  # the misfit list beyond this is searchable in the member table
EMPTY = pd.DataFrame({c: pd.Series([], dtype=object) for c in (
    "zip", "city", "state", "distance", "fits", *FACT_COLUMNS)})


class MemberRow(NamedTuple):
    """One member ZIP as the page prints it: every field but ``fits`` is display text."""

    zip: str
    city: str
    state: str
    high: str
    low: str
    precip: str
    chance: str
    wind: str
    sky: str
    hazards: str
    distance: str
    fits: bool
    automatic_message: str


@dataclass(frozen=True)
class StateTruth:
    """How many of a slot's ZIPs in one state its message is true for."""

    state: str
    n: int
    n_fit: int
    share: float
    below_floor: bool


class SlotTable(NamedTuple):
    """A slot's member rows as display text (the :class:`MemberRow` columns), sorted by
    state then ZIP; ``has_facts`` is False when only stored membership was available."""

    frame: pd.DataFrame
    has_facts: bool


@dataclass(frozen=True)
class MemberPage:
    """Which of a slot's members the page lists: ``query`` (a ZIP prefix) narrows them to
    ``n_found``, shown ``per_page`` at a time."""

    number: int  # 1-based
    pages: int
    per_page: int
    n_found: int
    query: str

    @property
    def first(self) -> int:
        """The 1-based position of the page's first row among the found ones."""
        return (self.number - 1) * self.per_page + 1 if self.n_found else 0

    @property
    def last(self) -> int:
        return min(self.number * self.per_page, self.n_found)


@dataclass
class SlotDetail:
    """One page of a slot's members, its misfits and per-state truth of all its members."""

    members: list[MemberRow]  # this page's rows, sorted by state, then ZIP
    misfits: list[MemberRow]  # the same order, fits == False only, at most MISFITS_SHOWN
    states: list[StateTruth]  # sorted by state, over every member
    state_floor: float
    has_facts: bool  # False when only stored membership was available
    n: int  # every member
    n_misfits: int
    page: MemberPage

    @property
    def n_fit(self) -> int:
        return self.n - self.n_misfits

    @property
    def below_floor(self) -> list[str]:
        return [s.state for s in self.states if s.below_floor]


def stored_members(db: Session, run_id: str) -> pd.DataFrame:
    """Membership from the store (zip, slot_id, distance, fits), without facts."""
    rows = db.execute(select(SlotMember.zip, SlotMember.slot_id, SlotMember.distance,
                             SlotMember.fits).where(SlotMember.run_id == run_id)).all()
    return pd.DataFrame(rows, columns=["zip", "slot_id", "distance", "fits"])



class RunDetail:
    """A run's members joined to the gazetteer, with slot areas drawn on demand and kept.

    Parameters
    ----------
    assignments : one row per ZIP with at least zip, slot_id, distance and fits
    gazetteer : rows (zip, city, state, lat, lon) covering the run's ZIPs
    """

    def __init__(self, assignments: pd.DataFrame, gazetteer: pd.DataFrame) -> None:
        places = gazetteer[["zip", "city", "state", "lat", "lon"]].rename(
            columns={"state": "gazetteer_state"})
        frame = assignments.merge(places, on="zip", how="left")
        state = (frame["state"] if "state" in frame else frame["gazetteer_state"]).astype(object)
        frame["state"] = state.fillna(frame["gazetteer_state"]).fillna("").astype(str)
        frame["city"] = frame["city"].fillna("").astype(str).str.title()
        self.has_facts = all(c in frame for c in FACT_COLUMNS)
        for column in FACT_COLUMNS:
            if column not in frame:
                frame[column] = None
        frame["fits"] = frame["fits"].astype("boolean").fillna(False).astype(bool)
        frame["panel"] = panel_index(frame["state"])
        self.frame = frame.sort_values(["state", "zip"], ignore_index=True)
        self._shapes: dict[int, gpd.GeoDataFrame] = {}
        self._areas: dict[str, str] = {}
        self._lock = threading.Lock()

    def members(self, slot_id: str) -> pd.DataFrame:
        """The slot's rows, sorted by state then ZIP."""
        return self.frame[self.frame["slot_id"] == slot_id]

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every slot's member table (see :func:`member_table`), in one formatting pass."""
        table = member_table(self.frame)
        return {str(slot_id): table.iloc[rows].reset_index(drop=True)
                for slot_id, rows in self.frame.groupby("slot_id").indices.items()}

    def area_svg(self, slot_id: str, title: str) -> str:
        """The slot's area map (see :func:`area_svg`), drawn once per slot."""
        with self._lock:
            if slot_id not in self._areas:
                members = self.members(slot_id)
                panels = [int(p) for p in pd.Series(members["panel"]).value_counts().index
                          if p >= 0]
                shapes = {p: self._panel_shapes(p) for p in panels}
                self._areas[slot_id] = area_svg(members, slot_id, shapes, title)
            return self._areas[slot_id]

    def _panel_shapes(self, panel: int) -> gpd.GeoDataFrame:
        """Every slot's dissolved area within one panel (all of its ZIPs, every slot)."""
        if panel not in self._shapes:
            zips = self.frame[(self.frame["panel"] == panel) & self.frame["lat"].notna()]
            spec = PANELS[panel]
            self._shapes[panel] = slot_shapes(zips, zips["slot_id"].to_numpy(), spec.crs,
                                              spec.clip_km)
        return self._shapes[panel]


def detail_for(assets: RunAssets, fallback: Callable[[], pd.DataFrame]) -> RunDetail:
    """The run's :class:`RunDetail` from its assets, built on first use (only needed when the
    run's sheet files lack a piece).

    Parameters
    ----------
    assets : the run's cached assets (``assets.detail`` holds the result)
    fallback : membership to use when the run folder has no ``assignments.parquet``
    """
    if not isinstance(assets.detail, RunDetail):
        assignments = read_assignments(assets.run_dir)
        assets.detail = RunDetail(fallback() if assignments is None else assignments,
                                  load_zips())
    return assets.detail


def slot_table(assets: RunAssets, slot_id: str, fallback: Callable[[], pd.DataFrame]
               ) -> SlotTable:
    """``slot_id``'s member table: read from the run's sheet files, else computed for every
    slot of the run at once and written there (see :class:`RunDetail`)."""
    with assets.lock:
        if slot_id not in assets.tables:
            files = assets.files
            has_facts = files.tables_have_facts() if files.usable() else None
            if has_facts is not None:
                table = files.read_table(slot_id)
                assets.tables[slot_id] = SlotTable(
                    member_table(EMPTY) if table is None else table, has_facts)
            else:
                detail = detail_for(assets, fallback)
                tables = detail.tables()
                assets.tables.update({k: SlotTable(v, detail.has_facts)
                                      for k, v in tables.items()})
                assets.tables.setdefault(slot_id, SlotTable(member_table(EMPTY),
                                                            detail.has_facts))
                if files.claim():
                    keep(lambda: files.write_tables(tables, has_facts=detail.has_facts),
                         "member tables", assets.run_dir)
        table = assets.tables[slot_id]
        assert isinstance(table, SlotTable)
        return table


def slot_area(assets: RunAssets, slot_id: str, title: str,
              fallback: Callable[[], pd.DataFrame]) -> str:
    """``slot_id``'s area map (see :meth:`RunDetail.area_svg`) titled ``title``: read from
    the run's sheet files, else drawn once and written there."""
    with assets.lock:
        if slot_id not in assets.areas:
            files = assets.files
            svg = files.read_area(slot_id) if files.usable() else None
            if svg is None:
                svg = detail_for(assets, fallback).area_svg(slot_id, TITLE_MARK)
                if files.claim():
                    drawn = svg
                    keep(lambda: files.write_area(slot_id, drawn), "area map",
                         assets.run_dir)
            assets.areas[slot_id] = svg
        return assets.areas[slot_id].replace(f"<title>{TITLE_MARK}</title>",
                                             f"<title>{escape(title)}</title>", 1)


def detail_page(table: SlotTable, state_floor: float, *, page: int = 1, query: str = "",
                per_page: int = PER_PAGE) -> SlotDetail:
    """One page of ``table``'s members (those whose ZIP starts with ``query``), the first
    :data:`MISFITS_SHOWN` misfits, and per-state truth over every member.

    ``page`` is clamped to the pages there are, so an old link still shows a page.
    """
    frame = table.frame
    misfits = frame[~frame["fits"].astype(bool)]
    found = frame[frame["zip"].str.startswith(query)] if query else frame
    pages = max(1, -(-len(found) // per_page))
    number = min(max(1, page), pages)
    shown = found.iloc[(number - 1) * per_page:number * per_page]
    return SlotDetail(_rows(shown), _rows(misfits.head(MISFITS_SHOWN)),
                      state_truth(frame, state_floor), state_floor, table.has_facts,
                      len(frame), len(misfits),
                      MemberPage(number, pages, per_page, len(found), query))


def _rows(table: pd.DataFrame) -> list[MemberRow]:
    return [MemberRow(*cells) for cells in table.itertuples(index=False, name=None)]


def _whole(values: pd.Series, unit: str = "") -> list[str]:
    return [NO_VALUE if v != v else f"{round(v) + 0:.0f}{unit}"  # v != v: NaN; never "-0"
            for v in pd.to_numeric(values, errors="coerce").to_numpy(float)]


def _text(values: pd.Series) -> list[str]:
    return ["" if v is None or v != v else str(v) for v in values.tolist()]


def _precip(frame: pd.DataFrame) -> list[str]:
    starts = pd.to_numeric(frame["precip_start_hour"], errors="coerce").to_numpy(float)
    out = []
    for wet, kind, start in zip(frame["precip"].tolist(), frame["precip_type"].tolist(),
                                starts, strict=True):
        if wet is None or wet != wet or not wet:  # None or NaN: unknown; False: dry
            out.append(NO_VALUE if wet is None or wet != wet else "dry")
            continue
        kind = kind if isinstance(kind, str) else "precip"
        out.append(f"{kind} from {clock(start)}" if np.isfinite(start) else kind)
    return out


def member_rows(frame: pd.DataFrame) -> list[MemberRow]:
    """Display rows of ``frame`` (assignments joined to the gazetteer), in its order."""
    distances = pd.to_numeric(frame["distance"], errors="coerce").to_numpy(float)
    columns = [
        frame["zip"].astype(str).tolist(), frame["city"].tolist(), frame["state"].tolist(),
        _whole(frame["high_f"], "°F"), _whole(frame["low_f"], "°F"), _precip(frame),
        _whole(frame["pop_max"], "%"), _text(frame["wind_category"]), _text(frame["sky"]),
        [h.replace("|", ", ") for h in _text(frame["hazards"])],
        [NO_VALUE if d != d else f"{d:.2f}" for d in distances],
        frame["fits"].astype(bool).tolist(), _text(frame["automatic_message"]),
    ]
    return [MemberRow(*cells) for cells in zip(*columns, strict=True)]


def state_truth(frame: pd.DataFrame, state_floor: float) -> list[StateTruth]:
    """Per state of ``frame``: members, fitting members, share, and whether below the floor.

    The share is ZIP-weighted and rounded like :func:`pipeline.truth.truthfulness`, and a
    state is flagged when it falls strictly below ``state_floor``.
    """
    counts = frame.groupby("state")["fits"].agg(["size", "sum"]).sort_index()
    out = []
    for state, n, n_fit in counts.itertuples():
        share = round(float(n_fit) / float(n), 4)
        out.append(StateTruth(str(state), int(n), int(n_fit), share, share < state_floor))
    return out


def member_table(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame``'s rows (see :func:`member_rows`) as a table of display text with the
    :class:`MemberRow` columns (``fits`` stays boolean)."""
    table = pd.DataFrame(member_rows(frame), columns=list(MemberRow._fields))
    for column in MemberRow._fields:
        table[column] = table[column].astype(bool if column == "fits" else str)
    return table


def representative_chart(slot: Slot, band: dict) -> str:
    """The chart of ``slot``'s barycenter and medoid series over its members' band.

    Parameters
    ----------
    slot : the stored slot (``representative`` holds local_hour, barycenter and medoid)
    band : {"temperature_f": (lo, hi), "precip_probability": (lo, hi)}, or {} without one
    """
    rep = slot.representative or {}
    barycenter, medoid = rep.get("barycenter") or {}, rep.get("medoid") or {}
    return series_chart_svg(
        rep.get("local_hour", []), barycenter.get("temperature_f", []),
        barycenter.get("precip_probability", []),
        temp_band=band.get("temperature_f"), precip_band=band.get("precip_probability"),
        medoid_temperature=medoid.get("temperature_f"),
        medoid_precip=medoid.get("precip_probability"),
        medoid_zip=str(rep.get("medoid_zip") or slot.medoid_zip or ""),
        label=f"{slot.slot_id} {slot.name}: temperature and precipitation chance by hour")
