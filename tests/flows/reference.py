"""An independent, slow-but-obvious recomputation of slot facts from a run's own files.

It shares no code with pipeline.features or pipeline.slots: it re-cuts each ZIP's local
window with plain pandas time-zone conversion and re-derives the facts a slot states.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from pipeline.geo import load_zips


def member_facts(run_dir: Path, start_hour: int, hours: int) -> pd.DataFrame:
    """Per-ZIP high, low, precipitation (yes, type, onset), wind over the local window."""
    forecast = pd.read_parquet(run_dir / "forecast.parquet")
    zones = load_zips().set_index("zip")["timezone"]
    issue = forecast["issue_time"].iloc[0]
    rows = []
    for zip_code, group in forecast.groupby("zip"):
        tz = zones[zip_code]
        local = group["valid_time"].dt.tz_convert(tz).dt.tz_localize(None)
        local_issue = issue.tz_convert(tz).tz_localize(None)
        start = local_issue.normalize() + pd.Timedelta(hours=start_hour)
        if start < local_issue:
            start += pd.Timedelta(days=1)
        inside = group[(local >= start) & (local < start + pd.Timedelta(hours=hours))]
        wet = ((inside["precip_in"] >= 0.01) | (inside["precip_probability"] >= 40)).to_numpy()
        wind = inside["wind_mph"].max()
        rows.append(
            {
                "zip": zip_code,
                "high": inside["temperature_f"].max(),
                "low": inside["temperature_f"].min(),
                "wet": bool(wet.any()),
                "onset": float(wet.argmax()) if wet.any() else None,  # hours from start
                "wind": wind,
                "wind_category": ("calm" if wind < 10 else "breezy" if wind < 20
                                  else "windy" if wind < 30 else "very windy"),
                "steps": len(inside),
            }
        )
    return pd.DataFrame(rows).set_index("zip")


def check_slots_agree(run_dir: Path, start_hour: int = 6, hours: int = 18) -> int:
    """Assert every slot's stated facts match its members; return the number of slots checked."""
    facts = member_facts(run_dir, start_hour, hours)
    assert (facts["steps"] == hours).all(), "every ZIP's window is complete"
    slots = json.loads((run_dir / "slots.json").read_text())
    assignments = pd.read_parquet(run_dir / "assignments.parquet").set_index("zip")
    assert sorted(assignments.index) == sorted(facts.index), "every ZIP is assigned once"
    for slot in slots:
        members = facts.loc[slot["zips"]]
        assert (assignments.loc[slot["zips"], "slot_id"] == slot["slot_id"]).all()
        stated = slot["facts"]
        for key, column in (("high_f", "high"), ("low_f", "low")):
            assert stated[key]["min"] == round(members[column].min(), 1), (slot["slot_id"], key)
            assert stated[key]["max"] == round(members[column].max(), 1), (slot["slot_id"], key)
        assert stated["precip"]["share"] == round(members["wet"].mean(), 3), slot["slot_id"]
        assert stated["wind"]["max_mph"]["max"] == round(members["wind"].max(), 1)
        assert slot["n_zips"] == len(members)
    return len(slots)


def check_fits(run_dir: Path, start_hour: int = 6, hours: int = 18) -> None:
    """Assert each ZIP flagged as fitting meets its slot's statement, by the rule's words:
    high and low within 5 °F of the stated ranges, same precipitation yes/no, onset within
    2 h, same wind category. (Type and hazards are checked by the unit tests.)"""
    facts = member_facts(run_dir, start_hour, hours)
    slots = {s["slot_id"]: s["facts"]["stated"]
             for s in json.loads((run_dir / "slots.json").read_text())}
    assignments = pd.read_parquet(run_dir / "assignments.parquet").set_index("zip")
    assert (assignments["fits"] != assignments["automatic"]).all()
    assert assignments.loc[assignments["automatic"], "automatic_message"].notna().all()
    for zip_code, row in assignments[assignments["fits"]].iterrows():
        stated, mine = slots[row["slot_id"]], facts.loc[zip_code]
        lo, hi = stated["high_f"]
        assert lo - 5 <= mine["high"] <= hi + 5, (zip_code, "high")
        lo, hi = stated["low_f"]
        assert lo - 5 <= mine["low"] <= hi + 5, (zip_code, "low")
        assert mine["wet"] == stated["precip"], (zip_code, "precip")
        if stated["precip"]:
            assert abs(mine["onset"] - stated["onset_offset_h"]) <= 2, (zip_code, "onset")
        assert mine["wind_category"] == stated["wind_category"], (zip_code, "wind")
