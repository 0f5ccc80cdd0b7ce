"""Maps of slots as SVG: the national map of every slot, and the sheet's thumbnails."""

from __future__ import annotations

from html import escape

import numpy as np
import pandas as pd

from pipeline.drawing.shapes import OFF_MAP, PANELS, slot_colors, slot_shapes
from pipeline.drawing.svg import path_d

THUMB_W, THUMB_H = 160, 110
INSET_STATES = {"AK", "HI", "PR", "VI", "GU", "AS", "MP", "FM", "MH", "PW"}


def slots_svg(
    zips: pd.DataFrame,
    slot_ids: np.ndarray,
    names: dict[str, str],
    *,
    title: str = "",
    legend_rows: int = 16,
) -> str:
    """An SVG map of every slot, coloured by slot, with a legend of the largest slots.

    Parameters
    ----------
    zips : gazetteer rows (zip, state, lat, lon)
    slot_ids : ndarray of shape (n_zips,), the slot of each ZIP
    names : slot_id -> display name, in display order (largest first)
    """
    order = list(names)
    color = dict(zip(order, slot_colors(len(order)), strict=True))
    body = []
    taken: set[str] = set()
    for panel in PANELS:
        states = set(panel.states) if panel.states else None
        if states is None:
            mask = ~zips["state"].isin(
                {s for p in PANELS if p.states for s in p.states} | OFF_MAP).to_numpy()
        else:
            mask = zips["state"].isin(states).to_numpy()
            taken |= states
        if not mask.any():
            continue
        shapes = slot_shapes(zips[mask], slot_ids[mask], panel.crs, panel.clip_km)
        minx, miny, maxx, maxy = shapes.total_bounds
        x0, y0, w, h = panel.box
        scale = min(w / (maxx - minx), h / (maxy - miny))

        def transform(pts, minx=minx, maxy=maxy, x0=x0, y0=y0, scale=scale):
            return np.column_stack([x0 + (pts[:, 0] - minx) * scale,
                                    y0 + (maxy - pts[:, 1]) * scale])

        for row in shapes.itertuples():
            fill = color.get(row.slot_id, "#999999")
            body.append(f'<path d="{path_d(row.geometry, transform)}" fill="{fill}" '
                        f'fill-rule="evenodd" stroke="#fff" stroke-width="0.3">'
                        f"<title>{escape(names.get(row.slot_id, row.slot_id))}</title></path>")
    legend = []
    for i, slot in enumerate(order[:legend_rows]):
        y = 30 + i * 18
        legend.append(f'<rect x="975" y="{y - 11}" width="12" height="12" '
                      f'fill="{color[slot]}"/><text x="993" y="{y}">'
                      f"{escape(slot)} {escape(names[slot])[:46]}</text>")
    if len(order) > legend_rows:
        legend.append(f'<text x="975" y="{30 + legend_rows * 18}">'
                      f"… and {len(order) - legend_rows} more slots</text>")
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1400 610" '
        'font-family="sans-serif" font-size="11">'
        f'<rect width="1400" height="610" fill="#f4f6f8"/>'
        f'<text x="10" y="18" font-size="14" font-weight="bold">{escape(title)}</text>'
        + "".join(body) + "".join(legend) + "</svg>"
    )


def thumbnails(members: pd.DataFrame, gazetteer: pd.DataFrame) -> dict[str, str]:
    """A small SVG per slot: the run's area in grey, the slot in colour (lower 48 only).

    Parameters
    ----------
    members : rows (zip, slot_id)
    gazetteer : rows (zip, state, lat, lon)
    """
    zips = gazetteer.merge(members, on="zip")
    zips = zips[~zips["state"].isin(INSET_STATES)]
    if zips.empty:
        return {}
    shapes = slot_shapes(zips, zips["slot_id"].to_numpy(), "EPSG:5070", 30.0)
    minx, miny, maxx, maxy = shapes.total_bounds
    scale = min((THUMB_W - 4) / max(maxx - minx, 1), (THUMB_H - 4) / max(maxy - miny, 1))

    def transform(pts: np.ndarray) -> np.ndarray:
        return np.column_stack([2 + (pts[:, 0] - minx) * scale, 2 + (maxy - pts[:, 1]) * scale])

    paths = {row.slot_id: path_d(row.geometry, transform) for row in shapes.itertuples()}
    out = {}
    for slot in paths:
        body = "".join(f'<path d="{d}" fill="{"#0f766e" if s == slot else "#d4d4d8"}" '
                       f'fill-rule="evenodd" stroke="#fff" stroke-width="0.4"/>'
                       for s, d in paths.items())
        out[slot] = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {THUMB_W} {THUMB_H}" '
                     f'width="{THUMB_W}" height="{THUMB_H}"><title>{escape(slot)}</title>'
                     f"{body}</svg>")
    return out
