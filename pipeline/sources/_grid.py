"""Point lookups on the sphere: nearest points and grid sampling at ZIP locations.

Everything works on 3-D unit vectors from latitude/longitude, so longitudes 0–360 or −180–180,
regular lat/lon grids and projected grids (2-D latitude/longitude) are handled alike. A grid's
k-d tree is built once per grid (cached by a fingerprint of its coordinates).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scipy.spatial import cKDTree

EARTH_RADIUS_KM = 6371.0088


def unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Unit vectors of shape ``(n, 3)`` for latitudes/longitudes in degrees."""
    la = np.radians(np.asarray(lat, dtype=np.float64).ravel())
    lo = np.radians(np.asarray(lon, dtype=np.float64).ravel())
    return np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])


def chord_to_km(chord: np.ndarray) -> np.ndarray:
    """Great-circle km from chord lengths on the unit sphere."""
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.clip(np.asarray(chord) / 2.0, 0.0, 1.0))


def km_to_chord(km: float) -> float:
    """Chord length on the unit sphere for a great-circle distance in km."""
    return float(2.0 * np.sin(min(km / EARTH_RADIUS_KM, np.pi) / 2.0))


def nearest_points(
    point_lat: np.ndarray, point_lon: np.ndarray, lat: np.ndarray, lon: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest point (of shape ``(n_points,)``) for each query, and its km."""
    from scipy.spatial import cKDTree

    tree = cKDTree(unit_vectors(point_lat, point_lon))
    chord, index = tree.query(unit_vectors(lat, lon))
    return index, chord_to_km(chord)


@dataclass(frozen=True)
class Grid:
    """A model grid: unit vectors of its nodes, a k-d tree over them, its shape."""

    shape: tuple[int, int]
    xyz: np.ndarray  # (ny, nx, 3)
    tree: cKDTree


@dataclass(frozen=True)
class SamplePlan:
    """How to read ZIP values off one grid.

    ``inside`` (n_zips,) marks ZIPs on the grid; for those, ``index`` (n_inside, 4) are flat
    node indices and ``weight`` (n_inside, 4) their weights; ``nearest`` (n_inside,) the node
    used when a bilinear neighbour is missing (masked, e.g. NDFD over sea). ``distance_km``
    (n_zips,) is the distance to the nearest node.
    """

    inside: np.ndarray
    index: np.ndarray
    weight: np.ndarray
    nearest: np.ndarray
    distance_km: np.ndarray
    cell_km: np.ndarray

    def sample(self, values: np.ndarray) -> np.ndarray:
        """Values at the inside ZIPs: ``(n_steps, ny, nx)`` → ``(n_inside, n_steps)``."""
        flat = np.asarray(values, dtype=np.float64).reshape(values.shape[0], -1)
        corners = flat[:, self.index]  # (n_steps, n_inside, 4)
        blended = np.einsum("snk,nk->sn", corners, self.weight)
        fallback = flat[:, self.nearest]
        return np.where(np.isnan(blended), fallback, blended).T


_GRIDS: dict[str, Grid] = {}
_PLANS: dict[tuple[str, str, str, float], SamplePlan] = {}


def fingerprint(*arrays: np.ndarray) -> str:
    """A short digest of arrays' shapes and bytes (coordinates → grid identity)."""
    digest = hashlib.blake2b(digest_size=16)
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def grid_for(lat2d: np.ndarray, lon2d: np.ndarray) -> tuple[str, Grid]:
    """The (cached) :class:`Grid` for 2-D coordinates of shape ``(ny, nx)``."""
    from scipy.spatial import cKDTree

    key = fingerprint(lat2d, lon2d)
    if key not in _GRIDS:
        if len(_GRIDS) >= 4:
            _GRIDS.pop(next(iter(_GRIDS)))
        xyz = unit_vectors(lat2d, lon2d)
        _GRIDS[key] = Grid(lat2d.shape, xyz.reshape(*lat2d.shape, 3), cKDTree(xyz))
    return key, _GRIDS[key]


def sample_plan(
    lat2d: np.ndarray,
    lon2d: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    *,
    method: str = "bilinear",
    max_cells: float = 1.5,
) -> SamplePlan:
    """Plan sampling of a grid (2-D coords ``(ny, nx)``) at points (``(n_zips,)``), cached.

    A point is outside when its nearest node is farther than ``max_cells`` local cell sizes;
    outside points are left out, never extrapolated. Bilinear weights come from the point's
    fractional grid index, found by linearising the grid around the nearest node (in 3-D, so
    good to about 1/100 of a cell on lat/lon and smooth projected grids alike).
    """
    grid_key, grid = grid_for(lat2d, lon2d)
    key = (grid_key, fingerprint(np.asarray(lat, float), np.asarray(lon, float)), method,
           max_cells)
    if key not in _PLANS:
        if len(_PLANS) >= 8:
            _PLANS.pop(next(iter(_PLANS)))
        _PLANS[key] = _plan(grid, unit_vectors(lat, lon), method, max_cells)
    return _PLANS[key]


def _plan(grid: Grid, points: np.ndarray, method: str, max_cells: float) -> SamplePlan:
    ny, nx = grid.shape
    chord, flat = grid.tree.query(points)
    j0, i0 = np.divmod(flat, nx)
    # local cell axes (forward difference, backward at the last row/column)
    jn = np.where(j0 + 1 < ny, j0 + 1, j0 - 1)
    inn = np.where(i0 + 1 < nx, i0 + 1, i0 - 1)
    base = grid.xyz[j0, i0]
    axis_j = (grid.xyz[jn, i0] - base) * np.where(jn > j0, 1, -1)[:, None]
    axis_i = (grid.xyz[j0, inn] - base) * np.where(inn > i0, 1, -1)[:, None]
    cell = np.maximum(np.linalg.norm(axis_j, axis=1), np.linalg.norm(axis_i, axis=1))
    inside = chord <= max_cells * cell
    if method == "nearest" or ny < 2 or nx < 2:
        index = np.repeat(flat[inside, None], 4, axis=1)
        weight = np.tile([1.0, 0.0, 0.0, 0.0], (int(inside.sum()), 1))
    else:
        a = np.stack([axis_j, axis_i], axis=2)[inside]  # (n, 3, 2)
        d = (points - base)[inside]
        ata = np.einsum("nki,nkj->nij", a, a)
        atd = np.einsum("nki,nk->ni", a, d)
        frac = np.linalg.solve(ata, atd[..., None])[..., 0]
        fj = np.clip(j0[inside] + frac[:, 0], 0, ny - 1)
        fi = np.clip(i0[inside] + frac[:, 1], 0, nx - 1)
        jl = np.minimum(np.floor(fj).astype(int), ny - 2)
        il = np.minimum(np.floor(fi).astype(int), nx - 2)
        wj, wi = fj - jl, fi - il
        index = np.column_stack([jl * nx + il, jl * nx + il + 1, (jl + 1) * nx + il,
                                 (jl + 1) * nx + il + 1])
        weight = np.column_stack([(1 - wj) * (1 - wi), (1 - wj) * wi, wj * (1 - wi), wj * wi])
    return SamplePlan(inside, index, weight, flat[inside], chord_to_km(chord),
                      chord_to_km(cell))
