"""The sheet's small map per slot: the run's land in grey, the slot in colour, on a grid.

A thumbnail is 160 × 110 px, so slot outlines are drawn as a raster of 2 px cells (1 px in
the insets) instead of polygons: each cell takes the slot of its nearest ZIP when one lies
within reach (a Voronoi diagram sampled at the cell centres, cut to land as
:func:`~pipeline.drawing.shapes.slot_shapes` cuts it), and every cell holding a member is the
member's, so no slot vanishes. Runs of cells along a row become one ``M x y h w v h h -w z``
path command with integer coordinates, which keeps a thumbnail to a few KB and a national run
(80 slots, 41,078 ZIPs) well under a second.

Places off the lower 48 get insets in the empty sea around it (Alaska and Hawaii bottom left,
the Pacific territories and Puerto Rico with the USVI bottom right), shown whenever the run
has ZIPs there; a slot too small to see there or anywhere else gets a ring around it.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

import numpy as np
import pandas as pd
from pyproj import Transformer
from scipy.spatial import cKDTree

from pipeline.drawing.shapes import PANELS, panel_index

THUMB_W, THUMB_H = 160, 110
SLOT_FILL, LAND_FILL, FRAME_STROKE = "#0f766e", "#d4d4d8", "#a1a1aa"
PAD = 2  # px kept free around a panel's ZIPs
RING_BELOW = 10  # a slot with fewer cells than this in a panel (about 3 x 3 px) gets a ring
# where the insets sit when the lower 48 fill the canvas: open sea on a 160 x 110 US map
INSET_BOXES: dict[int, tuple[int, int, int, int]] = {
    1: (1, 74, 40, 35),  # Alaska
    2: (43, 93, 24, 16),  # Hawaii
    4: (104, 95, 26, 14),  # Pacific
    3: (132, 95, 27, 14),  # Puerto Rico, USVI
}
STRIP_BOX = (38, 22)  # inset size in a strip below a map of part of the country
NATIONAL_M = 3_000_000.0  # lower 48 ZIPs this wide (the country: 4,600 km) leave sea for insets


@dataclass(frozen=True)
class _Grid:
    """One panel's cells on the canvas: box origin, cell size in px, cells per row."""

    x0: int
    y0: int
    cell: int
    n_cols: int


def thumbnails(members: pd.DataFrame, gazetteer: pd.DataFrame) -> dict[str, str]:
    """A small SVG per slot of the run (every slot with a located member).

    Parameters
    ----------
    members : rows (zip, slot_id), the run's assignments
    gazetteer : rows (zip, state, lat, lon)

    Returns
    -------
    slot_id -> standalone SVG document (``THUMB_W`` × ``THUMB_H``)
    """
    zips = gazetteer[["zip", "state", "lat", "lon"]].merge(members[["zip", "slot_id"]],
                                                            on="zip")
    zips = zips[zips["lat"].notna() & zips["lon"].notna()]
    if zips.empty:
        return {}
    panel_of = panel_index(zips["state"].astype(str))
    keep = panel_of >= 0
    zips, panel_of = zips[keep], panel_of[keep]
    slots, slot_code = np.unique(zips["slot_id"].astype(str).to_numpy(), return_inverse=True)
    lower48 = panel_of == 0
    x, _ = Transformer.from_crs("EPSG:4326", PANELS[0].crs, always_xy=True).transform(
        zips["lon"].to_numpy()[lower48], zips["lat"].to_numpy()[lower48])
    boxes = _layout(pd.Series(panel_of).value_counts(), float(np.ptp(x)) if len(x) else 0.0)
    main, *insets = boxes
    keys, codes, frames, grids = [], [], [], {}
    for panel, box in boxes.items():
        rows = panel_of == panel
        grid, cell_keys, cell_codes = _panel_cells(
            panel, box, zips["lon"].to_numpy()[rows], zips["lat"].to_numpy()[rows],
            slot_code[rows], [boxes[p] for p in insets] if panel == main else [])
        grids[panel] = grid
        keys.append(cell_keys + panel * 1_000_000)  # < 1e6 cells per panel
        codes.append(cell_codes)
        if panel != main:
            x, y, w, h = box
            frames.append(f'<rect x="{x}.5" y="{y}.5" width="{w - 1}" height="{h - 1}" '
                          f'fill="#fff" stroke="{FRAME_STROKE}" stroke-width="0.6"/>')
    key, code = np.concatenate(keys), np.concatenate(codes)
    land = _runs(np.unique(key), grids)
    pairs = np.unique(code.astype(np.int64) * 10_000_000 + key)
    pair_code, pair_key = pairs // 10_000_000, pairs % 10_000_000
    starts = np.searchsorted(pair_code, np.arange(len(slots) + 1))
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {THUMB_W} {THUMB_H}" '
            f'width="{THUMB_W}" height="{THUMB_H}">')
    background = "".join(frames) + f'<path d="{land}" fill="{LAND_FILL}"/>'
    out = {}
    for i, slot in enumerate(slots):
        mine = pair_key[starts[i]:starts[i + 1]]
        out[str(slot)] = (f"{head}<title>{escape(str(slot))}</title>{background}"
                          f'<path d="{_runs(mine, grids)}" fill="{SLOT_FILL}"/>'
                          f"{_rings(mine, grids)}</svg>")
    return out


