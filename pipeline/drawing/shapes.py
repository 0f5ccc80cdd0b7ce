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
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely


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


def cells(centres: np.ndarray, crs: str, clip_km: float) -> Cells:
    """The :class:`Cells` of ``centres``: built once per process for the same points, and
    kept on disk under the cache folder (2 s to build nationally, 0.1 s to read)."""
    key = hashlib.sha1(np.ascontiguousarray(centres).tobytes()
                       + f"{crs}|{clip_km}|{CELLS_VERSION}".encode()).hexdigest()
    if key not in _CELLS:
        got = _read_cells(key, centres)
        if got is None:
            got = _build_cells(centres, clip_km)
            _write_cells(key, got)
        if len(_CELLS) >= 16:
            _CELLS.pop(next(iter(_CELLS)))
        _CELLS[key] = got
    return _CELLS[key]


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


def _cells_dir(key: str) -> Path:
    from pipeline.settings import get_settings

    return get_settings().cache_dir / "cells" / key


def _read_cells(key: str, centres: np.ndarray) -> Cells | None:
    """The cached cells (WKB keeps every coordinate exactly), or None if absent or bad."""
    folder = _cells_dir(key)
    try:
        polygons = shapely.from_wkb(_wkb_list(folder / "cells.wkb"))
        land = shapely.from_wkb((folder / "land.wkb").read_bytes())
    except (OSError, ValueError, shapely.errors.GEOSException):
        return None
    if len(polygons) != len(centres):
        return None
    return Cells(centres, np.asarray(polygons), land)


def _wkb_list(path: Path) -> list[bytes]:
    """Length-prefixed WKB records (8-byte little-endian lengths, then the bytes)."""
    data = path.read_bytes()
    out, at = [], 0
    while at < len(data):
        size = int.from_bytes(data[at:at + 8], "little")
        out.append(data[at + 8:at + 8 + size])
        at += 8 + size
    if at != len(data):
        raise ValueError(f"{path}: truncated")
    return out


def _write_cells(key: str, got: Cells) -> None:
    """Keep ``got`` on disk, whole or not at all; a read-only cache folder costs only time."""
    folder = _cells_dir(key)
    partial = folder.with_name(f".{key}.{os.getpid()}")
    try:
        partial.mkdir(parents=True, exist_ok=True)
        records = shapely.to_wkb(got.polygons)
        (partial / "cells.wkb").write_bytes(b"".join(len(r).to_bytes(8, "little") + r
                                                     for r in records))
        (partial / "land.wkb").write_bytes(shapely.to_wkb(got.land))
        shutil.rmtree(folder, ignore_errors=True)  # a damaged copy: replaced
        partial.rename(folder)
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)  # another run wrote it first, or no room


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
    owner = counts.drop_duplicates(["x", "y"])
    got = cells(owner[["x", "y"]].to_numpy(float), crs, clip_km)
    slot_of_cell = owner["slot"].to_numpy()
    key = hashlib.sha1("|".join([crs, str(clip_km), *map(repr, slot_of_cell)]).encode()
                       + got.centres.tobytes()).hexdigest()
    if key not in _AREAS:
        if len(_AREAS) >= 16:
            _AREAS.pop(next(iter(_AREAS)))
        _AREAS[key] = _dissolve(got, slot_of_cell, crs, clip_km)
    return _AREAS[key].copy()


_AREAS: dict[str, gpd.GeoDataFrame] = {}  # the same slots twice (map, then sheet): once


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
