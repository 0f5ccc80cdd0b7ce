"""Pandas operations the national run does often, without pandas' per-element work.

On pandas 3 text columns hold Arrow strings. ``DataFrame.to_dict("records")`` then walks
each string cell through a Python iterator, ``Series.isin`` turns every value looked up into
an Arrow scalar one at a time, and ``pd.factorize`` hashes 3M forecast rows' ZIPs in pandas'
own table: a tenth to half a second each on 41k ZIPs or 3M forecast rows. Arrow's C++ does
the same work in a few hundredths. These give the same results column by column (see
``tests/pipeline/test_frames.py``).
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


def is_arrow_text(values: Any) -> bool:
    """Whether ``values`` (a Series, Index or array) holds pandas' Arrow-backed text."""
    dtype = getattr(values, "dtype", None)
    return isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"


def _arrow_data(values: pd.Series | pd.Index | pd.api.extensions.ExtensionArray
                ) -> pa.ChunkedArray:
    array = values.array if isinstance(values, pd.Series | pd.Index) else values
    return pa.chunked_array(array._pa_array)  # type: ignore[attr-defined]


def isin(column: pd.Series, values: Iterable[Any]) -> np.ndarray:
    """``column.isin(values).to_numpy(bool)``; fast for an Arrow text column looked up in a
    list of text (such as ZIP codes) or in Arrow text without missing values (such as
    another column's ``unique()``), pandas' own for anything else."""
    if not is_arrow_text(column):
        return np.asarray(column.isin(values), dtype=bool)
    cells = _arrow_data(column)
    lookup: pa.Array | None = None
    if is_arrow_text(values):  # Arrow text: no Python strings at all
        data = _arrow_data(values)  # type: ignore[arg-type]
        if not data.null_count:
            lookup = pc.unique(data.combine_chunks())
    elif isinstance(values, _LISTS):
        listed = np.asarray(list(values) if isinstance(values, set | frozenset) else values,
                            dtype=object)
        if listed.ndim == 1 and all(isinstance(v, str) for v in listed):
            lookup = pa.array(pd.unique(listed), type=cells.type)
    if lookup is None:
        return np.asarray(column.isin(values), dtype=bool)
    if not len(lookup):
        return np.zeros(len(column), dtype=bool)
    found = pc.is_in(cells, value_set=lookup.cast(cells.type))
    return np.asarray(pc.fill_null(found, False).to_numpy(zero_copy_only=False), dtype=bool)


def factorize(column: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """``pd.factorize(column)``: codes (-1 where missing) in the order values first appear,
    and the distinct values as an Index of the column's dtype. An Arrow text column is
    dictionary-encoded by Arrow, which numbers values in that same order."""
    if not is_arrow_text(column):
        codes, uniques = pd.factorize(column)
        return codes, pd.Index(uniques)
    encoded = _arrow_data(column).combine_chunks().dictionary_encode()
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.intp)
    return codes, pd.Index(pd.Series(encoded.dictionary, dtype=column.dtype))


def repeat_each(column: pd.Series, times: int) -> pd.Series:
    """``column.take(np.repeat(np.arange(len(column)), times)).reset_index(drop=True)``:
    each value ``times`` times in a row (a forecast's ZIP for each of its hours). Arrow text
    of one byte length and no missing value (ZIP codes) is laid out directly: the same
    column, without pandas' take over 3M strings."""
    if is_arrow_text(column) and len(column) and times > 0:
        data = _arrow_data(column).combine_chunks()
        if data.type == pa.large_string() and not data.null_count:
            offsets = np.frombuffer(data.buffers()[1], dtype=np.int64,
                                    count=len(data) + 1, offset=8 * data.offset)
            width = int(offsets[1] - offsets[0])
            if width > 0 and (np.diff(offsets) == width).all():
                n = len(data) * times
                chars = np.frombuffer(data.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
                repeated = np.repeat(chars.reshape(len(data), width), times, axis=0)
                out = pa.LargeStringArray.from_buffers(
                    n, pa.py_buffer(np.arange(0, n * width + 1, width, dtype=np.int64)),
                    pa.py_buffer(repeated.reshape(-1)))
                return pd.Series(out, dtype=column.dtype, name=column.name)
    return column.take(np.repeat(np.arange(len(column)), times)).reset_index(drop=True)
