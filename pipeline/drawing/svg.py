"""SVG building blocks shared by the maps and charts: paths, polylines, bands."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

Transform = Callable[[np.ndarray], np.ndarray]  # (n, 2) projected -> (n, 2) canvas


def polygons(geometry: BaseGeometry) -> Iterator[BaseGeometry]:
    """Every non-empty polygon in ``geometry`` (multi-parts and collections flattened)."""
    for part in shapely.get_parts(geometry):
        if part.is_empty:
            continue
        if part.geom_type == "Polygon":
            yield part
        elif part.geom_type in ("MultiPolygon", "GeometryCollection"):
            yield from polygons(part)


def path_d(geometry: BaseGeometry, transform: Transform) -> str:
    """The ``d`` attribute of an SVG path drawing every ring of ``geometry``.

    Each polygon's exterior, then its holes, one ``M … Z`` per ring. Every point is
    transformed and formatted in one pass over the whole geometry (the sheet draws ~3,000
    of these per run), then cut into rings.
    """
    parts = np.asarray(list(polygons(geometry)), dtype=object)
    rings = shapely.get_rings(parts)  # each polygon's exterior first, then its holes
    xy, ring_of = shapely.get_coordinates(rings, return_index=True)
    if not len(xy):
        return ""
    points = ("%.1f,%.1f\n" * len(xy) % tuple(np.ravel(transform(xy)).tolist())).split("\n")
    ends = np.flatnonzero(np.diff(ring_of)) + 1
    return "".join("M" + "L".join(points[a:b]) + "Z"
                   for a, b in zip([0, *ends.tolist()], [*ends.tolist(), len(xy)], strict=True))


def line_d(pts: np.ndarray) -> str:
    """``M x,y L x,y …`` through canvas points (n, 2), one decimal.

    One %-format over the whole line: a few times faster than a string per point, which
    matters at national scale (600k points per sheet).
    """
    return "M" + ("L".join(["%.1f,%.1f"] * len(pts)) % tuple(np.ravel(pts).tolist()))


def scale_y(values: np.ndarray, lo: float, hi: float, top: float, bottom: float
            ) -> np.ndarray:
    """Canvas y of ``values`` on an axis from ``lo`` (at ``bottom``) to ``hi`` (at ``top``)."""
    span = hi - lo if hi > lo else 1.0
    return bottom - (np.asarray(values, dtype=float) - lo) / span * (bottom - top)


def points(xs: np.ndarray, ys: np.ndarray) -> str:
    """An SVG ``points`` list, skipping missing values."""
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True) if np.isfinite(y))


def band_ring(xs: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> str:
    """The ``points`` of a shaded band between two canvas lines."""
    return points(np.r_[xs, xs[::-1]], np.r_[upper, lower[::-1]])
