"""Tests for the member spread a slot shows its editors."""

import numpy as np
import pandas as pd

from pipeline.features import FACT_COLUMNS
from pipeline.slots import member_facts


def members(n: int = 4, **overrides) -> pd.DataFrame:
    base = {
        "zip": [f"{i:05d}" for i in range(n)], "high_f": np.linspace(40, 44, n),
        "low_f": np.linspace(30, 33, n), "pop_max": np.full(n, 80.0),
        "precip_total_in": np.full(n, 0.3), "snow_total_in": np.zeros(n),
        "precip": np.ones(n, dtype=bool), "precip_type": ["rain"] * n,
        "precip_start_hour": np.full(n, 14.0), "precip_end_hour": np.full(n, 20.0),
        "precip_start_offset_h": np.full(n, 8.0), "precip_onset_h": np.full(n, 14.0),
        "wind_max_mph": np.full(n, 15.0),
        "gust_max_mph": np.full(n, 28.0), "wind_category": ["breezy"] * n,
        "cloud_mean": np.full(n, 90.0), "sky": ["overcast"] * n, "hazards": [""] * n,
        "step_hours": 1, "window_hours": 18, "window_start_h": np.full(n, 6.0),
    }
    base.update(overrides)
    return pd.DataFrame(base)[FACT_COLUMNS]


def test_member_facts_state_ranges_over_all_members():
    """Member facts give min, max, median and 10th/90th percentiles over every member,
    majorities, and each category's share (for the sheet's facts panel)."""
    facts = member_facts(members())
    assert facts["high_f"] == {"min": 40.0, "max": 44.0, "median": 42.0, "p10": 40.4,
                               "p90": 43.6}
    assert facts["precip"]["share"] == 1.0 and facts["precip"]["type"] == "rain"
    assert facts["precip"]["types"] == {"rain": 1.0}
    assert facts["wind"]["category"] == "breezy"
    assert sum(facts["wind"]["categories"].values()) == 1.0


def test_majority_ties_do_not_depend_on_row_order():
    """A tie between categories resolves the same way whatever the member order."""
    a = member_facts(members(wind_category=["calm", "calm", "windy", "windy"]))
    b = member_facts(members(wind_category=["windy", "windy", "calm", "calm"]))
    assert a["wind"]["category"] == b["wind"]["category"] == "calm"
