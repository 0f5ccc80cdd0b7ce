"""Slot areas from the gazetteer alone (no tile server, no shapefiles), and the map panels.

Each ZIP owns its Voronoi cell, clipped to a disc around its point so cells end at coasts and
borders roughly where ZIPs end; cells are dissolved by slot with shapely. The lower 48 use the
CONUS Albers projection (EPSG:5070), Alaska EPSG:3338; Hawaii, the Caribbean (Puerto Rico and
the US Virgin Islands) and the Pacific territories (Guam, the Northern Marianas, American Samoa
and the freely associated states) are drawn as insets (:data:`PANELS`).
"""

from __future__ import annotations

import colorsys
import hashlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pipeline.files import write_atomically


@dataclass(frozen=True)
class Panel:
    """One map panel: which states, which projection, where it sits on the canvas."""

    states: tuple[str, ...] | None  # None: every state not in another panel
    crs: str
    clip_km: float
    box: tuple[float, float, float, float]  # x, y, width, height on the national map
    name: str = ""


# the Pacific panel spans Palau (134° E) to American Samoa (171° W): an azimuthal projection
# centred in the middle keeps the antimeridian out of the way
PACIFIC_CRS = "+proj=aeqd +lat_0=5 +lon_0=165 +datum=WGS84 +units=m +no_defs"
PANELS = (
    Panel(None, "EPSG:5070", 30.0, (0, 28, 960, 572), "lower 48"),
    Panel(("AK",), "EPSG:3338", 60.0, (10, 430, 220, 160), "Alaska"),
    Panel(("HI",), "EPSG:32604", 25.0, (240, 490, 160, 100), "Hawaii"),
    Panel(("PR", "VI"), "EPSG:32620", 10.0, (800, 520, 150, 70), "Puerto Rico, USVI"),
    Panel(("GU", "MP", "AS", "FM", "MH", "PW"), PACIFIC_CRS, 10.0, (620, 540, 160, 60),
          "Pacific"),
)
OFF_MAP: frozenset[str] = frozenset()  # every gazetteer state has a panel now


def slot_colors(n: int) -> list[str]:
    """n distinct colours: golden-ratio hues, alternating lightness."""
    colors = []
    for i in range(n):
        r, g, b = colorsys.hls_to_rgb((i * 0.618034) % 1.0, 0.45 + 0.15 * (i % 3) / 2, 0.65)
        colors.append(f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}")
    return colors


@dataclass(frozen=True)
class Cells:
    """The gazetteer's part of the slot areas in one projection, independent of the slots:
    the distinct ZIP points (sorted by x, then y), their Voronoi cells and the land."""

    centres: np.ndarray  # (n, 2) projected metres, rounded
    polygons: np.ndarray  # (n,) the Voronoi cell of each centre
    land: shapely.Geometry  # discs around the points, unioned and simplified


_CELLS: dict[str, Cells] = {}  # by points, projection and clip: the map and the sheet share it
_CELLS_LOCK = threading.Lock()


def cells(centres: np.ndarray, crs: str, clip_km: float) -> Cells:
    """The :class:`Cells` of ``centres``: built once per process for the same points, and
    kept on disk under the cache folder (2 s to build nationally, 0.1 s to read)."""
    key = hashlib.sha1(np.ascontiguousarray(centres).tobytes()
                       + f"{crs}|{clip_km}|{CELLS_VERSION}".encode()).hexdigest()
    def read_or_build() -> Cells:
        got = _read_cells(key, centres)
        if got is None:
            got = _build_cells(centres, clip_km)
            _write_cells(key, got)
        return got

    with _CELLS_LOCK:  # a run's warm-up thread and its map step may ask at once: build once
        return _remember(_CELLS, key, read_or_build)


def _remember(cache: dict[str, Any], key: str, make: Callable[[], Any]) -> Any:
    """``cache[key]``, made on first use; the oldest of 16 entries makes room."""
    if key not in cache:
        if len(cache) >= 16:
            cache.pop(next(iter(cache)))
        cache[key] = make()
    return cache[key]


CELLS_VERSION = 1  # bump when _build_cells changes what it builds


def _build_cells(centres: np.ndarray, clip_km: float) -> Cells:
    if len(centres) >= 3:
        voronoi = shapely.voronoi_polygons(shapely.multipoints(centres), ordered=True)
        polygons = np.asarray(shapely.get_parts(voronoi))
    else:
        polygons = np.array([shapely.Point(c).buffer(clip_km * 1000) for c in centres])
    # land is approximated by discs around the ZIP points, unioned and simplified once
    discs = shapely.buffer(shapely.points(centres), clip_km * 1000, quad_segs=3)
    land = shapely.union_all(discs).simplify(clip_km * 100)
    return Cells(centres, polygons, land)


def _cells_file(key: str) -> Path:
    from pipeline.settings import get_settings

    return get_settings().cache_dir / "cells" / f"{key}.parquet"


