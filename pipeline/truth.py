"""Message truthfulness: is a slot's message true where a subscriber lives?

A slot *states* facts (:class:`Statement`): a high and a low (each one value or a range of at
most 5 °F), precipitation yes/no and its type and onset, a wind category and the hazards it
warns of. A member ZIP *fits* when, following NWS zone-combination practice
(:class:`pipeline.settings.TruthRules`):

- its high and low are each within 5 °F of the stated value or range;
- it has the same precipitation yes/no and type;
- its precipitation onset is within 2 h of the stated onset (3 h for 3-hourly data);
- it has the same wind category;
- it has no hazard that the slot leaves out.

*Truthfulness* is the share of subscribers (ZIP-weighted when there are none) whose slot fits
them. This module scores fits and chooses, for a group of ZIPs, the statement that fits the
most of them. It is used by the truthful clustering method and by the slots step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from pipeline.settings import TruthRules


@dataclass(frozen=True)
class Statement:
    """What a slot's message says. Onset is in hours from the window's start."""

    high_f: tuple[float, float]
    low_f: tuple[float, float]
    precip: bool
    precip_type: str  # "none", "rain", "snow" or "mix"
    onset_offset_h: float | None
    wind_category: str
    hazards: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Statement:
        return cls(
            high_f=tuple(data["high_f"]),  # type: ignore[arg-type]
            low_f=tuple(data["low_f"]),  # type: ignore[arg-type]
            precip=bool(data["precip"]),
            precip_type=data["precip_type"],
            onset_offset_h=data["onset_offset_h"],
            wind_category=data["wind_category"],
            hazards=tuple(data["hazards"]),
        )


HAZARDS = ("heat", "freeze", "heavy rain", "strong gusts")
PRECIP_TYPES = ("none", "rain", "snow", "mix")
WIND_CATEGORIES = ("calm", "breezy", "windy", "very windy")


@dataclass
class FactArrays:
    """Per-ZIP facts as plain arrays (categories as small ints, hazards as bit masks)."""

    high: np.ndarray
    low: np.ndarray
    kind: np.ndarray  # index into PRECIP_TYPES; 0 means dry
    onset: np.ndarray  # hours from window start; NaN when dry
    wind: np.ndarray  # index into WIND_CATEGORIES
    hazards: np.ndarray  # bit i set: HAZARDS[i]

    @classmethod
    def from_frame(cls, facts: pd.DataFrame) -> FactArrays:
        hazard_bits = np.zeros(len(facts), dtype=np.int64)
        for bit, name in enumerate(HAZARDS):
            has = facts["hazards"].str.split(",").map(lambda hs, n=name: n in hs)
            hazard_bits |= has.to_numpy(bool).astype(np.int64) << bit
        return cls(
            high=facts["high_f"].to_numpy(float),
            low=facts["low_f"].to_numpy(float),
            kind=_codes(facts["precip_type"], PRECIP_TYPES),
            onset=facts["precip_start_offset_h"].to_numpy(float),
            wind=_codes(facts["wind_category"], WIND_CATEGORIES),
            hazards=hazard_bits,
        )

    def take(self, index: np.ndarray) -> FactArrays:
        return FactArrays(*(getattr(self, f)[index] for f in self.__dataclass_fields__))

    def __len__(self) -> int:
        return len(self.high)


def _codes(values: pd.Series, names: tuple[str, ...]) -> np.ndarray:
    codes = pd.Categorical(values, categories=list(names)).codes
    if (codes < 0).any():
        bad = sorted(set(values[codes < 0]))
        raise ValueError(f"unknown fact value(s) {bad}; expected one of {names}")
    return codes.astype(np.int8)


def _as_arrays(facts: pd.DataFrame | FactArrays) -> FactArrays:
    return facts if isinstance(facts, FactArrays) else FactArrays.from_frame(facts)


def _mask(names: tuple[str, ...]) -> int:
    return sum(1 << HAZARDS.index(h) for h in names)


def onset_tolerance(rules: TruthRules, step_hours: int) -> float:
    """2 h for hourly data, 3 h for 3-hourly or coarser (settings)."""
    return rules.onset_tolerance_h if step_hours < 3 else rules.onset_tolerance_coarse_h


def _outside(values: np.ndarray, stated: tuple[float, float]) -> np.ndarray:
    """How far each value lies outside the stated range (0 inside)."""
    lo, hi = stated
    return np.maximum(lo - values, 0.0) + np.maximum(values - hi, 0.0)


def fits(
    facts: pd.DataFrame | FactArrays, statement: Statement, rules: TruthRules, step_hours: int
) -> np.ndarray:
    """Boolean array: does ``statement`` hold for each ZIP?

    Parameters
    ----------
    facts : DataFrame of :func:`pipeline.features.zip_facts` rows, or their FactArrays
    statement : Statement
    rules : TruthRules
    step_hours : int
        The forecast step, which sets the onset tolerance.
    """
    f = _as_arrays(facts)
    tol = rules.temperature_tolerance_f + 1e-9
    ok = (_outside(f.high, statement.high_f) <= tol) & (_outside(f.low, statement.low_f) <= tol)
    ok &= f.kind == PRECIP_TYPES.index(statement.precip_type)
    if statement.precip and statement.onset_offset_h is not None:
        ok &= np.abs(f.onset - statement.onset_offset_h) <= onset_tolerance(rules, step_hours)
    ok &= f.wind == WIND_CATEGORIES.index(statement.wind_category)
    ok &= (f.hazards & ~_mask(statement.hazards)) == 0
    return ok


def _window_sums(hist: np.ndarray, widths: tuple[int, ...]) -> np.ndarray:
    """Sum of ``hist`` over a box of ``widths`` bins starting at every index (prefix sums)."""
    out = hist
    for axis, width in enumerate(widths):
        c = np.cumsum(out, axis=axis)
        pad = [(0, 0)] * out.ndim
        pad[axis] = (1, 0)
        c = np.pad(c, pad)
        n = out.shape[axis]
        hi = np.minimum(np.arange(n) + width, n)
        out = np.take(c, hi, axis=axis) - np.take(c, np.arange(n), axis=axis)
    return out


def _best_box(
    high: np.ndarray, low: np.ndarray, onset: np.ndarray | None, weight: np.ndarray,
    rules: TruthRules, onset_tol: float,
) -> tuple[float, int, int, int | None]:
    """Best stated (high, low[, onset]) for one categorical group: (weight, a, c, s)."""
    span = int(round(rules.stated_range_f + 2 * rules.temperature_tolerance_f))
    tol = int(round(rules.temperature_tolerance_f))
    # bins are whole °F from (group minimum - span), so the histogram covers only the group
    h0, l0 = int(np.floor(high.min())) - span, int(np.floor(low.min())) - span
    hb = np.floor(high).astype(int) - h0
    lb = np.floor(low).astype(int) - l0
    shape = [int(hb.max()) + span + 1, int(lb.max()) + span + 1]
    index: list[np.ndarray] = [hb, lb]
    widths = [span, span]
    if onset is not None:
        ob = np.clip(np.floor(onset).astype(int), 0, None)
        shape.append(int(ob.max()) + 1)
        index.append(ob)
        widths.append(int(2 * onset_tol) + 1)
    hist = np.zeros(shape)
    np.add.at(hist, tuple(index), weight)
    sums = _window_sums(hist, tuple(widths))
    best = sums.max()
    # among equally good boxes, the one centred nearest the group's medians
    cand = np.argwhere(sums >= best - 1e-9)
    centre = [np.median(hb) - span / 2 + 0.5, np.median(lb) - span / 2 + 0.5]
    if onset is not None:
        centre.append(np.median(index[2]) - onset_tol)
    pick = cand[np.argmin(np.abs(cand - np.array(centre)).sum(axis=1))]
    a = int(pick[0]) + h0 + tol  # the box starts tol below the stated range
    c = int(pick[1]) + l0 + tol
    s = int(pick[2] + onset_tol) if onset is not None else None
    return float(best), a, c, s


def best_statement(
    facts: pd.DataFrame | FactArrays,
    weights: np.ndarray | None,
    rules: TruthRules,
    step_hours: int,
) -> tuple[Statement, np.ndarray]:
    """The statement that fits the most subscriber weight among ``facts``, and its fit mask.

    Categories (precipitation type, wind) are tried one combination at a time; within each,
    the stated high and low ranges (and onset) are found by prefix sums over a binned
    histogram, so the search is exact to the whole °F and hour, and linear in the group size.
    """
    f = _as_arrays(facts)
    if len(f) == 0:
        raise ValueError("best_statement needs at least one ZIP")
    w = np.ones(len(f)) if weights is None else np.asarray(weights, dtype=float)
    onset_tol = onset_tolerance(rules, step_hours)
    category = f.kind.astype(np.int64) * len(WIND_CATEGORIES) + f.wind
    order = np.argsort(category, kind="stable")
    cats, starts = np.unique(category[order], return_index=True)
    groups = np.split(order, starts[1:])
    best: tuple[float, Statement] | None = None
    for cat, index in sorted(zip(cats, groups, strict=True), key=lambda g: -w[g[1]].sum()):
        if best is not None and w[index].sum() <= best[0]:
            break  # groups come largest first: no later group can win
        kind, wind = divmod(int(cat), len(WIND_CATEGORIES))
        onset = f.onset[index] if kind else None
        score, a, c, s = _best_box(f.high[index], f.low[index], onset, w[index], rules,
                                   onset_tol)
        if best is None or score > best[0]:
            r = rules.stated_range_f
            best = (score, Statement(
                high_f=(float(a), float(a + r)), low_f=(float(c), float(c + r)),
                precip=kind > 0, precip_type=PRECIP_TYPES[kind],
                onset_offset_h=None if s is None else float(s),
                wind_category=WIND_CATEGORIES[wind], hazards=(),
            ))
    assert best is not None
    statement = _with_hazards(f, w, best[1], rules, step_hours)
    return statement, fits(f, statement, rules, step_hours)


def _with_hazards(
    f: FactArrays, w: np.ndarray, statement: Statement, rules: TruthRules, step_hours: int
) -> Statement:
    """State the hazards held by at least ``hazard_min_share`` of the otherwise-fitting."""
    candidates = fits(f, replace(statement, hazards=HAZARDS), rules, step_hours)
    if not candidates.any():
        return statement
    total = w[candidates].sum()
    keep = tuple(
        name for bit, name in enumerate(HAZARDS)
        if w[candidates][(f.hazards[candidates] >> bit) & 1 == 1].sum() / total
        >= rules.hazard_min_share
        and ((f.hazards[candidates] >> bit) & 1).any()
    )
    return replace(statement, hazards=keep)


def truthfulness(
    fit: np.ndarray,
    weights: np.ndarray | None,
    states: np.ndarray,
    slot_ids: np.ndarray,
    state_floor: float,
) -> dict[str, Any]:
    """National, per-state and per-slot share of (subscriber-weighted) members that fit."""
    w = np.ones(len(fit)) if weights is None else np.asarray(weights, dtype=float)
    frame = pd.DataFrame({"fit": fit.astype(float) * w, "w": w, "state": states,
                          "slot": slot_ids})
    national = frame["fit"].sum() / frame["w"].sum()
    by_state = frame.groupby("state")[["fit", "w"]].sum()
    per_state = (by_state["fit"] / by_state["w"]).round(4)
    by_slot = frame.groupby("slot")[["fit", "w"]].sum()
    per_slot = (by_slot["fit"] / by_slot["w"]).round(4)
    return {
        "national": round(float(national), 4),
        "weighting": "zip" if weights is None else "subscribers",
        "per_state": per_state.to_dict(),
        "states_below_floor": sorted(per_state[per_state < state_floor].index.tolist()),
        "state_floor": state_floor,
        "per_slot": per_slot.to_dict(),
    }


def score_grouping(
    labels: np.ndarray,
    facts: pd.DataFrame | FactArrays,
    weights: np.ndarray | None,
    rules: TruthRules,
    step_hours: int,
) -> tuple[float, np.ndarray]:
    """Truthfulness of any grouping when each group states its own best statement.

    This is how baselines are scored: every group gets the most favourable message it could
    have, so the comparison measures the grouping, not the wording.
    """
    f = _as_arrays(facts)
    w = np.ones(len(f)) if weights is None else np.asarray(weights, dtype=float)
    fit = np.zeros(len(f), dtype=bool)
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        _, mask = best_statement(f.take(rows), w[rows], rules, step_hours)
        fit[rows] = mask
    return round(float(w[fit].sum() / w.sum()), 4), fit
