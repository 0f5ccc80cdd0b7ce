"""Small hand-made fact tables for the truth tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def facts(**columns) -> pd.DataFrame:
    """Fact rows (as :func:`pipeline.features.zip_facts` writes them), defaults filled in."""
    n = len(next(iter(columns.values())))
    base = {
        "high_f": np.full(n, 50.0), "low_f": np.full(n, 35.0),
        "precip_type": ["none"] * n, "precip_onset_h": np.full(n, np.nan),
        "wind_category": ["calm"] * n, "sky": ["sunny"] * n, "hazards": [""] * n,
        "step_hours": 1, "window_hours": 18, "window_start_h": np.full(n, 6.0),
    }
    base.update(columns)
    return pd.DataFrame(base)


@pytest.fixture
def make_facts():
    return facts
