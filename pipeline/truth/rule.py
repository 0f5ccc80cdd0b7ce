"""The fit rule: is what a slot's message states true for one member ZIP?

A message states a :class:`Statement`; a member *fits* when every claim of it holds for the
member's own facts (:mod:`pipeline.truth.claims`, thresholds in
:class:`pipeline.settings.TruthRules`):

- its high lies in the stated range widened by ``temperature_slack_f`` (2 °F) on each side
  (a stated range is at most ``stated_range_f``, 5 °F, wide; "near 71°F" is 69–73); the same
  for the low;
- dry means dry; otherwise the same precipitation type, with onset within
  ``onset_tolerance_h`` (2 h; ``onset_tolerance_coarse_h``, 3 h, for 3-hourly data) of the
  stated time: both are local hours since midnight of the day the reader's window starts, so
  "from about 2 am" in an evening window is 26 and never matches rain at 5 pm (24 + 2 - 21);
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


@dataclass(frozen=True)
class Statement:
    """What a slot's message says.

    Temperatures are whole °F ranges ``(lo, hi)`` (``lo == hi`` reads "near lo"); ``None``
    only in an automatic message for a ZIP whose forecast has no temperature (it then says
    none). ``onset_h`` is the stated onset in whole local hours since midnight of the day the
    window starts (:func:`pipeline.features.facts.onset_hours`); every wet statement has one.
    ``sky`` is ``None`` when the message does not state the sky.
    """

    high_f: tuple[float, float] | None
    low_f: tuple[float, float] | None
    precip_type: str  # "none" (dry), "rain", "snow" or "mix"
    onset_h: float | None
    wind_category: str
    hazards: tuple[str, ...]
    sky: str | None = None

    def __post_init__(self) -> None:
        """Only statements a message can say exactly: whole numbers, a time for any rain."""
        for name, span in (("high_f", self.high_f), ("low_f", self.low_f)):
            if span is not None and (span[0] > span[1] or any(v != int(v) for v in span)):
                raise ValueError(f"{name} must be a whole-degree range, not {span}")
        if self.precip_type not in PRECIP_TYPES:
            raise ValueError(f"unknown precipitation type {self.precip_type!r}")
        if (self.precip_type != "none") != (self.onset_h is not None):
            raise ValueError("a wet statement states its onset, a dry one none")
        if self.onset_h is not None and self.onset_h != int(self.onset_h):
            raise ValueError(f"the onset must be a whole hour, not {self.onset_h}")
        if self.precip_type == "none" and "heavy rain" in self.hazards:
            raise ValueError("a dry statement cannot warn of heavy rain")

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
            high_f=None if data["high_f"] is None else tuple(data["high_f"]),  # type: ignore[arg-type]
            low_f=None if data["low_f"] is None else tuple(data["low_f"]),  # type: ignore[arg-type]
            precip_type=data["precip_type"],
            onset_h=data.get("onset_h"),
            wind_category=data["wind_category"],
            hazards=tuple(data["hazards"]),
            sky=data.get("sky"),
        )


@dataclass
class FactArrays:
    """Per-ZIP facts as plain arrays (categories as small ints, hazards as bit masks).

    ``onset_span`` is where a stated onset may lie: from the earliest window start to the
    latest window end, in the onset's hours (a statement outside every window reads oddly,
    and never fits more than one inside does).
    """

    high: np.ndarray
    low: np.ndarray
    kind: np.ndarray  # index into PRECIP_TYPES; 0 means dry
    onset: np.ndarray  # see Statement.onset_h; NaN when dry
    wind: np.ndarray  # index into WIND_CATEGORIES
    sky: np.ndarray  # index into SKY_CATEGORIES; -1 when unknown (no cloud cover)
    hazards: np.ndarray  # bit i set: HAZARDS[i]
    step_hours: int = 1
    window_hours: int = 24
    onset_span: tuple[float, float] = (0.0, 48.0)

    @classmethod
    def from_frame(cls, facts: pd.DataFrame) -> FactArrays:
        """From :func:`pipeline.features.zip_facts` rows (or assignments, which hold them)."""
        sky = pd.Categorical(facts["sky"], categories=list(SKY_CATEGORIES)).codes
        step = int(facts["step_hours"].iloc[0]) if len(facts) else 1
        window = int(facts["window_hours"].iloc[0]) if len(facts) else 24
        starts = (facts["window_start_h"].to_numpy(float) if "window_start_h" in facts
                  else np.zeros(1))
        return cls(
            high=facts["high_f"].to_numpy(float),
            low=facts["low_f"].to_numpy(float),
            kind=_codes(facts["precip_type"], PRECIP_TYPES),
            onset=facts["precip_onset_h"].to_numpy(float),
            wind=_codes(facts["wind_category"], WIND_CATEGORIES),
            sky=sky.astype(np.int8),
            hazards=hazard_bits(facts["hazards"]),
            step_hours=step,
            window_hours=window,
            onset_span=(float(np.floor(np.nanmin(starts))),
                        float(np.ceil(np.nanmax(starts))) + window - step),
        )

    def take(self, index: np.ndarray) -> FactArrays:
        return FactArrays(high=self.high[index], low=self.low[index], kind=self.kind[index],
                          onset=self.onset[index], wind=self.wind[index], sky=self.sky[index],
                          hazards=self.hazards[index], step_hours=self.step_hours,
                          window_hours=self.window_hours, onset_span=self.onset_span)

    def __len__(self) -> int:
        return len(self.high)


def hazard_bits(names: pd.Series) -> np.ndarray:
    """Bit masks (bit i: HAZARDS[i]) from comma-joined hazard names per ZIP."""
    codes, uniques = pd.factorize(names.fillna("").astype(str))  # a few distinct strings
    per_unique = np.array([hazard_mask([h for h in HAZARDS if h in u.split(",")])
                           for u in uniques], dtype=np.int64)
    return per_unique[codes]


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


def onset_distance(onset: np.ndarray, stated: float) -> np.ndarray:
    """Hours between each onset and the stated one (both in hours since the window's day)."""
    return np.abs(onset - stated)
