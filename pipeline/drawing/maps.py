"""Maps of slots as SVG: the national map of every slot, and the sheet's thumbnails."""

from __future__ import annotations

from html import escape

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pipeline.drawing.landmarks import state_lines
from pipeline.drawing.shapes import PANELS, panel_index, slot_colors, slot_shapes
from pipeline.drawing.svg import Transform, lines_d, path_d
from pipeline.drawing.thumbnails import thumbnails as thumbnails  # the sheet imports it here

MAP_W, MAP_H = 960, 610  # the panels' boxes (PANELS) sit in this part of the canvas
ROW_H, LEGEND_TOP = 15, MAP_H + 12
MIN_PART_PX = 5.0  # parts smaller than this on the canvas get a dot of this size
NAME_CHARS = 44  # per legend column of 320 px at 11 px sans-serif; the full name is its title
NUMBER_MIN_PX2 = 80.0  # a slot's largest part must be about this big to carry its number
NUMBER_GAP = 13.0  # px between the numbers written on the map
NEIGHBOUR_M = 20_000.0  # slots this close count as neighbours when colouring
FRAME_STROKE, STATE_LINE = "#94a3b8", "#334155"
NO_VALUE = "#cbd5e1"  # a slot without a value when slots are coloured by one


def slots_svg(
    zips: pd.DataFrame,
    slot_ids: np.ndarray,
    names: dict[str, str],
    *,
    title: str = "",
    legend_columns: int = 3,
    colors: dict[str, str] | None = None,
) -> str:
    """An SVG map of every slot, coloured and numbered, with a legend naming every slot.

    The lower 48 fill the map; Alaska, Hawaii, Puerto Rico with the USVI, and the Pacific
    territories are insets, drawn when some ZIP is there. Each slot's number is written on its
    largest part where there is room; the legend below the map lists every slot by number in
    ``legend_columns`` columns, so it grows with the run instead of stopping.

    Parameters
    ----------
    zips : gazetteer rows (zip, state, lat, lon)
    slot_ids : ndarray of shape (n_zips,), the slot of each ZIP
    names : slot_id -> display name, in display order (largest first); slots missing here
        are listed after them under their id
    title : heading of the map (escaped here)
    legend_columns : columns of the legend
    colors : slot_id -> fill colour, to colour slots by a value (e.g. observed truthfulness);
        default: a colour per slot, each unlike its neighbours'
    """
    slot_ids = np.asarray(slot_ids).astype(str)
    order: list[str] = list(names) + sorted(str(s) for s in set(slot_ids) - set(names))
    label = {s: names[s] if s in names else s for s in order}
    number = {s: i + 1 for i, s in enumerate(order)}
    panel_of = panel_index(zips["state"].astype(str))
    drawn = {i: slot_shapes(zips[panel_of == i], slot_ids[panel_of == i], panel.crs,
                            panel.clip_km)
             for i, panel in enumerate(PANELS) if (panel_of == i).any()}
    color = _colors(order, list(drawn.values())) if colors is None else \
        {s: colors.get(s, NO_VALUE) for s in order}
    body: list[str] = []
    spots: list[tuple[float, float, float, str]] = []  # area in px², x, y, slot
    for i, shapes in drawn.items():
        panel = PANELS[i]
        transform, scale = _fit(shapes.total_bounds, panel.box, pad=0 if i == 0 else 4)
        if i:
            x0, y0, w, h = panel.box
            body.append(f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="#fff" '
                        f'stroke="{FRAME_STROKE}"/><text x="{x0 + 4}" y="{y0 + h - 4}" '
                        f'font-size="9" fill="#475569">{escape(panel.name)}</text>')
        for row in shapes.itertuples():
            slot = str(row.slot_id)
            body.append(f'<path d="{path_d(row.geometry, transform)}" fill="{color[slot]}" '
                        f'fill-rule="evenodd" stroke="#fff" stroke-width="0.3">'
                        f"<title>{number[slot]}. {escape(label[slot])}</title></path>")
            parts = [p for p in shapely.get_parts(row.geometry) if not p.is_empty]
            body.append(_dots(parts, transform, scale, color[slot]))
            if parts:
                largest = max(parts, key=lambda p: p.area)
                x, y = transform(np.asarray(largest.point_on_surface().coords))[0]
                spots.append((largest.area * scale * scale, x, y, slot))
        if i == 0:
            body.append(_state_lines(transform))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {MAP_W} '
        f'{(height := LEGEND_TOP + ROW_H * -(-len(order) // legend_columns) + 6)}" '
        f'width="{MAP_W}" height="{height}" font-family="sans-serif" font-size="11">'
        f'<rect width="{MAP_W}" height="{height}" fill="#f4f6f8"/>'
        f'<text x="10" y="18" font-size="14" font-weight="bold">{escape(title)}</text>'
        + "".join(body) + _numbers(spots, number) + _legend(order, label, number, color,
                                                             legend_columns) + "</svg>"
    )


