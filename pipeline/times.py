"""Time, one way everywhere: UTC stamps (naive means UTC) and clock hours as people say them."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pandas as pd


def to_utc(when: Any) -> pd.Timestamp:
    """A tz-aware UTC timestamp from a str, datetime or Timestamp (naive means UTC)."""
    stamp = pd.Timestamp(when)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def utc(moment: datetime) -> datetime:
    """An aware datetime; a naive one is UTC (SQLite hands back naive datetimes)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


def clock(hours: float | None) -> str:
    """A local clock hour as people say it: 0 → midnight, 7 → 7 am, 12 → noon,
    13.5 → 1:30 pm, 38 → 2 pm (a day later reads the same clock); '' for None or NaN."""
    if hours is None or (isinstance(hours, float) and math.isnan(hours)):
        return ""
    hours = float(hours) % 24
    whole, minutes = int(hours), int(round((hours % 1) * 60))
    if minutes == 60:  # 13.999 rounds to 2 pm, not 1:60 pm
        whole, minutes = (whole + 1) % 24, 0
    if minutes == 0 and whole in (0, 12):
        return "midnight" if whole == 0 else "noon"
    suffix = "am" if whole < 12 else "pm"
    shown = whole % 12 or 12
    return f"{shown}:{minutes:02d} {suffix}" if minutes else f"{shown} {suffix}"


class FrozenClock:
    """A clock stopped at ``moment`` that moves only when slept: rehearsing "what happens at
    08:05" (``zipcast dispatch --now``) with retries that come due as the waits pass,
    without waiting for them for real."""

    def __init__(self, moment: datetime) -> None:
        self.moment = utc(moment)

    def now(self) -> datetime:
        return self.moment

    def sleep(self, seconds: float) -> None:
        from datetime import timedelta

        self.moment += timedelta(seconds=max(seconds, 0.0))
