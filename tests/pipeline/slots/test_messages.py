"""Tests for slot facts, drafts, headlines and automatic messages."""

import numpy as np
import pandas as pd

from pipeline.features import FACT_COLUMNS
from pipeline.slots import automatic_message, clock, headline, member_facts, statement_message


def members(n: int = 4, **overrides) -> pd.DataFrame:
    base = {
        "zip": [f"{i:05d}" for i in range(n)], "high_f": np.linspace(40, 44, n),
        "low_f": np.linspace(30, 33, n), "pop_max": np.full(n, 80.0),
        "precip_total_in": np.full(n, 0.3), "snow_total_in": np.zeros(n),
        "precip": np.ones(n, dtype=bool), "precip_type": ["rain"] * n,
        "precip_start_hour": np.full(n, 14.0), "precip_end_hour": np.full(n, 20.0),
        "precip_start_offset_h": np.full(n, 8.0), "wind_max_mph": np.full(n, 15.0),
        "gust_max_mph": np.full(n, 28.0), "wind_category": ["breezy"] * n,
        "cloud_mean": np.full(n, 90.0), "sky": ["overcast"] * n, "hazards": [""] * n,
    }
    base.update(overrides)
    return pd.DataFrame(base)[FACT_COLUMNS]


STATED = {"high_f": (40.0, 45.0), "low_f": (30.0, 35.0), "precip": True, "precip_type": "rain",
          "onset_offset_h": 8.0, "onset_clock": 14.0, "sky": "overcast",
          "wind_category": "breezy", "hazards": ["freeze"]}


def test_member_facts_state_ranges_over_all_members():
    """Member facts give min, max and median over every member, and majorities."""
    facts = member_facts(members())
    assert facts["high_f"] == {"min": 40.0, "max": 44.0, "median": 42.0}
    assert facts["precip"]["share"] == 1.0 and facts["precip"]["type"] == "rain"
    assert facts["wind"]["category"] == "breezy"


def test_majority_ties_do_not_depend_on_row_order():
    """A tie between categories resolves the same way whatever the member order."""
    a = member_facts(members(wind_category=["calm", "calm", "windy", "windy"]))
    b = member_facts(members(wind_category=["windy", "windy", "calm", "calm"]))
    assert a["wind"]["category"] == b["wind"]["category"] == "calm"


def test_statement_message_says_exactly_the_statement():
    """The draft states the ranges, the precipitation onset, the wind and the hazards."""
    assert statement_message(STATED) == (
        "Highs 40–45°F, lows 30–35°F. Rain from about 2 pm. Breezy. Watch for freeze."
    )
    dry = {**STATED, "precip": False, "precip_type": "none", "wind_category": "calm",
           "hazards": [], "sky": "sunny"}
    assert statement_message(dry) == "Highs 40–45°F, lows 30–35°F. Dry, sunny."


def test_headline_is_short():
    """The headline names the weather, its timing and the highs."""
    assert headline(STATED) == "Rain from 2 pm, 40–45°F"


def test_automatic_message_uses_the_zips_own_facts():
    """A misfit's automatic message states its own high, low and precipitation."""
    row = members(1, high_f=np.array([51.3]), low_f=np.array([38.0]),
                  hazards=["strong gusts"]).to_dict("records")[0]
    assert automatic_message(row) == (
        "Highs near 51°F, lows near 38°F. Rain from about 2 pm. Breezy. "
        "Watch for strong gusts."
    )


def test_clock():
    """Hours print as a person says them."""
    assert [clock(0), clock(9), clock(12), clock(14.0), clock(None)] == [
        "midnight", "9 am", "noon", "2 pm", "",
    ]
