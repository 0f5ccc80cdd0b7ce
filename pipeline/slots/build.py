"""Build slots from a plan: members, stated facts, representative series, names and drafts.

A slot holds its member ZIPs and states, a representative forecast (the DTW barycenter and the
most central member, the *medoid*), the facts it states (its message's content, which is true
for every fitting member), the facts summarised over all its members, a human name and a
plain-text draft message. ZIPs that fit no slot get an automatic message of their own.

A slot carried over from the previous run keeps its id (so editors find it again), but its name
and headline are always this run's: the weather and the members may have changed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.features import SeriesSet
from pipeline.frames import records
from pipeline.slots.identity import PreviousRun, assign_ids, carry_over
from pipeline.slots.naming import distinct_regions, name_detail, region_name, slot_name
from pipeline.truth import Statement
from pipeline.truth.wording import automatic_message, headline, message, says_day

REPRESENTATIVE_VARIABLES = ["temperature_f", "precip_probability", "precip_in", "wind_mph"]


@dataclass
class Slot:
    """One message slot. ``facts`` is JSON-ready; ``zips`` lists the members.

    ``name`` is ``"<region> · <headline>"``, both computed for this run; ``name_detail``
    lists every state with its share of members (what "+ 3 other states" stands for).
    """

    slot_id: str
    name: str
    region: str
    headline: str
    n_zips: int
    n_fit: int
    states: dict[str, int]
    zips: list[str]
    facts: dict[str, Any]
    representative: dict[str, Any]
    draft_message: str
    medoid_zip: str
    carried_over: bool
    carried_from: str | None = None  # "<previous run id>/<slot id>" when carried over
    name_detail: str = ""  # "Texas 82%, New Mexico 11%, …"; added later, so it has a default

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _range(values: pd.Series) -> dict[str, float | None]:
    """Spread of the values present (pandas' median and linear quantiles, the same numbers
    by numpy without a Series per statistic: 420 of these a national run)."""
    present = values.dropna()
    vals = present.to_numpy(getattr(present.dtype, "numpy_dtype", None))  # its own precision
    if not len(vals):
        return {"min": None, "max": None, "median": None, "p10": None, "p90": None}
    p10, p90 = np.quantile(vals, [0.1, 0.9])
    return {"min": round(float(vals.min()), 1), "max": round(float(vals.max()), 1),
            "median": round(float(np.median(vals)), 1),
            "p10": round(float(p10), 1), "p90": round(float(p90), 1)}


def _shares(values: pd.Series) -> dict[str, float]:
    """Each value's share of the members, largest first (missing values left out)."""
    counts = Counter(values.dropna().tolist())
    return {str(k): round(n / len(values), 3)
            for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))}


def _majority(values: pd.Series) -> Any:
    vals = values.dropna()
    if vals.empty:
        return None
    counts = Counter(vals.tolist())
    # ties go to the name that sorts first, so the result never depends on row order
    return sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[0][0]


def member_facts(members: pd.DataFrame) -> dict[str, Any]:
    """Facts over *all* members (rows of :func:`pipeline.features.zip_facts`): the spread."""
    wet = members[members["precip"]]
    hazards = Counter(h for hs in members["hazards"] for h in str(hs).split(",") if h)
    return {
        "high_f": _range(members["high_f"]),
        "low_f": _range(members["low_f"]),
        "precip": {
            "share": round(float(members["precip"].mean()), 3),
            "pop_max": None if members["pop_max"].isna().all()
            else round(float(members["pop_max"].max()), 1),
            "type": _majority(wet["precip_type"]) if len(wet) else "none",
            "types": _shares(members["precip_type"].where(members["precip"], "none")),
            "start_hour": _range(wet["precip_start_hour"]),
            "end_hour": _range(wet["precip_end_hour"]),
            "total_in": _range(members["precip_total_in"]),
        },
        "wind": {
            "category": _majority(members["wind_category"]),
            "categories": _shares(members["wind_category"]),
            "max_mph": _range(members["wind_max_mph"]),
            "gust_max_mph": _range(members["gust_max_mph"]),
        },
        "sky": _majority(members["sky"]),
        "sky_shares": _shares(members["sky"]),
        "hazards": {name: round(n / len(members), 3) for name, n in sorted(hazards.items())},
    }


def stated_facts(statement: Statement) -> dict[str, Any]:
    """What the slot's message states (``facts["stated"]``), with its onset as a clock hour."""
    stated = statement.to_json()
    stated["onset_clock"] = (None if statement.onset_h is None
                             else float(statement.onset_h % 24))
    return stated


