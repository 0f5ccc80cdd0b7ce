"""Read model fields out of GRIB1 / GRIB2 / NetCDF files into plain arrays with times and units.

A :class:`Piece` is one variable of one file: values ``(n_steps, ny, nx)``, the steps' valid
times (end of each step), accumulation starts for accumulated fields, the model's reference time
and the 2-D grid coordinates. GRIB is decoded with cfgrib (one ``filter_by_keys`` per chosen
variable, so files with many cfgrib groups — pressure levels, layers — are never merged); an
eccodes header scan first lists what each file holds, like ``wgrib2 -s``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipeline.sources.errors import InputError, SourceError

if TYPE_CHECKING:
    import xarray as xr

log = logging.getLogger(__name__)


@cache
def _proj_before_eccodes() -> None:
    """Open PROJ's database before eccodes loads (eccodeslib wheel vs pyproj wheel clash).

    Loading eccodes first leaves pyproj unable to open proj.db ("no database context
    specified", then a crash in geopandas); once PROJ has a context, both coexist. Called
    before every use of eccodes or cfgrib here (not at import: a run of another source never
    loads pyproj's database, xarray or eccodes for nothing).
    """
    try:
        import pyproj

        pyproj.CRS("EPSG:4326")
    except Exception:  # noqa: BLE001 - pyproj is optional for reading GRIB
        pass


def _xarray() -> ModuleType:
    """xarray, imported on first use (about a second), with PROJ opened before eccodes."""
    _proj_before_eccodes()
    import xarray

    return xarray

SOURCE = "gridded"

# Candidates per role, best first: (shortName, typeOfLevel or None, level or None). NCEP, ECMWF
# and NDFD short names; ("param", (discipline, category, number)) for NCEP local parameters
# eccodes calls "unknown" (NDFD min/max RH are 0-1-198 / 0-1-199).
GRIB_ROLES: dict[str, list[tuple]] = {
    "temperature": [("2t", "heightAboveGround", 2), ("t", "heightAboveGround", 2),
                    ("tmp", "heightAboveGround", 2), ("tmax", None, None),
                    ("mx2t", None, None), ("tmin", None, None), ("mn2t", None, None)],
    "relative_humidity": [("2r", "heightAboveGround", 2), ("r", "heightAboveGround", 2),
                          ("param", (0, 1, 198)), ("param", (0, 1, 199))],
    "u10": [("10u", "heightAboveGround", 10), ("u", "heightAboveGround", 10)],
    "v10": [("10v", "heightAboveGround", 10), ("v", "heightAboveGround", 10)],
    "wind": [("10si", None, None), ("si10", None, None), ("ws", None, None),
             ("wind", None, None)],
    "precip": [("tp", None, None), ("apcp", None, None)],
    "prate": [("prate", None, None)],
    "gust": [("gust", None, None), ("i10fg", None, None), ("10fg", None, None)],
    "cloud_cover": [("tcc", None, None)],
    # NBM's chance of precipitation: the same "tp" as the amount, in a probability product
    "precip_probability": [("prob", "tp")],
}

# GRIB2 product definition templates of probability forecasts (4.5 at a time, 4.9 over an
# interval): never an amount, whatever their short name
PROBABILITY_TEMPLATES = (5, 9)

# NetCDF (e.g. THREDDS/CF output): variable-name prefixes (lowercase), best first, and the
# height (m) to pick when a variable has several heights.
NC_ROLES: dict[str, tuple[list[str], float | None]] = {
    "temperature": (["t2m", "tmp2m", "temperature_height_above_ground", "air_temperature",
                     "maximum_temperature", "tmax", "minimum_temperature", "tmin"], 2.0),
    "relative_humidity": (["r2", "rh2m", "relative_humidity_height_above_ground"], 2.0),
    "u10": (["u10", "u-component_of_wind_height_above_ground"], 10.0),
    "v10": (["v10", "v-component_of_wind_height_above_ground"], 10.0),
    "wind": (["si10", "wind_speed_height_above_ground"], 10.0),
    "precip": (["tp", "apcp", "total_precipitation"], None),
    "prate": (["prate", "precipitation_rate"], None),
    "gust": (["gust", "i10fg", "wind_speed_gust"], None),
    "cloud_cover": (["tcc", "total_cloud_cover"], None),
}

_STEP_UNIT_HOURS = {0: 1 / 60, 1: 1.0, 2: 24.0, 10: 3.0, 11: 6.0, 12: 12.0, 13: 1 / 3600}


@dataclass
class Piece:
    """One variable of one file.

    ``values`` has shape ``(n_steps, ny, nx)``; ``valid`` ``(n_steps,)`` datetime64[ns] (UTC,
    end of step); ``start`` ``(n_steps,)`` accumulation starts or None; ``lat``/``lon``
    ``(ny, nx)``.
    """

    role: str
    name: str
    units: str
    values: np.ndarray
    valid: np.ndarray
    start: np.ndarray | None
    reference: np.datetime64 | None
    lat: np.ndarray
    lon: np.ndarray
    file: Path


def sniff(path: Path) -> str:
    """``"grib"`` or ``"netcdf"`` from a file's first bytes; InputError otherwise."""
    with open(path, "rb") as handle:
        head = handle.read(4096)
    if b"GRIB" in head[:4096] and head.find(b"GRIB") < 1024:
        return "grib"
    if head[:3] == b"CDF" or head[:8] == b"\x89HDF\r\n\x1a\n":
        return "netcdf"
    raise InputError(f"{SOURCE}: {path} is neither GRIB nor NetCDF (starts {head[:8]!r})")


def read_file(path: Path) -> list[Piece]:
    """Every recognised variable in ``path`` (GRIB or NetCDF) as pieces."""
    try:
        return _read_grib(path) if sniff(path) == "grib" else _read_netcdf(path)
    except SourceError:
        raise
    except Exception as err:  # noqa: BLE001 - decoder failures name the file
        raise InputError(f"{SOURCE}: cannot decode {path}: {type(err).__name__}: {err}") from err


# ---------------------------------------------------------------- GRIB


def grib_inventory(path: Path) -> list[dict]:
    """Header keys of every message in a GRIB file (no data decoded)."""
    _proj_before_eccodes()
    import eccodes

    keys = ("shortName", "typeOfLevel", "level", "stepType", "startStep", "endStep",
            "stepUnits")
    rows = []
    # NCEP packs u and v in one GRIB2 message (several fields per message): list each field
    eccodes.codes_grib_multi_support_on()
    with open(path, "rb") as handle:
        while (gid := eccodes.codes_grib_new_from_file(handle, headers_only=True)) is not None:
            try:
                row = {k: eccodes.codes_get(gid, k) for k in keys}
                try:
                    row["param"] = tuple(eccodes.codes_get(gid, k) for k in
                                         ("discipline", "parameterCategory", "parameterNumber"))
                except eccodes.KeyValueNotFoundError:
                    row["param"] = None
                try:
                    row["template"] = eccodes.codes_get(gid, "productDefinitionTemplateNumber")
                except eccodes.KeyValueNotFoundError:  # GRIB1
                    row["template"] = None
            finally:
                eccodes.codes_release(gid)
            rows.append(row)
    if not rows:
        raise InputError(f"{SOURCE}: {path} holds no GRIB messages")
    return rows


def _matches(row: dict, candidate: tuple) -> bool:
    probability = row.get("template") in PROBABILITY_TEMPLATES
    if candidate[0] == "prob":
        return probability and row["shortName"] == candidate[1]
    if probability:
        return False
    if candidate[0] == "param":
        return row["param"] == candidate[1]
    short, level_type, level = candidate
    return (row["shortName"] == short and (level_type is None or row["typeOfLevel"] == level_type)
            and (level is None or row["level"] == level))


def _read_grib(path: Path) -> list[Piece]:
    inventory = grib_inventory(path)
    pieces = []
    for role, candidates in GRIB_ROLES.items():
        for candidate in candidates:
            rows = [r for r in inventory if _matches(r, candidate)]
            if rows:
                pieces += _grib_pieces(path, role, rows)
                break
    return pieces


def _grib_pieces(path: Path, role: str, rows: list[dict]) -> list[Piece]:
    first = rows[0]
    keys: dict = {"typeOfLevel": first["typeOfLevel"], "level": first["level"],
                  "stepType": first["stepType"]}
    if first["shortName"] == "unknown" and first["param"]:
        keys["parameterNumber"] = first["param"][2]
        keys["parameterCategory"] = first["param"][1]
    else:
        keys["shortName"] = first["shortName"]
    if first.get("template") is not None:  # an amount and its probability share a short name
        keys["productDefinitionTemplateNumber"] = first["template"]
    # accumulations: one open per bucket start, so 0-3 h and 0-6 h buckets never collide
    groups = sorted({r["startStep"] for r in rows}) if first["stepType"] == "accum" else [None]
    pieces = []
    for start in groups:
        filters = dict(keys) if start is None else {**keys, "startStep": start}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = _xarray().open_dataset(path, engine="cfgrib", decode_timedelta=True,
                                 backend_kwargs={"indexpath": "", "filter_by_keys": filters})
        with ds:
            name = next(iter(ds.data_vars))
            da = ds[name].load()
            unit_hours = _STEP_UNIT_HOURS.get(int(first["stepUnits"]), 1.0)
            reference = np.datetime64(ds["time"].values.ravel()[0], "ns")
            valid = np.atleast_1d(ds["valid_time"].values).astype("datetime64[ns]")
            starts = None
            if start is not None:
                offset = np.timedelta64(int(round(start * unit_hours * 3600)), "s")
                starts = np.full(valid.shape, reference + offset, dtype="datetime64[ns]")
            units = da.attrs.get("units", "unknown")
            if units == "unknown" and first["param"] in ((0, 1, 198), (0, 1, 199)):
                units = "%"  # NDFD min/max relative humidity (NCEP local table 4.2-0-1)
            values, lat, lon = _arrays(da, ds, time_dims=("step",))
            pieces.append(Piece(role, str(name), units, values, valid, starts, reference,
                                lat, lon, path))
    return pieces


# ---------------------------------------------------------------- NetCDF


def _read_netcdf(path: Path) -> list[Piece]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = _xarray().open_dataset(path)
    pieces = []
    with ds:
        names = {str(n).lower(): str(n) for n in ds.data_vars}
        for role, (prefixes, height) in NC_ROLES.items():
            found = [names[n] for p in prefixes for n in sorted(names) if n.startswith(p)]
            if found:
                pieces.append(_nc_piece(ds, ds[found[0]], role, height, path))
    return pieces


def _nc_piece(ds: xr.Dataset, da: xr.DataArray, role: str, height: float | None,
              path: Path) -> Piece:
    time_dims = [d for d in da.dims if str(d).startswith(("time", "valid_time", "step"))]
    for dim in da.dims:
        if dim in time_dims or dim in _spatial_dims(da, ds):
            continue
        if da.sizes[dim] == 1:
            da = da.isel({dim: 0})
        elif height is not None and dim in da.coords:
            da = da.sel({dim: height}, method="nearest")
        else:
            da = da.isel({dim: 0})
    if time_dims:
        valid = ds[time_dims[0]].values.astype("datetime64[ns]").ravel()
    elif "time" in da.coords:
        valid = np.atleast_1d(da["time"].values).astype("datetime64[ns]")
    else:
        raise InputError(f"{SOURCE}: {path}: {da.name} has no time coordinate")
    reference = None
    for ref_name in ("reftime", "reference_time", "forecast_reference_time"):
        if ref_name in ds:
            reference = np.datetime64(np.atleast_1d(ds[ref_name].values)[0], "ns")
    if reference is None and time_dims:
        # THREDDS encodes the model run in the time units: "Hour since 2010-10-26T12:00:00Z"
        units = str(ds[time_dims[0]].encoding.get("units", ""))
        if " since " in units:
            stamp = pd.Timestamp(units.split(" since ", 1)[1])
            stamp = stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp
            reference = np.datetime64(stamp, "ns")
    starts = None
    accumulated = any("accumul" in str(da.attrs.get(k, "")).lower() or "sum" in
                      str(da.attrs.get(k, "")).lower() for k in ("long_name", "cell_methods"))
    bounds = ds[time_dims[0]].attrs.get("bounds") if time_dims else None
    if bounds and bounds in ds:
        starts = ds[bounds].values[:, 0].astype("datetime64[ns]")
    elif accumulated and reference is not None:
        starts = np.full(valid.shape, reference, dtype="datetime64[ns]")
    values, lat, lon = _arrays(da, ds, time_dims=tuple(time_dims))
    return Piece(role, str(da.name), str(da.attrs.get("units", "unknown")), values, valid,
                 starts, reference, lat, lon, path)


# ---------------------------------------------------------------- shared


def _coord(ds: xr.Dataset | xr.DataArray, names: tuple[str, ...]) -> xr.DataArray:
    for name in names:
        if name in ds.coords:
            return ds.coords[name]
    raise InputError(f"{SOURCE}: no {names[0]} coordinate (looked for {', '.join(names)})")


def _spatial_dims(da: xr.DataArray, ds: xr.Dataset) -> tuple:
    lat = _coord(da if "latitude" in da.coords or "lat" in da.coords else ds,
                 ("latitude", "lat"))
    lon = _coord(da if "longitude" in da.coords or "lon" in da.coords else ds,
                 ("longitude", "lon"))
    return lat.dims + lon.dims if lat.ndim == 1 else lat.dims


def _arrays(da: xr.DataArray, ds: xr.Dataset, *, time_dims: tuple) -> tuple:
    """Values ``(n_steps, ny, nx)`` and 2-D lat/lon ``(ny, nx)`` of ``da``."""
    lat = _coord(ds, ("latitude", "lat"))
    lon = _coord(ds, ("longitude", "lon"))
    spatial = lat.dims + lon.dims if lat.ndim == 1 else lat.dims
    time_dim = [d for d in time_dims if d in da.dims]
    da = da.transpose(*time_dim, *spatial)
    values = np.asarray(da.values, dtype=np.float64)
    if not time_dim:
        values = values[None]
    if lat.ndim == 1:
        lon2d, lat2d = np.meshgrid(lon.values.astype(float), lat.values.astype(float))
    else:
        lat2d = lat.transpose(*spatial).values.astype(float)
        lon2d = lon.transpose(*spatial).values.astype(float)
    return values, lat2d, lon2d