def _layout(counts: pd.Series, lower48_m: float) -> dict[int, tuple[int, int, int, int]]:
    """Canvas box per panel with ZIPs, the main panel (lower 48, else the largest) first.

    Over a map of the whole lower 48 (``lower48_m``, its ZIPs' east-west extent, is most of
    the country's) the insets sit in the sea; over a part of it they get a strip below.
    """
    panels = [int(p) for p in counts.index]
    main = 0 if 0 in panels else panels[0]
    others = sorted(p for p in panels if p != main)
    if main == 0 and lower48_m >= NATIONAL_M:
        return {main: (0, 0, THUMB_W, THUMB_H)} | {p: INSET_BOXES[p] for p in others}
    w, h = STRIP_BOX
    boxes = {main: (0, 0, THUMB_W, THUMB_H - (h + 2 if others else 0))}
    for i, panel in enumerate(others):
        boxes[panel] = (1 + i * (w + 2), THUMB_H - h - 1, w, h)
    return boxes


def _panel_cells(panel: int, box: tuple[int, int, int, int], lon: np.ndarray, lat: np.ndarray,
                 code: np.ndarray, under: list[tuple[int, int, int, int]]
                 ) -> tuple[_Grid, np.ndarray, np.ndarray]:
    """The panel's land cells: cell key (row * n_cols + col) and slot code of each.

    Cells under the boxes ``under`` (insets drawn over this panel) are left out.
    """
    spec = PANELS[panel]
    x, y = Transformer.from_crs("EPSG:4326", spec.crs, always_xy=True).transform(lon, lat)
    xy = np.column_stack([x, y])
    bx, by, bw, bh = box
    cell = 2 if bw >= 100 else 1
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = np.maximum(hi - lo, 1.0)
    scale = min((bw - 2 * PAD) / span[0], (bh - 2 * PAD) / span[1])  # px per metre
    # centre the ZIPs in the box: projected coordinate of the box's top-left corner
    left = (lo[0] + hi[0]) / 2 - bw / 2 / scale
    top = (lo[1] + hi[1]) / 2 + bh / 2 / scale
    n_cols, n_rows = bw // cell, bh // cell
    cols, rows = np.meshgrid(np.arange(n_cols), np.arange(n_rows))
    centres = np.column_stack([left + (cols.ravel() + 0.5) * cell / scale,
                               top - (rows.ravel() + 0.5) * cell / scale])
    reach = max(spec.clip_km * 1000, 1.5 * cell / scale)  # no holes between sparse ZIPs
    distance, nearest = cKDTree(xy).query(centres, distance_upper_bound=reach)
    covered = np.isfinite(distance)
    own_col = np.clip(((xy[:, 0] - left) * scale / cell).astype(int), 0, n_cols - 1)
    own_row = np.clip(((top - xy[:, 1]) * scale / cell).astype(int), 0, n_rows - 1)
    keys = np.concatenate([(rows.ravel() * n_cols + cols.ravel())[covered],
                           own_row * n_cols + own_col])
    codes = np.concatenate([code[nearest[covered]], code])
    hidden = np.zeros(len(keys), dtype=bool)
    x, y = bx + (keys % n_cols) * cell, by + (keys // n_cols) * cell
    for ux, uy, uw, uh in under:
        hidden |= (x + cell > ux) & (x < ux + uw) & (y + cell > uy) & (y < uy + uh)
    return _Grid(bx, by, cell, n_cols), keys[~hidden], codes[~hidden]


def _runs(keys: np.ndarray, grids: dict[int, _Grid]) -> str:
    """Path data filling the cells ``keys`` (sorted, unique), one command per run in a row."""
    if not len(keys):
        return ""
    panel, cell_key = keys // 1_000_000, keys % 1_000_000
    n_cols = np.array([grids[p].n_cols for p in panel])
    row, col = cell_key // n_cols, cell_key % n_cols
    breaks = np.ones(len(keys), dtype=bool)
    breaks[1:] = (np.diff(keys) != 1) | (row[1:] != row[:-1])
    starts = np.flatnonzero(breaks)
    lengths = np.diff(np.append(starts, len(keys)))
    parts = []
    for s, n in zip(starts, lengths, strict=True):
        g = grids[int(panel[s])]
        w = int(n) * g.cell
        parts.append(f"M{g.x0 + int(col[s]) * g.cell} {g.y0 + int(row[s]) * g.cell}"
                     f"h{w}v{g.cell}h-{w}z")
    return "".join(parts)


def _rings(keys: np.ndarray, grids: dict[int, _Grid]) -> str:
    """A ring around the slot in each panel where it has too few cells to be seen."""
    panel = keys // 1_000_000
    out = []
    for p in np.unique(panel):
        mine = keys[panel == p] % 1_000_000
        if len(mine) >= RING_BELOW:
            continue
        g = grids[int(p)]
        x = g.x0 + ((mine % g.n_cols).mean() + 0.5) * g.cell
        y = g.y0 + ((mine // g.n_cols).mean() + 0.5) * g.cell
        out.append(f'<circle cx="{x:.0f}" cy="{y:.0f}" r="4.5" fill="none" '
                   f'stroke="{SLOT_FILL}" stroke-width="1.2"/>')
    return "".join(out)
