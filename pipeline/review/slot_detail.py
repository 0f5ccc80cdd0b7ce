"""What the slot detail page shows: member rows, misfits, per-state truth and the area map.

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.geo import load_zips
from pipeline.maps import OFF_MAP, PANELS, Panel, slot_shapes
from pipeline.review.charts import series_chart_svg
from pipeline.review.sheet import RunAssets
from pipeline.store.models import Slot, SlotMember
from pipeline.times import clock

# the facts shown per member; a stored-members fallback has none of them
FACT_COLUMNS = ("automatic_message", "high_f", "low_f", "pop_max", "precip", "precip_type",
                "precip_start_hour", "wind_category", "sky", "hazards")
MAP_W, MAP_H = 640, 420  # the panel holding most of the slot's ZIPs
INSET_H, INSET_MAX_W, GAP = 150, 240, 6  # further panels (AK, HI, PR) in a strip below
MARGIN_SHARE, MIN_MARGIN_M = 0.12, 15_000.0  # around the slot's extent, projected metres
MAX_POINTS = 600  # member dots beyond this only clutter; misfits are drawn up to it too
SLOT_FILL, NEIGHBOUR_FILL, NEIGHBOUR_STROKE = "#0f766e", "#e5e7eb", "#9ca3af"
FIT_DOT, MISFIT_DOT = "#134e4a", "#b91c1c"
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


def load_assignments(run_dir: str | Path) -> pd.DataFrame | None:
    """The run's ``assignments.parquet``, or None when the run folder no longer has it."""
    path = Path(run_dir) / "assignments.parquet"
    return pd.read_parquet(path) if path.exists() else None


def stored_members(db: Session, run_id: str) -> pd.DataFrame:
    """Membership from the store (zip, slot_id, distance, fits), without facts."""
    rows = db.execute(select(SlotMember.zip, SlotMember.slot_id, SlotMember.distance,
                             SlotMember.fits).where(SlotMember.run_id == run_id)).all()
    return pd.DataFrame(rows, columns=["zip", "slot_id", "distance", "fits"])


def panel_index(states: pd.Series) -> np.ndarray:
    """Index into :data:`pipeline.maps.PANELS` per ZIP; -1 for places drawn on no panel."""
    out = np.zeros(len(states), dtype=int)  # PANELS[0] takes every state no other panel has
    for i, panel in enumerate(PANELS):
        if panel.states:
            out[states.isin(panel.states).to_numpy()] = i
    out[states.isin(OFF_MAP).to_numpy()] = -1
    return out


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
            assignments = load_assignments(assets.run_dir)
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


# --- the area map -------------------------------------------------------------------------


@dataclass
class _Frame:
    """One map panel placed on the canvas: projected view rectangle and scale."""

    panel: Panel
    box: tuple[float, float, float, float]  # x, y, width, height on the canvas
    view: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)  # projected minx..maxy
    scale: float = 1.0
    parts: list[str] = field(default_factory=list)

    def transform(self, pts: np.ndarray) -> np.ndarray:
        return np.column_stack([(pts[:, 0] - self.view[0]) * self.scale,
                                (self.view[3] - pts[:, 1]) * self.scale])


def _polygons(geometry: BaseGeometry) -> Iterator[BaseGeometry]:
    for part in shapely.get_parts(geometry):
        if part.is_empty:
            continue
        if part.geom_type == "Polygon":
            yield part
        elif part.geom_type in ("MultiPolygon", "GeometryCollection"):
            yield from _polygons(part)


