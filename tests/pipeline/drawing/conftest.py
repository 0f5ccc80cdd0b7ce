"""Shared assignments for the drawing tests: the whole gazetteer spread over 80 slots."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.geo import load_zips


@pytest.fixture(scope="module")
def nation() -> pd.DataFrame:
    """Every gazetteer ZIP, each in the slot of the nearest of 80 fixed centres (lat/lon)."""
    zips = load_zips()
    centres = zips.sample(80, random_state=1)[["lat", "lon"]].to_numpy()
    where = zips[["lat", "lon"]].to_numpy()
    nearest = ((where[:, None, :] - centres[None]) ** 2).sum(axis=2).argmin(axis=1)
    frame = pd.DataFrame(zips.drop(columns="geometry"))
    frame["slot_id"] = np.array([f"s{i:03d}" for i in nearest])
    return frame
