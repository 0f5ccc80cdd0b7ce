"""An independent, slow-but-obvious check of a run's messages against its own forecast rows.

It shares no code with ``pipeline.features``, ``pipeline.truth`` or ``pipeline.slots``: it
re-cuts each ZIP's local window with plain pandas time-zone conversion, re-derives each ZIP's
facts from the rule's words and the README's thresholds, parses every message back into claims
with its own regular expressions, and checks each claim for each ZIP that is told it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.geo import load_zips

# the thresholds, as the README states them
WET_IN, WET_CHANCE = 0.01, 40
SNOW_AT_OR_BELOW, RAIN_AT_OR_ABOVE = 32, 36
WIND = [(10, "calm"), (20, "breezy"), (30, "windy")]
SKY = [(25, "sunny"), (60, "partly cloudy"), (85, "mostly cloudy")]
HEAT, FREEZE, HEAVY_IN, GUSTS = 95, 32, 1.0, 45
SLACK = 2  # °F on each side of a stated range


def member_facts(run_dir: Path, start_hour: int | None, hours: int | None) -> pd.DataFrame:
    """Per-ZIP facts over the local window (``start_hour=None``: the whole forecast)."""
    forecast = pd.read_parquet(run_dir / "forecast.parquet")
    zones = load_zips().set_index("zip")["timezone"]
    issue = forecast["issue_time"].max()
    frames = []
    for tz, rows in forecast.groupby(forecast["zip"].map(zones)):
        local = rows["valid_time"].dt.tz_convert(tz).dt.tz_localize(None)
        rows = rows.assign(local=local)
        if start_hour is not None:
            local_issue = issue.tz_convert(tz).tz_localize(None)
            start = local_issue.normalize() + pd.Timedelta(hours=start_hour)
            if start < local_issue:
                start += pd.Timedelta(days=1)
            # a 3-hourly step may not fall on the hour the window starts: first step at or after
            rows = rows[(local >= start) & (local < start + pd.Timedelta(hours=hours))]
        frames.append(rows)
    rows = pd.concat(frames).sort_values(["zip", "valid_time"])
    step_h = rows.groupby("zip")["valid_time"].diff().dt.total_seconds().dropna().min() / 3600
    chance = rows["precip_probability"] if "precip_probability" in rows else 0
    rows["wet"] = (rows["precip_in"].fillna(0) >= WET_IN) | (pd.Series(chance).fillna(0)
                                                              >= WET_CHANCE)
    temp = rows["temperature_f"]
    kind = np.where(temp <= SNOW_AT_OR_BELOW, "snow",
                    np.where(temp >= RAIN_AT_OR_ABOVE, "rain", "mix"))
    if "snow_in" in rows and rows["snow_in"].notna().any():
        liquid = rows["precip_in"].fillna(0).to_numpy()
        snow = rows["snow_in"].fillna(0).to_numpy()
        ratio = np.divide(snow, liquid, out=np.zeros_like(snow), where=liquid > 0)
        kind = np.where(ratio >= 8, "snow",
                        np.where((ratio < 2) & (temp > SNOW_AT_OR_BELOW), "rain", kind))
        kind = np.where((ratio >= 2) & (ratio < 8), "mix", kind)
    rows["kind"] = np.where(rows["wet"], kind, "")
    gust = rows["gust_mph"] if "gust_mph" in rows else rows["wind_mph"]
    rows["gust"] = np.fmax(gust.to_numpy(float), rows["wind_mph"].to_numpy(float))
    out = []
    for zip_code, z in rows.groupby("zip", sort=False):
        wet = z[z["wet"]]
        kinds = set(wet["kind"])
        precip = ("none" if wet.empty else "mix" if "mix" in kinds or kinds == {"rain", "snow"}
                  else kinds.pop())
        high, low = z["temperature_f"].max(), z["temperature_f"].min()
        first = wet["local"].iloc[0] if len(wet) else None
        start = z["local"].iloc[0]
        start_h = start.hour + start.minute / 60
        cloud = z["cloud_cover"].mean() if "cloud_cover" in z else np.nan
        hazards = {name for name, on in (("heat", high >= HEAT), ("freeze", low <= FREEZE),
                                         ("heavy rain", z["precip_in"].sum() >= HEAVY_IN),
                                         ("strong gusts", z["gust"].max() >= GUSTS)) if on}
        out.append({
            "zip": zip_code, "high": high, "low": low, "precip": precip,
            # local hours since midnight of the day this ZIP's window starts
            "onset": None if first is None else
            (first.normalize() - start.normalize()).days * 24 + first.hour + first.minute / 60,
            "start": start_h, "end": start_h + len(z) * step_h,
            "wind": _category(z["wind_mph"].max(), WIND, "very windy"),
            "sky": None if np.isnan(cloud) else _category(cloud, SKY, "overcast"),
            "hazards": hazards, "steps": len(z), "precip_total": z["precip_in"].sum(),
            "wind_max": z["wind_mph"].max(),
        })
    facts = pd.DataFrame(out).set_index("zip")
    facts.attrs["step_hours"] = step_h
    facts.attrs["window_hours"] = len(z) * step_h
    return facts


def _category(value: float, bounds: list[tuple[float, str]], top: str) -> str:
    return next((name for bound, name in bounds if value < bound), top)


# -- messages, parsed with this file's own grammar ---------------------------------------

TEMP = r"(?:near (-?\d+)|(-?\d+)(?:-| to )(-?\d+))F"
CLOCK = r"\d{1,2} (?:am|pm)|noon|midnight"
DAY = r"(?: (today|tomorrow|in \d+ days))?"
SKIES = ("sunny", "partly cloudy", "mostly cloudy", "overcast")
TEMPS = re.compile(rf"^Highs {TEMP}, lows {TEMP}$")
WET = re.compile(rf"^(Rain|Snow|Wintry mix) from about ({CLOCK}){DAY}$")
WINDS = {"Light winds": "calm", "Light wind": "calm", "Breezy": "breezy", "Windy": "windy",
         "Very windy": "very windy"}
HEADLINE = re.compile(
    rf"^(?:Dry|(Rain|Snow|Wintry mix) from about ({CLOCK}){DAY})"
    rf"(?:, ({'|'.join(SKIES)}))?, highs {TEMP}$"
)
# an inch or more of water: "heavy rain" only where it rains, else "heavy precipitation"
HAZARD_WORDS = {"heat": "heat", "freeze": "freeze", "heavy rain": "heavy rain",
                "heavy precipitation": "heavy rain", "heavy precip": "heavy rain",
                "strong gusts": "strong gusts"}
TYPES = {"Rain": "rain", "Snow": "snow", "Wintry mix": "mix"}


def _range(near: str | None, lo: str | None, hi: str | None) -> tuple[int, int]:
    return (int(near), int(near)) if near is not None else (int(lo), int(hi))


def _clock(text: str) -> int:
    if text == "noon":
        return 12
    if text in ("midnight", "12 am"):
        return 0
    number, half = text.split()
    return int(number) % 12 + (12 if half == "pm" else 0)


def parse_message(text: str) -> dict:
    """A draft or automatic message → its claims, sentence by sentence; a sentence this
    grammar does not know fails (so nothing unchecked can be said)."""
    assert text.endswith("."), text
    sentences = text[:-1].split(". ")
    m = TEMPS.match(sentences.pop(0))
    assert m, f"no temperatures first: {text!r}"
    claims: dict = {"high": _range(*m.groups()[0:3]), "low": _range(*m.groups()[3:6]),
                    "sky": None}
    first = sentences.pop(0)
    wet = WET.match(first)
    if wet:
        claims.update(precip=TYPES[wet[1]], onset=_clock(wet[2]), onset_day=wet[3])
        if sentences and sentences[0].lower() in SKIES:
            claims["sky"] = sentences.pop(0).lower()
    else:
        dry, _, sky = first.partition(", ")
        assert dry == "Dry" and (not sky or sky in SKIES), f"unknown sentence {first!r}"
        claims.update(precip="none", sky=sky or None)
    wind = sentences.pop(0)
    assert wind in WINDS, f"unknown sentence {wind!r} in {text!r}"
    claims["wind"] = WINDS[wind]
    claims["hazards"] = set()
    if sentences:
        said = sentences.pop(0)
        assert said.startswith(("Watch for ", "Watch: ")), f"unknown {said!r} in {text!r}"
        named = re.split(r", | and ", said.removeprefix("Watch for ").removeprefix("Watch: "))
        assert all(w in HAZARD_WORDS for w in named), (text, named)
        assert ("heavy rain" not in named) or claims["precip"] == "rain", text
        claims["hazards"] = {HAZARD_WORDS[w] for w in named}
    assert not sentences, f"unchecked sentences {sentences} in {text!r}"
    return claims


def parse_headline(text: str) -> dict:
    m = HEADLINE.match(text)
    assert m, f"headline says something unchecked (or malformed): {text!r}"
    g = m.groups()
    claims = {"high": _range(*g[4:7]), "sky": g[3]}
    claims["precip"] = TYPES[g[0]] if g[0] else "none"
    if g[0]:
        claims["onset"] = _clock(g[1])
        claims["onset_day"] = g[2]
    return claims


def designated(clock: int, day: str | None, mine: pd.Series) -> float:
    """The moment a reader takes "from about <clock> [day]" to mean, in hours since midnight of
    the day their window starts: with a day word, that day; without one, the one time in their
    own window showing that clock (windows of a day or less hold each clock once), else the
    nearest such time to the window."""
    if day is not None:
        number = {"today": 0, "tomorrow": 1}.get(day)
        return (int(day.split()[1]) if number is None else number) * 24 + clock
    candidates = [clock + 24 * k for k in range(-1, 4)]
    inside = [c for c in candidates if mine["start"] <= c < mine["end"]]
    if inside:
        return inside[0]
    return min(candidates, key=lambda c: min(abs(c - mine["start"]), abs(c - mine["end"])))


def claims_hold(claims: dict, mine: pd.Series, step_hours: float) -> dict[str, bool]:
    """Each claim of ``claims`` checked against one ZIP's own facts."""
    out = {}
    lo, hi = claims["high"]
    out["high"] = lo - SLACK <= mine["high"] <= hi + SLACK
    if "low" in claims:
        lo, hi = claims["low"]
        out["low"] = lo - SLACK <= mine["low"] <= hi + SLACK
    out["precip"] = mine["precip"] == claims["precip"]
    if claims["precip"] != "none":
        tol = 2 if step_hours < 3 else 3
        when = designated(claims["onset"], claims["onset_day"], mine)
        out["onset"] = mine["onset"] is not None and abs(mine["onset"] - when) <= tol
    if "wind" in claims:
        out["wind"] = mine["wind"] == claims["wind"]
    if claims.get("sky"):
        out["sky"] = mine["sky"] == claims["sky"]
    if "hazards" in claims:
        out["hazards"] = set(mine["hazards"]) == claims["hazards"]
    return out


