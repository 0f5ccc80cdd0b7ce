"""Observations: what the weather did at each ZIP, from analyses, station tables or synthetic.

Two tables, each with a pandera contract, both in contract units:

- ``hourly``: one row per ZIP and whole hour (``valid_time``, UTC), with any of
  :data:`OBS_VARIABLES`; ``precip_in`` is the amount in the hour ending at ``valid_time``.
  NaN means "not observed" (never zero).
- ``totals``: precipitation accumulated over longer periods (``start`` to ``end``, UTC), e.g. a
  Stage IV 24 h analysis or a gauge's daily total.

Readers, chosen by what a file is:

- **gridded analyses** (GRIB1/GRIB2/NetCDF, through the gridded source's readers and its
  sampling: URMA/RTMA 2 m temperature and 10 m wind, a model's 0-hour analysis, Stage II/IV or
  MRMS precipitation, hourly or accumulated);
- **station tables**: CSV with ``station, lat, lon, time`` and any of ``temperature_f`` (or
  ``temperature_c``), ``wind_mph`` (``wind_ms``), ``gust_mph`` (``gust_ms``), ``precip_in``
  (``precip_mm``) with ``precip_hours`` (accumulation length, default 1), ``snow_in``
  (snowfall in the hour), ``cloud_cover`` (%);
- **MET ASCII points** (NCAR MET's 11 columns: type, station, YYYYMMDD_HHMMSS, lat, lon,
  elevation, GRIB code or name, level, height, QC, value), GRIB codes 11 TMP (K), 32 WIND
  (m/s), 180 GUST (m/s), 61 APCP (mm; level = accumulation hours), 71 TCDC (%); upper-air
  message types (ADPUPA, AIRCFT, …) are left out.

For each variable, a station stands for a ZIP when it is the ZIP's nearest station reporting
that variable (across every station file given) and within
``settings.verify.station_max_km``; other ZIPs get no station observations ("not
verifiable", never a farther station's weather).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

import pipeline.validate  # noqa: F401 - imports pandera without its dask probe (see there)
from pipeline.config.verify import VerifySettings
from pipeline.sources import InputError
from pipeline.sources._grid import nearest_points, sample_plan
from pipeline.sources.gridded import MM_PER_INCH, MPH_PER_MS, find_files

log = logging.getLogger(__name__)

OBS_VARIABLES = ("temperature_f", "precip_in", "snow_in", "wind_mph", "gust_mph",
                 "cloud_cover")
SYNTHETIC = "synthetic"


class ObservationError(ValueError):
    """An observation file that cannot be read; the message names the file and what to fix."""


class HourlyObservations(pa.DataFrameModel):
    zip: Series[str] = pa.Field(str_matches=r"^\d{5}$")
    valid_time: Series[pd.DatetimeTZDtype] = pa.Field(dtype_kwargs={"unit": "ns", "tz": "UTC"})
    temperature_f: Series[float] | None = pa.Field(ge=-90, le=140, nullable=True)
    precip_in: Series[float] | None = pa.Field(ge=0, le=20, nullable=True)
    snow_in: Series[float] | None = pa.Field(ge=0, le=60, nullable=True)
    wind_mph: Series[float] | None = pa.Field(ge=0, le=250, nullable=True)
    gust_mph: Series[float] | None = pa.Field(ge=0, le=300, nullable=True)
    cloud_cover: Series[float] | None = pa.Field(ge=0, le=100, nullable=True)

    class Config:
        coerce = True
        unique = ["zip", "valid_time"]


class PrecipTotals(pa.DataFrameModel):
    zip: Series[str] = pa.Field(str_matches=r"^\d{5}$")
    start: Series[pd.DatetimeTZDtype] = pa.Field(dtype_kwargs={"unit": "ns", "tz": "UTC"})
    end: Series[pd.DatetimeTZDtype] = pa.Field(dtype_kwargs={"unit": "ns", "tz": "UTC"})
    precip_in: Series[float] = pa.Field(ge=0, le=60)

    class Config:
        coerce = True


@dataclass(frozen=True)
class ObsSource:
    """One observation input and what it gave."""

    path: str
    kind: str  # synthetic, gridded, stations, met
    variables: tuple[str, ...]
    n_zips: int  # ZIPs with at least one observation from it
    note: str = ""


@dataclass
class Observations:
    """Every ZIP's observations; see the module doc for the two tables."""

    hourly: pd.DataFrame
    totals: pd.DataFrame
    sources: list[ObsSource] = field(default_factory=list)

    @classmethod
    def empty(cls) -> Observations:
        return cls(_empty_hourly(), _empty_totals(), [])

    def describe(self) -> str:
        return "; ".join(f"{s.kind} {s.path}: {', '.join(s.variables) or 'nothing'} at "
                         f"{s.n_zips:,} ZIPs" + (f" ({s.note})" if s.note else "")
                         for s in self.sources)


