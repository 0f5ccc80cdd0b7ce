"""Messages rendered from claims: slot drafts, headlines and automatic messages.

Every word of a rendered message is a claim of its statement (:mod:`pipeline.truth.claims`),
so the rule checks everything a subscriber reads. Messages are plain GSM-7 (no degree sign,
no en dash: "Highs 52-57F") and fit one SMS of 160 characters.

    Highs 52-57F, lows 38-43F. Rain from about 2 pm. Overcast. Breezy. Watch for freeze.
"""

from __future__ import annotations

import math
from typing import Any

from pipeline.times import clock
from pipeline.truth.rule import Statement

PRECIP_WORDS = {"rain": "Rain", "snow": "Snow", "mix": "Wintry mix"}
WIND_WORDS = {"calm": "Light winds", "breezy": "Breezy", "windy": "Windy",
              "very windy": "Very windy"}
#: "heavy rain" is the hazard of an inch or more of *water*: heavy rain on a rain day; on a snow
#: or mixed day the facts say how much water, not how much snow, so the words say no more
HEAVY_WORDS = {"rain": "heavy rain", "snow": "heavy precipitation",
               "mix": "heavy precipitation"}
SMS_LIMIT = 160
#: shorter words with the same claims, used only when a message would not fit one SMS
COMPACT = (("heavy precipitation", "heavy precip"), ("Light winds.", "Light wind."),
           ("Watch for ", "Watch: "))


def temperature_text(lo: float, hi: float) -> str:
    """'52-57', 'near 71', '-8 to -3' (a hyphen after a minus sign would read as a range)."""
    a, b = int(round(lo)) + 0, int(round(hi)) + 0
    if a == b:
        return f"near {a}"
    return f"{a}-{b}" if a >= 0 else f"{a} to {b}"


#: windows longer than this say the day with a time: in a day-long window "9 am" could be this
#: morning or tomorrow's; the morning (18 h) and evening (19 h) windows hold each clock once,
#: read from their start
DAY_WORDS_AFTER_H = 20


def says_day(window_hours: float) -> bool:
    return window_hours > DAY_WORDS_AFTER_H


def day_word(day: int) -> str:
    return {0: "today", 1: "tomorrow"}.get(day, f"in {day} days")


def onset_text(onset_h: float, long_window: bool) -> str:
    """'2 pm', or '2 pm tomorrow' in windows that say the day (where midnight is '12 am':
    "midnight tomorrow" reads as the end of tomorrow to many). The day counts from the day the
    reader's window starts, when the message arrives."""
    if not long_window:
        return clock(onset_h)
    when = "12 am" if int(onset_h) % 24 == 0 else clock(onset_h)
    return f"{when} {day_word(int(onset_h // 24))}"


def hazard_words(hazards: tuple[str, ...] | list[str], precip_type: str) -> list[str]:
    return [HEAVY_WORDS[precip_type] if h == "heavy rain" else h for h in hazards]


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def message(statement: Statement, *, long_window: bool = False) -> str:
    """The plain-text message of a statement: each sentence one or two of its claims."""
    s = statement
    parts = []
    if s.high_f is not None and s.low_f is not None:
        parts.append(f"Highs {temperature_text(*s.high_f)}F, lows "
                     f"{temperature_text(*s.low_f)}F.")
    if s.precip:
        word = PRECIP_WORDS[s.precip_type]
        parts.append(f"{word} from about {onset_text(s.onset_h or 0.0, long_window)}.")
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
        first = (f"{PRECIP_WORDS[s.precip_type]} from about "
                 f"{onset_text(s.onset_h or 0.0, long_window)}")
    else:
        first = "Dry"
    sky = f", {s.sky}" if s.sky else ""
    highs = f", highs {temperature_text(*s.high_f)}F" if s.high_f is not None else ""
    return f"{first}{sky}{highs}"


def own_statement(member: dict[str, Any]) -> Statement:
    """What one ZIP's own facts say, as a statement: true for that ZIP by construction."""
    high, low = float(member["high_f"]), float(member["low_f"])
    precip_type = str(member["precip_type"])
    onset = member.get("precip_onset_h")
    if onset is None or onset != onset:  # a run stored before the onset column: its clock
        onset = member.get("precip_start_hour")
    if precip_type != "none" and (onset is None or onset != onset):
        raise ValueError(f"ZIP {member.get('zip')}: wet without an onset hour")
    sky = member.get("sky")
    # no temperature (a ZIP the quality gate let through without one): say none, not "nan"
    temps = not (math.isnan(high) or math.isnan(low))
    return Statement(
        high_f=(round(high), round(high)) if temps else None,
        low_f=(round(low), round(low)) if temps else None,
        precip_type=precip_type,
        onset_h=float(round(float(onset))) if precip_type != "none" and onset is not None
        else None,
        wind_category=str(member["wind_category"]),
        hazards=tuple(h for h in str(member.get("hazards") or "").split(",") if h),
        sky=sky if isinstance(sky, str) and sky else None,
    )


def automatic_message(member: dict[str, Any]) -> str:
    """A factual message from one ZIP's own facts, for a ZIP that fits no slot."""
    long_window = says_day(int(member.get("window_hours") or 18))
    return message(own_statement(member), long_window=long_window)