def check_messages(run_dir: Path, start_hour: int | None = 6, hours: int | None = 18, *,
                   exact: bool = True) -> dict[str, float]:
    """Assert every claim of every draft, headline and automatic message is true for each ZIP
    it is sent to (the fitting members; the ZIP itself), and every message fits one SMS.

    With ``exact`` (windows that start on the same local day for every ZIP: morning,
    evening), the ZIPs the run calls fitting are exactly those found fully true here; with a
    ``full`` window starting at one instant, ZIPs east and west of a date line can read the
    same clock on different days, and the run may count one fewer than a reader would.

    Returns the share of ZIPs whose slot draft is fully true, recomputed here.
    """
    facts = member_facts(run_dir, start_hour, hours)
    step_h = facts.attrs["step_hours"]
    slots = json.loads((run_dir / "slots.json").read_text())
    assignments = pd.read_parquet(run_dir / "assignments.parquet").set_index("zip")
    assert sorted(assignments.index) == sorted(facts.index), "every ZIP is assigned once"
    assert (assignments["fits"] != assignments["automatic"]).all()
    fully_true = pd.Series(False, index=facts.index)
    for slot in slots:
        text = slot["draft_message"]
        assert len(text) <= 160 and text.isascii(), text
        draft, head = parse_message(text), parse_headline(slot["headline"])
        members = facts.loc[slot["zips"]]
        for zip_code, mine in members.iterrows():
            held = claims_hold(draft, mine, step_h)
            fully_true[zip_code] = all(held.values())
            if assignments.loc[zip_code, "fits"]:
                assert all(held.values()), (slot["slot_id"], zip_code, text, held)
                assert all(claims_hold(head, mine, step_h).values()), (
                    slot["slot_id"], zip_code, slot["headline"])
    for zip_code, row in assignments[assignments["automatic"]].iterrows():
        text = row["automatic_message"]
        assert len(text) <= 160 and text.isascii(), text
        held = claims_hold(parse_message(text), facts.loc[zip_code], step_h)
        assert all(held.values()), (zip_code, text, held)
    flagged = assignments["fits"].reindex(fully_true.index)
    # what the run calls true is (exactly, or at most) what this independent check finds true
    wrong = flagged != fully_true if exact else flagged & ~fully_true
    assert not wrong.any(), fully_true[wrong].head()
    return {"fully_true": float(fully_true.mean()), "n_slots": len(slots)}


