"""Check forecast-contract rows where they enter the pipeline (the output of every source).

The pandera model :class:`Forecast` is the executable form of :mod:`pipeline.contract`.
:func:`validate_forecast` raises :class:`ForecastContractError` with what and where.
"""

from __future__ import annotations

import copy
import sys
import types
from functools import cache

import numpy as np
import pandas as pd

# pandera imports dask.dataframe (about 3 s) the first time a model is defined, only to learn
# whether dask Series types exist. zipcast validates pandas frames only, and installs dask
# for distributed scale-out, not for dataframes: tell pandera there is no dask dataframe.
if "pandera.typing.dask" not in sys.modules:
    _no_dask = types.ModuleType("pandera.typing.dask")
    _no_dask.DASK_INSTALLED = False  # type: ignore[attr-defined]
    sys.modules["pandera.typing.dask"] = _no_dask

import pandera.pandas as pa  # noqa: E402
from pandera.errors import SchemaErrors  # noqa: E402
from pandera.typing import Series  # noqa: E402

from pipeline import contract
from pipeline.frames import factorize, is_arrow_text

ZIP_PATTERN = r"^\d{5}$"


class ForecastContractError(ValueError):
    """Forecast rows break the contract; the message lists the failing checks and rows."""


class Forecast(pa.DataFrameModel):
    """One row per (zip, valid_time); UTC times; fixed units (see :mod:`pipeline.contract`)."""

    zip: Series[str]
    valid_time: Series[pd.DatetimeTZDtype] = pa.Field(dtype_kwargs={"unit": "ns", "tz": "UTC"})
    issue_time: Series[pd.DatetimeTZDtype] = pa.Field(dtype_kwargs={"unit": "ns", "tz": "UTC"})
    temperature_f: Series[float] = pa.Field(ge=-80, le=140)
    precip_in: Series[float] = pa.Field(ge=0, le=20)
    wind_mph: Series[float] = pa.Field(ge=0, le=250)
    apparent_temperature_f: Series[float] | None = pa.Field(ge=-120, le=180, nullable=True)
    precip_probability: Series[float] | None = pa.Field(ge=0, le=100, nullable=True)
    snow_in: Series[float] | None = pa.Field(ge=0, le=60, nullable=True)
    gust_mph: Series[float] | None = pa.Field(ge=0, le=300, nullable=True)
    cloud_cover: Series[float] | None = pa.Field(ge=0, le=100, nullable=True)
    relative_humidity: Series[float] | None = pa.Field(ge=0, le=100, nullable=True)
    weather_code: Series[float] | None = pa.Field(ge=0, le=99, nullable=True)

    @pa.check("zip", name=f"str_matches('{ZIP_PATTERN}')")
    @classmethod
    def five_digits(cls, zips: Series[str]) -> Series[bool] | bool:
        """pandera's ``str_matches`` (same name, same rows reported), once per distinct ZIP:
        a national frame has 3M rows but 41k ZIPs."""
        codes, distinct = factorize(zips)
        ok = np.asarray(distinct.str.match(ZIP_PATTERN), dtype=bool)
        if ok.all():
            return True
        return pd.Series(ok[codes], index=zips.index)  # no -1: pandera drops missing ZIPs

    class Config:
        coerce = True
        unique = ["zip", "valid_time"]


def _zip_major_unique(frame: pd.DataFrame) -> bool:
    """Rows already typed (Arrow text ZIPs, zoned valid times), grouped by ZIP and in
    increasing valid time within each, as sources hand them: then no (zip, valid_time)
    repeats, seen in one pass instead of pandas' ``duplicated`` (a third of a second on a
    national frame). Coercion keeps such rows as they are, so this holds after it too."""
    zips, valid = frame["zip"], frame["valid_time"]
    if not (isinstance(zips, pd.Series) and isinstance(valid, pd.Series)  # not repeated columns
            and is_arrow_text(zips)
            and isinstance(valid.dtype, pd.DatetimeTZDtype)):
        return False
    codes, _ = factorize(zips)
    times = valid.array.asi8
    if len(codes) < 2:
        return True
    return bool((codes >= 0).all() and (codes[1:] >= codes[:-1]).all()
                and ((codes[1:] != codes[:-1]) | (times[1:] > times[:-1])).all())


@cache
def _schema(*, check_unique: bool) -> pa.DataFrameSchema:
    """The contract's schema; without its uniqueness check where rows show it already."""
    schema = Forecast.to_schema()
    if not check_unique:
        schema = copy.copy(schema)
        schema.unique = None
    return schema


def already_coerced(frame: pd.DataFrame) -> bool:
    """Whether :func:`validate_forecast` should only pass ``frame`` or fail it, not change
    it: its columns are in contract order, and each has the dtype coercion gives it (asked
    of the schema on no rows, in milliseconds). The ingest still compares the rows it gets
    back (an object column could change values and keep its dtype)."""
    present = [c for c in contract.COLUMNS if c in frame]
    if list(frame.columns) != present or frame.columns.has_duplicates:
        return False
    try:
        coerced = _schema(check_unique=False).coerce_dtype(frame.iloc[:0].copy())
    except Exception:  # noqa: BLE001 - validation reports what cannot be coerced
        return False
    return all(coerced[c].dtype == frame[c].dtype for c in present)


def validate_forecast(frame: pd.DataFrame, *, source: str = "forecast") -> pd.DataFrame:
    """Check ``frame`` against the contract and return it coerced, in contract column order.

    Raises
    ------
    ForecastContractError
        Listing up to 10 failures as ``column: check (row index, value)`` and how many more.
    """
    missing = [c for c in contract.KEY_COLUMNS + contract.REQUIRED_VARIABLES if c not in frame]
    if missing:
        raise ForecastContractError(
            f"{source}: missing required column(s) {', '.join(missing)}; "
            f"the contract needs {', '.join(contract.KEY_COLUMNS + contract.REQUIRED_VARIABLES)}"
        )
    try:
        # pandera's own (not in place) validation deep-copies the frame first (~240 MB for the
        # nation); a shallow copy coerced in place gives the same result: copy-on-write keeps
        # the caller's frame and its columns as they were
        schema = _schema(check_unique=not _zip_major_unique(frame))
        checked = schema.validate(frame.copy(deep=False), lazy=True, inplace=True)
    except SchemaErrors as err:
        cases = err.failure_cases
        lines = [
            f"  {r.column}: {r.check} (row {r.index}, value {r.failure_case!r})"
            for r in cases.head(10).itertuples()
        ]
        more = f"\n  … and {len(cases) - 10} more" if len(cases) > 10 else ""
        raise ForecastContractError(
            f"{source}: {len(cases)} contract violation(s):\n" + "\n".join(lines) + more
        ) from None
    present = [c for c in contract.COLUMNS if c in checked]
    return checked if list(checked.columns) == present else checked[present]