def _empty_hourly() -> pd.DataFrame:
    return pd.DataFrame({"zip": pd.Series(dtype=str),
                         "valid_time": pd.Series(dtype="datetime64[ns, UTC]")})


def _empty_totals() -> pd.DataFrame:
    return pd.DataFrame({"zip": pd.Series(dtype=str),
                         "start": pd.Series(dtype="datetime64[ns, UTC]"),
                         "end": pd.Series(dtype="datetime64[ns, UTC]"),
                         "precip_in": pd.Series(dtype=float)})


def combine(parts: Sequence[Observations]) -> Observations:
    """One set from several inputs; where two give the same variable at the same ZIP and hour,
    the one given first wins."""
    hourly = [p.hourly for p in parts if len(p.hourly)]
    totals = [p.totals for p in parts if len(p.totals)]
    if len(hourly) > 1:
        merged = pd.concat(hourly, ignore_index=True)
        merged = merged.groupby(["zip", "valid_time"], sort=True, as_index=False).first()
    else:
        merged = hourly[0] if hourly else _empty_hourly()
    return Observations(
        hourly=merged,
        totals=pd.concat(totals, ignore_index=True).drop_duplicates(["zip", "start", "end"])
        if totals else _empty_totals(),
        sources=[s for p in parts for s in p.sources],
    )


def checked(obs: Observations) -> Observations:
    """Both tables checked against their contracts (values out of range name the file)."""
    try:
        hourly = HourlyObservations.validate(obs.hourly, lazy=True)
        totals = PrecipTotals.validate(obs.totals, lazy=True)
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases.head(5)
        lines = "; ".join(f"{r.column}: {r.check} ({r.failure_case!r})"
                          for r in cases.itertuples())
        raise ObservationError(f"observations break their contract: {lines}") from None
    return Observations(hourly, totals, obs.sources)


# -- synthetic ------------------------------------------------------------------------------

def synthetic_observations(zips: pd.DataFrame, issue_time: pd.Timestamp, hours: int, *,
                           seed: int, error_seed: int) -> Observations:
    """The synthetic source's observed weather for a run's issue time (hourly, every ZIP)."""
    from pipeline.sources.synthetic import synthetic_observed

    rows = synthetic_observed(zips, issue_time, hours=hours, seed=seed, error_seed=error_seed)
    hourly = rows[["zip", "valid_time", *OBS_VARIABLES]].copy()
    hourly["valid_time"] = hourly["valid_time"].dt.as_unit("ns")
    source = ObsSource(SYNTHETIC, SYNTHETIC, OBS_VARIABLES, int(rows["zip"].nunique()),
                       f"the forecast's weather displaced and perturbed (error seed "
                       f"{error_seed})")
    return Observations(hourly, _empty_totals(), [source])


# -- files ----------------------------------------------------------------------------------

