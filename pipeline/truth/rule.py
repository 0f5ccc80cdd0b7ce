"""The fit rule: is what a slot's message states true for one member ZIP?

A message states a :class:`Statement`; a member *fits* when every claim of it holds for the
member's own facts (:mod:`pipeline.truth.claims`, thresholds in
:class:`pipeline.settings.TruthRules`):

- its high lies in the stated range widened by ``temperature_slack_f`` (2 °F) on each side
  (a stated range is at most ``stated_range_f``, 5 °F, wide; "near 71°F" is 69–73); the same
  for the low;
- dry means dry; otherwise the same precipitation type, with onset within
  ``onset_tolerance_h`` (2 h; ``onset_tolerance_coarse_h``, 3 h, for 3-hourly data) of the
  stated clock time;
- the same wind category;
- the same sky category, when sky is stated;
- hazards both ways: every stated hazard holds, and every hazard the member has is stated.

Values are compared as they are (a high of 73.4 °F is not "near 71°F"): the strict reading.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.settings import TruthRules

HAZARDS = ("heat", "freeze", "heavy rain", "strong gusts")
PRECIP_TYPES = ("none", "rain", "snow", "mix")
WIND_CATEGORIES = ("calm", "breezy", "windy", "very windy")
SKY_CATEGORIES = ("sunny", "partly cloudy", "mostly cloudy", "overcast")
CLOCK_PERIOD = 24.0


@dataclass(frozen=True)
class Statement:
    """What a slot's message says.

    Temperatures are whole °F ranges ``(lo, hi)`` (``lo == hi`` reads "near lo").
    ``onset_h`` is the stated onset as :func:`pipeline.features.facts.onset_hours` measures it:
    a local clock hour for windows of at most 24 h, else 24 × day + clock hour. ``sky`` is
    ``None`` when the message does not state the sky.
    """

    high_f: tuple[float, float]
    low_f: tuple[float, float]
    precip_type: str  # "none" (dry), "rain", "snow" or "mix"
    onset_h: float | None
    wind_category: str
    hazards: tuple[str, ...]
    sky: str | None = None

    @property
    def precip(self) -> bool:
        return self.precip_type != "none"

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["precip"] = self.precip
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Statement:
        return cls(
            high_f=tuple(data["high_f"]),  # type: ignore[arg-type]
            low_f=tuple(data["low_f"]),  # type: ignore[arg-type]
            precip_type=data["precip_type"],
            onset_h=data.get("onset_h"),
            wind_category=data["wind_category"],
            hazards=tuple(data["hazards"]),
            sky=data.get("sky"),
        )


@dataclass
class FactArrays:
    """Per-ZIP facts as plain arrays (categories as small ints, hazards as bit masks).

    ``onset_period`` is 24 when onsets are clock hours compared on a circle (windows of at most
    24 h) and 0 when they carry the day and are compared on a line.
    """

    high: np.ndarray
    low: np.ndarray
    kind: np.ndarray  # index into PRECIP_TYPES; 0 means dry
    onset: np.ndarray  # see Statement.onset_h; NaN when dry
    wind: np.ndarray  # index into WIND_CATEGORIES
    sky: np.ndarray  # index into SKY_CATEGORIES; -1 when unknown (no cloud cover)
    hazards: np.ndarray  # bit i set: HAZARDS[i]
    step_hours: int = 1
    onset_period: float = CLOCK_PERIOD

    @classmethod
    def from_frame(cls, facts: pd.DataFrame) -> FactArrays:
        """From :func:`pipeline.features.zip_facts` rows (or assignments, which hold them)."""
        hazard_bits = np.zeros(len(facts), dtype=np.int64)
        for bit, name in enumerate(HAZARDS):
            has = facts["hazards"].fillna("").astype(str).str.split(",").map(
                lambda hs, n=name: n in hs)
            hazard_bits |= has.to_numpy(bool).astype(np.int64) << bit
        sky = pd.Categorical(facts["sky"], categories=list(SKY_CATEGORIES)).codes
        step = int(facts["step_hours"].iloc[0]) if len(facts) else 1
        window = int(facts["window_hours"].iloc[0]) if len(facts) else 24
        return cls(
            high=facts["high_f"].to_numpy(float),
            low=facts["low_f"].to_numpy(float),
            kind=_codes(facts["precip_type"], PRECIP_TYPES),
            onset=facts["precip_onset_h"].to_numpy(float),
            wind=_codes(facts["wind_category"], WIND_CATEGORIES),
            sky=sky.astype(np.int8),
            hazards=hazard_bits,
            step_hours=step,
            onset_period=CLOCK_PERIOD if window <= 24 else 0.0,
        )

    def take(self, index: np.ndarray) -> FactArrays:
        return FactArrays(high=self.high[index], low=self.low[index], kind=self.kind[index],
                          onset=self.onset[index], wind=self.wind[index], sky=self.sky[index],
                          hazards=self.hazards[index], step_hours=self.step_hours,
                          onset_period=self.onset_period)

    def __len__(self) -> int:
        return len(self.high)


def _codes(values: pd.Series, names: tuple[str, ...]) -> np.ndarray:
    codes = pd.Categorical(values, categories=list(names)).codes
    if (codes < 0).any():
        bad = sorted(set(values[codes < 0]))
        raise ValueError(f"unknown fact value(s) {bad}; expected one of {names}")
    return codes.astype(np.int8)


def as_arrays(facts: pd.DataFrame | FactArrays) -> FactArrays:
    return facts if isinstance(facts, FactArrays) else FactArrays.from_frame(facts)


def hazard_mask(names: tuple[str, ...] | list[str]) -> int:
    return sum(1 << HAZARDS.index(h) for h in names)


def hazard_names(mask: int) -> tuple[str, ...]:
    return tuple(name for bit, name in enumerate(HAZARDS) if mask >> bit & 1)


def onset_tolerance(rules: TruthRules, step_hours: int) -> float:
    """2 h for hourly data, 3 h for 3-hourly or coarser (settings)."""
    return rules.onset_tolerance_h if step_hours < 3 else rules.onset_tolerance_coarse_h


def onset_distance(onset: np.ndarray, stated: float, period: float) -> np.ndarray:
    """Hours between each onset and the stated one: on the clock's circle when ``period``."""
    d = np.abs(onset - stated)
    return np.minimum(d, period - d) if period else d
