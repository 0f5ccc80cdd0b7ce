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

from dataclasses import asdict, dataclass
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


def onset_tolerance(rules: TruthRules, step_hours: int) -> float:
    """2 h for hourly data, 3 h for 3-hourly or coarser (settings)."""
    return rules.onset_tolerance_h if step_hours < 3 else rules.onset_tolerance_coarse_h


def _hazard_sets(hazards: pd.Series) -> list[frozenset[str]]:
    return [frozenset(h for h in str(x).split(",") if h) for x in hazards]


def _outside(values: np.ndarray, stated: tuple[float, float]) -> np.ndarray:
    """How far each value lies outside the stated range (0 inside)."""
    lo, hi = stated
    return np.maximum(lo - values, 0.0) + np.maximum(values - hi, 0.0)


def fits(
    facts: pd.DataFrame, statement: Statement, rules: TruthRules, step_hours: int
) -> np.ndarray:
    """Boolean array: does ``statement`` hold for each row of ``facts``?

    Parameters
    ----------
    facts : DataFrame
        Rows of :func:`pipeline.features.zip_facts`.
    statement : Statement
    rules : TruthRules
    step_hours : int
        The forecast step, which sets the onset tolerance.
    """
    tol = rules.temperature_tolerance_f
    ok = _outside(facts["high_f"].to_numpy(float), statement.high_f) <= tol + 1e-9
    ok &= _outside(facts["low_f"].to_numpy(float), statement.low_f) <= tol + 1e-9
    ok &= facts["precip"].to_numpy(bool) == statement.precip
    ok &= facts["precip_type"].to_numpy(str) == statement.precip_type
    if statement.precip and statement.onset_offset_h is not None:
        onset = facts["precip_start_offset_h"].to_numpy(float)
        ok &= np.abs(onset - statement.onset_offset_h) <= onset_tolerance(rules, step_hours)
    ok &= facts["wind_category"].to_numpy(str) == statement.wind_category
    stated = frozenset(statement.hazards)
    ok &= np.array([h <= stated for h in _hazard_sets(facts["hazards"])], dtype=bool)
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
    facts: pd.DataFrame,
    weights: np.ndarray | None,
    rules: TruthRules,
    step_hours: int,
) -> tuple[Statement, np.ndarray]:
    """The statement that fits the most subscriber weight in ``facts``, and its fit mask.

    Categories (precipitation, type, wind) are tried one combination at a time; within each,
    the stated high and low ranges (and onset) are found by prefix sums over a binned
    histogram, so the search is exact to the whole °F and hour, and linear in the group size.
    """
    w = np.ones(len(facts)) if weights is None else np.asarray(weights, dtype=float)
    onset_tol = onset_tolerance(rules, step_hours)
    keys = facts[["precip", "precip_type", "wind_category"]].astype(str).agg("|".join, axis=1)
    best: tuple[float, Statement] | None = None
    for key, index in keys.groupby(keys).indices.items():
        if w[index].sum() <= (best[0] if best else -1):
            continue  # this group cannot beat the best so far
        group = facts.iloc[index]
        precip = group["precip"].iloc[0]
        onset = group["precip_start_offset_h"].to_numpy(float) if precip else None
        score, a, c, s = _best_box(
            group["high_f"].to_numpy(float), group["low_f"].to_numpy(float), onset,
            w[index], rules, onset_tol,
        )
        if best is None or score > best[0]:
            r = rules.stated_range_f
            best = (score, Statement(
                high_f=(float(a), float(a + r)), low_f=(float(c), float(c + r)),
                precip=bool(precip), precip_type=str(group["precip_type"].iloc[0]),
                onset_offset_h=None if s is None else float(s),
                wind_category=str(group["wind_category"].iloc[0]), hazards=(),
            ))
    assert best is not None, "best_statement needs at least one row"
    statement = _with_hazards(facts, w, best[1], rules, step_hours)
    return statement, fits(facts, statement, rules, step_hours)


def _with_hazards(
    facts: pd.DataFrame, w: np.ndarray, statement: Statement, rules: TruthRules,
    step_hours: int,
) -> Statement:
    """State the hazards that at least ``hazard_min_share`` of the otherwise-fitting hold."""
    everything = Statement(**{**statement.__dict__, "hazards": ("heat", "freeze", "heavy rain",
                                                                "strong gusts")})
    candidates = fits(facts, everything, rules, step_hours)
    if not candidates.any():
        return statement
    sets = _hazard_sets(facts["hazards"][candidates])
    total = w[candidates].sum()
    names = sorted({h for s in sets for h in s})
    share = {h: sum(wi for wi, s in zip(w[candidates], sets, strict=True) if h in s) / total
             for h in names}
    keep = tuple(h for h in names if share[h] >= rules.hazard_min_share)
    return Statement(**{**statement.__dict__, "hazards": keep})


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
