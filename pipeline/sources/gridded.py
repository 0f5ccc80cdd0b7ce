"""Gridded source: model output (GRIB1, GRIB2, NetCDF) sampled at ZIP locations.

``gridded_forecast(zips, issue_time, path=..., settings=..., hours=72)``; ``path`` is a file, a
directory or a glob, holding one file per step or many steps per file. What a forecaster expects:

* **Variables** are found by GRIB short name or CF/THREDDS name (see
  :mod:`pipeline.sources._fields`): 2 m temperature (or a daily max/min when that is all there
  is, e.g. NDFD ``maxt``), 2 m relative humidity, 10 m u/v (→ speed) or 10 m speed, total
  precipitation (or precipitation rate × step length), gust and total cloud cover.
* **Units** come from each field's ``units``: K/°C → °F, m/s and knots → mph, kg m⁻² (= mm) and
  m → inches, cloud fraction → %.
* **Precipitation** in the contract is the amount in the step ending at ``valid_time``. Model
  totals accumulate over buckets (since the run start, or 0–3/0–6 h buckets); each step's amount
  is its bucket minus the same bucket up to the previous step, clipped at 0 (packing noise).
* **Sampling** is ``bilinear`` (default) or ``nearest`` (``gridded_method``). A ZIP farther than
  ``gridded_max_cells`` grid cells from every grid point (Hawaii on a CONUS grid) is left out,
  never extrapolated, and listed in ``attrs["failures"]``; so is a ZIP whose grid point is masked.
* **Missing variables**: no temperature is an error. No precipitation or wind is an error too,
  unless ``gridded_fill_missing`` is set: then they are 0 with a logged warning — a calm dry
  forecast is a claim, so it is never made silently.
* **Times**: ``issue_time`` is the model run (reference) time from the files, not the run's clock
  (the validation step judges staleness); steps after it up to ``hours`` are kept. A file
  without a reference time takes the run's ``issue_time``.
* **Errors**: files that are absent, undecodable or lack what the contract needs raise
  :class:`pipeline.sources.InputError` naming the file; a run does not retry them.
"""

from __future__ import annotations

import glob
import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.config.sources import SourceSettings, source_settings
from pipeline.sources._fields import Piece, read_file
from pipeline.sources._frame import finish
from pipeline.sources._grid import sample_plan
from pipeline.sources.errors import InputError

log = logging.getLogger(__name__)

SOURCE = "gridded"
MPH_PER_MS = 2.2369362920544
MPH_PER_KNOT = 1.150779448
MM_PER_INCH = 25.4


