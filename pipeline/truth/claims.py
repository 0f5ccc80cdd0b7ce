"""One model of a claim: a message is a list of claims, each with one ``holds`` check.

Drafts, headlines and automatic messages are rendered from a statement's claims
(:mod:`pipeline.truth.wording`); an editor's text is parsed back into claims; verification
re-checks the same claims against observed facts. A claim never says more than its check.

Every claim has a ``topic`` for per-topic scores: ``high``, ``low``, ``precipitation``,
``onset``, ``wind``, ``sky`` or ``hazards``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from pipeline.settings import TruthRules
from pipeline.times import clock
from pipeline.truth.rule import (
    HAZARDS,
    PRECIP_TYPES,
    SKY_CATEGORIES,
    WIND_CATEGORIES,
    FactArrays,
    Statement,
    as_arrays,
    hazard_mask,
    onset_distance,
    onset_tolerance,
)


class Claim:
    """A checkable sentence part. Subclasses are frozen dataclasses."""

    topic: ClassVar[str] = ""

    def holds(self, f: FactArrays, rules: TruthRules) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover
        raise NotImplementedError


@dataclass(frozen=True)
class TemperatureRange(Claim):
    """The high (or low) lies in ``[lo, hi]`` widened by the slack on each side."""

    which: str  # "high" or "low"
    lo: float
    hi: float

    @property
    def topic(self) -> str:  # type: ignore[override]
        return self.which

    def bounds(self, rules: TruthRules) -> tuple[float, float]:
        return self.lo - rules.temperature_slack_f, self.hi + rules.temperature_slack_f

    def holds(self, f: FactArrays, rules: TruthRules) -> np.ndarray:
        values = f.high if self.which == "high" else f.low
        lo, hi = self.bounds(rules)  # exact: 71.0 is "near 73°F", 70.99 is not
        return (values >= lo) & (values <= hi)

    def describe(self) -> str:
        name = "Highs" if self.which == "high" else "Lows"
        if self.lo == self.hi:
            return f"{name} near {_deg(self.lo)}F"
        return f"{name} {_deg(self.lo)} to {_deg(self.hi)}F"


@dataclass(frozen=True)
class Precipitation(Claim):
    """Dry ("none"), or this precipitation type."""

    topic: ClassVar[str] = "precipitation"
    precip_type: str

    def holds(self, f: FactArrays, rules: TruthRules) -> np.ndarray:
        return f.kind == PRECIP_TYPES.index(self.precip_type)

    def describe(self) -> str:
        return "dry" if self.precip_type == "none" else self.precip_type


@dataclass(frozen=True)
class Onset(Claim):
    """Precipitation starts within the tolerance of the stated time (see Statement.onset_h)."""

    topic: ClassVar[str] = "onset"
    hours: float

    def holds(self, f: FactArrays, rules: TruthRules) -> np.ndarray:
        tol = onset_tolerance(rules, f.step_hours)
        wet = f.kind > 0
        return wet & (onset_distance(np.where(wet, f.onset, np.inf), self.hours) <= tol)

    def describe(self) -> str:
        return f"from about {clock(self.hours)}"


@dataclass(frozen=True)
class Wind(Claim):
    topic: ClassVar[str] = "wind"
    category: str

    def holds(self, f: FactArrays, rules: TruthRules) -> np.ndarray:
        return f.wind == WIND_CATEGORIES.index(self.category)

    def describe(self) -> str:
        return self.category


@dataclass(frozen=True)
class Sky(Claim):
    topic: ClassVar[str] = "sky"
    category: str

    def holds(self, f: FactArrays, rules: TruthRules) -> np.ndarray:
        return f.sky == SKY_CATEGORIES.index(self.category)

    def describe(self) -> str:
        return self.category


@dataclass(frozen=True)
class Hazard(Claim):
    """A stated hazard holds for the member."""

    topic: ClassVar[str] = "hazards"
    name: str

    def holds(self, f: FactArrays, rules: TruthRules) -> np.ndarray:
        return (f.hazards >> HAZARDS.index(self.name)) & 1 == 1

    def describe(self) -> str:
        return f"watch for {self.name}"


@dataclass(frozen=True)
class NoOtherHazard(Claim):
    """Silence is a claim too: the member has no hazard beyond the ``stated`` ones."""

    topic: ClassVar[str] = "hazards"
    stated: tuple[str, ...]

    def holds(self, f: FactArrays, rules: TruthRules) -> np.ndarray:
        return (f.hazards & ~hazard_mask(self.stated)) == 0

    def describe(self) -> str:
        return "no other hazards" if self.stated else "no hazards"


def claims_of(statement: Statement) -> list[Claim]:
    """Every claim a statement's message makes, the silent "no other hazard" included."""
    out: list[Claim] = []
    if statement.high_f is not None:
        out.append(TemperatureRange("high", *statement.high_f))
    if statement.low_f is not None:
        out.append(TemperatureRange("low", *statement.low_f))
    out.append(Precipitation(statement.precip_type))
    if statement.precip and statement.onset_h is not None:
        out.append(Onset(statement.onset_h))
    out.append(Wind(statement.wind_category))
    if statement.sky is not None:
        out.append(Sky(statement.sky))
    out += [Hazard(h) for h in statement.hazards]
    out.append(NoOtherHazard(tuple(statement.hazards)))
    return out


def fits(facts: pd.DataFrame | FactArrays, statement: Statement, rules: TruthRules
         ) -> np.ndarray:
    """Boolean array: does every claim of ``statement`` hold for each ZIP?

    Parameters
    ----------
    facts : DataFrame of :func:`pipeline.features.zip_facts` rows, or their FactArrays
    statement : Statement
    rules : TruthRules
    """
    f = as_arrays(facts)
    ok = np.ones(len(f), dtype=bool)
    for claim in claims_of(statement):
        ok &= claim.holds(f, rules)
    return ok


def _deg(value: float) -> str:
    """A whole degree, never "-0"."""
    return str(int(round(value)) + 0)