def check_slots_agree(run_dir: Path, start_hour: int = 6, hours: int = 18) -> int:
    """Assert every slot's member spread matches its members; return the number of slots."""
    facts = member_facts(run_dir, start_hour, hours)
    assert (facts["steps"] == hours / facts.attrs["step_hours"]).all(), "complete windows"
    slots = json.loads((run_dir / "slots.json").read_text())
    assignments = pd.read_parquet(run_dir / "assignments.parquet").set_index("zip")
    assert sorted(assignments.index) == sorted(facts.index), "every ZIP is assigned once"
    for slot in slots:
        members = facts.loc[slot["zips"]]
        assert (assignments.loc[slot["zips"], "slot_id"] == slot["slot_id"]).all()
        spread = slot["facts"]
        for key, column in (("high_f", "high"), ("low_f", "low")):
            assert spread[key]["min"] == round(members[column].min(), 1), (slot["slot_id"], key)
            assert spread[key]["max"] == round(members[column].max(), 1), (slot["slot_id"], key)
        wet = (members["precip"] != "none").mean()
        assert spread["precip"]["share"] == round(wet, 3), slot["slot_id"]
        assert spread["wind"]["max_mph"]["max"] == round(members["wind_max"].max(), 1)
        assert slot["n_zips"] == len(members)
    return len(slots)
