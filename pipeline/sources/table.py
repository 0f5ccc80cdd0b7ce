"""Table source: a CSV or Parquet file of contract columns, keyed by ZIP or by lat/lon points.

``table_forecast(zips, issue_time, path=..., settings=...)``. With ``zip`` the rows are taken as
they are; with ``lat``/``lon`` each ZIP takes the rows of its nearest point within
``settings.table_max_distance_km`` and farther ZIPs are left out (``attrs["failures"]``).
Times are parsed to UTC (naive means UTC); without an ``issue_time`` column the run's is used.
Bad files raise :class:`pipeline.sources.InputError` (a :class:`SourceError`) naming the file,
the problem and the rows (file lines): a run does not retry them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import contract
from pipeline.config.sources import SourceSettings, source_settings
from pipeline.sources._frame import finish
from pipeline.sources._grid import nearest_points
from pipeline.sources.errors import InputError

SOURCE = "table"
NEEDS = ", ".join(["zip (or lat and lon)", "valid_time", *contract.REQUIRED_VARIABLES])


def table_forecast(
    zips: pd.DataFrame,
    issue_time: pd.Timestamp,
    *,
    path: str | Path | None = None,
    settings: SourceSettings | None = None,
    hours: int | None = None,
) -> pd.DataFrame:
    """Contract rows for ``zips`` from the table at ``path``.

    Parameters
    ----------
    zips : DataFrame
        Gazetteer rows with ``zip`` (and ``lat``/``lon`` for point-keyed tables).
    issue_time : Timestamp
        The run's issue time (UTC); used when the file has no ``issue_time`` column.
    path : str or Path
        A ``.csv`` (optionally compressed) or ``.parquet`` file.
    settings : SourceSettings, optional
        ``table_max_distance_km`` bounds the point match.
    hours : int, optional
        Keep steps up to ``hours`` after each row's issue time.

    Returns
    -------
    DataFrame
        Contract columns present in the file; ``attrs["failures"]`` maps left-out ZIPs to why.
    """
    if path is None:
        raise InputError(f"{SOURCE}: no file given; pass path=<csv or parquet>")
    path = Path(path)
    cfg = source_settings(settings)
    raw = _read(path)
    table = _parse(raw, path, issue_time)
    if "zip" in table:
        frame, failures = _by_zip(table, zips)
    else:
        frame, failures = _by_point(table, zips, cfg.table_max_distance_km, path)
    if hours is not None:
        frame = frame[frame["valid_time"] <= frame["issue_time"] + pd.Timedelta(hours=hours)]
    _check_unique(frame, path)
    return finish(frame, failures, source=SOURCE)


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"{SOURCE}: no such file {path}")
    suffixes = "".join(path.suffixes).lower()
    try:
        if ".parquet" in suffixes or suffixes.endswith(".pq"):
            return pd.read_parquet(path)
        if ".csv" in suffixes or ".txt" in suffixes:
            return pd.read_csv(path, dtype={"zip": str}, skipinitialspace=True)
    except Exception as err:  # noqa: BLE001 - any reader failure is a bad file
        raise InputError(f"{SOURCE}: cannot read {path}: {type(err).__name__}: {err}") from None
    raise InputError(f"{SOURCE}: {path}: unknown file type; use .csv or .parquet")


def _rows(mask: pd.Series, path: Path) -> str:
    """Human row numbers: file lines for CSV (header is line 1), 0-based rows for Parquet."""
    offset = 2 if ".csv" in "".join(path.suffixes).lower() else 0
    where = "line" if offset else "row"
    found = (np.flatnonzero(mask.to_numpy()) + offset).tolist()
    more = f" and {len(found) - 5} more" if len(found) > 5 else ""
    return f"{where}(s) {', '.join(map(str, found[:5]))}{more}"


def _parse(raw: pd.DataFrame, path: Path, issue_time: pd.Timestamp) -> pd.DataFrame:
    raw = raw.rename(columns=lambda c: str(c).strip())
    keyed = "zip" in raw or {"lat", "lon"} <= set(raw)
    missing = [c for c in ["valid_time", *contract.REQUIRED_VARIABLES] if c not in raw]
    if missing or not keyed:
        need = missing + ([] if keyed else ["zip (or lat and lon)"])
        raise InputError(
            f"{SOURCE}: {path}: missing column(s) {', '.join(need)}; a table needs {NEEDS} "
            f"(found {', '.join(map(str, raw.columns))})"
        )
    table = pd.DataFrame(index=raw.index)
    if "zip" in raw:
        text = raw["zip"].astype("string").str.strip()
        text = text.str.replace(r"\.0$", "", regex=True).str.zfill(5)
        bad = ~text.str.fullmatch(r"\d{5}").fillna(False)
        if bad.any():
            raise InputError(f"{SOURCE}: {path}: zip is not a 5-digit code at {_rows(bad, path)}")
        table["zip"] = text.astype(str)
    for column in ("lat", "lon"):
        if column in raw and "zip" not in raw:
            table[column] = _numbers(raw, column, path)
    table["valid_time"] = _times(raw, "valid_time", path)
    if "issue_time" in raw:
        table["issue_time"] = _times(raw, "issue_time", path)
    else:
        table["issue_time"] = pd.Timestamp(issue_time).tz_convert("UTC")
    for column in contract.VARIABLES:
        if column in raw:
            table[column] = _numbers(raw, column, path)
    return table


def _times(raw: pd.DataFrame, column: str, path: Path) -> pd.Series:
    values = raw[column]
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.tz_localize("UTC")
    parsed = pd.to_datetime(values, utc=True, errors="coerce", format="mixed")
    bad = parsed.isna()
    if bad.any():
        raise InputError(
            f"{SOURCE}: {path}: unparseable {column} at {_rows(bad, path)} "
            f"(e.g. {values[bad].iloc[0]!r}); use ISO 8601 like 2026-01-15T12:00:00Z"
        )
    return parsed


def _numbers(raw: pd.DataFrame, column: str, path: Path) -> pd.Series:
    parsed = pd.to_numeric(raw[column], errors="coerce").astype("float64")
    bad = parsed.isna() & raw[column].notna()
    if bad.any():
        raise InputError(
            f"{SOURCE}: {path}: {column} is not a number at {_rows(bad, path)} "
            f"(e.g. {raw[column][bad].iloc[0]!r})"
        )
    return parsed


def _by_zip(table: pd.DataFrame, zips: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    wanted = pd.Index(zips["zip"].astype(str))
    frame = table[table["zip"].isin(wanted)]
    absent = wanted.difference(pd.Index(frame["zip"].unique()))
    return frame, dict.fromkeys(absent, "not in the table")


def _by_point(
    table: pd.DataFrame, zips: pd.DataFrame, max_km: float, path: Path
) -> tuple[pd.DataFrame, dict[str, str]]:
    points = table[["lat", "lon"]].drop_duplicates().reset_index(drop=True)
    if points.isna().any(axis=None):
        raise InputError(f"{SOURCE}: {path}: lat/lon missing in some rows")
    index, km = nearest_points(points["lat"].to_numpy(), points["lon"].to_numpy(),
                               zips["lat"].to_numpy(), zips["lon"].to_numpy())
    near = km <= max_km
    zip_codes = zips["zip"].astype(str).to_numpy()
    failures = {
        z: f"no table point within {max_km:g} km (nearest {d:.1f} km)"
        for z, d in zip(zip_codes[~near], km[~near], strict=True)
    }
    points["point"] = np.arange(len(points))
    keyed = table.merge(points, on=["lat", "lon"])
    match = pd.DataFrame({"zip": zip_codes[near], "point": index[near]})
    frame = match.merge(keyed.drop(columns=["lat", "lon"]), on="point").drop(columns="point")
    return frame, failures


def _check_unique(frame: pd.DataFrame, path: Path) -> None:
    dup = frame.duplicated(["zip", "valid_time"], keep=False)
    if dup.any():
        first = frame[dup].iloc[0]
        raise InputError(
            f"{SOURCE}: {path}: {int(dup.sum())} rows repeat a (zip, valid_time), e.g. "
            f"{first['zip']} at {first['valid_time']}; one row per ZIP and step"
        )
