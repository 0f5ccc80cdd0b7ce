"""The steps of a run as plain functions, in data-flow order (the flow wires them as tasks):
plan the slots, score the baselines, and take the barycenters back to contract units."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pipeline.features import SeriesSet, scale_series
from pipeline.run.params import RunParams
from pipeline.settings import TruthRules
from pipeline.truth import CoverageBound, FactArrays, Statement

if TYPE_CHECKING:
    from distributed import Client


@dataclass
class Clustering:
    """The planned slots for a run's ZIPs (see :mod:`pipeline.planning.plan`)."""

    labels: np.ndarray  # (n_locations,) slot index
    fits: np.ndarray  # (n_locations,) the slot's statement is true here
    statements: list[Statement]
    distances: np.ndarray  # (n_locations,), DTW distance to own slot's barycenter
    centers: np.ndarray  # (n_slots, n_steps, n_variables), scaled units
    variables: list[str]
    truth: float
    reached_target: bool
    coverage_curve: list[float]
    chosen_from: str
    baseline_groupings: dict[str, np.ndarray] = field(repr=False)
    bound: CoverageBound | None = None  # the LP bound on truthfulness at the same slot count
    seconds: dict[str, float] = field(default_factory=dict)  # planning's sub-steps


def cluster_locations(
    series: SeriesSet,
    facts: pd.DataFrame,
    states: np.ndarray,
    params: RunParams,
    rules: TruthRules,
    *,
    weights: np.ndarray | None = None,
    on_slot: Callable[[int, float], None] | None = None,
    n_jobs: int | None = None,
    client: Client | None = None,
    bound_seconds: float = 300.0,
    on_stage: Callable[[str], None] | None = None,
) -> Clustering:
    """Plan truthful slots over every ZIP's scaled window — the whole nation, no subsample.

    With a Dask ``client`` the heavy DTW work runs on its workers; the plan is identical.
    ``on_slot`` and ``on_stage`` report progress (see :func:`pipeline.planning.plan_slots`).
    """
    from pipeline.planning import plan_slots

    start = time.perf_counter()
    X, names = scale_series(series, params.scale_specs())
    scaled = round(time.perf_counter() - start, 3)
    window = max(0, params.dtw_window_hours // series.step_hours)
    plan = plan_slots(
        X, FactArrays.from_frame(facts), states, weights=weights,
        max_slots=params.max_slots, target=params.target_truth, rules=rules,
        window=window, random_state=params.seed, n_jobs=n_jobs,
        on_slot=on_slot, client=client, bound_seconds=bound_seconds, on_stage=on_stage,
    )
    return Clustering(
        labels=plan.labels, fits=plan.fits, statements=plan.statements,
        distances=plan.distances, centers=plan.centers, variables=names, truth=plan.truth,
        reached_target=plan.reached_target, coverage_curve=plan.coverage_curve,
        chosen_from=plan.chosen_from, baseline_groupings=plan.baseline_groupings,
        bound=plan.bound, seconds={"scale": scaled, **plan.seconds},
    )


def baselines(
    clustering: Clustering,
    facts: pd.DataFrame,
    rules: TruthRules,
    *,
    weights: np.ndarray | None = None,
) -> dict[str, dict[str, Any]]:
    """Per-state, raw k-means and DTW-only groupings at the run's slot count, scored alike."""
    from pipeline.planning import score_baselines

    return score_baselines(clustering.baseline_groupings, FactArrays.from_frame(facts),
                           weights, rules)


def unscale_centers(
    clustering: Clustering, params: RunParams, step_hours: int
) -> np.ndarray:
    """Barycenters back in contract units, shape (k, n_steps, n_variables)."""
    specs = params.scale_specs()
    out = np.empty_like(clustering.centers)
    for j, name in enumerate(clustering.variables):
        factor = specs[name].unit / np.sqrt(specs[name].weight)
        if name in ("precip_in", "snow_in"):
            factor *= step_hours
        out[:, :, j] = clustering.centers[:, :, j] * factor
    return out


class StepClock:
    """Seconds per step, for the summary and the progress display."""

    def __init__(self, on_done: Callable[[str, float, str], None] | None = None) -> None:
        self.seconds: dict[str, float] = {}
        self._on_done = on_done
        self.detail = ""

    @contextmanager
    def step(self, name: str) -> Iterator[StepClock]:
        start = time.perf_counter()
        self.detail = ""
        yield self
        self.seconds[name] = round(time.perf_counter() - start, 3)
        if self._on_done:
            self._on_done(name, self.seconds[name], self.detail)

    def totals(self) -> dict[str, float]:
        """Seconds per step, and their ``total``."""
        return {**self.seconds, "total": round(sum(self.seconds.values()), 3)}
