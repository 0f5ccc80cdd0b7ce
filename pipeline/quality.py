"""Quality gate after ingest: quarantine bad ZIPs, substitute fresh-enough last good forecasts.

:func:`check_forecast` runs on the *raw* source frame, before the contract check
(:func:`pipeline.validate.validate_forecast` raises on any bad row, so one bad ZIP would stop the
nation). Each ZIP asked for is checked row by row; the first failing check, in this order, is
its quarantine reason:

================  ====================================================================
category          reason
================  ====================================================================
source failure    the source listed the ZIP in ``frame.attrs["failures"]`` (its reason)
no forecast rows  the ZIP has no rows at all
not numeric       a variable cannot be read as a number ("warm")
bad time          ``valid_time`` or ``issue_time`` is missing or not a time
missing values    a required variable (temperature, precipitation, wind) is NaN
out of range      a value outside the contract's physical range (the pandera model's)
duplicate rows    two rows for the same (zip, valid_time)
irregular steps   a valid_time off the majority grid (wrong spacing, before or after it)
missing steps     fewer steps than the majority grid
================  ====================================================================

The *majority grid* is the most common (first valid_time, step, number of steps) among the
ZIPs. A quarantined ZIP gets its last good forecast (rows of an earlier snapshot) when that
forecast is at most ``rules.max_stale_hours`` old; its rows on the current grid are used and the
ZIP is reported stale, never silently. Otherwise the ZIP is left out. Coverage (good + stale
over asked) below ``rules.min_coverage`` raises :class:`CoverageTooLow`.

Everything is vectorized over rows; Python loops only run over quarantined ZIPs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from pipeline import contract
from pipeline.config.quality import QualityRules
from pipeline.frames import factorize
from pipeline.times import to_utc
from pipeline.validate import Forecast, ForecastContractError

__all__ = [
    "CATEGORIES",
    "CoverageTooLow",
    "QualityResult",
    "QualityRules",
    "check_forecast",
]

NAT = np.iinfo(np.int64).min  # int64 view of NaT
HOUR_NS = 3_600_000_000_000

SOURCE_FAILURE = "source failure"
NO_ROWS = "no forecast rows"
NOT_NUMERIC = "not numeric"
BAD_TIME = "bad time"
MISSING_VALUE = "missing values"
OUT_OF_RANGE = "out of range"
DUPLICATE = "duplicate rows"
IRREGULAR = "irregular steps"
MISSING_STEPS = "missing steps"
CATEGORIES = (SOURCE_FAILURE, NO_ROWS, NOT_NUMERIC, BAD_TIME, MISSING_VALUE, OUT_OF_RANGE,
              DUPLICATE, IRREGULAR, MISSING_STEPS)




class CoverageTooLow(RuntimeError):
    """Too few ZIPs passed the quality checks; ``result`` holds the full :class:`QualityResult`."""

    def __init__(self, message: str, result: QualityResult) -> None:
        super().__init__(message)
        self.result = result


def _contract_ranges() -> dict[str, tuple[float, float]]:
    """Each variable's (min, max) read from the pandera model, so the two never drift apart."""
    columns = Forecast.to_schema().columns
    ranges = {}
    for name in contract.VARIABLES:
        stats: dict[str, Any] = {}
        for check in columns[name].checks:
            stats.update(check.statistics)
        ranges[name] = (float(stats["min_value"]), float(stats["max_value"]))
    return ranges


RANGES = _contract_ranges()