def read_observations(paths: Sequence[str | Path], zips: pd.DataFrame,
                      settings: VerifySettings, download_dir: Path | None = None
                      ) -> Observations:
    """Observations at ``zips`` (``zip``, ``lat``, ``lon``) from every file of ``paths``.

    Parameters
    ----------
    paths : files, folders, globs or http(s) URLs; each file is read by what it is
        (GRIB/NetCDF analysis, CSV station table, MET ASCII points)
    zips : gazetteer rows
    settings : ``settings.verify`` (station distance)
    download_dir : where URLs are downloaded to (default: a temporary folder)
    """
    if download_dir is None:
        import tempfile

        download_dir = Path(tempfile.gettempdir()) / "zipcast-observations"
    parts: list[Observations] = []
    points: list[pd.DataFrame] = []
    for path in paths:
        if str(path).startswith(("http://", "https://")):
            files = [fetch(str(path), download_dir)]
        else:
            try:
                files = find_files(path)
            except InputError:
                raise ObservationError(f"observations: no files at {path} (give a file, a "
                                       "folder, a glob, a URL or `synthetic`)") from None
        for file in files:
            got = read_file(file, zips)
            if isinstance(got, Observations):
                parts.append(got)
            else:
                points.append(got)
    if points:  # every station table together: each ZIP takes the nearest station
        parts.append(_at_zips(pd.concat(points, ignore_index=True), zips, settings))
    if not parts:
        raise ObservationError("no observation files given: pass --obs PATH (or synthetic)")
    return checked(combine(parts))


def fetch(url: str, folder: Path, *, client: httpx.Client | None = None) -> Path:
    """Download an observation file once into ``folder`` (named by the URL; reused by
    reruns), written under a temporary name and renamed, so a cut download is never read."""
    import hashlib
    import re

    from pipeline.files import write_atomically
    from pipeline.sources import SourceError, SourceUnavailable
    from pipeline.sources._http import get

    name = re.sub(r"[^A-Za-z0-9._-]+", "_", url.rsplit("/", 1)[-1])[-80:] or "observations"
    target = folder / f"{hashlib.sha256(url.encode()).hexdigest()[:12]}-{name}"
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    http = client or httpx.Client(timeout=60.0, follow_redirects=True)
    try:
        response = get(http, url, source="observations")
    except (SourceError, SourceUnavailable) as err:
        raise ObservationError(f"{err}; check ZIPCAST_VERIFY__OBS_PATH or --obs") from None
    finally:
        if client is None:
            http.close()
    content = response.content

    def write(temp: Path) -> None:
        temp.write_bytes(content)

    write_atomically(target, write)
    return target


def read_file(file: Path, zips: pd.DataFrame) -> Observations | pd.DataFrame:
    """A gridded file's observations at ``zips``, or a station file's points (matched to ZIPs
    with every other station file's, by :func:`read_observations`)."""
    kind = _kind(file)
    try:
        if kind == "gridded":
            return _gridded(file, zips)
        points = _csv_points(file) if kind == "stations" else _met_points(file)
    except (InputError, ObservationError):
        raise
    except Exception as err:  # noqa: BLE001 -- a bad file is named, not a traceback
        raise ObservationError(f"{file}: cannot read it as {kind} observations ({err})") \
            from None
    return points.assign(file=str(file), kind=kind)


def _kind(file: Path) -> str:
    with open(file, "rb") as handle:
        head = handle.read(4096)
    if b"GRIB" in head[:1024] or head[:4] in (b"CDF\x01", b"CDF\x02", b"\x89HDF"):
        return "gridded"
    text = head.decode("utf-8", errors="replace")
    first = text.strip().splitlines()[0] if text.strip() else ""
    if "," in first and "station" in first.lower():
        return "stations"
    if len(first.split()) == 11:
        return "met"
    raise ObservationError(
        f"{file}: not an observation file zipcast reads (GRIB/NetCDF analysis, a CSV station "
        "table with station,lat,lon,time columns, or MET 11-column ASCII points)")


