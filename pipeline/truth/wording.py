"""Messages rendered from claims: slot drafts, headlines and automatic messages.

Every word of a rendered message is a claim of its statement (:mod:`pipeline.truth.claims`),
so the rule checks everything a subscriber reads. Messages are plain GSM-7 (no degree sign,
no en dash: "Highs 52-57F") and fit one SMS of 160 characters.

    Highs 52-57F, lows 38-43F. Rain from about 2 pm. Overcast. Breezy. Watch for freeze.
"""

from __future__ import annotations

from typing import Any

from pipeline.times import clock
from pipeline.truth.rule import Statement

PRECIP_WORDS = {"rain": "Rain", "snow": "Snow", "mix": "Wintry mix"}
WIND_WORDS = {"calm": "Light winds", "breezy": "Breezy", "windy": "Windy",
              "very windy": "Very windy"}
#: "heavy rain" is the hazard of 1 inch or more of water; on a snow day it falls as snow
HEAVY_WORDS = {"rain": "heavy rain", "snow": "heavy snow", "mix": "heavy rain/snow",
               "none": "heavy rain"}
SMS_LIMIT = 160
#: shorter words, used only when a message would not fit one SMS (same claims)
COMPACT = ((" from about ", " from "), ("Light winds.", "Calm."), ("Watch for ", "Watch: "),
           ("Wintry mix", "Mix"))


def temperature_text(lo: float, hi: float) -> str:
    """'52-57', 'near 71', '-8 to -3' (a hyphen after a minus sign would read as a range)."""
    a, b = int(round(lo)) + 0, int(round(hi)) + 0
    if a == b:
        return f"near {a}"
    return f"{a}-{b}" if a >= 0 else f"{a} to {b}"


def day_word(day: int) -> str:
    return {0: "today", 1: "tomorrow"}.get(day, f"in {day} days")


def onset_text(onset_h: float, long_window: bool) -> str:
    """'2 pm', or '2 pm tomorrow' in windows longer than a day."""
    when = clock(onset_h)
    return f"{when} {day_word(int(onset_h // 24))}" if long_window else when


def hazard_words(hazards: tuple[str, ...] | list[str], precip_type: str) -> list[str]:
    return [HEAVY_WORDS[precip_type] if h == "heavy rain" else h for h in hazards]


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def message(statement: Statement, *, long_window: bool = False) -> str:
    """The plain-text message of a statement: each sentence one or two of its claims."""
    s = statement
    parts = [f"Highs {temperature_text(*s.high_f)}F, lows {temperature_text(*s.low_f)}F."]
    if s.precip:
        word = PRECIP_WORDS[s.precip_type]
        parts.append(f"{word} from about {onset_text(s.onset_h, long_window)}."
                     if s.onset_h is not None else f"{word}.")
        if s.sky:
            parts.append(f"{s.sky.capitalize()}.")
    else:
        parts.append(f"Dry, {s.sky}." if s.sky else "Dry.")
    parts.append(f"{WIND_WORDS[s.wind_category]}.")
    if s.hazards:
        parts.append(f"Watch for {_join(hazard_words(s.hazards, s.precip_type))}.")
    text = " ".join(parts)
    for long, short in COMPACT:
        if len(text) <= SMS_LIMIT:
            break
        text = text.replace(long, short)
    return text


def headline(statement: Statement, *, long_window: bool = False) -> str:
    """'Rain from 2 pm, highs 40-45F' — what an editor scans for; a subset of the claims."""
    s = statement
    if s.precip:
        word = PRECIP_WORDS[s.precip_type]
        first = (f"{word} from {onset_text(s.onset_h, long_window)}" if s.onset_h is not None
                 else word)
    else:
        first = "Dry"
    sky = f", {s.sky}" if s.sky else ""
    return f"{first}{sky}, highs {temperature_text(*s.high_f)}F"


def own_statement(member: dict[str, Any]) -> Statement:
    """What one ZIP's own facts say, as a statement: true for that ZIP by construction."""
    high, low = float(member["high_f"]), float(member["low_f"])
    precip_type = str(member["precip_type"])
    onset = member.get("precip_onset_h")
    if onset is None or onset != onset:  # a run stored before the onset column: its clock
        onset = member.get("precip_start_hour")
    sky = member.get("sky")
    return Statement(
        high_f=(round(high), round(high)), low_f=(round(low), round(low)),
        precip_type=precip_type,
        onset_h=float(round(onset)) if precip_type != "none" and onset is not None else None,
        wind_category=str(member["wind_category"]),
        hazards=tuple(h for h in str(member.get("hazards") or "").split(",") if h),
        sky=sky if isinstance(sky, str) and sky else None,
    )


def automatic_message(member: dict[str, Any]) -> str:
    """A factual message from one ZIP's own facts, for a ZIP that fits no slot."""
    long_window = int(member.get("window_hours") or 24) > 24
    return message(own_statement(member), long_window=long_window)