@dataclass
class QualityResult:
    """What the quality gate kept, substituted and left out.

    Attributes
    ----------
    frame : DataFrame
        Clean contract rows (good ZIPs and stale substitutes), sorted by (zip, valid_time);
        passes :func:`pipeline.validate.validate_forecast`.
    quarantined : dict of zip -> reason, every ZIP that failed a check (stale ones included)
    stale : dict of zip -> ISO issue time of the substituted last good forecast
    left_out : list of zip, quarantined ZIPs without a substitute
    coverage : float, (good + stale) / asked
    categories : dict of zip -> category of its quarantine reason (see :data:`CATEGORIES`)
    """

    frame: pd.DataFrame
    quarantined: dict[str, str]
    stale: dict[str, str]
    left_out: list[str]
    coverage: float
    categories: dict[str, str] = field(default_factory=dict)
    n_asked: int = 0
    min_coverage: float = 0.98
    grid: dict[str, Any] | None = None
    stale_notes: dict[str, str] = field(default_factory=dict)  # zip -> "stale: using …"
    n_rows_unasked: int = 0
    max_examples: int = 50

    @property
    def n_good(self) -> int:
        """ZIPs that passed every check with fresh rows (stale substitutes not counted)."""
        return self.n_asked - len(self.quarantined)

    def category_counts(self) -> dict[str, int]:
        """Quarantined ZIPs counted by reason category, most common first."""
        return dict(Counter(self.categories.values()).most_common())

    def report(self) -> dict[str, Any]:
        """The quality section of summary.json (plain JSON types)."""
        examples = []
        for z in list(self.quarantined)[: self.max_examples]:
            examples.append({
                "zip": z,
                "category": self.categories.get(z, SOURCE_FAILURE),
                "reason": self.quarantined[z],
                "stale_issue_time": self.stale.get(z),
            })
        return {
            "coverage": round(self.coverage, 6),
            "min_coverage": self.min_coverage,
            "n_asked": self.n_asked,
            "n_good": self.n_good,
            "n_stale": len(self.stale),
            "n_left_out": len(self.left_out),
            "n_rows": int(len(self.frame)),
            "n_rows_unasked": self.n_rows_unasked,
            "grid": self.grid,
            "quarantined": self.category_counts(),
            "examples": examples,
            "left_out": self.left_out[: self.max_examples],
        }

    def log_lines(self) -> list[str]:
        """Human-readable lines for the run log: totals, counts by reason, then examples."""
        lines = [
            f"quality: {self.n_good:,} of {self.n_asked:,} ZIPs good, {len(self.stale):,} stale, "
            f"{len(self.left_out):,} left out (coverage {self.coverage:.2%}, "
            f"minimum {self.min_coverage:.2%})"
        ]
        if self.n_rows_unasked:
            lines.append(f"quality: ignored {self.n_rows_unasked:,} rows for ZIPs not asked for")
        if self.quarantined:
            counts = ", ".join(f"{c} {n:,}" for c, n in self.category_counts().items())
            lines.append(f"quality: quarantined {len(self.quarantined):,} ZIPs: {counts}")
        for z in list(self.quarantined)[: self.max_examples]:
            outcome = self.stale_notes.get(z, "left out")
            lines.append(f"  {z}: {self.quarantined[z]} -> {outcome}")
        if len(self.quarantined) > self.max_examples:
            lines.append(f"  … and {len(self.quarantined) - self.max_examples:,} more "
                         "(see summary.json)")
        return lines


# --------------------------------------------------------------------------- formatting


def _when(ns: int) -> str:
    return "NaT" if ns == NAT else pd.Timestamp(ns, tz="UTC").strftime("%Y-%m-%d %H:%M UTC")


def _number(value: float) -> str:
    value = float(value)
    return f"{value:.1f}" if value.is_integer() else f"{value:g}"


def _unit(name: str) -> str:
    return {"°F": " °F", "%": " %", "in": " in", "mph": " mph"}.get(contract.UNITS[name], "")


@dataclass
class _Grid:
    """The regular valid_time grid: ``n`` steps of ``step`` ns from ``start`` (ns since epoch)."""

    start: int
    step: int
    n: int

    @property
    def end(self) -> int:
        return self.start + (self.n - 1) * self.step

    def describe(self) -> str:
        if self.n == 1:
            return f"1 step at {_when(self.start)}"
        hours = f"{self.step / HOUR_NS:g}"
        return f"{self.n} steps, {hours}-hourly, {_when(self.start)} to {_when(self.end)}"

    def to_json(self) -> dict[str, Any]:
        return {"start": pd.Timestamp(self.start, tz="UTC").isoformat(),
                "step_hours": self.step / HOUR_NS if self.n > 1 else None, "n_steps": self.n}