def _gridded(file: Path, zips: pd.DataFrame) -> Observations:
    from pipeline.sources._fields import read_file as read_fields
    from pipeline.sources.gridded import _to_f, _to_inches, _to_mph, _to_percent

    lat, lon = zips["lat"].to_numpy(float), zips["lon"].to_numpy(float)
    codes = zips["zip"].astype(str).to_numpy()
    columns: dict[str, dict[np.datetime64, np.ndarray]] = {}
    totals: list[pd.DataFrame] = []
    winds: dict[str, dict[np.datetime64, np.ndarray]] = {"u10": {}, "v10": {}}
    wind_units = "m s**-1"
    for piece in read_fields(file):
        plan = sample_plan(piece.lat, piece.lon, lat, lon)
        inside = plan.sample(piece.values)
        full = np.full((lat.size, inside.shape[1]), np.nan)
        full[plan.inside] = inside
        for k, valid in enumerate(piece.valid):
            values = full[:, k]
            if piece.role == "precip":
                inches = np.clip(_to_inches(values, piece.units), 0, None)
                start = piece.start[k] if piece.start is not None else valid - np.timedelta64(
                    1, "h")
                hours = (valid - start) / np.timedelta64(1, "h")
                if hours == 1:
                    columns.setdefault("precip_in", {})[valid] = inches
                else:
                    ok = ~np.isnan(inches)
                    totals.append(pd.DataFrame({
                        "zip": codes[ok], "start": pd.Timestamp(start, tz="UTC"),
                        "end": pd.Timestamp(valid, tz="UTC"), "precip_in": inches[ok]}))
            elif piece.role == "temperature":
                columns.setdefault("temperature_f", {})[valid] = _to_f((values, piece.units))
            elif piece.role in ("u10", "v10"):
                winds[piece.role][valid] = values
                wind_units = piece.units
            elif piece.role == "wind":
                columns.setdefault("wind_mph", {})[valid] = _to_mph((values, piece.units))
            elif piece.role == "gust":
                columns.setdefault("gust_mph", {})[valid] = _to_mph((values, piece.units))
            elif piece.role == "cloud_cover":
                columns.setdefault("cloud_cover", {})[valid] = _to_percent((values, piece.units))
    for valid in sorted(set(winds["u10"]) & set(winds["v10"])):
        speed = np.hypot(winds["u10"][valid], winds["v10"][valid])
        columns.setdefault("wind_mph", {})[valid] = _to_mph((speed, wind_units))
    times = sorted({t for by_time in columns.values() for t in by_time})
    frames = []
    for t in times:
        frame = pd.DataFrame({"zip": codes, "valid_time": pd.Timestamp(t, tz="UTC")})
        for name, by_time in columns.items():
            frame[name] = by_time.get(t, np.full(codes.size, np.nan))
        frames.append(frame.dropna(subset=list(columns), how="all"))
    hourly = pd.concat(frames, ignore_index=True) if frames else _empty_hourly()
    hourly["valid_time"] = pd.DatetimeIndex(hourly["valid_time"]).floor("h")
    total = pd.concat(totals, ignore_index=True) if totals else _empty_totals()
    variables = tuple(sorted(set(columns) | ({"precip_in"} if totals else set())))
    n = len(set(hourly["zip"]) | set(total["zip"]))
    note = "" if not totals else f"{len({(r.start, r.end) for r in total.itertuples()})} " \
        "accumulation period(s) longer than an hour"
    if n == 0:
        raise ObservationError(f"{file}: its grid covers none of the {len(codes):,} ZIPs "
                               "(or has no temperature, wind, gust, cloud or precipitation)")
    return Observations(hourly, total, [ObsSource(str(file), "gridded", variables, n, note)])


# station points: one row per station and time, contract units, precip with its hours
_POINT_COLUMNS = ["station", "lat", "lon", "time", "variable", "value", "hours"]


