"""The run summary (:class:`pipeline.store.summary.RunSummary`) from a run's results."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipeline.features import SeriesSet
from pipeline.frames import records
from pipeline.ingest import Ingest
from pipeline.run.lineage import code_version
from pipeline.run.params import RunParams
from pipeline.run.steps import Clustering
from pipeline.settings import TruthRules
from pipeline.store.summary import RunSummary, Truthfulness, UpperBound
from pipeline.truth import FactArrays, fits, truthfulness
from pipeline.truth.wording import own_statement


def build_summary(
    params: RunParams,
    series: SeriesSet,
    clustering: Clustering,
    assignments: pd.DataFrame,
    slot_sizes: list[int],
    rules: TruthRules,
    ingest: Ingest,
    *,
    baseline_scores: dict[str, dict[str, Any]] | None = None,
    unchanged_ids: float | None = None,
    previous_run_id: str | None = None,
    seconds: dict[str, float] | None = None,
    weights: np.ndarray | None = None,
) -> RunSummary:
    """What ``zipcast run --json`` prints and ``summary.json`` holds."""
    return RunSummary(
        run_id=params.run_id, source=params.source, issue_time=params.issue_time,
        window=params.window, n_zips=int(len(series.zips)),
        n_steps=int(series.values.shape[1]), step_hours=series.step_hours,
        n_slots=len(slot_sizes),
        slot_sizes={"largest": max(slot_sizes), "smallest": min(slot_sizes)},
        truthfulness=truth_of(params, clustering, assignments, rules, weights),
        baselines=baseline_scores or {}, slot_ids_unchanged_share=unchanged_ids,
        clustering={
            "method": "truthful: greedy cover sets k; an integer program picks k statements "
                      "from the LP bound's pool; DTW membership (pipeline.planning.plan)",
            "statements_chosen_from": clustering.chosen_from,
            "variables": clustering.variables,
            "dtw_window_steps": max(0, params.dtw_window_hours // series.step_hours),
            "seconds": dict(clustering.seconds),  # the cluster step's sub-steps
        },
        params=params.__dict__, code=code_version(), seconds=dict(seconds or {}),
        n_zips_asked=int(ingest.quality.get("n_asked", len(series.zips))),
        data_quality=ingest.quality, snapshot=ingest.snapshot_id,
        snapshot_sha256=ingest.sha256, forecast_issue_time=ingest.issue_time.isoformat(),
        previous_run_id=previous_run_id,
    )


def truth_of(params: RunParams, clustering: Clustering, assignments: pd.DataFrame,
             rules: TruthRules, weights: np.ndarray | None = None) -> Truthfulness:
    """Nationally, per state and per slot, with the target, automatic messages and the
    LP bound at the run's slot count."""
    shares = truthfulness(assignments["fits"].to_numpy(bool), weights,
                          assignments["state"].to_numpy(), assignments["slot_id"].to_numpy(),
                          rules.state_floor)
    bound = clustering.bound
    return Truthfulness(
        **shares, target=params.target_truth,
        reached_target=shares["national"] >= params.target_truth,
        n_automatic=int(assignments["automatic"].sum()),
        with_automatic=with_automatic(assignments, rules, weights),
        coverage_curve=clustering.coverage_curve, rule=rule_words(rules),
        upper_bound=None if bound is None else UpperBound(
            k=bound.k, value=round(bound.value, 4), lp_value=round(bound.lp_value, 4),
            converged=bound.converged,
            gap_points=round(100 * (bound.value - shares["national"]), 2),
            seconds=bound.seconds),
    )


def with_automatic(assignments: pd.DataFrame, rules: TruthRules,
                   weights: np.ndarray | None = None) -> float:
    """The share told the truth counting automatic messages: a ZIP whose slot does not fit
    reads its own automatic message, checked here against its own facts like any other."""
    w = np.ones(len(assignments)) if weights is None else np.asarray(weights, dtype=float)
    true = assignments["fits"].to_numpy(bool).copy()
    misfits = np.flatnonzero(~true)
    if len(misfits):
        rows = assignments.iloc[misfits]
        facts = FactArrays.from_frame(rows)  # once: a frame per row costs seconds nationally
        for j, (i, member) in enumerate(zip(misfits, records(rows), strict=True)):
            true[i] = bool(fits(facts.take(np.array([j])), own_statement(member), rules)[0])
    return round(float(w[true].sum() / w.sum()), 4)


def rule_words(rules: TruthRules) -> str:
    """The fit rule in one line, for summaries and artifacts."""
    return (f"highs and lows within the stated range (at most {rules.stated_range_f:g} F "
            f"wide) +/- {rules.temperature_slack_f:g} F; dry means dry, else the same type "
            f"with onset within {rules.onset_tolerance_h:g} h "
            f"({rules.onset_tolerance_coarse_h:g} h for 3-hourly data); the same wind and, "
            "when stated, sky category; hazards both ways")