def _read_cells(key: str, centres: np.ndarray) -> Cells | None:
    """The cached cells, or None if absent or bad. One WKB column (WKB keeps every
    coordinate exactly): a cell per centre, then the land."""
    try:
        wkb = pd.read_parquet(_cells_file(key))["wkb"].to_numpy(object)
        shapes = shapely.from_wkb(wkb)
    except (OSError, ValueError, KeyError, shapely.errors.GEOSException):
        return None
    if len(shapes) != len(centres) + 1:
        return None
    return Cells(centres, shapes[:-1], shapes[-1])


def _write_cells(key: str, got: Cells) -> None:
    """Keep ``got`` on disk, whole or not at all; a read-only cache folder costs only time."""
    path = _cells_file(key)
    shapes = np.concatenate([got.polygons, np.array([got.land], dtype=object)])
    wkb = pd.DataFrame({"wkb": shapely.to_wkb(shapes)})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, lambda temp: wkb.to_parquet(temp, index=False))
    except OSError:
        pass


@lru_cache(maxsize=16)
def _from_lonlat(crs: str) -> Any:
    import pyproj

    return pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)


def project(lon: Any, lat: Any, crs: str) -> np.ndarray:
    """(n, 2) projected x, y of WGS 84 longitudes and latitudes: the coordinates
    ``GeoSeries(points_from_xy(lon, lat), crs="EPSG:4326").to_crs(crs)`` has, bit for bit
    (the same pyproj transformation), without a shapely point per ZIP. NaN stays NaN."""
    x, y = _from_lonlat(crs).transform(np.asarray(lon, dtype=float),
                                       np.asarray(lat, dtype=float))
    return np.column_stack([x, y])


def slot_shapes(
    zips: pd.DataFrame, slot_ids: Sequence[str] | np.ndarray, crs: str, clip_km: float
) -> gpd.GeoDataFrame:
    """Dissolved slot areas (projected to ``crs``), one row per slot present in ``zips``."""
    frame = _points(zips, crs).assign(slot=np.asarray(slot_ids))
    # ZIPs sharing a point share a cell; the cell goes to the most common slot there
    counts = frame.groupby(["x", "y", "slot"]).size().rename("n").reset_index()
    counts = counts.sort_values(["x", "y", "n", "slot"], ascending=[True, True, False, True])
    owner = counts.drop_duplicates(["x", "y"])
    got = cells(owner[["x", "y"]].to_numpy(float), crs, clip_km)
    slot_of_cell = owner["slot"].to_numpy()
    key = hashlib.sha1("|".join([crs, str(clip_km), *map(repr, slot_of_cell)]).encode()
                       + got.centres.tobytes()).hexdigest()
    return _remember(_AREAS, key, lambda: _dissolve(got, slot_of_cell, crs, clip_km)).copy()


_AREAS: dict[str, gpd.GeoDataFrame] = {}  # the same slots twice (map, then sheet): once


def _points(zips: pd.DataFrame, crs: str) -> pd.DataFrame:
    """Each ZIP's projected point, rounded to the metre (ZIPs sharing one share a cell)."""
    xy = project(zips["lon"], zips["lat"], crs)
    return pd.DataFrame({"x": xy[:, 0].round(0), "y": xy[:, 1].round(0)})


def warm_cells(zips: pd.DataFrame, crs: str, clip_km: float) -> None:
    """Read (or build) the :class:`Cells` that :func:`slot_shapes` will ask for with these
    ZIPs: they depend on the ZIPs' points alone, not on the slots, so a run loads them while
    it plans. Points as ``slot_shapes`` has them: distinct, sorted by x then y."""
    points = _points(zips, crs).dropna().drop_duplicates().sort_values(["x", "y"])
    cells(points.to_numpy(float), crs, clip_km)


def _dissolve(got: Cells, slot_of_cell: np.ndarray, crs: str, clip_km: float
              ) -> gpd.GeoDataFrame:
    """Each slot's cells dissolved and cut to the land."""
    # each slot's Voronoi cells (a proper coverage, so their union is cheap) are cut to land
    tolerance = clip_km * 100
    out = []
    for slot, index in pd.Series(np.arange(len(slot_of_cell))).groupby(
            slot_of_cell).groups.items():
        cells_of_slot = got.polygons[np.asarray(index)]
        area = (shapely.coverage_union_all(cells_of_slot) if len(got.centres) >= 3
                else shapely.union_all(cells_of_slot))
        area = shapely.intersection(area.simplify(tolerance), got.land)
        out.append({"slot_id": slot, "geometry": area})
    return gpd.GeoDataFrame(out, geometry="geometry", crs=crs)


def panel_index(states: pd.Series) -> np.ndarray:
    """Index into :data:`PANELS` per ZIP; -1 for places drawn on no panel."""
    out = np.zeros(len(states), dtype=int)  # PANELS[0] takes every state no other panel has
    for i, panel in enumerate(PANELS):
        if panel.states:
            out[states.isin(panel.states).to_numpy()] = i
    out[states.isin(OFF_MAP).to_numpy()] = -1
    return out
