"""The SVG path builders: every ring of every polygon, in order, whatever the geometry; many
geometries (or lines) at once exactly as one at a time."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import GeometryCollection, LineString, MultiPolygon, Point, Polygon

from pipeline.drawing.svg import lines_d, path_d, paths_d

SQUARE = Polygon([(0, 0), (4, 0), (4, 4), (0, 4)],
                 [[(1, 1), (2, 1), (2, 2)], [(3, 3), (3.5, 3), (3.5, 3.5)]])


def _ring_by_ring(geometry, transform) -> str:  # type: ignore[no-untyped-def]
    """The definition: one ``M x,y L … Z`` per ring, exterior before holes."""
    out = []
    for polygon in shapely.get_parts(geometry):
        if polygon.is_empty or polygon.geom_type not in ("Polygon", "MultiPolygon",
                                                          "GeometryCollection"):
            continue  # points and lines have no area to fill
        if polygon.geom_type != "Polygon":
            out.append(_ring_by_ring(polygon, transform))
            continue
        for ring in [polygon.exterior, *polygon.interiors]:
            pts = transform(np.asarray(ring.coords))
            out.append("M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in pts) + "Z")
    return "".join(out)


def _line(pts: np.ndarray) -> str:
    """The definition for one line: ``M x,y L x,y …`` through its canvas points."""
    return "M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in pts)


def _flip(p: np.ndarray) -> np.ndarray:
    return np.column_stack([(p[:, 0] - 3.3) * 1.7, (10 - p[:, 1]) * 1.7])


@pytest.mark.parametrize("geometry", [
    SQUARE,
    MultiPolygon([SQUARE, Polygon([(10, 10), (11, 10), (11, 12)])]),
    GeometryCollection([SQUARE, Point(1, 1)]),
    GeometryCollection([Polygon(), MultiPolygon([SQUARE])]),
    Point(0, 0).buffer(5, 64),
    shapely.clip_by_rect(SQUARE, 0.5, 0.5, 3, 3),
], ids=["holes", "multi", "collection", "nested", "circle", "clipped"])
def test_every_ring_in_order(geometry):
    assert path_d(geometry, _flip) == _ring_by_ring(geometry, _flip)


@pytest.mark.parametrize("geometry", [Polygon(), MultiPolygon(), Point(1, 1),
                                      shapely.clip_by_rect(SQUARE, 5, 5, 6, 6)])
def test_nothing_to_draw_is_an_empty_path(geometry):
    assert path_d(geometry, _flip) == ""


MIXED = [SQUARE, None, Polygon(), MultiPolygon([SQUARE, Polygon([(10, 10), (11, 10), (11, 12)])]),
         Point(1, 1), GeometryCollection([Point(2, 2), MultiPolygon([SQUARE]), SQUARE]),
         shapely.clip_by_rect(SQUARE, 5, 5, 6, 6), LineString([(0, 0), (1, 1)]),
         Point(0, 0).buffer(5, 16), GeometryCollection([Polygon(), MultiPolygon([SQUARE])])]


def test_many_geometries_at_once_are_each_its_own_path():
    geometries = np.asarray(MIXED, dtype=object)
    assert paths_d(geometries, _flip) == [
        "" if g is None else _ring_by_ring(g, _flip) for g in MIXED]
    assert paths_d(geometries[[1, 2, 4]], _flip) == ["", "", ""]
    assert paths_d(np.asarray([], dtype=object), _flip) == []


def test_many_lines_at_once_are_the_lines_one_by_one():
    lines = np.asarray([LineString([(0, 0), (1, 1.25)]), LineString(),
                        LineString([(2, 2), (3, 3), (4, 5.55)]),
                        LineString([(0.04, 0.05), (9.96, 9.95)])], dtype=object)
    one_by_one = "".join(_line(_flip(np.asarray(line.coords).reshape(-1, 2)))
                         for line in lines)
    assert lines_d(lines, _flip) == one_by_one
    assert lines_d(lines[[1]], _flip) == "M"
    assert lines_d(np.asarray([], dtype=object), _flip) == ""