def _path(geometry: BaseGeometry, frame: _Frame) -> str:
    rings = []
    for polygon in _polygons(geometry):
        for ring in [polygon.exterior, *polygon.interiors]:
            pts = frame.transform(np.asarray(ring.coords))
            rings.append("M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in pts) + "Z")
    return "".join(rings)


def _fit_view(frame: _Frame, bounds: tuple[float, float, float, float]) -> None:
    """Zoom ``frame`` to ``bounds`` plus a margin, keeping the box's aspect ratio."""
    minx, miny, maxx, maxy = bounds
    margin = max(MARGIN_SHARE * max(maxx - minx, maxy - miny), MIN_MARGIN_M)
    width, height = maxx - minx + 2 * margin, maxy - miny + 2 * margin
    _, _, box_w, box_h = frame.box
    frame.scale = min(box_w / width, box_h / height)
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    half_w, half_h = box_w / frame.scale / 2, box_h / frame.scale / 2
    frame.view = (cx - half_w, cy - half_h, cx + half_w, cy + half_h)


def _draw_panel(frame: _Frame, shapes: gpd.GeoDataFrame, slot_id: str,
                members: pd.DataFrame, dots: bool) -> None:
    """Neighbours in grey, the slot in colour and (when ``dots``) its member ZIPs."""
    points = gpd.GeoSeries(gpd.points_from_xy(members["lon"], members["lat"]),
                           crs="EPSG:4326").to_crs(frame.panel.crs)
    xy = np.column_stack([points.x, points.y])
    mine = shapes.geometry[(shapes["slot_id"] == slot_id).to_numpy()]
    area = mine.iloc[0] if len(mine) and not mine.iloc[0].is_empty else None
    bounds = area.bounds if area is not None else (*xy.min(axis=0), *xy.max(axis=0))
    _fit_view(frame, bounds)
    vx0, vy0, vx1, vy1 = frame.view
    b = shapes.bounds
    near = ((b["minx"] < vx1) & (b["maxx"] > vx0) & (b["miny"] < vy1) & (b["maxy"] > vy0)
            & (shapes["slot_id"] != slot_id)).to_numpy()
    for neighbour, geometry in zip(shapes["slot_id"][near], shapes.geometry[near],
                                   strict=True):
        # clipping first keeps a national neighbour from filling the file with far coasts
        d = _path(shapely.clip_by_rect(geometry, *frame.view), frame)
        if d:
            frame.parts.append(f'<path d="{d}" fill="{NEIGHBOUR_FILL}" fill-rule="evenodd" '
                               f'stroke="{NEIGHBOUR_STROKE}" stroke-width="0.5">'
                               f"<title>{escape(str(neighbour))}</title></path>")
    if area is not None:
        frame.parts.append(f'<path d="{_path(area, frame)}" fill="{SLOT_FILL}" '
                           f'fill-opacity="0.85" fill-rule="evenodd" stroke="{SLOT_FILL}" '
                           f'stroke-width="1"/>')
    fits = members["fits"].to_numpy(bool)
    for wanted, color, radius in ((True, FIT_DOT, 1.8), (False, MISFIT_DOT, 2.6)):
        rows = fits == wanted
        if not rows.any() or (wanted and not dots) or rows.sum() > MAX_POINTS:
            continue
        for x, y in frame.transform(xy[rows]):
            frame.parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius}" '
                               f'fill="{color}" stroke="#fff" stroke-width="0.5"/>')


def _layout(n_panels: int) -> tuple[list[tuple[float, float, float, float]], int]:
    """Boxes for the panels, the first large, the rest in a strip below; canvas height."""
    boxes: list[tuple[float, float, float, float]] = [(0, 0, MAP_W, MAP_H)]
    extra = n_panels - 1
    if extra <= 0:
        return boxes, MAP_H
    width = min(INSET_MAX_W, (MAP_W - GAP * (extra - 1)) / extra)
    boxes += [(i * (width + GAP), MAP_H + GAP, width, INSET_H) for i in range(extra)]
    return boxes, MAP_H + GAP + INSET_H


def _panel_label(panel: Panel) -> str:
    return ", ".join(panel.states) if panel.states else "lower 48"


def area_svg(members: pd.DataFrame, slot_id: str, shapes: dict[int, gpd.GeoDataFrame],
             title: str) -> str:
    """An SVG of the slot's area, zoomed to it, with neighbouring slots in grey.

    Parameters
    ----------
    members : the slot's rows (zip, lat, lon, fits, panel); rows without a location or on
        no panel are counted but not drawn
    slot_id : the slot to colour
    shapes : panel index -> every slot's dissolved area in that panel's projection, for each
        panel holding some of the slot's ZIPs, largest share first
    title : accessible title (escaped here)
    """
    located = members[members["lat"].notna() & (members["panel"] >= 0)]
    dots = len(members) <= MAX_POINTS
    boxes, height = _layout(len(shapes))
    body = []
    for (panel, panel_shapes), box in zip(shapes.items(), boxes, strict=True):
        frame = _Frame(PANELS[panel], box)
        _draw_panel(frame, panel_shapes, slot_id, located[located["panel"] == panel], dots)
        x, y, w, h = box
        label = (f'<text x="6" y="{h - 6:.0f}" fill="#374151">'
                 f"{escape(_panel_label(frame.panel))}</text>" if len(shapes) > 1 else "")
        body.append(f'<svg x="{x:.0f}" y="{y:.0f}" width="{w:.0f}" height="{h:.0f}" '
                    f'viewBox="0 0 {w:.0f} {h:.0f}"><rect width="{w:.0f}" height="{h:.0f}" '
                    f'fill="#f8fafc" stroke="#cbd5e1"/>{"".join(frame.parts)}{label}</svg>')
    unmapped = len(members) - len(located)
    if not shapes:
        body.append(f'<text x="{MAP_W / 2:.0f}" y="{MAP_H / 2:.0f}" text-anchor="middle" '
                    'fill="#6b7280">No located ZIPs to draw.</text>')
    elif unmapped:
        body.append(f'<text x="{MAP_W - 6}" y="16" text-anchor="end" fill="#374151">'
                    f"{unmapped:,} ZIP{'s' if unmapped != 1 else ''} off the map</text>")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="area-map" viewBox="0 0 {MAP_W} '
            f'{height}" width="{MAP_W}" height="{height}" role="img" font-family="sans-serif" '
            f'font-size="11"><title>{escape(title)}</title>{"".join(body)}</svg>')