def _csv_points(file: Path) -> pd.DataFrame:
    table = pd.read_csv(file, dtype={"station": str})
    table.columns = [c.strip().lower() for c in table.columns]
    missing = {"station", "lat", "lon", "time"} - set(table.columns)
    if missing:
        raise ObservationError(f"{file}: a station table needs columns station, lat, lon, time; "
                               f"missing {', '.join(sorted(missing))}")
    conversions = {
        "temperature_f": ("temperature_f", 1.0, 0.0), "temperature_c": ("temperature_f", 1.8, 32),
        "wind_mph": ("wind_mph", 1.0, 0.0), "wind_ms": ("wind_mph", MPH_PER_MS, 0.0),
        "gust_mph": ("gust_mph", 1.0, 0.0), "gust_ms": ("gust_mph", MPH_PER_MS, 0.0),
        "precip_in": ("precip_in", 1.0, 0.0), "precip_mm": ("precip_in", 1 / MM_PER_INCH, 0.0),
        "cloud_cover": ("cloud_cover", 1.0, 0.0), "snow_in": ("snow_in", 1.0, 0.0),
    }
    hours = table["precip_hours"].astype(float) if "precip_hours" in table else 1.0
    time = pd.to_datetime(table["time"], utc=True, errors="coerce")
    if time.isna().any():
        bad = table.loc[time.isna(), "time"].iloc[0]
        raise ObservationError(f"{file}: time {bad!r} is not a date and time (ISO 8601, e.g. "
                               "2026-01-15T18:00Z)")
    parts = []
    for column, (variable, factor, offset) in conversions.items():
        if column in table:
            values = pd.to_numeric(table[column], errors="coerce") * factor + offset
            parts.append(pd.DataFrame({
                "station": table["station"], "lat": table["lat"], "lon": table["lon"],
                "time": time, "variable": variable, "value": values,
                "hours": hours if variable == "precip_in" else 0.0}))
    if not parts:
        raise ObservationError(f"{file}: no observation columns; give any of "
                               + ", ".join(conversions))
    return pd.concat(parts, ignore_index=True).dropna(subset=["value"])


_MET_CODES = {"11": "TMP", "32": "WIND", "180": "GUST", "61": "APCP", "71": "TCDC"}
# MET message types that are not surface reports (soundings, aircraft, satellite winds)
_UPPER_AIR = frozenset({"ADPUPA", "AIRCAR", "AIRCFT", "SATWND", "PROFLR", "VADWND", "SPSSMI",
                        "GOESND", "ASCATW", "RASSDA", "SYNDAT", "ERS1DA", "QKSWND", "GPSIPW"})


def _met_points(file: Path) -> pd.DataFrame:
    table = pd.read_csv(file, sep=r"\s+", header=None, dtype=str, comment="#",
                        names=["type", "station", "time", "lat", "lon", "elevation", "code",
                               "level", "height", "qc", "value"])
    value = pd.to_numeric(table["value"], errors="coerce")
    name = table["code"].map(lambda c: _MET_CODES.get(c, c.upper()))
    out = pd.DataFrame({
        "station": table["station"], "lat": pd.to_numeric(table["lat"]),
        "lon": pd.to_numeric(table["lon"]),
        "time": pd.to_datetime(table["time"], format="%Y%m%d_%H%M%S", utc=True),
        "variable": None, "value": np.nan, "hours": 0.0})
    known = {
        "TMP": ("temperature_f", lambda v: (v - 273.15) * 1.8 + 32),
        "WIND": ("wind_mph", lambda v: v * MPH_PER_MS),
        "GUST": ("gust_mph", lambda v: v * MPH_PER_MS),
        "APCP": ("precip_in", lambda v: v / MM_PER_INCH),
        "TCDC": ("cloud_cover", lambda v: v),
    }
    for met_name, (variable, convert) in known.items():
        rows = name == met_name
        out.loc[rows, "variable"] = variable
        out.loc[rows, "value"] = convert(value[rows])
    precip = out["variable"] == "precip_in"
    out.loc[precip, "hours"] = pd.to_numeric(table.loc[precip, "level"].str.lstrip("A"),
                                             errors="coerce")
    # MET marks missing values -9999 (and missing elevations, which we do not use); upper-air
    # reports are not the weather at the ground
    surface = ~table["type"].str.upper().isin(_UPPER_AIR)
    out = out[out["variable"].notna() & (value > -9000) & out["value"].notna() & surface]
    if out.empty:
        raise ObservationError(f"{file}: no TMP, WIND, GUST, APCP or TCDC observations "
                               "(GRIB codes 11, 32, 180, 61, 71)")
    return out.reset_index(drop=True)


