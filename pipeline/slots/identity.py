"""Stable slot identities: a slot that covers mostly the same ZIPs as one of the previous run
keeps its id, so editors can reuse their text. Only the id is carried: names and headlines are
recomputed every run from this run's members and weather (:mod:`pipeline.slots.naming`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class PreviousRun:
    """What identity matching needs of the previous run."""

    run_id: str
    membership: pd.Series  # zip -> slot_id
    names: dict[str, str]  # slot_id -> name; only its ids are used (to number new slots)


def carry_over(
    members: Sequence[np.ndarray], previous: PreviousRun | None, min_overlap: float = 0.5
) -> list[str | None]:
    """The previous slot id each new slot inherits, or None.

    A new slot inherits a previous slot's id when at least ``min_overlap`` of its members were
    in that slot, and that previous slot is not claimed by a new slot with a larger overlap.
    """
    if previous is None or previous.membership.empty:
        return [None] * len(members)
    pairs = []
    for i, zips in enumerate(members):
        before = previous.membership.reindex(zips).dropna()
        if before.empty:
            continue
        prev_id, count = before.value_counts().index[0], int(before.value_counts().iloc[0])
        if count >= min_overlap * len(zips):
            pairs.append((count, i, str(prev_id)))
    inherited: list[str | None] = [None] * len(members)
    taken: set[str] = set()
    for _, i, prev_id in sorted(pairs, reverse=True):
        if prev_id not in taken:
            inherited[i] = prev_id
            taken.add(prev_id)
    return inherited


def assign_ids(inherited: list[str | None], previous: PreviousRun | None) -> list[str]:
    """Inherited ids stay; new slots get ``s<N>`` numbers after every id used before."""
    used = [*(previous.names if previous else {}), *(i for i in inherited if i)]
    numbers = [int(u[1:]) for u in used if u[1:].isdigit()]
    next_number = max(numbers, default=0) + 1
    ids = []
    for inherited_id in inherited:
        if inherited_id:
            ids.append(inherited_id)
        else:
            ids.append(f"s{next_number:03d}")
            next_number += 1
    return ids


def unchanged_share(assignments: pd.DataFrame, previous: PreviousRun | None) -> float | None:
    """Share of ZIPs (in both runs) whose slot id did not change."""
    if previous is None or previous.membership.empty:
        return None
    now = assignments.set_index("zip")["slot_id"]
    both = now.index.intersection(previous.membership.index)
    if len(both) == 0:
        return None
    return round(float((now[both] == previous.membership[both]).mean()), 4)