def gridded_forecast(
    zips: pd.DataFrame,
    issue_time: pd.Timestamp,
    *,
    path: str | Path | Sequence[Path] | None = None,
    settings: SourceSettings | None = None,
    hours: int = 72,
) -> pd.DataFrame:
    """Contract rows for ``zips`` from the model files at ``path``.

    Parameters
    ----------
    zips : DataFrame
        Gazetteer rows with ``zip``, ``lat``, ``lon``.
    issue_time : Timestamp
        The run's issue time; used only when the files carry no reference time.
    path : str, Path or list of Path
        A GRIB/NetCDF file, a directory of them, a glob such as ``"gfs.*.grib2"``, or a list
        of files.
    settings : SourceSettings, optional
        ``gridded_method``, ``gridded_max_cells``, ``gridded_fill_missing``.
    hours : int
        Keep steps up to this many hours after the reference time.

    Returns
    -------
    DataFrame
        Contract rows; ``attrs["failures"]`` maps left-out ZIPs to the reason.
    """
    cfg = source_settings(settings)
    files = find_files(path)
    pieces = [piece for file in files for piece in read_file(file)]
    by_role: dict[str, list[Piece]] = defaultdict(list)
    for piece in pieces:
        by_role[piece.role].append(piece)
    if "temperature" not in by_role:
        found = sorted({p.name for p in pieces}) or ["nothing recognisable"]
        raise InputError(
            f"{SOURCE}: no 2 m temperature in {_where(path, files)}; found {', '.join(found)}"
        )
    reference = _reference(by_role["temperature"], issue_time)
    lat, lon = zips["lat"].to_numpy(float), zips["lon"].to_numpy(float)
    sampled = {role: _sample(ps, lat, lon, cfg) for role, ps in by_role.items()}
    steps = np.array(sorted(sampled["temperature"][0]), dtype="datetime64[ns]")
    steps = steps[(steps > reference) & (steps <= reference + np.timedelta64(hours, "h"))]
    if steps.size == 0:
        raise InputError(
            f"{SOURCE}: no temperature steps within {hours} h after the model run "
            f"{pd.Timestamp(reference)} in {_where(path, files)}"
        )
    columns = {"temperature_f": _to_f(_stack(sampled["temperature"], steps))}
    columns["precip_in"] = _precip(sampled, steps, cfg, path, files)
    columns["wind_mph"] = _wind(sampled, steps, cfg, path, files)
    if "gust" in sampled:
        columns["gust_mph"] = _to_mph(_stack(sampled["gust"], steps))
    if "relative_humidity" in sampled:
        columns["relative_humidity"] = np.clip(_stack(sampled["relative_humidity"], steps)[0],
                                               0, 100)
    if "precip_probability" in sampled:
        columns["precip_probability"] = np.clip(_chance(sampled["precip_probability"], steps),
                                                0, 100)
    if "cloud_cover" in sampled:
        columns["cloud_cover"] = _to_percent(_stack(sampled["cloud_cover"], steps))
    return _frame(zips, steps, reference, columns, sampled)


def find_files(path: str | Path | Sequence[Path] | None) -> list[Path]:
    """Files named by ``path``: a file, every file in a directory, a glob's matches, or a list
    of files (the model feed's steps of one cycle)."""
    if path is None:
        raise InputError(f"{SOURCE}: no files given; pass path=<file, directory or glob>")
    if isinstance(path, Sequence) and not isinstance(path, str):
        missing = [str(p) for p in path if not Path(p).is_file()]
        if missing or not path:
            raise InputError(f"{SOURCE}: no files at {', '.join(missing) or 'an empty list'}")
        return [Path(p) for p in path]
    target = Path(path)
    if target.is_file():
        return [target]
    if target.is_dir():
        files = sorted(p for p in target.iterdir() if p.is_file()
                       and not p.name.startswith(".") and p.suffix not in (".idx", ".md"))
    else:
        files = sorted(Path(p) for p in glob.glob(str(path)) if Path(p).is_file())
    if not files:
        raise InputError(f"{SOURCE}: no files at {path}")
    return files


def _where(path, files: list[Path]) -> str:
    if len(files) == 1:
        return str(files[0])
    where = files[0].parent if isinstance(path, Sequence) and not isinstance(path, str) else path
    return f"{where} ({len(files)} files)"


def _reference(pieces: list[Piece], issue_time: pd.Timestamp) -> np.datetime64:
    refs = sorted({p.reference for p in pieces if p.reference is not None})
    if len(refs) > 1:
        raise InputError(
            f"{SOURCE}: files mix model runs {', '.join(str(pd.Timestamp(r)) for r in refs)}; "
            "point path at one run"
        )
    if refs:
        return refs[0]
    return np.datetime64(pd.Timestamp(issue_time).tz_convert("UTC").tz_localize(None), "ns")


Sampled = tuple[dict, dict, dict]  # valid → (n_zips,), units by valid, (start, end) → (n_zips,)