# --------------------------------------------------------------------------- coercion


def _times(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(int64 ns since epoch with NaT, mask of present values that are not times)."""
    dtype = column.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        parsed = column.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(dtype):
        parsed = column.dt.tz_localize("UTC")  # the contract says naive means UTC
    else:
        parsed = pd.to_datetime(column, utc=True, errors="coerce", format="mixed")
    ns = parsed.dt.as_unit("ns").to_numpy(dtype="datetime64[ns]").view(np.int64)
    return ns, (ns == NAT) & column.notna().to_numpy()


def _numbers(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values with NaN, mask of present values that are not numbers)."""
    if pd.api.types.is_numeric_dtype(column.dtype):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        return values, np.zeros(len(values), dtype=bool)
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return values, np.isnan(values) & column.notna().to_numpy()


@dataclass
class _Rows:
    """One source frame read into flat arrays, rows sorted by (zip, valid_time)."""

    raw: pd.DataFrame  # as received, for messages and the zip column
    pos: np.ndarray  # raw row position of each sorted row
    zid: np.ndarray  # index into the asked ZIPs of each sorted row
    valid: np.ndarray  # int64 ns
    issue: np.ndarray  # int64 ns
    values: dict[str, np.ndarray]  # float64 per contract variable present
    bad_number: dict[str, np.ndarray]
    bad_time: np.ndarray

    def take(self, keep: np.ndarray) -> _Rows:
        """The rows at ``keep`` (a boolean mask or positions, in sorted order)."""
        if keep.dtype == bool and keep.all():
            return self
        return _Rows(self.raw, self.pos[keep], self.zid[keep], self.valid[keep],
                     self.issue[keep], {k: v[keep] for k, v in self.values.items()},
                     {k: v[keep] for k, v in self.bad_number.items()}, self.bad_time[keep])


def _require_columns(frame: pd.DataFrame, what: str) -> None:
    needed = contract.KEY_COLUMNS + contract.REQUIRED_VARIABLES
    missing = [c for c in needed if c not in frame]
    if missing:
        raise ForecastContractError(
            f"{what}: missing required column(s) {', '.join(missing)}; the contract needs "
            f"{', '.join(needed)} (see pipeline/contract.py) - fix the source's column mapping"
        )


def _read_rows(frame: pd.DataFrame, asked: pd.Index) -> tuple[_Rows, int]:
    """Coerce ``frame`` to arrays and sort its rows for the asked ZIPs; also count other rows."""
    codes, uniques = factorize(frame["zip"])
    known = asked.get_indexer(pd.Index(uniques).astype(str))
    zid = np.where(codes >= 0, known[codes], -1)
    valid, bad_valid = _times(frame["valid_time"])
    issue, bad_issue = _times(frame["issue_time"])
    values, bad_number = {}, {}
    for name in contract.VARIABLES:
        if name in frame:
            values[name], bad_number[name] = _numbers(frame[name])
    mine = np.flatnonzero(zid >= 0)
    z, t = zid[mine], valid[mine]
    in_order = bool(np.all((z[1:] > z[:-1]) | ((z[1:] == z[:-1]) & (t[1:] >= t[:-1]))))
    pos = mine if in_order else mine[np.lexsort((t, z))]  # sources usually hand rows sorted
    rows = _Rows(frame, np.arange(len(frame)), zid, valid, issue, values, bad_number,
                 bad_valid | bad_issue | (valid == NAT) | (issue == NAT))
    if len(pos) < len(frame) or not in_order:
        rows = rows.take(pos)
    return rows, len(frame) - len(mine)


# --------------------------------------------------------------------------- checks


def _groups(zid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For sorted zip ids: (zip id, first row, row count) of each group."""
    if len(zid) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    first = np.flatnonzero(np.r_[True, zid[1:] != zid[:-1]])
    return zid[first], first, np.diff(np.r_[first, len(zid)])


def _majority_grid(rows: _Rows) -> _Grid | None:
    """The most common (start, step, n_steps) among ZIPs; ties go to the earliest start."""
    ok = ~rows.bad_time
    zid, valid = rows.zid[ok], rows.valid[ok]
    _, first, count = _groups(zid)
    if len(first) == 0:
        return None
    second = np.minimum(first + 1, len(valid) - 1)
    step = np.where(count > 1, valid[second] - valid[first], 0)
    signatures = pd.DataFrame({"start": valid[first], "step": step, "n": count})
    tally = signatures.value_counts().reset_index()
    tally = tally.sort_values(["count", "start", "n"], ascending=[False, True, False],
                              kind="stable")
    start, step_ns, n = (int(v) for v in tally.iloc[0][["start", "step", "n"]])
    if n > 1 and step_ns <= 0:  # the majority has duplicate first rows: use the commonest gap
        gaps = np.diff(valid)[(np.diff(zid) == 0) & (np.diff(valid) > 0)]
        if len(gaps) == 0:
            return _Grid(start, 1, 1)
        step_ns = int(pd.Series(gaps).mode().iloc[0])
    return _Grid(start, step_ns if n > 1 else 1, n)


Reasons = dict[int, tuple[str, str]]  # zip id -> (category, reason)


def _flag(reasons: Reasons, rows: _Rows, bad: np.ndarray, category: str,
          describe: Callable[[int], str]) -> None:
    """Record ``category`` for each ZIP not yet flagged that has a ``bad`` row (its first)."""
    where = np.flatnonzero(bad)
    zids, first = np.unique(rows.zid[where], return_index=True)
    for z, i in zip(zids.tolist(), where[first].tolist(), strict=True):
        if z not in reasons:
            reasons[z] = (category, describe(i))


def _not_a_number(rows: _Rows, name: str, i: int) -> str:
    raw = rows.raw[name].iloc[int(rows.pos[i])]
    return f"{name} {raw!r} at {_when(int(rows.valid[i]))} is not a number"


def _missing_value(rows: _Rows, name: str, i: int) -> str:
    return f"{name} missing at {_when(int(rows.valid[i]))}"


def _outside_range(rows: _Rows, name: str, i: int) -> str:
    low, high = (f"{v:g}" for v in RANGES[name])
    return (f"{name} {_number(float(rows.values[name][i]))}{_unit(name)} at "
            f"{_when(int(rows.valid[i]))} outside {low}..{high}")


def _bad_time(rows: _Rows, i: int) -> str:
    for column, ns in (("valid_time", rows.valid[i]), ("issue_time", rows.issue[i])):
        if ns == NAT:
            raw = rows.raw[column].iloc[int(rows.pos[i])]
            return f"{column} missing" if pd.isna(raw) else f"{column} {raw!r} is not a time"
    return "bad time"  # not reached: the mask only marks NaT


def _row_checks(rows: _Rows, reasons: Reasons) -> None:
    """Flag not-numeric values, bad times, missing required values and out-of-range values."""
    for name, bad in rows.bad_number.items():
        _flag(reasons, rows, bad, NOT_NUMERIC, partial(_not_a_number, rows, name))
    _flag(reasons, rows, rows.bad_time, BAD_TIME, partial(_bad_time, rows))
    for name in contract.REQUIRED_VARIABLES:
        missing = np.isnan(rows.values[name]) & ~rows.bad_number[name]
        _flag(reasons, rows, missing, MISSING_VALUE, partial(_missing_value, rows, name))
    for name, values in rows.values.items():
        low, high = RANGES[name]
        with np.errstate(invalid="ignore"):
            bad = (values < low) | (values > high)
        _flag(reasons, rows, bad, OUT_OF_RANGE, partial(_outside_range, rows, name))


def _grid_checks(rows: _Rows, grid: _Grid, reasons: Reasons, *, prefix: bool = False) -> None:
    """Flag duplicate (zip, valid_time) rows, valid times off ``grid`` and missing steps.

    With ``prefix`` (a last good forecast, issued earlier) a ZIP may stop early: it must cover
    the grid from its first step without gaps, up to its last row.
    """
    same_zip = np.r_[False, rows.zid[1:] == rows.zid[:-1]]
    dup = same_zip & np.r_[False, rows.valid[1:] == rows.valid[:-1]] & ~rows.bad_time
    n_dup = np.bincount(rows.zid[dup], minlength=1)
    _flag(reasons, rows, dup, DUPLICATE, lambda i: (
        f"{n_dup[rows.zid[i]]} duplicate (zip, valid_time) row(s), first for valid_time "
        f"{_when(int(rows.valid[i]))}"))

    offset = rows.valid - grid.start
    on = (offset >= 0) & (offset % grid.step == 0) & (offset <= grid.end - grid.start)
    _flag(reasons, rows, ~on & ~rows.bad_time, IRREGULAR,
          lambda i: f"valid_time {_when(int(rows.valid[i]))} is off the grid ({grid.describe()})")

    counted = on & ~dup & ~rows.bad_time
    zid, first, count = _groups(rows.zid)
    have = np.bincount(rows.zid[counted], minlength=int(zid.max(initial=-1)) + 1)[zid]
    expected = np.full(len(zid), grid.n)
    if prefix:
        last = rows.valid[first + count - 1]
        expected = np.clip((last - grid.start) // grid.step + 1, 0, grid.n)
    short = np.flatnonzero(have < expected)  # loop over the failing ZIPs only
    for z, start, n_rows, got, want in zip(zid[short].tolist(), first[short].tolist(),
                                           count[short].tolist(), have[short].tolist(),
                                           expected[short].tolist(), strict=True):
        if z in reasons:
            continue
        steps = grid.start + grid.step * np.arange(want)
        gap = np.setdiff1d(steps, rows.valid[start:start + n_rows])
        reasons[z] = (MISSING_STEPS, f"missing {want - got} of {want} time steps "
                      f"(first {_when(int(gap[0]))}; grid {grid.describe()})")


# --------------------------------------------------------------------------- clean frame


def _frame_of(rows: _Rows, columns: list[str]) -> pd.DataFrame:
    """Contract rows (coerced dtypes) of ``rows``, in their (zip, valid_time) order."""
    raw_zips = rows.raw["zip"]
    if len(rows.pos) == len(raw_zips) and (rows.pos == np.arange(len(raw_zips))).all():
        zips = raw_zips.reset_index(drop=True)  # every row, in the source's order: no take
    else:
        zips = raw_zips.take(rows.pos).reset_index(drop=True)
    if not pd.api.types.is_string_dtype(zips.dtype) or zips.dtype == object:
        zips = zips.astype("str")
    data: dict[str, Any] = {"zip": zips}
    for name, ns in (("valid_time", rows.valid), ("issue_time", rows.issue)):
        data[name] = pd.DatetimeIndex(ns.view("M8[ns]")).tz_localize("UTC")
    for name in columns:
        if name in rows.values:
            data[name] = rows.values[name]
    # copy=False: the columns stay the arrays read (for clean rows, views of the source
    # frame's own); stacking them into one float block would copy ~240 MB for the nation
    frame = pd.DataFrame(data, copy=False)
    return frame[[c for c in contract.COLUMNS if c in frame]]


def _asked_zips(zips: pd.DataFrame | Iterable[str]) -> pd.Index:
    values = zips["zip"] if isinstance(zips, pd.DataFrame) else pd.Series(list(zips))
    return pd.Index(pd.unique(values.astype(str).to_numpy())).sort_values()


def _utc_ns(when: Any) -> int:
    return int(to_utc(when).as_unit("ns").value)


# --------------------------------------------------------------------------- stale


def _substitute(last_good: pd.DataFrame, candidates: pd.Index, grid: _Grid | None,
                issue_ns: int, now_ns: int, max_stale_hours: float
                ) -> tuple[_Rows | None, dict[str, str], dict[str, str]]:
    """Rows of the fresh-enough last good forecast for ``candidates``, and why others got none.

    Returns (rows or None, {zip: ISO issue time used}, {zip: why no substitute}).
    """
    refused: dict[str, str] = {}
    names = candidates.tolist()  # plain str: indexing an arrow-backed Index per ZIP is slow
    try:
        _require_columns(last_good, "last good forecast")
    except ForecastContractError as err:
        return None, {}, dict.fromkeys(candidates, str(err))
    last_good = last_good[last_good["zip"].astype(str).isin(candidates)]
    rows, _ = _read_rows(last_good, candidates)
    usable_issue = np.where((rows.issue != NAT) & (rows.issue < issue_ns), rows.issue, NAT)
    latest = np.full(len(candidates), NAT)
    np.maximum.at(latest, rows.zid, usable_issue)
    for z in np.flatnonzero(latest == NAT).tolist():
        refused[names[z]] = "no earlier forecast on hand"
    age_h = (now_ns - latest) / HOUR_NS
    old = (latest != NAT) & (age_h > max_stale_hours)
    for z in np.flatnonzero(old).tolist():
        refused[names[z]] = (f"last good forecast issued {_when(int(latest[z]))} is "
                                  f"{age_h[z]:.0f} h old (limit {max_stale_hours:g} h)")
    keep = (rows.issue == latest[rows.zid]) & ~old[rows.zid] & (latest[rows.zid] != NAT)
    if grid is None:  # nothing fresh to align to: the last good forecast's own future steps
        keep &= rows.valid > issue_ns
        grid = _majority_grid(rows.take(keep))
        if grid is None:
            return None, {}, refused
    keep &= (rows.valid >= grid.start) | rows.bad_time
    keep &= (rows.valid <= grid.end) | rows.bad_time
    rows = rows.take(keep)
    reasons: Reasons = {}
    _row_checks(rows, reasons)
    _grid_checks(rows, grid, reasons, prefix=True)
    for z, (_, why) in reasons.items():
        refused[names[z]] = f"last good forecast also fails: {why}"
    has_rows = np.zeros(len(candidates), dtype=bool)
    has_rows[rows.zid] = True
    for z in np.flatnonzero(~has_rows & (latest != NAT) & ~old).tolist():
        refused[names[z]] = (f"last good forecast issued {_when(int(latest[z]))} "
                                  "ends before this forecast's first step")
    ok = np.ones(len(candidates), dtype=bool)
    ok[candidates.get_indexer(list(refused))] = False
    rows = rows.take(ok[rows.zid])
    iso = {t: pd.Timestamp(t, tz="UTC").isoformat() for t in np.unique(latest[ok]).tolist()}
    stale = {names[z]: iso[t] for z, t in zip(np.flatnonzero(ok).tolist(),
                                               latest[ok].tolist(), strict=True)}
    return rows, stale, refused


# --------------------------------------------------------------------------- entry point


def check_forecast(
    frame: pd.DataFrame,
    zips: pd.DataFrame | Iterable[str],
    *,
    issue_time: Any,
    rules: QualityRules | None = None,
    last_good: pd.DataFrame | None = None,
    now: Any = None,
) -> QualityResult:
    """Quarantine the ZIPs whose raw source rows fail a check; keep or substitute the rest.

    Parameters
    ----------
    frame : DataFrame
        Raw source rows (any dtypes; before :func:`~pipeline.validate.validate_forecast`), with
        ``attrs["failures"]`` = {zip: reason} from the source if any.
    zips : DataFrame with a ``zip`` column, or iterable of str
        The ZIPs asked for. Rows for other ZIPs are ignored (and counted).
    issue_time : str, datetime or Timestamp
        This forecast's issue time (naive = UTC); last good forecasts must be older.
    rules : QualityRules, optional
    last_good : DataFrame, optional
        Contract rows of an earlier snapshot (with their own ``issue_time``), for substitutes.
    now : str, datetime or Timestamp, optional
        The clock for the age of a last good forecast; defaults to ``issue_time`` (so a replay
        of an old issue judges staleness as it was then).

    Returns
    -------
    QualityResult whose ``frame`` passes :func:`pipeline.validate.validate_forecast`.

    Raises
    ------
    ForecastContractError
        The frame lacks a required column (a source bug, not a per-ZIP problem).
    CoverageTooLow
        (good + stale) / asked is below ``rules.min_coverage``; ``err.result`` has the details.
    """
    rules = rules or QualityRules()
    asked = _asked_zips(zips)
    if len(asked) == 0:
        raise ValueError("check_forecast: no ZIPs asked for; pass the gazetteer rows of the run")
    issue_ns = _utc_ns(issue_time)
    now_ns = _utc_ns(now) if now is not None else issue_ns
    if len(frame.columns) == 0:
        frame = pd.DataFrame(columns=contract.KEY_COLUMNS + contract.REQUIRED_VARIABLES)
    _require_columns(frame, "forecast")
    rows, n_unasked = _read_rows(frame, asked)

    reasons: Reasons = {}
    failures = frame.attrs.get("failures") or {}
    for z, why in zip(asked.get_indexer(pd.Index([str(k) for k in failures])).tolist(),
                      failures.values(), strict=True):
        if z >= 0:
            reasons[z] = (SOURCE_FAILURE, str(why))
    present = np.zeros(len(asked), dtype=bool)
    present[rows.zid] = True
    for z in np.flatnonzero(~present).tolist():
        reasons.setdefault(z, (NO_ROWS, NO_ROWS))
    _row_checks(rows, reasons)
    grid = _majority_grid(rows)
    if grid is not None:
        _grid_checks(rows, grid, reasons)

    bad = np.zeros(len(asked), dtype=bool)
    bad[list(reasons)] = True
    columns = [c for c in contract.VARIABLES if c in frame]
    clean = _frame_of(rows.take(~bad[rows.zid]), columns)
    names = asked.tolist()
    quarantined = {names[z]: reasons[z][1] for z in sorted(reasons)}
    categories = {names[z]: reasons[z][0] for z in sorted(reasons)}

    stale: dict[str, str] = {}
    notes: dict[str, str] = {}
    if quarantined and last_good is not None and len(last_good):
        candidates = pd.Index(list(quarantined))
        sub, stale, refused = _substitute(last_good, candidates, grid, issue_ns, now_ns,
                                          rules.max_stale_hours)
        for z, why in refused.items():
            quarantined[z] = f"{quarantined[z]}; no substitute: {why}"
        if sub is not None and len(sub.pos):
            substitutes = _frame_of(sub, columns)
            if len(clean):
                clean = pd.concat([clean, substitutes], ignore_index=True)
                clean = clean.sort_values(["zip", "valid_time"], kind="stable",
                                          ignore_index=True)
            else:
                clean = substitutes
        note: dict[str, str] = {}
        for when in set(stale.values()):
            age = (now_ns - _utc_ns(when)) / HOUR_NS
            note[when] = f"stale: using forecast issued {_when(_utc_ns(when))} ({age:.0f} h old)"
        notes = {z: note[when] for z, when in stale.items()}
    left_out = [z for z in quarantined if z not in stale]
    result = QualityResult(
        frame=clean, quarantined=quarantined, stale=stale, left_out=left_out,
        coverage=(len(asked) - len(left_out)) / len(asked), categories=categories,
        n_asked=len(asked), min_coverage=rules.min_coverage,
        grid=grid.to_json() if grid else None, stale_notes=notes, n_rows_unasked=n_unasked,
        max_examples=rules.max_examples,
    )
    if result.coverage < rules.min_coverage:
        raise CoverageTooLow(coverage_message(result), result)
    return result


def coverage_message(result: QualityResult, top: int = 5) -> str:
    """Why coverage is too low, the commonest reasons with counts, and how to proceed."""
    usable = result.n_asked - len(result.left_out)
    left = Counter(result.categories[z] for z in result.left_out).most_common(top)
    reasons = "; ".join(f"{c}: {n:,} ZIPs" for c, n in left) or "none"
    examples = "; ".join(f"{z} ({result.quarantined[z]})" for z in result.left_out[:3])
    return (
        f"forecast coverage {result.coverage:.2%} ({usable:,} of {result.n_asked:,} ZIPs usable, "
        f"{len(result.stale):,} of them stale) is below the minimum "
        f"{result.min_coverage:.2%}. Top reasons: {reasons}. E.g. {examples}. "
        "To proceed: fix the source or its input, run fewer states (--states), or lower "
        f"ZIPCAST_QUALITY__MIN_COVERAGE (now {result.min_coverage:g})."
    )