def _at_zips(points: pd.DataFrame, zips: pd.DataFrame, settings: VerifySettings
             ) -> Observations:
    """Each ZIP takes, for each variable, the nearest station reporting it (from any of the
    station files), when it is within ``station_max_km``."""
    codes = zips["zip"].astype(str).to_numpy()
    lat, lon = zips["lat"].to_numpy(float), zips["lon"].to_numpy(float)
    taken = []
    for _, rows in points.groupby("variable"):
        stations = rows.drop_duplicates("station")[["station", "lat", "lon"]]
        index, km = nearest_points(stations["lat"].to_numpy(float),
                                   stations["lon"].to_numpy(float), lat, lon)
        close = km <= settings.station_max_km
        pairs = pd.DataFrame({"zip": codes[close],
                              "station": stations["station"].to_numpy()[index[close]]})
        taken.append(pairs.merge(rows, on="station"))
    rows = pd.concat(taken, ignore_index=True) if taken else points.iloc[:0].assign(zip="")
    precip = rows["variable"] == "precip_in"
    hourly_precip = precip & (rows["hours"] == 1)
    instant = rows[~precip].copy()
    instant["valid_time"] = instant["time"].dt.round("h")
    # several reports in one hour: the one nearest the hour
    instant["off"] = (instant["time"] - instant["valid_time"]).abs()
    instant = instant.sort_values("off").drop_duplicates(["zip", "valid_time", "variable"])
    hourly = instant.pivot_table(index=["zip", "valid_time"], columns="variable",
                                 values="value", aggfunc="first")
    one_hour = rows[hourly_precip].copy()
    if len(one_hour):
        # the hour a report ends, to the nearest hour (a METAR at 14:53 covers 13:53-14:53)
        one_hour["valid_time"] = one_hour["time"].dt.round("h")
        amounts = one_hour.groupby(["zip", "valid_time"])["value"].first().rename("precip_in")
        hourly = hourly.join(amounts, how="outer") if len(hourly) else amounts.to_frame()
    hourly = hourly.reset_index() if len(hourly) else _empty_hourly()
    hourly.columns.name = None
    long = rows[precip & ~hourly_precip & (rows["hours"] > 1)]
    totals = _empty_totals()
    if len(long):
        totals = pd.DataFrame({
            "zip": long["zip"].to_numpy(),
            "start": pd.DatetimeIndex(long["time"] - pd.to_timedelta(long["hours"], unit="h")),
            "end": pd.DatetimeIndex(long["time"]), "precip_in": long["value"].to_numpy()})
    sources = []
    n_stations = points.drop_duplicates("station").groupby("file").size()
    for file, kind in points.drop_duplicates("file")[["file", "kind"]].itertuples(index=False):
        mine = rows[rows["file"] == file]
        sources.append(ObsSource(
            str(file), str(kind), tuple(sorted(set(points.loc[points["file"] == file,
                                                              "variable"]))),
            int(mine["zip"].nunique()),
            f"{int(n_stations.get(file, 0)):,} stations; {int(mine['zip'].nunique()):,} ZIPs "
            f"within {settings.station_max_km:g} km of one"))
    return Observations(hourly, totals, sources)