def _sample(pieces: list[Piece], lat: np.ndarray, lon: np.ndarray,
            cfg: SourceSettings) -> Sampled:
    """Each piece's values at the ZIPs, NaN outside its grid, keyed by valid time."""
    by_valid: dict = {}
    units: dict = {}
    buckets: dict = {}
    for piece in pieces:
        plan = sample_plan(piece.lat, piece.lon, lat, lon, method=cfg.gridded_method,
                           max_cells=cfg.gridded_max_cells)
        inside = plan.sample(piece.values)  # (n_inside, n_steps)
        full = np.full((lat.size, inside.shape[1]), np.nan)
        full[plan.inside] = inside
        for k, valid in enumerate(piece.valid):
            if piece.start is not None:
                buckets[(piece.start[k], valid)] = full[:, k]
            if valid in by_valid and piece.start is None:
                log.warning("%s: %s at %s appears twice; keeping the first (%s)", SOURCE,
                            piece.name, pd.Timestamp(valid), piece.file)
                continue
            by_valid.setdefault(valid, full[:, k])
            units.setdefault(valid, piece.units)
    return by_valid, units, buckets


def _stack(sampled: Sampled, steps: np.ndarray) -> tuple[np.ndarray, str]:
    by_valid, units, _ = sampled
    nan = np.full(next(iter(by_valid.values())).shape, np.nan)
    matrix = np.column_stack([by_valid.get(s, nan) for s in steps])
    unit = next((units[s] for s in steps if s in units), "unknown")
    return matrix, unit


def _precip(sampled, steps, cfg, path, files) -> np.ndarray:
    if "precip" in sampled:
        amount, unit = _per_step(sampled["precip"][2], steps)
        if not sampled["precip"][2]:  # no accumulation info: already per-step amounts
            amount, unit = _stack(sampled["precip"], steps)
        return np.clip(_to_inches(amount, unit), 0, None)
    if "prate" in sampled:
        rate, unit = _stack(sampled["prate"], steps)
        seconds = _step_seconds(steps)
        mm = rate * seconds[None, :]  # kg m-2 s-1 == mm/s
        return np.clip(_to_inches(mm, "kg m**-2") if "s" in unit else mm, 0, None)
    return _fill("precip_in", "precipitation (tp/apcp/prate)", steps, sampled, cfg, path, files)


def _wind(sampled, steps, cfg, path, files) -> np.ndarray:
    if "u10" in sampled and "v10" in sampled:
        u, unit = _stack(sampled["u10"], steps)
        v, _ = _stack(sampled["v10"], steps)
        return _to_mph((np.hypot(u, v), unit))
    if "wind" in sampled:
        return _to_mph(_stack(sampled["wind"], steps))
    return _fill("wind_mph", "10 m wind (u10/v10 or speed)", steps, sampled, cfg, path, files)


def _fill(column, what, steps, sampled, cfg, path, files) -> np.ndarray:
    if not cfg.gridded_fill_missing:
        raise InputError(
            f"{SOURCE}: no {what} in {_where(path, files)}; {column} is required. Add files "
            "with it, or set ZIPCAST_SOURCES__GRIDDED_FILL_MISSING=true to use 0"
        )
    log.warning("%s: no %s in %s; %s set to 0 (gridded_fill_missing)", SOURCE, what,
                _where(path, files), column)
    return np.zeros((next(iter(sampled["temperature"][0].values())).size, steps.size))


def _per_step(buckets: dict, steps: np.ndarray) -> tuple[np.ndarray, str]:
    """Per-step amounts ``(n_zips, n_steps)`` from accumulations keyed ``(start, end)``."""
    if not buckets:
        return np.empty((0, steps.size)), "unknown"
    size = next(iter(buckets.values())).size
    ends = sorted({end for _, end in buckets})
    amounts = {}
    previous = None
    for end in ends:
        start = max(s for s, e in buckets if e == end)  # the shortest bucket ending here
        value = buckets[(start, end)]
        if previous is not None and start < previous and (start, previous) in buckets:
            value = value - buckets[(start, previous)]
        amounts[end] = value
        previous = end
    nan = np.full(size, np.nan)
    return np.column_stack([amounts.get(s, nan) for s in steps]), "kg m**-2"


