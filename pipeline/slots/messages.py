"""Plain-text messages built from facts: slot drafts, headlines and automatic messages.

Every sentence a draft contains is one the slot's statement makes true for its fitting members
(:mod:`pipeline.truth`); anything not covered by the fit rule (sky, timing words) is taken from
those members' own majority or median.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PRECIP_WORDS = {"rain": "Rain", "snow": "Snow", "mix": "Wintry mix"}


def clock(hour: float | None) -> str:
    """'2 pm' for 14.0, 'noon' and 'midnight' for 12 and 0; '' for None."""
    if hour is None or np.isnan(hour):
        return ""
    h = int(round(hour)) % 24
    if h in (0, 12):
        return "midnight" if h == 0 else "noon"
    suffix = "am" if h < 12 else "pm"
    return f"{(h % 12) or 12} {suffix}"


def _temperature(label: str, lo: float, hi: float) -> str:
    if hi - lo < 1:
        return f"{label} near {round(lo)}°F"
    return f"{label} {round(lo)}–{round(hi)}°F"


def statement_message(stated: dict[str, Any]) -> str:
    """A draft from a slot's stated facts (``facts["stated"]``)."""
    parts = [
        _temperature("Highs", *stated["high_f"]) + ", "
        + _temperature("lows", *stated["low_f"]) + ".",
    ]
    if stated["precip"]:
        word = PRECIP_WORDS.get(stated["precip_type"], "Rain")
        when = clock(stated.get("onset_clock"))
        parts.append(f"{word} from about {when}." if when else f"{word} expected.")
    else:
        parts.append(f"Dry, {stated['sky']}." if stated.get("sky") else "Dry.")
    if stated["wind_category"] != "calm":
        parts.append(f"{stated['wind_category'].capitalize()}.")
    if stated["hazards"]:
        parts.append(f"Watch for {', '.join(stated['hazards'])}.")
    return " ".join(parts)


def headline(stated: dict[str, Any]) -> str:
    """'Snow from 9 am, 18–23°F' — what an editor scans for."""
    lo, hi = stated["high_f"]
    temps = f"{round(lo)}–{round(hi)}°F" if hi - lo >= 1 else f"near {round(lo)}°F"
    if stated["precip"]:
        word = PRECIP_WORDS.get(stated["precip_type"], "Rain")
        when = clock(stated.get("onset_clock"))
        return f"{word} from {when}, {temps}" if when else f"{word}, {temps}"
    sky = stated.get("sky") or "dry"
    return f"{sky.capitalize()}, {temps}"


def automatic_message(member: dict[str, Any]) -> str:
    """A factual message from one ZIP's own facts, for a ZIP that fits no slot."""
    stated = {
        "high_f": (member["high_f"], member["high_f"]),
        "low_f": (member["low_f"], member["low_f"]),
        "precip": bool(member["precip"]),
        "precip_type": member["precip_type"],
        "onset_clock": member["precip_start_hour"] if member["precip"] else None,
        "sky": member.get("sky"),
        "wind_category": member["wind_category"],
        "hazards": [h for h in str(member["hazards"]).split(",") if h],
    }
    return statement_message(stated)
