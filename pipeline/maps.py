"""Maps of slots as SVG, drawn from the gazetteer alone (no tile server, no shapefiles).

Each ZIP owns its Voronoi cell, clipped to a disc around its point so cells end at coasts and
borders roughly where ZIPs end; cells are dissolved by slot with shapely. The lower 48 use the
CONUS Albers projection (EPSG:5070), Alaska EPSG:3338; Hawaii and the Caribbean are drawn as
insets.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry


@dataclass(frozen=True)
class Panel:
    """One map panel: which states, which projection, where it sits on the canvas."""

    states: tuple[str, ...] | None  # None: every state not in another panel
    crs: str
    clip_km: float
    box: tuple[float, float, float, float]  # x, y, width, height on the canvas


PANELS = (
    Panel(None, "EPSG:5070", 30.0, (0, 28, 960, 572)),
    Panel(("AK",), "EPSG:3338", 60.0, (10, 430, 220, 160)),
    Panel(("HI",), "EPSG:32604", 25.0, (240, 490, 160, 100)),
    Panel(("PR", "VI"), "EPSG:32620", 10.0, (800, 520, 150, 70)),
)
OFF_MAP = {"GU", "AS", "MP", "FM", "MH", "PW"}


def slot_colors(n: int) -> list[str]:
    """n distinct colours: golden-ratio hues, alternating lightness."""
    colors = []
    for i in range(n):
        r, g, b = colorsys.hls_to_rgb((i * 0.618034) % 1.0, 0.45 + 0.15 * (i % 3) / 2, 0.65)
        colors.append(f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}")
    return colors


def slot_shapes(
    zips: pd.DataFrame, slot_ids: Sequence[str] | np.ndarray, crs: str, clip_km: float
) -> gpd.GeoDataFrame:
    """Dissolved slot areas (projected to ``crs``), one row per slot present in ``zips``."""
    points = gpd.GeoSeries(gpd.points_from_xy(zips["lon"], zips["lat"]), crs="EPSG:4326")
    projected = points.to_crs(crs)
    xy = np.column_stack([projected.x, projected.y])
    frame = pd.DataFrame({"x": xy[:, 0].round(0), "y": xy[:, 1].round(0),
                          "slot": np.asarray(slot_ids)})
    # ZIPs sharing a point share a cell; the cell goes to the most common slot there
    counts = frame.groupby(["x", "y", "slot"]).size().rename("n").reset_index()
    counts = counts.sort_values(["x", "y", "n", "slot"], ascending=[True, True, False, True])
    cells = counts.drop_duplicates(["x", "y"]).set_index(["x", "y"])["slot"]
    centres = np.array(cells.index.tolist(), dtype=float)
    if len(centres) >= 3:
        voronoi = shapely.voronoi_polygons(shapely.multipoints(centres), ordered=True)
        polygons = np.asarray(shapely.get_parts(voronoi))
    else:
        polygons = np.array([shapely.Point(c).buffer(clip_km * 1000) for c in centres])
    # land is approximated by discs around the ZIP points, unioned and simplified once; each
    # slot's Voronoi cells (a proper coverage, so their union is cheap) are cut to it
    tolerance = clip_km * 100
    discs = shapely.buffer(shapely.points(centres), clip_km * 1000, quad_segs=3)
    land = shapely.union_all(discs).simplify(tolerance)
    out = []
    for slot, index in pd.Series(np.arange(len(centres))).groupby(cells.to_numpy()).groups.items():
        cells_of_slot = polygons[np.asarray(index)]
        area = (shapely.coverage_union_all(cells_of_slot) if len(centres) >= 3
                else shapely.union_all(cells_of_slot))
        area = shapely.intersection(area.simplify(tolerance), land)
        out.append({"slot_id": slot, "geometry": area})
    return gpd.GeoDataFrame(out, geometry="geometry", crs=crs)


def _path(geometry: BaseGeometry, transform) -> str:
    parts = []
    for polygon in shapely.get_parts(geometry):
        if polygon.is_empty or polygon.geom_type != "Polygon":
            continue
        for ring in [polygon.exterior, *polygon.interiors]:
            pts = transform(np.asarray(ring.coords))
            parts.append("M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in pts) + "Z")
    return "".join(parts)


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
            body.append(f'<path d="{_path(row.geometry, transform)}" fill="{fill}" '
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
