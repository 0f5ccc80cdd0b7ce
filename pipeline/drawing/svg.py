"""SVG building blocks shared by the maps and charts: paths, polylines, bands."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

Transform = Callable[[np.ndarray], np.ndarray]  # (n, 2) projected -> (n, 2) canvas


def path_d(geometry: BaseGeometry, transform: Transform) -> str:
    """The ``d`` attribute of an SVG path drawing every ring of ``geometry``.

    Each polygon's exterior, then its holes, one ``M … Z`` per ring (see :func:`paths_d`).
    """
    return paths_d(np.asarray([geometry], dtype=object), transform)[0]


def paths_d(geometries: np.ndarray, transform: Transform) -> list[str]:
    """:func:`path_d` of each geometry in an array, in one pass over all their points.

    Every polygon of every geometry (multi-parts and collections flattened, in order; empty
    parts, points and lines dropped) is cut into rings, and every point is transformed and
    formatted at once, then cut into rings and geometries: a slot's area map draws a few
    dozen neighbours per panel, and the sheet ~3,000 per run.
    """
    out = [""] * len(geometries)
    parts, owner = np.asarray(geometries, dtype=object), np.arange(len(geometries))
    while True:  # flatten one level at a time: a part keeps its place among its siblings
        types = shapely.get_type_id(parts)
        nested = np.isin(types, (6, 7))  # MultiPolygon, GeometryCollection
        if not nested.any():
            break
        flat, index = shapely.get_parts(parts, return_index=True)
        parts, owner = flat, owner[index]
    keep = (types == 3) & ~shapely.is_empty(parts)  # Polygon
    parts, owner = parts[keep], owner[keep]
    rings, ring_part = shapely.get_rings(parts, return_index=True)  # exterior, then holes
    xy, ring_of = shapely.get_coordinates(rings, return_index=True)
    if not len(xy):
        return out
    points = _formatted(xy, transform)
    starts = np.flatnonzero(np.diff(ring_of, prepend=-1))  # each ring's first point
    ends = np.append(starts[1:], len(xy))
    ring_owner = owner[ring_part[ring_of[starts]]]
    drawn: dict[int, list[str]] = {}
    for geometry, a, b in zip(ring_owner.tolist(), starts.tolist(), ends.tolist(), strict=True):
        drawn.setdefault(geometry, []).append("M" + "L".join(points[a:b]) + "Z")
    for geometry, rings_d in drawn.items():
        out[geometry] = "".join(rings_d)
    return out


def lines_d(geometry: BaseGeometry | np.ndarray, transform: Transform) -> str:
    """``M x,y L x,y …`` through every LineString part of ``geometry`` (a geometry or an array
    of them; other parts are skipped), concatenated, in one formatting pass: a map's state
    lines are a few hundred to thousands of short pieces."""
    parts = shapely.get_parts(geometry)
    lines = parts[shapely.get_type_id(parts) == 1]  # LineString, empty ones too ("M")
    counts = shapely.get_num_coordinates(lines)
    points = _formatted(shapely.get_coordinates(lines), transform)
    ends = np.cumsum(counts)
    return "".join("M" + "L".join(points[b - n:b])
                   for n, b in zip(counts.tolist(), ends.tolist(), strict=True))


def _formatted(xy: np.ndarray, transform: Transform) -> list[str]:
    """``x,y`` of each projected point in canvas units, one decimal, by one %-format over all
    of them (a few times faster than a string per point; a sheet has ~600k)."""
    if not len(xy):
        return []
    return ("%.1f,%.1f\n" * len(xy) % tuple(np.ravel(transform(xy)).tolist())).split("\n")


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