def _series_dict(values: np.ndarray, variables: list[str]) -> dict[str, list[float]]:
    return {
        v: [round(float(x), 3) for x in values[:, variables.index(v)]]
        for v in REPRESENTATIVE_VARIABLES if v in variables
    }


def build_slots(
    series: SeriesSet,
    facts: pd.DataFrame,
    zips: pd.DataFrame,
    labels: np.ndarray,
    fits: np.ndarray,
    statements: list[Statement],
    distances: np.ndarray,
    barycenters: np.ndarray,
    barycenter_variables: list[str],
    previous: PreviousRun | None = None,
) -> tuple[list[Slot], pd.DataFrame]:
    """One slot per planned statement, largest first, and the per-ZIP assignment table.

    Parameters
    ----------
    series : SeriesSet of n_locations ZIPs, aligned with ``facts``, ``zips`` and ``labels``
    facts : DataFrame from :func:`pipeline.features.zip_facts`
    zips : gazetteer rows (zip, state, county, city, lat, lon), in ``series.zips`` order
    labels : ndarray of shape (n_locations,), slot index per ZIP
    fits : ndarray of bool, shape (n_locations,), the slot's statement is true for the ZIP
    statements : the statement of each slot index
    distances : ndarray of shape (n_locations,), DTW distance to the slot's barycenter
    barycenters : ndarray of shape (n_slots, n_steps, n_barycenter_variables), contract units
    previous : the previous run's membership, for stable ids (names are never carried)

    Returns
    -------
    slots : list of Slot, largest first
    assignments : one row per ZIP: zip, slot_id, distance, state, fits, automatic,
        automatic_message and the ZIP's facts
    """
    states = zips["state"].to_numpy()
    sizes = np.bincount(labels, minlength=len(statements))
    order = [c for c in np.argsort(-sizes, kind="stable") if sizes[c] > 0]
    members_of = [np.flatnonzero(labels == c) for c in order]
    inherited = carry_over([series.zips[rows] for rows in members_of], previous)
    ids = assign_ids(inherited, previous)
    long_window = bool(len(facts)) and says_day(int(facts["window_hours"].iloc[0]))
    drafts = [stated_facts(statements[cluster]) for cluster in order]
    member_rows = [zips.iloc[rows] for rows in members_of]
    heads = [headline(statements[c], long_window=long_window) for c in order]
    regions = distinct_regions([region_name(rows, zips) for rows in member_rows], heads,
                               member_rows)
    slots: list[Slot] = []
    for i, (cluster, rows) in enumerate(zip(order, members_of, strict=True)):
        medoid = rows[np.argmin(distances[rows])]
        slots.append(Slot(
            slot_id=ids[i], name=slot_name(regions[i], heads[i]), region=regions[i],
            headline=heads[i], name_detail=name_detail(member_rows[i]),
            n_zips=len(rows), n_fit=int(fits[rows].sum()),
            states=dict(Counter(states[rows].tolist()).most_common()),
            zips=series.zips[rows].tolist(),
            facts={"stated": drafts[i], "fit_share": round(float(fits[rows].mean()), 4),
                   "name_detail": name_detail(member_rows[i]),
                   **member_facts(facts.iloc[rows])},
            representative={
                "local_hour": [float(h) for h in series.local_hour[medoid]],
                "barycenter": _series_dict(barycenters[cluster], barycenter_variables),
                "medoid": _series_dict(series.values[medoid], series.variables),
                "medoid_zip": str(series.zips[medoid]),
            },
            draft_message=message(statements[cluster], long_window=long_window),
            medoid_zip=str(series.zips[medoid]), carried_over=bool(inherited[i]),
            carried_from=f"{previous.run_id}/{inherited[i]}" if previous and inherited[i]
            else None,
        ))
    slot_id_of = {int(c): ids[i] for i, c in enumerate(order)}
    assignments = facts.copy()
    assignments.insert(1, "slot_id", [slot_id_of[int(c)] for c in labels])
    assignments.insert(2, "distance", distances)
    assignments.insert(3, "state", states)
    assignments.insert(4, "fits", fits)
    assignments.insert(5, "automatic", ~fits)
    messages: list[str | None] = [None] * len(facts)  # a misfit reads its own facts
    misfits = np.flatnonzero(~np.asarray(fits, dtype=bool))
    for at, row in zip(misfits.tolist(), records(facts.iloc[misfits]), strict=True):
        messages[at] = automatic_message(row)
    assignments.insert(6, "automatic_message", messages)
    return slots, assignments
