"""Fact-check an editor's text as they type: each claim, and for whom it is false.

The text is read into claims by :func:`pipeline.truth.parse.parse` (the claims the drafts are
rendered from) and each claim is checked by the fit rule against every member ZIP of the
slot, weighted by subscribers::

    facts = slot_facts(members, weights=subscribers_per_zip)   # once per slot
    fc = fact_check("Sunny and bone dry all day", facts, rules=settings.truth)
    fc.problems(0.05)
    # ['“bone dry” is false for 100 % of this slot's subscribers (rain from 6 am there)']

Building :class:`SlotFacts` costs a few milliseconds for 5,000 members; a check on built
facts is vectorised (one boolean array per claim) and takes well under a millisecond.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.settings import TruthRules
from pipeline.store.assignments import FILE, read_assignments
from pipeline.truth.claims import Claim, Hazard, Onset, Precipitation, Sky, Wind
from pipeline.truth.parse import AnyOf, Not, ParsedClaim, ReadingWindow, parse
from pipeline.truth.rule import (
    PRECIP_TYPES,
    SKY_CATEGORIES,
    WIND_CATEGORIES,
    FactArrays,
)
from pipeline.truth.wording import onset_text

#: the fact columns a member row needs (``assignments.parquet`` / ``zip_facts`` rows)
FACT_COLUMNS = ("high_f", "low_f", "precip_type", "precip_onset_h", "wind_category", "sky",
                "hazards")
DEFAULT_MAX_FALSE_SHARE = 0.05


@dataclass(frozen=True)
class SlotFacts:
    """A slot's member facts as arrays, with each member's weight; build once per slot.

    ``weights`` has shape (n_members,) and sums to 1 (or is empty); ``basis`` says what they
    count: ``"subscribers"``, or ``"ZIPs"`` when no member has a subscriber.
    """

    arrays: FactArrays
    zips: tuple[str, ...]
    weights: np.ndarray
    basis: str
    window: ReadingWindow

    def __len__(self) -> int:
        return len(self.zips)


def _fact_frame(members: pd.DataFrame | Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Fact rows from assignments rows, or from placeholder values (``member_context``).

    Only the members that get the slot's message count: a misfit ZIP (``fits`` false or
    ``automatic`` true) gets its own automatic message at dispatch, never the editor's text.
    """
    frame = members if isinstance(members, pd.DataFrame) else pd.DataFrame(list(members))
    receives = np.ones(len(frame), dtype=bool)
    if "fits" in frame:
        receives &= frame["fits"].fillna(True).astype(bool).to_numpy()
    if "automatic" in frame:
        receives &= ~frame["automatic"].fillna(False).astype(bool).to_numpy()
    if not receives.all():
        frame = frame[receives]
    if len(frame) and "high_f" not in frame and "high" in frame:
        frame = _from_context(frame)
    frame = frame.copy()
    defaults: dict[str, Any] = {"precip_type": "none", "precip_onset_h": np.nan,
                                "wind_category": "calm", "sky": None, "hazards": "",
                                "high_f": np.nan, "low_f": np.nan, "step_hours": 1,
                                "window_hours": 24, "zip": ""}
    for column, value in defaults.items():
        if column not in frame:
            frame[column] = value
    frame["precip_type"] = frame["precip_type"].fillna("none").replace("", "none")
    frame["hazards"] = frame["hazards"].fillna("").astype(str).str.replace("|", ",")
    if "precip_start_hour" in frame:  # a run stored before the onset column: its clock
        frame["precip_onset_h"] = frame["precip_onset_h"].fillna(frame["precip_start_hour"])
    return frame


def _clock_hours(value: Any) -> float:
    """'7 am' -> 7, 'noon' -> 12, '1:30 pm' -> 13.5; NaN when there is none."""
    if not isinstance(value, str) or not value:
        return math.nan
    if value in ("noon", "midnight"):
        return 12.0 if value == "noon" else 0.0
    clock, _, half = value.partition(" ")
    hours, _, minutes = clock.partition(":")
    return int(hours) % 12 + (12 if half == "pm" else 0) + (int(minutes) / 60 if minutes else 0)


def _from_context(frame: pd.DataFrame) -> pd.DataFrame:
    """Facts from placeholder values: rounded temperatures and clock onsets, read in a day
    from midnight (the text is read in the same window, so both sides agree)."""
    out = pd.DataFrame({"zip": frame.get("zip", ""), "high_f": frame.get("high"),
                        "low_f": frame.get("low"), "wind_category": frame.get("wind"),
                        "sky": frame.get("sky")})
    out["precip_type"] = frame["precip_type"] if "precip_type" in frame else "none"
    starts = frame["precip_start"] if "precip_start" in frame else pd.Series([None] * len(frame))
    out["precip_onset_h"] = [_clock_hours(v) for v in starts]
    hazards = frame["hazards"] if "hazards" in frame else pd.Series([""] * len(frame))
    out["hazards"] = hazards.fillna("").astype(str).str.replace(", ", ",")
    out["window_start_h"] = 0.0
    out["window_hours"] = 24
    return out


