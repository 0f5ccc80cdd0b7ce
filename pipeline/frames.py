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
    """``frame.to_dict("records")``, column by column where every column is a plain one (numpy
    bool, integer, float or datetime, or pandas' ``str``): Python values, Timestamps for
    datetimes, NaN for missing text. A frame with any other column (object, nullable,
    categorical…) is handed to pandas itself, which knows how to box those."""
    columns = frame.columns.tolist()
    if not columns or not all(_plain(dtype) for dtype in frame.dtypes):
        return frame.to_dict("records")
    values = [frame.iloc[:, i].tolist() for i in range(len(columns))]
    return [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)]


def _plain(dtype: Any) -> bool:
    if isinstance(dtype, np.dtype):
        return dtype.kind in "biufM"
    return isinstance(dtype, pd.DatetimeTZDtype) or (
        isinstance(dtype, pd.StringDtype) and dtype.na_value is np.nan)


_LISTS = (pd.Series, pd.Index, np.ndarray, list, tuple, set, frozenset)


def isin(column: pd.Series, values: Iterable[Any]) -> np.ndarray:
    """``column.isin(values).to_numpy(bool)``; fast for an Arrow text column looked up in a
    list of text (such as ZIP codes), pandas' own for anything else."""
    arrow_text = isinstance(column.dtype, pd.StringDtype) and column.dtype.storage == "pyarrow"
    if arrow_text and isinstance(values, _LISTS):
        listed = np.asarray(list(values) if isinstance(values, set | frozenset) else values,
                            dtype=object)
        if listed.ndim == 1 and all(isinstance(v, str) for v in listed):
            lookup = pd.unique(listed)
            if not len(lookup):
                return np.zeros(len(column), dtype=bool)
            cells = pa.chunked_array(column.array._pa_array)  # the column's Arrow data
            found = pc.is_in(cells, value_set=pa.array(lookup, type=cells.type))
            return np.asarray(pc.fill_null(found, False).to_numpy(zero_copy_only=False),
                              dtype=bool)
    return np.asarray(column.isin(values), dtype=bool)
