"""What a reader finds their way by on a map: state lines and the names of large places.

Both come from the ZIP gazetteer alone, as the slot areas do (no shapefile is installed and the
pipeline has no network):

- **State lines** are where the Voronoi cells of one state's ZIPs meet another state's, cut to
  land (discs around the ZIPs). They run within about half a ZIP spacing of the legal line: a
  few km in the East, 20–40 km in the empty West. They are built once by
  :func:`build_state_lines` and shipped as ``state_lines.wkt`` (lon/lat, 3 decimals), because
  building them takes seconds; ``python -m pipeline.drawing.landmarks`` rewrites the file.
- **Places** are the gazetteer's city names ranked by how many ZIPs they hold, the only size
  the gazetteer knows (it has no population). It favours big cities, and also the odd
  post-office city (El Paso, Sacramento) that holds more ZIPs than its size suggests.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from pipeline.drawing.shapes import PANELS, project
from pipeline.geo import load_zips

STATE_LINES = Path(__file__).with_name("state_lines.wkt")
LINES_CRS = "EPSG:5070"  # only the lower 48 share land borders between states
SIMPLIFY_M = 3_000.0  # smooths the Voronoi zig-zag; below a pixel on an area map of a metro


def build_state_lines(zips: pd.DataFrame, clip_km: float = 30.0) -> BaseGeometry:
    """Lines between the states of ``zips`` (lower 48), in lon/lat.

    Parameters
    ----------
    zips : gazetteer rows (zip, state, lat, lon)
    clip_km : radius of land kept around each ZIP, as in
        :func:`~pipeline.drawing.shapes.slot_shapes`

    Returns
    -------
    A (Multi)LineString in EPSG:4326.
    """
    lower48 = zips[zips["state"].isin(_lower48_states(zips["state"]))]
    points = gpd.GeoSeries(gpd.points_from_xy(lower48["lon"], lower48["lat"]),
                           crs="EPSG:4326").to_crs(LINES_CRS)
    frame = pd.DataFrame({"x": points.x.round(0), "y": points.y.round(0),
                          "state": lower48["state"].to_numpy()})
    cells = frame.drop_duplicates(["x", "y"])  # a shared point goes to its first state
    centres = cells[["x", "y"]].to_numpy()
    voronoi = shapely.voronoi_polygons(shapely.multipoints(centres), ordered=True)
    polygons = np.asarray(shapely.get_parts(voronoi))
    states = [shapely.coverage_union_all(polygons[np.asarray(index)])
              for index in pd.Series(np.arange(len(cells))).groupby(
                  cells["state"].to_numpy()).groups.values()]
    # each shared edge appears in two states' boundaries; the union keeps it once
    lines = shapely.union_all([shapely.boundary(s) for s in states])
    land = shapely.union_all(shapely.buffer(shapely.points(centres), clip_km * 1000,
                                            quad_segs=3))
    # the outer edge of the Voronoi diagram lies far out at sea or abroad: cutting to land
    # leaves only the lines between states
    inland = shapely.line_merge(shapely.intersection(lines, land)).simplify(SIMPLIFY_M)
    return gpd.GeoSeries([inland], crs=LINES_CRS).to_crs("EPSG:4326").iloc[0]


def _lower48_states(states: pd.Series) -> set[str]:
    inset = {s for panel in PANELS if panel.states for s in panel.states}
    return set(states.unique()) - inset


@lru_cache(maxsize=len(PANELS))
def state_lines(panel: int) -> BaseGeometry:
    """The shipped state lines projected to ``PANELS[panel]``'s CRS (empty off the lower 48)."""
    if PANELS[panel].states is not None:
        return shapely.MultiLineString([])
    lines = shapely.from_wkt(STATE_LINES.read_text(encoding="utf-8"))
    return gpd.GeoSeries([lines], crs="EPSG:4326").to_crs(PANELS[panel].crs).iloc[0]


@lru_cache(maxsize=1)
def _places() -> pd.DataFrame:
    zips = load_zips()
    grouped = zips.groupby(["state", "city"]).agg(
        n_zips=("zip", "size"), lat=("lat", "median"), lon=("lon", "median")).reset_index()
    grouped["name"] = grouped["city"].str.title()
    return grouped.sort_values(["n_zips", "name"], ascending=[False, True], ignore_index=True)


@lru_cache(maxsize=len(PANELS))
def places(panel: int) -> pd.DataFrame:
    """Places of ``PANELS[panel]``, largest first: name, state, n_zips, x, y (projected)."""
    spec = PANELS[panel]
    every = _places()
    if spec.states is None:
        mine = every[every["state"].isin(_lower48_states(every["state"]))]
    else:
        mine = every[every["state"].isin(spec.states)]
    xy = project(mine["lon"], mine["lat"], spec.crs)
    return pd.DataFrame({"name": mine["name"].to_numpy(), "state": mine["state"].to_numpy(),
                         "n_zips": mine["n_zips"].to_numpy(), "x": xy[:, 0], "y": xy[:, 1]})


def write_state_lines(path: Path = STATE_LINES) -> int:
    """Rebuild the shipped state lines from the gazetteer; returns the file's size in bytes."""
    text = shapely.to_wkt(build_state_lines(load_zips()), rounding_precision=3) + "\n"
    path.write_text(text, encoding="utf-8")
    return len(text)


if __name__ == "__main__":
    print(f"{STATE_LINES}: {write_state_lines():,} bytes", file=sys.stderr)