def slot_facts(members: pd.DataFrame | Sequence[Mapping[str, Any]] | SlotFacts,
               weights: Mapping[str, float] | None = None) -> SlotFacts:
    """Build a slot's facts once, to check any number of texts against.

    Parameters
    ----------
    members : the slot's member rows: ``assignments.parquet`` rows (exact facts; a DataFrame
        or dicts with :data:`FACT_COLUMNS`), or :func:`~pipeline.editorial.render.member_context`
        dicts (placeholder values: rounded temperatures, clock-only onsets)
    weights : subscribers per member ZIP; ZIPs not in it weigh 0. None, or no subscriber at
        all: every ZIP weighs the same (``basis`` says so)
    """
    if isinstance(members, SlotFacts):
        return members
    frame = _fact_frame(members)
    arrays = FactArrays.from_frame(frame) if len(frame) else _empty_arrays()
    zips = tuple(str(z) for z in frame["zip"])
    w = np.zeros(len(zips))
    if weights is not None and len(zips):
        w = pd.Series(frame["zip"].astype(str).to_numpy()).map(weights).fillna(0.0) \
            .to_numpy(float)
    basis = "subscribers" if w.sum() > 0 else "ZIPs"
    if w.sum() <= 0:
        w = np.ones(len(zips))
    total = w.sum()
    return SlotFacts(arrays, zips, w / total if total else w, basis, ReadingWindow.of(arrays))


def _empty_arrays() -> FactArrays:
    empty = np.zeros(0)
    return FactArrays(high=empty, low=empty, kind=empty.astype(np.int8), onset=empty,
                      wind=empty.astype(np.int8), sky=empty.astype(np.int8),
                      hazards=empty.astype(np.int64), window_hours=24, onset_span=(0.0, 24.0))


@lru_cache(maxsize=8)
def _run_facts(run_dir: str, mtime: float) -> pd.DataFrame | None:
    frame = read_assignments(run_dir)
    if frame is None or any(c not in frame for c in ("high_f", "precip_type",
                                                      "wind_category")):
        return None
    return frame


def run_slot_facts(run_dir: str | Path, slot_id: str,
                   weights: Mapping[str, float] | None = None) -> SlotFacts | None:
    """The exact facts of one slot of a stored run (``assignments.parquet``), or None when
    the run has no facts stored (gone, or stored before the fact columns)."""
    path = Path(run_dir) / FILE
    if not path.exists():
        return None
    frame = _run_facts(str(run_dir), path.stat().st_mtime)
    if frame is None:
        return None
    return slot_facts(frame[frame["slot_id"] == slot_id], weights)


def _percent(share: float) -> str:
    """'93 %'; never '100 %' or '0 %' for a share strictly between."""
    p = 100 * share
    if 0 < p < 1:
        return "under 1 %"
    if 99 < p < 100:
        return "over 99 %"
    return f"{round(p)} %"


@dataclass(frozen=True)
class ClaimCheck:
    """One claim of the text and how true it is over the slot's members.

    ``true_share`` and ``false_share`` are weighted (subscribers, or ZIPs: see
    :attr:`FactCheck.basis`) and sum to 1; ``n_false`` counts ZIPs; ``false`` says whether
    ``false_share`` is over the threshold the check was made with; ``why`` says what the
    facts are where it is false ("rain from 6 am there").
    """

    span: tuple[int, int]
    words: str
    description: str
    true_share: float
    false_share: float
    n_false: int
    false: bool
    why: str
    claim: Claim

    @property
    def true_percent(self) -> str:
        return _percent(self.true_share)

    @property
    def false_percent(self) -> str:
        return _percent(self.false_share)

    def is_false(self, max_false_share: float) -> bool:
        return self.false_share > max_false_share


@dataclass(frozen=True)
class FactCheck:
    """Every claim of ``text`` checked against a slot's members."""

    text: str
    claims: tuple[ClaimCheck, ...]
    basis: str  # "subscribers", or "ZIPs" when no member has a subscriber
    n_members: int

    @property
    def worst_false_share(self) -> float:
        return max((c.false_share for c in self.claims), default=0.0)

    def blocked(self, max_false_share: float = DEFAULT_MAX_FALSE_SHARE) -> bool:
        """Some claim is false for more than ``max_false_share`` of the slot."""
        return self.worst_false_share > max_false_share

    def problems(self, max_false_share: float = DEFAULT_MAX_FALSE_SHARE) -> list[str]:
        """A line per claim false for more than ``max_false_share``, worst first."""
        bad = sorted((c for c in self.claims if c.is_false(max_false_share)),
                     key=lambda c: -c.false_share)
        return [f"“{c.words}” is false for {c.false_percent} of this slot's {self.basis} "
                f"({c.why})" for c in bad]

    def pieces(self, text: str | None = None,
               max_false_share: float = DEFAULT_MAX_FALSE_SHARE) -> list[tuple[str, bool]]:
        """``text`` cut into ``(piece, is_false_claim)`` in order, for marking it up."""
        text = self.text if text is None else text
        spans = sorted(c.span for c in self.claims if c.is_false(max_false_share))
        out: list[tuple[str, bool]] = []
        pos = 0
        for start, end in spans:
            start = max(start, pos)
            if end <= start:
                continue
            if start > pos:
                out.append((text[pos:start], False))
            out.append((text[start:end], True))
            pos = end
        if pos < len(text):
            out.append((text[pos:], False))
        return out