def _colors(order: list[str], shapes: list[gpd.GeoDataFrame]) -> dict[str, str]:
    """A colour per slot, each as unlike its neighbours' as the palette allows.

    Slots take colours largest first: of the colours left, the one farthest (in RGB, weighted
    as the eye weighs it) from the colours of the slots already coloured within
    ``NEIGHBOUR_M`` of it.
    """
    neighbours: dict[str, set[str]] = {s: set() for s in order}
    for frame in shapes:
        ids = frame["slot_id"].astype(str).to_numpy()
        pairs = shapely.STRtree(frame.geometry.to_numpy()).query(
            frame.geometry.to_numpy(), predicate="dwithin", distance=NEIGHBOUR_M)
        for a, b in zip(ids[pairs[0]], ids[pairs[1]], strict=True):
            if a != b:
                neighbours[a].add(b)
    palette = slot_colors(len(order))
    rgb = {c: np.array([int(c[i:i + 2], 16) for i in (1, 3, 5)], dtype=float) for c in palette}
    weight = np.array([2.0, 4.0, 3.0])  # green differences show most, red least
    left, out = list(palette), dict[str, str]()
    for slot in order:
        taken = [rgb[out[n]] for n in neighbours[slot] if n in out]
        if not taken:
            out[slot] = left.pop(0)
            continue
        far = [min(float(weight @ (rgb[c] - t) ** 2) for t in taken) for c in left]
        out[slot] = left.pop(int(np.argmax(far)))
    return out


def _fit(bounds: np.ndarray, box: tuple[float, float, float, float], pad: float
         ) -> tuple[Transform, float]:
    """Projected -> canvas transform showing ``bounds`` centred in ``box``; px per metre."""
    minx, miny, maxx, maxy = bounds
    x0, y0, w, h = box
    scale = min((w - 2 * pad) / max(maxx - minx, 1.0), (h - 2 * pad) / max(maxy - miny, 1.0))
    left = x0 + (w - (maxx - minx) * scale) / 2
    top = y0 + (h - (maxy - miny) * scale) / 2

    def transform(pts: np.ndarray) -> np.ndarray:
        return np.column_stack([left + (pts[:, 0] - minx) * scale,
                                top + (maxy - pts[:, 1]) * scale])

    return transform, scale


def _dots(parts: list, transform: Transform, scale: float, fill: str) -> str:
    """A dot on each part too small to see (islands on the Pacific inset, a lone ZIP)."""
    out = []
    for part in parts:
        minx, miny, maxx, maxy = part.bounds
        if max(maxx - minx, maxy - miny) * scale < MIN_PART_PX:
            x, y = transform(np.array([[(minx + maxx) / 2, (miny + maxy) / 2]]))[0]
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{MIN_PART_PX / 2}" fill="{fill}" '
                       'stroke="#fff" stroke-width="0.3"/>')
    return "".join(out)


def _state_lines(transform: Transform) -> str:
    d = lines_d(state_lines(0), transform)
    return (f'<path d="{d}" fill="none" stroke="{STATE_LINE}" stroke-width="0.5" '
            'stroke-opacity="0.6" stroke-linejoin="round"/>' if d else "")


def _numbers(spots: list[tuple[float, float, float, str]], number: dict[str, int]) -> str:
    """Slot numbers on the map, biggest areas first, none crowding another."""
    placed: list[tuple[float, float]] = []
    out = []
    for area, x, y, slot in sorted(spots, key=lambda s: -s[0]):
        if area < NUMBER_MIN_PX2 or any(abs(x - px) < NUMBER_GAP and abs(y - py) < NUMBER_GAP
                                        for px, py in placed):
            continue
        placed.append((x, y))
        out.append(f'<text x="{x:.1f}" y="{y + 3.5:.1f}" text-anchor="middle" font-size="9" '
                   f'font-weight="bold" fill="#111827" stroke="#fff" stroke-width="2.2" '
                   f'stroke-linejoin="round" paint-order="stroke">{number[slot]}</text>')
    return "".join(out)


def _legend(order: list[str], label: dict[str, str], number: dict[str, int],
            color: dict[str, str], columns: int) -> str:
    """Every slot: number, swatch and name, top to bottom then left to right."""
    rows = -(-len(order) // max(columns, 1))
    width = MAP_W / max(columns, 1)
    out = []
    for i, slot in enumerate(order):
        x = 10 + (i // rows) * width
        y = LEGEND_TOP + (i % rows) * ROW_H + 11
        name = label[slot]
        short = name if len(name) <= NAME_CHARS else name[:NAME_CHARS - 1].rstrip() + "…"
        out.append(f'<g><title>{escape(slot)}: {escape(name)}</title>'
                   f'<text x="{x + 20:.0f}" y="{y}" text-anchor="end">{number[slot]}</text>'
                   f'<rect x="{x + 25:.0f}" y="{y - 10}" width="12" height="12" '
                   f'fill="{color[slot]}"/><text x="{x + 42:.0f}" y="{y}">{escape(short)}'
                   "</text></g>")
    return "".join(out)
