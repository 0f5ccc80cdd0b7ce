"""Slots: one per cluster, with what an editor needs to write its message.

A slot holds its member ZIPs and states, a representative forecast (the DTW barycenter and the
most central member, the *medoid*), the facts summarised over its members and a plain-text
draft message built from those facts. Facts state ranges over *all* members, so what a slot
says is checkable against every member's own forecast.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipeline.features import SeriesSet

REPRESENTATIVE_VARIABLES = ["temperature_f", "precip_probability", "precip_in", "wind_mph"]


@dataclass
class Slot:
    """One message slot. ``facts`` is JSON-ready; ``zips`` lists the members."""

    slot_id: str
    name: str
    n_zips: int
    states: dict[str, int]
    zips: list[str]
    facts: dict[str, Any]
    representative: dict[str, Any]
    draft_message: str
    medoid_zip: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _range(values: pd.Series) -> dict[str, float | None]:
    vals = values.dropna()
    if vals.empty:
        return {"min": None, "max": None, "median": None}
    return {
        "min": round(float(vals.min()), 1),
        "max": round(float(vals.max()), 1),
        "median": round(float(vals.median()), 1),
    }


def _majority(values: pd.Series) -> Any:
    vals = values.dropna()
    if vals.empty:
        return None
    counts = Counter(vals.tolist())
    # ties go to the name that sorts first, so the result never depends on row order
    return sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[0][0]


def slot_facts(members: pd.DataFrame) -> dict[str, Any]:
    """Summarise member facts (rows of :func:`pipeline.features.zip_facts`) into slot facts."""
    wet = members[members["precip"]]
    hazard_lists = members["hazards"].map(lambda h: [x for x in h.split(",") if x])
    hazard_counts = Counter(h for hs in hazard_lists for h in hs)
    return {
        "high_f": _range(members["high_f"]),
        "low_f": _range(members["low_f"]),
        "precip": {
            "share": round(float(members["precip"].mean()), 3),
            "pop_max": None if members["pop_max"].isna().all()
            else round(float(members["pop_max"].max()), 1),
            "type": _majority(wet["precip_type"]) if len(wet) else "none",
            "start_hour": _range(wet["precip_start_hour"]),
            "end_hour": _range(wet["precip_end_hour"]),
            "total_in": _range(members["precip_total_in"]),
        },
        "wind": {
            "category": _majority(members["wind_category"]),
            "max_mph": _range(members["wind_max_mph"]),
            "gust_max_mph": _range(members["gust_max_mph"]),
        },
        "sky": _majority(members["sky"]),
        "hazards": {
            name: round(count / len(members), 3) for name, count in sorted(hazard_counts.items())
        },
    }


def clock(hour: float | None) -> str:
    """'2 pm' for 14.0, 'noon' and 'midnight' for 12 and 0; '' for None."""
    if hour is None or np.isnan(hour):
        return ""
    h = int(round(hour)) % 24
    if h in (0, 12):
        return "midnight" if h == 0 else "noon"
    suffix = "am" if h < 12 else "pm"
    return f"{(h % 12) or 12} {suffix}"


def _temps(label: str, rng: dict[str, float | None]) -> str:
    lo, hi = rng["min"], rng["max"]
    if lo is None or hi is None:
        return ""
    if hi - lo <= 2:
        return f"{label} near {round(rng['median'] or lo)}°F"
    return f"{label} {round(lo)}–{round(hi)}°F"


def draft_message(facts: dict[str, Any]) -> str:
    """A plain, factual draft an editor can start from."""
    parts = [_temps("Highs", facts["high_f"]), _temps("lows", facts["low_f"])]
    sentence = ", ".join(p for p in parts if p) + "."
    precip = facts["precip"]
    kind = {"rain": "Rain", "snow": "Snow", "mix": "Wintry mix"}.get(precip["type"], "Rain")
    if precip["share"] >= 0.5:
        start, end = precip["start_hour"]["median"], precip["end_hour"]["median"]
        timing = f" from about {clock(start)} to {clock(end)}" if start is not None else ""
        chance = f" ({precip['pop_max']:.0f}% chance)" if precip["pop_max"] is not None else ""
        weather = f"{kind} likely{timing}{chance}."
    elif precip["share"] > 0:
        weather = f"{kind} possible in places ({precip['share']:.0%} of the area)."
    else:
        weather = f"Dry, {facts['sky']}." if facts["sky"] else "Dry."
    wind = facts["wind"]
    wind_text = ""
    if wind["category"] and wind["category"] != "calm":
        gust = wind["gust_max_mph"]["max"]
        wind_text = f" {wind['category'].capitalize()}, gusts to {gust:.0f} mph."
    hazards = [h for h, share in facts["hazards"].items() if share >= 0.5]
    hazard_text = f" Watch for {', '.join(hazards)}." if hazards else ""
    return f"{sentence} {weather}{wind_text}{hazard_text}".strip()


def slot_name(states: dict[str, int], facts: dict[str, Any]) -> str:
    """'TX, OK · rain, highs 60s': where it is and the headline an editor scans for."""
    where = ", ".join(list(states)[:3]) + (" +" if len(states) > 3 else "")
    precip = facts["precip"]
    headline = precip["type"] if precip["share"] >= 0.5 else (facts["sky"] or "dry")
    median_high = facts["high_f"]["median"]
    decade = f"highs {int(median_high // 10 * 10)}s" if median_high is not None else ""
    return f"{where} · {headline}, {decade}".strip(", ")


def _series_dict(values: np.ndarray, variables: list[str]) -> dict[str, list[float]]:
    return {
        v: [round(float(x), 3) for x in values[:, variables.index(v)]]
        for v in REPRESENTATIVE_VARIABLES
        if v in variables
    }


def build_slots(
    series: SeriesSet,
    facts: pd.DataFrame,
    zips: pd.DataFrame,
    labels: np.ndarray,
    distances: np.ndarray,
    barycenters: np.ndarray,
    barycenter_variables: list[str],
) -> tuple[list[Slot], pd.DataFrame]:
    """One slot per non-empty cluster, ranked by size, and the per-ZIP assignment table.

    Parameters
    ----------
    series : SeriesSet of n_locations ZIPs, aligned with ``facts`` and ``labels``
    facts : DataFrame from :func:`pipeline.features.zip_facts`
    zips : gazetteer rows (zip, state, city), in ``series.zips`` order
    labels : ndarray of shape (n_locations,), cluster per ZIP
    distances : ndarray of shape (n_locations,), DTW distance of each ZIP to its center
    barycenters : ndarray of shape (k, n_steps, n_barycenter_variables), contract units
    barycenter_variables : names of the barycenter's variables

    Returns
    -------
    slots : list of Slot, largest first, ids ``s001``, ``s002``, …
    assignments : DataFrame with one row per ZIP: zip, slot_id, distance and the facts
    """
    states = zips["state"].to_numpy()
    sizes = np.bincount(labels)
    order = [c for c in np.argsort(-sizes, kind="stable") if sizes[c] > 0]
    slot_of_cluster = {int(c): f"s{rank + 1:03d}" for rank, c in enumerate(order)}
    slots: list[Slot] = []
    for cluster in order:
        rows = np.flatnonzero(labels == cluster)
        members = facts.iloc[rows]
        state_counts = dict(Counter(states[rows].tolist()).most_common())
        medoid = rows[np.argmin(distances[rows])]
        f = slot_facts(members)
        slots.append(
            Slot(
                slot_id=slot_of_cluster[int(cluster)],
                name=slot_name(state_counts, f),
                n_zips=len(rows),
                states=state_counts,
                zips=series.zips[rows].tolist(),
                facts=f,
                representative={
                    "local_hour": [float(h) for h in series.local_hour[medoid]],
                    "barycenter": _series_dict(barycenters[cluster], barycenter_variables),
                    "medoid": _series_dict(series.values[medoid], series.variables),
                    "medoid_zip": str(series.zips[medoid]),
                },
                draft_message=draft_message(f),
                medoid_zip=str(series.zips[medoid]),
            )
        )
    assignments = facts.copy()
    assignments.insert(1, "slot_id", [slot_of_cluster[int(c)] for c in labels])
    assignments.insert(2, "distance", distances)
    assignments.insert(3, "state", states)
    return slots, assignments
