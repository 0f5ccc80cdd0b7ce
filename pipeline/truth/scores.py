"""Truthfulness: the share of subscribers (ZIPs when there are none) whose message is true."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipeline.settings import TruthRules
from pipeline.truth.rule import FactArrays, as_arrays
from pipeline.truth.search import best_statement


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
) -> tuple[float, np.ndarray]:
    """Truthfulness of any grouping when each group states its own best statement.

    This is how baselines are scored: every group gets the most favourable message it could
    have under the same rule, so the comparison measures the grouping, not the wording.
    """
    f = as_arrays(facts)
    w = np.ones(len(f)) if weights is None else np.asarray(weights, dtype=float)
    fit = np.zeros(len(f), dtype=bool)
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        _, mask = best_statement(f.take(rows), w[rows], rules)
        fit[rows] = mask
    return round(float(w[fit].sum() / w.sum()), 4), fit
