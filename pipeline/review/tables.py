"""The slot detail page's tables: member rows, misfits and per-state truth (its area map is
drawn by :mod:`pipeline.drawing.area`).

Computations only (no FastAPI). The run's member facts come from its ``assignments.parquet``
(one row per ZIP: slot, DTW distance, fits, automatic message and the ZIP's facts), joined to
the gazetteer for city and location; when the file is gone the stored ``slot_members`` rows
give at least membership, distance and fit. Both the joined table and the dissolved slot
areas are built once per run and kept on the run's :class:`~pipeline.review.sheet.RunAssets`.

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
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.drawing.area import area_svg
from pipeline.drawing.charts import series_chart_svg
from pipeline.drawing.shapes import PANELS, panel_index, slot_shapes
from pipeline.geo import load_zips
from pipeline.review.sheet import RunAssets
from pipeline.store.assignments import read_assignments
from pipeline.store.models import Slot, SlotMember
from pipeline.times import clock

# the facts shown per member; a stored-members fallback has none of them
FACT_COLUMNS = ("automatic_message", "high_f", "low_f", "pop_max", "precip", "precip_type",
                "precip_start_hour", "wind_category", "sky", "hazards")
NO_VALUE = "—"


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


@dataclass
class SlotDetail:
    """The member table, the misfits and per-state truth of one slot."""

    members: list[MemberRow]  # sorted by state, then ZIP
    misfits: list[MemberRow]  # the same order, fits == False only
    states: list[StateTruth]  # sorted by state
    state_floor: float
    has_facts: bool  # False when only stored membership was available

    @property
    def n(self) -> int:
        return len(self.members)

    @property
    def n_fit(self) -> int:
        return self.n - len(self.misfits)

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

    def slot(self, slot_id: str, state_floor: float) -> SlotDetail:
        """Member table, misfits and per-state truth of ``slot_id``."""
        return slot_detail(self.members(slot_id), state_floor, has_facts=self.has_facts)

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
    """The run's :class:`RunDetail` from its assets, built on first use.

    Parameters
    ----------
    assets : the run's cached assets (``assets.detail`` holds the result)
    fallback : membership to use when the run folder has no ``assignments.parquet``
    """
    with assets.lock:
        if not isinstance(assets.detail, RunDetail):
            assignments = read_assignments(assets.run_dir)
            assets.detail = RunDetail(fallback() if assignments is None else assignments,
                                      load_zips())
        return assets.detail


def _whole(values: pd.Series, unit: str = "") -> list[str]:
    return [NO_VALUE if v != v else f"{v:.0f}{unit}"  # v != v: NaN
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


def slot_detail(frame: pd.DataFrame, state_floor: float, *, has_facts: bool = True
                ) -> SlotDetail:
    """Member table, misfits and per-state truth of one slot's rows (sorted by state, ZIP)."""
    rows = member_rows(frame)
    return SlotDetail(rows, [r for r in rows if not r.fits], state_truth(frame, state_floor),
                      state_floor, has_facts)


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
