"""Tests for slot facts, names and draft messages."""

import numpy as np
import pandas as pd

from pipeline.features import FACT_COLUMNS
from pipeline.slots import clock, draft_message, slot_facts


def member_facts(n: int = 4, **overrides) -> pd.DataFrame:
    base = {
        "zip": [f"{i:05d}" for i in range(n)],
        "high_f": np.linspace(40, 44, n),
        "low_f": np.linspace(30, 33, n),
        "pop_max": np.full(n, 80.0),
        "precip_total_in": np.full(n, 0.3),
        "snow_total_in": np.zeros(n),
        "precip": np.ones(n, dtype=bool),
        "precip_type": ["rain"] * n,
        "precip_start_hour": np.full(n, 14.0),
        "precip_end_hour": np.full(n, 20.0),
        "wind_max_mph": np.full(n, 15.0),
        "gust_max_mph": np.full(n, 28.0),
        "wind_category": ["breezy"] * n,
        "cloud_mean": np.full(n, 90.0),
        "sky": ["overcast"] * n,
        "hazards": [""] * n,
    }
    base.update(overrides)
    return pd.DataFrame(base)[FACT_COLUMNS]


def test_slot_facts_state_ranges_over_all_members():
    """High and low are stated as min–max over every member, with the median."""
    facts = slot_facts(member_facts())
    assert facts["high_f"] == {"min": 40.0, "max": 44.0, "median": 42.0}
    assert facts["low_f"]["min"] == 30.0 and facts["low_f"]["max"] == 33.0
    assert facts["precip"]["share"] == 1.0 and facts["precip"]["type"] == "rain"
    assert facts["wind"]["category"] == "breezy"


def test_draft_message_reads_like_a_forecast():
    """The draft states temperatures, precipitation timing and chance, and wind."""
    text = draft_message(slot_facts(member_facts()))
    assert text == (
        "Highs 40–44°F, lows 30–33°F. Rain likely from about 2 pm to 8 pm (80% chance). "
        "Breezy, gusts to 28 mph."
    )


def test_draft_message_dry_and_hazard():
    """A dry slot names its sky; a hazard most members share is called out."""
    facts = slot_facts(
        member_facts(precip=np.zeros(4, dtype=bool), precip_type=["none"] * 4,
                     wind_category=["calm"] * 4, sky=["sunny"] * 4,
                     hazards=["freeze"] * 3 + [""], high_f=np.full(4, 41.0))
    )
    assert facts["hazards"] == {"freeze": 0.75}
    assert draft_message(facts) == "Highs near 41°F, lows 30–33°F. Dry, sunny. Watch for freeze."


def test_majority_ties_do_not_depend_on_row_order():
    """A tie between categories resolves the same way whatever the member order."""
    a = slot_facts(member_facts(wind_category=["calm", "calm", "windy", "windy"]))
    b = slot_facts(member_facts(wind_category=["windy", "windy", "calm", "calm"]))
    assert a["wind"]["category"] == b["wind"]["category"] == "calm"


def test_clock():
    """Hours print as a person says them."""
    assert [clock(0), clock(9), clock(12), clock(14.0), clock(None)] == [
        "midnight", "9 am", "noon", "2 pm", "",
    ]
