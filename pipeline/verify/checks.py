"""Each claim of a message checked against observed facts: did it hold, and can we tell?

The claims are the truth model's own (:mod:`pipeline.truth.claims`, and the parser's
:class:`~pipeline.truth.parse.Not`/:class:`~pipeline.truth.parse.AnyOf`), checked by their own
``holds``; this module only adds *whether the observations decide it* (see
:mod:`pipeline.verify.facts` for what is known when).

A message is **true** for a ZIP when every claim is decided and holds, **false** when some
decided claim fails, and **not verifiable** otherwise (it is never counted as either).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.settings import TruthRules
from pipeline.store.verification import FALSE, TRUE, UNVERIFIABLE
from pipeline.truth.claims import (
    Claim,
    Hazard,
    NoOtherHazard,
    Onset,
    Precipitation,
    Sky,
    TemperatureRange,
    Wind,
)
from pipeline.truth.parse import AnyOf, Not, OnsetSpan, TemperatureSpan
from pipeline.truth.rule import HAZARDS, WIND_CATEGORIES, hazard_mask
from pipeline.verify.facts import ObservedFacts


@dataclass(frozen=True)
class Verdict:
    """Per ZIP: does the claim hold, and do the observations decide it."""

    holds: np.ndarray
    known: np.ndarray

    @property
    def false(self) -> np.ndarray:
        return self.known & ~self.holds

    @property
    def true(self) -> np.ndarray:
        return self.known & self.holds


def verdict(claim: Claim, obs: ObservedFacts, rules: TruthRules) -> Verdict:
    """Check one claim at every ZIP of ``obs``. Numeric claim fields may be arrays (one value
    per ZIP), which is how each ZIP's own forecast is checked in one pass."""
    holds = np.asarray(claim.holds(obs.arrays, rules), dtype=bool)
    holds = np.broadcast_to(holds, (len(obs),)).copy()
    return Verdict(holds, _known(claim, obs, rules, holds))


def _known(claim: Claim, obs: ObservedFacts, rules: TruthRules, holds: np.ndarray
           ) -> np.ndarray:
    f = obs.arrays
    if isinstance(claim, Not):
        return _known(claim.inner, obs, rules, ~holds)
    if isinstance(claim, AnyOf):
        known = np.ones(len(obs), dtype=bool)
        some_true = np.zeros(len(obs), dtype=bool)
        for option in claim.options:
            v = verdict(option, obs, rules)
            known &= v.known
            some_true |= v.true
        return known | some_true
    if isinstance(claim, TemperatureRange):
        slack = rules.temperature_slack_f
        upper = claim.hi + slack + (1 if isinstance(claim, TemperatureSpan) else 0)
        lower = np.asarray(claim.lo, dtype=float) - slack
        above = f.high >= upper if isinstance(claim, TemperatureSpan) else f.high > upper
        if claim.which == "high":  # the true high is at least the highest observed value
            broken = obs.any_temperature & above
            return obs.known_high | broken
        broken = obs.any_temperature & (f.low < lower)  # the true low is at most the lowest
        return obs.known_low | broken
    if isinstance(claim, Precipitation):
        if claim.precip_type == "none":
            return obs.known_precip.copy()
        return obs.known_precip & ((f.kind == 0) | obs.known_type)
    if isinstance(claim, Onset | OnsetSpan):
        return obs.known_precip & ((f.kind == 0) | obs.known_onset)
    if isinstance(claim, Wind):  # the true maximum is at least the observed one
        stronger = obs.any_wind & (f.wind > WIND_CATEGORIES.index(claim.category))
        return obs.known_wind | stronger
    if isinstance(claim, Sky):
        return obs.known_sky & (f.sky >= 0)
    if isinstance(claim, Hazard):
        bit = 1 << HAZARDS.index(claim.name)
        return (obs.known_hazards & bit) != 0
    if isinstance(claim, NoOtherHazard):
        others = ((1 << len(HAZARDS)) - 1) & ~hazard_mask(claim.stated)
        seen = (f.hazards & others) != 0  # a hazard observed is known, whatever is missing
        return ((obs.known_hazards & others) == others) | seen
    raise TypeError(f"no verification for claim type {type(claim).__name__}")


@dataclass
class MessageVerdict:
    """A message's claims at every ZIP of a group: the status and each topic's verdict.

    ``status`` is :data:`TRUE`, :data:`FALSE` or :data:`UNVERIFIABLE` per ZIP; ``topics`` maps
    each topic the message speaks of to the same three values (all its claims together).
    """

    status: np.ndarray
    topics: dict[str, np.ndarray]


def check_message(claims: Sequence[Claim], obs: ObservedFacts, rules: TruthRules
                  ) -> MessageVerdict:
    """Every claim of one message at every ZIP of ``obs``. A message that claims nothing
    checkable ("Enjoy the day, {{ city }}!") is not verifiable, not true."""
    n = len(obs)
    if not claims:
        return MessageVerdict(np.full(n, UNVERIFIABLE, dtype=np.int8), {})
    by_topic: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for claim in claims:
        v = verdict(claim, obs, rules)
        false, unknown = by_topic.get(claim.topic, (np.zeros(n, bool), np.zeros(n, bool)))
        by_topic[claim.topic] = (false | v.false, unknown | ~v.known)
    topics = {t: _status(false, unknown) for t, (false, unknown) in by_topic.items()}
    any_false = np.zeros(n, dtype=bool)
    any_unknown = np.zeros(n, dtype=bool)
    for false, unknown in by_topic.values():
        any_false |= false
        any_unknown |= unknown
    return MessageVerdict(_status(any_false, any_unknown), topics)


def _status(false: np.ndarray, unknown: np.ndarray) -> np.ndarray:
    return np.where(false, FALSE, np.where(unknown, UNVERIFIABLE, TRUE)).astype(np.int8)
