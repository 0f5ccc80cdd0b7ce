"""A slot's area map as SVG: zoomed to the slot, neighbours in grey, member ZIPs as dots,
state lines and the names of the largest places in view, with a panel per region the slot
reaches (lower 48, Alaska, Hawaii, Puerto Rico and the USVI, the Pacific territories)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pipeline.drawing.landmarks import places, state_lines
from pipeline.drawing.shapes import PANELS, Panel, project
from pipeline.drawing.svg import lines_d, path_d, paths_d

MAP_W, MAP_H = 640, 420  # the panel holding most of the slot's ZIPs
INSET_H, INSET_MAX_W, GAP = 150, 240, 6  # further panels (AK, HI, PR) in a strip below
MARGIN_SHARE, MIN_MARGIN_M = 0.12, 15_000.0  # around the slot's extent, projected metres
MAX_POINTS = 600  # member dots beyond this only clutter; misfits are drawn up to it too
SLOT_FILL, NEIGHBOUR_FILL, NEIGHBOUR_STROKE = "#0f766e", "#e5e7eb", "#9ca3af"
FIT_DOT, MISFIT_DOT = "#134e4a", "#b91c1c"
STATE_LINE, PLACE_TEXT = "#4b5563", "#111827"
PLACES_MAIN, PLACES_INSET = 6, 2  # labels per panel, largest places first
LABEL_GAP = 14  # px: a place closer than this (vertically) to a label already drawn is skipped


@dataclass
class _Frame:
    """One map panel placed on the canvas: projected view rectangle and scale."""

    panel: Panel
    index: int  # into PANELS
    box: tuple[float, float, float, float]  # x, y, width, height on the canvas
    view: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)  # projected minx..maxy
    scale: float = 1.0
    parts: list[str] = field(default_factory=list)

    def transform(self, pts: np.ndarray) -> np.ndarray:
        return np.column_stack([(pts[:, 0] - self.view[0]) * self.scale,
                                (self.view[3] - pts[:, 1]) * self.scale])


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
    xy = project(members["lon"], members["lat"], frame.panel.crs)
    mine = shapes.geometry[(shapes["slot_id"] == slot_id).to_numpy()]
    area = mine.iloc[0] if len(mine) and not mine.iloc[0].is_empty else None
    bounds = area.bounds if area is not None else (*xy.min(axis=0), *xy.max(axis=0))
    _fit_view(frame, bounds)
    vx0, vy0, vx1, vy1 = frame.view
    b = shapes.bounds
    near = ((b["minx"] < vx1) & (b["maxx"] > vx0) & (b["miny"] < vy1) & (b["maxy"] > vy0)
            & (shapes["slot_id"] != slot_id)).to_numpy()
    # clipping first keeps a national neighbour from filling the file with far coasts
    clipped = shapely.clip_by_rect(shapes.geometry[near].to_numpy(), *frame.view)
    for neighbour, d in zip(shapes["slot_id"][near], paths_d(clipped, frame.transform),
                            strict=True):
        if d:
            frame.parts.append(f'<path d="{d}" fill="{NEIGHBOUR_FILL}" fill-rule="evenodd" '
                               f'stroke="{NEIGHBOUR_STROKE}" stroke-width="0.5">'
                               f"<title>{escape(str(neighbour))}</title></path>")
    if area is not None:
        frame.parts.append(f'<path d="{path_d(area, frame.transform)}" fill="{SLOT_FILL}" '
                           f'fill-opacity="0.85" fill-rule="evenodd" stroke="{SLOT_FILL}" '
                           f'stroke-width="1"/>')
    _draw_state_lines(frame)
    fits = members["fits"].to_numpy(bool)
    for wanted, color, radius in ((True, FIT_DOT, 1.8), (False, MISFIT_DOT, 2.6)):
        rows = fits == wanted
        if not rows.any() or (wanted and not dots) or rows.sum() > MAX_POINTS:
            continue
        for x, y in frame.transform(xy[rows]):
            frame.parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius}" '
                               f'fill="{color}" stroke="#fff" stroke-width="0.5"/>')


def _draw_state_lines(frame: _Frame) -> None:
    lines = shapely.clip_by_rect(state_lines(frame.index), *frame.view)
    if lines.is_empty:
        return
    d = lines_d(lines, frame.transform)
    if d:
        frame.parts.append(f'<path class="state-lines" d="{d}" fill="none" stroke="{STATE_LINE}" '
                           'stroke-width="0.9" stroke-dasharray="4 2" stroke-linejoin="round"/>')


def _draw_places(frame: _Frame, limit: int) -> None:
    """The ``limit`` largest places in view, each a dot and a haloed name clear of the others."""
    candidates = places(frame.index)
    vx0, vy0, vx1, vy1 = frame.view
    inside = candidates[candidates["x"].between(vx0, vx1) & candidates["y"].between(vy0, vy1)]
    if inside.empty:
        return
    xy = frame.transform(inside[["x", "y"]].to_numpy())
    _, _, box_w, box_h = frame.box
    placed: list[tuple[float, float, float]] = []  # label left, right, baseline
    for name, (x, y) in zip(inside["name"], xy, strict=True):
        if len(placed) >= limit:
            break
        if not (8 <= y <= box_h - 14):
            continue
        width = 6.0 * len(name)  # about 6 px a character at 11 px sans-serif
        right = x + 4 + width <= box_w - 2
        left, end = (x + 4, x + 4 + width) if right else (x - 4 - width, x - 4)
        if left < 2 or any(abs(y - py) < LABEL_GAP and left < pr and end > pl
                           for pl, pr, py in placed):
            continue
        placed.append((left, end, y))
        frame.parts.append(
            f'<circle class="place" cx="{x:.1f}" cy="{y:.1f}" r="2.2" fill="{PLACE_TEXT}" '
            f'stroke="#fff" stroke-width="0.8"/><text class="place" '
            f'x="{x + 4 if right else x - 4:.1f}" y="{y + 4:.1f}" '
            f'text-anchor="{"start" if right else "end"}" fill="{PLACE_TEXT}" stroke="#fff" '
            f'stroke-width="3" stroke-linejoin="round" paint-order="stroke">'
            f"{escape(name)}</text>")


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
    return panel.name or (", ".join(panel.states) if panel.states else "lower 48")


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
    for i, ((panel, panel_shapes), box) in enumerate(zip(shapes.items(), boxes, strict=True)):
        frame = _Frame(PANELS[panel], panel, box)
        _draw_panel(frame, panel_shapes, slot_id, located[located["panel"] == panel], dots)
        _draw_places(frame, PLACES_MAIN if i == 0 else PLACES_INSET)
        x, y, w, h = box
        label = (f'<text class="panel-label" x="6" y="{h - 6:.0f}" fill="#374151">'
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
