"""A slot's spreads (min, max, median, p10, p90) are pandas' numbers, whatever the dtype."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.slots.build import _range


def _pandas(values: pd.Series) -> dict:
    vals = values.dropna()
    if vals.empty:
        return dict.fromkeys(("min", "max", "median", "p10", "p90"))
    return {"min": round(float(vals.min()), 1), "max": round(float(vals.max()), 1),
            "median": round(float(vals.median()), 1),
            "p10": round(float(vals.quantile(0.1)), 1),
            "p90": round(float(vals.quantile(0.9)), 1)}


@pytest.mark.parametrize("dtype", ["float64", "float32", "Float64", "int64", "Int64"])
def test_same_numbers_as_pandas(dtype):
    rng = np.random.default_rng(4)
    for _ in range(300):
        k = int(rng.integers(1, 50))
        x = np.round(rng.normal(50, 20, k), int(rng.integers(0, 3)))
        s = pd.Series(x.astype(int) if dtype.lower().startswith("int") else x).astype(dtype)
        if dtype != "int64":  # every other dtype can hold a missing value
            s = s.mask(pd.Series(rng.random(k) < 0.2))
        assert _range(s) == _pandas(s)


def test_nothing_present():
    assert _range(pd.Series([np.nan, np.nan])) == _pandas(pd.Series([np.nan, np.nan]))
    assert _range(pd.Series([], dtype=float))["median"] is None