def fact_check(text: str, members: pd.DataFrame | Sequence[Mapping[str, Any]] | SlotFacts, *,
               rules: TruthRules, weights: Mapping[str, float] | None = None,
               max_false_share: float = DEFAULT_MAX_FALSE_SHARE) -> FactCheck:
    """Check each claim of ``text`` against every member of the slot.

    Parameters
    ----------
    text : the editor's message (placeholders are true by construction)
    members : the slot's member facts (see :func:`slot_facts`), or facts already built
        (then ``weights`` is ignored: the built facts carry theirs)
    rules : the fit rule's thresholds (``settings.truth``)
    weights : subscribers per member ZIP
    max_false_share : the threshold for each claim's ``false`` flag
    """
    facts = slot_facts(members, weights)
    checks = tuple(_check(p, facts, rules, max_false_share)
                   for p in parse(text, window=facts.window))
    return FactCheck(text=text, claims=checks, basis=facts.basis, n_members=len(facts))


def _check(parsed: ParsedClaim, facts: SlotFacts, rules: TruthRules,
           max_false_share: float) -> ClaimCheck:
    wrong = ~parsed.claim.holds(facts.arrays, rules)
    # the larger of the subscriber-weighted and the ZIP share: a claim false for most of a
    # slot's ZIPs is not made true by where today's few subscribers happen to live (people
    # sign up before dispatch)
    false_share = max(float(facts.weights[wrong].sum()), float(wrong.mean())) \
        if len(facts) else 0.0
    false_share = min(max(false_share, 0.0), 1.0)
    return ClaimCheck(span=parsed.span, words=parsed.words,
                      description=parsed.claim.describe(), true_share=1.0 - false_share,
                      false_share=false_share, n_false=int(wrong.sum()),
                      false=false_share > max_false_share,
                      why=_why(parsed.claim, facts, wrong) if wrong.any() else "",
                      claim=parsed.claim)


def _common(values: np.ndarray, weights: np.ndarray) -> int:
    """The value with the most weight (small non-negative ints)."""
    return int(np.argmax(np.bincount(values, weights=weights)))


def _why(claim: Claim, facts: SlotFacts, wrong: np.ndarray) -> str:
    """What the facts say where ``claim`` is false: the most common case, weighted."""
    f, w = facts.arrays, facts.weights[wrong] + 1e-12  # ZIPs without subscribers still count
    inner = claim.inner if isinstance(claim, Not) else claim
    if isinstance(inner, AnyOf):
        inner = inner.options[0]
    if claim.topic in ("high", "low"):
        values = (f.high if claim.topic == "high" else f.low)[wrong]
        values = values[~np.isnan(values)]
        if not len(values):
            return "no temperature there"
        lo, hi = int(round(values.min())), int(round(values.max()))
        name = "highs" if claim.topic == "high" else "lows"
        return f"{name} near {lo}F there" if lo == hi else f"{name} {lo} to {hi}F there"
    if isinstance(inner, Precipitation | Onset):
        kinds = f.kind[wrong].astype(np.int64)
        kind = _common(kinds, w)
        if kind == 0:
            return "dry there"
        onsets = f.onset[wrong][kinds == kind]
        weights = w[kinds == kind]
        hours = onsets[~np.isnan(onsets)]
        if not len(hours):
            return f"{PRECIP_TYPES[kind]} there"
        common = _common(np.round(hours).astype(np.int64) - int(np.round(hours).min()),
                         weights[~np.isnan(onsets)]) + int(np.round(hours).min())
        return f"{PRECIP_TYPES[kind]} from {onset_text(common, facts.window.long)} there"
    if isinstance(inner, Wind):
        return f"{WIND_CATEGORIES[_common(f.wind[wrong].astype(np.int64), w)]} there"
    if isinstance(inner, Sky):
        sky = f.sky[wrong].astype(np.int64)
        known = sky >= 0
        if not known.any():
            return "sky unknown there"
        return f"{SKY_CATEGORIES[_common(sky[known], w[known])]} there"
    if isinstance(inner, Hazard):
        return f"{inner.name} there" if isinstance(claim, Not) else f"no {inner.name} there"
    return "false there"
