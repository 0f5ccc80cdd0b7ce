"""``assignments.parquet``: one row per ZIP of a run — its slot, fit and own facts.

The slots step writes it; the review sheet, the slot detail page, dispatch and replays read it
through :func:`read_assignments`, which checks the :class:`Assignments` contract. The facts are
those of :func:`pipeline.features.zip_facts`; runs stored before a fact column existed lack it,
so fact columns are optional and readers take what is there.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pandera.pandas as pa  # noqa: E402, I001
from pandera.errors import SchemaErrors  # noqa: E402
from pandera.typing import Series  # noqa: E402

import pipeline.validate  # noqa: F401 - imports pandera without its dask probe (see there)
from pipeline.truth import PRECIP_TYPES, SKY_CATEGORIES, WIND_CATEGORIES  # noqa: E402

FILE = "assignments.parquet"


class AssignmentsError(ValueError):
    """A run folder's ``assignments.parquet`` breaks its contract; the message says how."""


class Assignments(pa.DataFrameModel):
    """One row per ZIP: its slot, the DTW distance to the slot's barycenter, whether the
    slot's message is true there (else it reads its automatic message), and its facts."""

    zip: Series[str] = pa.Field(str_matches=r"^\d{5}$", unique=True)
    slot_id: Series[str]
    distance: Series[float] = pa.Field(ge=0, nullable=True)
    state: Series[str] | None
    fits: Series[bool]
    automatic: Series[bool] | None
    automatic_message: Series[str] | None = pa.Field(nullable=True)
    high_f: Series[float] | None = pa.Field(nullable=True)
    low_f: Series[float] | None = pa.Field(nullable=True)
    pop_max: Series[float] | None = pa.Field(nullable=True)
    precip_total_in: Series[float] | None = pa.Field(nullable=True)
    snow_total_in: Series[float] | None = pa.Field(nullable=True)
    precip: Series[bool] | None
    precip_type: Series[str] | None = pa.Field(isin=list(PRECIP_TYPES))
    precip_start_hour: Series[float] | None = pa.Field(nullable=True)
    precip_end_hour: Series[float] | None = pa.Field(nullable=True)
    precip_start_offset_h: Series[float] | None = pa.Field(nullable=True)
    precip_onset_h: Series[float] | None = pa.Field(nullable=True)
    wind_max_mph: Series[float] | None = pa.Field(nullable=True)
    gust_max_mph: Series[float] | None = pa.Field(nullable=True)
    wind_category: Series[str] | None = pa.Field(isin=list(WIND_CATEGORIES))
    cloud_mean: Series[float] | None = pa.Field(nullable=True)
    sky: Series[str] | None = pa.Field(isin=list(SKY_CATEGORIES), nullable=True)
    hazards: Series[str] | None
    step_hours: Series[int] | None = pa.Field(gt=0)
    window_hours: Series[int] | None = pa.Field(gt=0)

    class Config:
        coerce = True


def check_assignments(frame: pd.DataFrame, *, where: str = FILE) -> pd.DataFrame:
    """``frame`` checked against :class:`Assignments` (only the columns it has)."""
    schema = Assignments.to_schema()
    schema = schema.select_columns([c for c in schema.columns if c in frame.columns])
    try:
        return schema.validate(frame, lazy=True)
    except SchemaErrors as err:
        cases = err.failure_cases
        lines = [f"  {r.column}: {r.check} (row {r.index}, value {r.failure_case!r})"
                 for r in cases.head(10).itertuples()]
        raise AssignmentsError(f"{where}: {len(cases)} contract violation(s):\n"
                               + "\n".join(lines)) from None


def read_assignments(run_dir: str | Path, columns: Sequence[str] | None = None
                     ) -> pd.DataFrame | None:
    """The run's assignments (``columns`` of them), checked; None when the file is gone.

    Raises
    ------
    AssignmentsError
        When the file breaks the contract (or lacks a column asked for).
    """
    path = Path(run_dir) / FILE
    if not path.exists():
        return None
    frame = pd.read_parquet(path, columns=list(columns) if columns else None)
    for required in ("zip", "slot_id"):
        if required not in frame:
            raise AssignmentsError(f"{path}: no {required} column")
    return check_assignments(frame, where=str(path))
