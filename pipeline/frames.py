"""Two pandas operations the national run does often, without pandas' per-element Python.

On pandas 3 text columns hold Arrow strings. ``DataFrame.to_dict("records")`` then walks
each string cell through a Python iterator, and ``Series.isin`` turns every value looked up
into an Arrow scalar one at a time: half a second each on 41k ZIPs or 3M forecast rows.
These give the same results column by column (see ``tests/pipeline/test_frames.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """``frame.to_dict("records")``: a dict per row, the columns in order, native values
    (Python str, float, int, bool; Timestamps stay Timestamps; missing text stays NaN)."""
    columns = frame.columns.tolist()
    values = [_native(frame.iloc[:, i]) for i in range(len(columns))]
    return [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)]


def _native(column: pd.Series) -> list[Any]:
    out = column.tolist()
    if column.dtype == object:  # numpy scalars kept in object columns become Python's, as
        out = [v.item() if isinstance(v, np.generic) else v for v in out]  # to_dict does
    elif not isinstance(column.dtype, np.dtype) and column.hasnans:
        out = [None if v is pd.NA else v for v in out]  # nullable columns' NA reads None
    return out


def isin(column: pd.Series, values: Iterable[Any]) -> np.ndarray:
    """``column.isin(values).to_numpy()``; fast for an Arrow text column looked up in text
    ``values`` (such as ZIP codes), pandas' own otherwise."""
    listed = values if isinstance(values, pd.Series | pd.Index | np.ndarray | list | tuple) \
        else list(values)
    lookup = pd.unique(np.asarray(listed, dtype=object))
    arrow_text = isinstance(column.dtype, pd.StringDtype) and column.dtype.storage == "pyarrow"
    if not arrow_text or not all(isinstance(v, str) for v in lookup):
        return column.isin(lookup).to_numpy(bool)
    if not len(lookup):
        return np.zeros(len(column), dtype=bool)
    cells = pa.chunked_array(column.array._pa_array)  # the column's Arrow data, no copy
    found = pc.is_in(cells, value_set=pa.array(lookup, type=cells.type))
    return np.asarray(pc.fill_null(found, False).to_numpy(zero_copy_only=False), dtype=bool)