def _chance(sampled: Sampled, steps: np.ndarray) -> np.ndarray:
    """Chance of precipitation (%) ``(n_zips, n_steps)``: over the shortest interval ending
    at each step (NBM: 1 h, and 6/12 h at some steps), or as given without intervals."""
    by_valid, _, buckets = sampled
    if not buckets:
        return _stack(sampled, steps)[0]
    size = next(iter(buckets.values())).size
    shortest = {}
    for start, end in sorted(buckets):  # a later start is a shorter interval
        shortest[end] = buckets[(start, end)]
    nan = np.full(size, np.nan)
    return np.column_stack([shortest.get(s, nan) for s in steps])


def _step_seconds(steps: np.ndarray) -> np.ndarray:
    gaps = np.diff(steps).astype("timedelta64[s]").astype(float)
    first = gaps[0] if gaps.size else 3600.0
    return np.concatenate([[first], gaps])


def _to_f(stacked: tuple[np.ndarray, str]) -> np.ndarray:
    values, unit = stacked
    unit = unit.strip().lower()
    if unit in ("k", "kelvin"):
        return (values - 273.15) * 9 / 5 + 32
    if unit in ("c", "degc", "°c", "celsius", "deg c"):
        return values * 9 / 5 + 32
    if unit in ("f", "degf", "°f", "fahrenheit"):
        return values
    raise InputError(f"{SOURCE}: temperature in unknown units {unit!r}; expected K, °C or °F")


def _to_mph(stacked: tuple[np.ndarray, str]) -> np.ndarray:
    values, unit = stacked
    unit = unit.strip().lower().replace(" ", "")
    if unit in ("ms**-1", "m/s", "ms-1", "ms^-1", "meterspersecond"):
        return values * MPH_PER_MS
    if unit in ("knots", "kt", "kts", "knot"):
        return values * MPH_PER_KNOT
    if unit in ("mph", "mi/h"):
        return values
    raise InputError(f"{SOURCE}: wind in unknown units {unit!r}; expected m/s, knots or mph")


def _to_inches(values: np.ndarray, unit: str) -> np.ndarray:
    unit = unit.strip().lower().replace(" ", "")
    if unit in ("kgm**-2", "kgm-2", "kg/m2", "kg/m^2", "mm", "kgm^-2"):
        return values / MM_PER_INCH
    if unit == "m":
        return values * 1000 / MM_PER_INCH
    if unit in ("in", "inch", "inches"):
        return values
    raise InputError(f"{SOURCE}: precipitation in unknown units {unit!r}; expected kg m-2 or mm")


def _to_percent(stacked: tuple[np.ndarray, str]) -> np.ndarray:
    values, unit = stacked
    if unit.strip() in ("(0 - 1)", "1", "0-1", "fraction"):
        values = values * 100
    return np.clip(values, 0, 100)


def _frame(zips, steps, reference, columns, sampled) -> pd.DataFrame:
    temperature = columns["temperature_f"]
    has_rows = ~np.isnan(temperature).all(axis=1)
    codes = zips["zip"].astype(str).to_numpy()
    failures: dict[str, str] = {}
    for role_sampled in [sampled["temperature"]]:
        by_valid = role_sampled[0]
        ever = np.column_stack(list(by_valid.values()))
        outside = np.isnan(ever).all(axis=1)
        for z in codes[outside & ~has_rows]:
            failures[z] = "outside the model grid, or no data at its grid point"
    keep = has_rows
    n_steps = steps.size
    data = {
        "zip": np.repeat(codes[keep], n_steps),
        "valid_time": pd.DatetimeIndex(np.tile(steps, int(keep.sum()))).tz_localize("UTC"),
        "issue_time": pd.Timestamp(reference).tz_localize("UTC"),
    }
    for name, matrix in columns.items():
        data[name] = np.round(matrix[keep].ravel(), 3)
    frame = pd.DataFrame(data)
    required = ["temperature_f", "precip_in", "wind_mph"]
    incomplete = frame[required].isna().any(axis=1)
    if incomplete.any():
        for z, n in frame.loc[incomplete, "zip"].value_counts().items():
            failures.setdefault(z, f"{n} step(s) without temperature, precipitation or wind")
        frame = frame[~incomplete]
    return finish(frame, failures, source=SOURCE)
