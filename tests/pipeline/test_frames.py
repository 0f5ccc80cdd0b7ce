"""pipeline.frames gives what pandas gives, value for value and type for type."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pipeline.frames import factorize, isin, records, repeat_each


def _same(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if a is pd.NA or a is pd.NaT:
        return b is a
    return bool(a == b)


def _check_records(frame: pd.DataFrame) -> None:
    want, got = frame.to_dict("records"), records(frame)
    assert len(got) == len(want)
    for w, g in zip(want, got, strict=True):
        assert list(g) == list(w)
        assert all(_same(w[k], g[k]) for k in w), (w, g)


def test_records_are_to_dicts_records_for_every_kind_of_column():
    frame = pd.DataFrame({
        "zip": pd.Series(["02134", None, "99501"], dtype="str"),
        "high_f": [71.5, np.nan, -3.0],
        "n": np.array([1, 2, 3], dtype=np.int64),
        "fits": [True, False, True],
        "when": pd.to_datetime(["2026-01-15T09:00Z"] * 3),
        "mixed": pd.Series([np.int64(4), np.float64(2.5), "x"], dtype=object),
        "maybe": pd.array([True, None, False], dtype="boolean"),
        "count": pd.array([1, None, 3], dtype="Int64"),
        "kind": pd.Categorical(["rain", "snow", "rain"]),
        "text": pd.Series(["a", None, "c"], dtype="string"),
        "share": pd.array([0.5, None, 1.0], dtype="Float64"),
    })
    _check_records(frame)
    assert records(frame.iloc[:0]) == []


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"zip": pd.Series(["02134", None], dtype="str"), "f": [1.5, np.nan],
                  "i": [1, 2], "ok": [True, False],
                  "t": pd.to_datetime(["2026-01-01", None]),
                  "tz": pd.to_datetime(["2026-01-01T00:00Z", None])}),
    pd.DataFrame({"o": pd.Series([pd.NA, np.datetime64("2026-01-01"), np.timedelta64(5, "s"),
                                  np.str_("x"), np.complex128(1)], dtype=object)}),
    pd.DataFrame({"sparse": pd.arrays.SparseArray([1.0, np.nan])}),
    pd.DataFrame({"s": pd.Series(["a", None], dtype="string")}),
    pd.DataFrame(index=[0, 1]),
], ids=["plain", "object", "sparse", "string", "no-columns"])
def test_records_box_like_pandas_in_the_corners(frame):
    _check_records(frame)


@pytest.mark.parametrize("values", [
    ["02134", "99501"], ("02134",), {"99501", "10001"}, [], ["02134", np.nan], [2134],
    pd.Series(["02134", "00000"], dtype="str"), np.array(["99501"], dtype=object),
    pd.Index(["02134"]),
])
def test_isin_is_pandas_isin(values):
    column = pd.Series(["02134", "99501", None, "02134", "10002"], dtype="str")
    want = column.isin(list(values) if isinstance(values, set) else values).to_numpy(bool)
    assert isin(column, values).tolist() == want.tolist()


@pytest.mark.parametrize("values", [[("a", "b")], [["a"]], "02134"])
def test_isin_leaves_odd_lookups_to_pandas(values):
    """Nested lists answer as pandas does; a bare string is refused as pandas refuses it."""
    column = pd.Series(["02134", "a"], dtype="str")
    try:
        want = column.isin(values).to_numpy(bool).tolist()
    except TypeError:
        with pytest.raises(TypeError):
            isin(column, values)
        return
    assert isin(column, values).tolist() == want


def test_isin_on_nullable_columns_is_pandas():
    column = pd.Series(pd.array([1, None, 3], dtype="Int64"))
    values = [1.0, np.nan]
    assert isin(column, values).tolist() == column.isin(values).to_numpy(bool).tolist()


def test_isin_leaves_other_columns_to_pandas():
    column = pd.Series([1, 2, 3])
    assert isin(column, [2, 5]).tolist() == [False, True, False]


@pytest.mark.parametrize("values", [
    pd.Series(["02134", "00000"], dtype="str").unique(),
    pd.Series(["99501", None], dtype="str").unique(),
    pd.Series(["02134"], dtype="string[pyarrow]"),
    pd.Index(pd.Series(["10002", "02134"], dtype="str")),
    pd.Series([], dtype="str").unique(),
])
def test_isin_looks_up_arrow_text_like_pandas(values):
    """Another column's distinct values (Arrow text) are looked up without Python strings;
    with a missing value among them, pandas answers (a missing cell then matches)."""
    column = pd.Series(["02134", "99501", None, "02134", "10002"], dtype="str")
    assert isin(column, values).tolist() == column.isin(values).to_numpy(bool).tolist()


@pytest.mark.parametrize("column", [
    pd.Series(["99501", "02134", None, "99501", "10002", "02134"], dtype="str"),
    pd.Series(["b", "a", "b"], dtype="string[pyarrow]"),
    pd.Series([], dtype="str"),
    pd.Series(["x", "y", "x", "z"], dtype="str").iloc[1:],  # a slice: the data has an offset
    pd.Series(pd.concat([pd.Series(["a", "b"], dtype="str"), pd.Series(["b", "c"], dtype="str")],
                        ignore_index=True)),
    pd.Series([3, 1, 3, np.nan]),
    pd.Series(["b", None, "a"], dtype=object),
], ids=["str", "string", "empty", "sliced", "concatenated", "float", "object"])
def test_factorize_is_pandas_factorize(column):
    want_codes, want_uniques = pd.factorize(column)
    codes, uniques = factorize(column)
    assert codes.dtype == want_codes.dtype
    np.testing.assert_array_equal(codes, want_codes)
    pd.testing.assert_index_equal(uniques, pd.Index(want_uniques))


@pytest.mark.parametrize("column", [
    pd.Series(["02134", "99501", "10002"], dtype="str", name="zip"),
    pd.Series(["x", "y", "x", "z"], dtype="str").iloc[1:],  # a slice: the data has an offset
    pd.Series(pd.concat([pd.Series(["a", "b"], dtype="str"), pd.Series(["c"], dtype="str")],
                        ignore_index=True)),
    pd.Series(["02134", "995"], dtype="str"),  # lengths differ
    pd.Series(["02134", None], dtype="str"),
    pd.Series(["", ""], dtype="str"),
    pd.Series(["é1", "ab"], dtype="str"),  # the same length in characters, not in bytes
    pd.Series([], dtype="str"),
    pd.Series(["b", "a"], dtype="string[pyarrow]"),
    pd.Series([1.5, np.nan]),
    pd.Series(["a", None], dtype=object, index=[7, 3]),
], ids=["zips", "sliced", "concatenated", "widths", "missing", "empty-strings", "utf8",
        "empty", "string", "float", "object"])
@pytest.mark.parametrize("times", [0, 1, 3])
def test_repeat_each_is_take(column, times):
    want = column.take(np.repeat(np.arange(len(column)), times)).reset_index(drop=True)
    got = repeat_each(column, times)
    pd.testing.assert_series_equal(got, want)
    if hasattr(want.array, "_pa_array"):  # the same Arrow type underneath
        assert got.array._pa_array.type == want.array._pa_array.type
