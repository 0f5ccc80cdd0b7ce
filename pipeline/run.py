"""The steps of a run as plain functions, in data-flow order, plus its identity and timing.

``flows/twice_daily.py`` wires these as Prefect tasks; tests call them directly.
sources → validate → features → cluster → slots → store.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pipeline.features import SeriesSet, scale_series
from pipeline.planning.baselines import score_baselines
from pipeline.planning.plan import plan_slots
from pipeline.settings import (
    REPO_ROOT,
    FactRules,
    Settings,
    TruthRules,
    VariableScale,
    WindowSpec,
)
from pipeline.times import to_utc
from pipeline.truth import (
    CoverageBound,
    FactArrays,
    Statement,
    fits,
    truthfulness,
)
from pipeline.truth.wording import own_statement

if TYPE_CHECKING:
    from distributed import Client


@dataclass
class RunParams:
    """Everything that decides a run's result (its lineage, and its id)."""

    source: str = "synthetic"
    issue_time: str = ""  # ISO, UTC
    window: str = "morning"
    max_slots: int = 60
    states: list[str] | None = None
    seed: int = 0
    horizon_hours: int = 72
    dtw_window_hours: int = 3
    cluster_max_iter: int = 20
    target_truth: float = 0.97
    path: str | None = None  # source files (table, gridded)
    replay: str | None = None  # snapshot id the forecast was replayed from
    scales: dict[str, dict[str, float]] = field(default_factory=dict)
    # the rules that shape the result: facts, truth, windows (quality is the ingest's, in the
    # snapshot); recorded so a replay applies the run's own rules, not today's settings
    rules: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> RunParams:
        issue = overrides.pop("issue_time", None)
        stamp = to_utc(issue) if issue else pd.Timestamp.now(tz="UTC").floor("h")
        values: dict[str, Any] = {
            "source": settings.source,
            "window": settings.window,
            "max_slots": settings.max_slots,
            "seed": settings.seed,
            "horizon_hours": settings.horizon_hours,
            "dtw_window_hours": settings.dtw_window_hours,
            "cluster_max_iter": settings.cluster_max_iter,
            "target_truth": settings.truth.target,
            "scales": {k: v.model_dump() for k, v in settings.scales.items()},
            "rules": {"facts": settings.facts.model_dump(),
                      "truth": settings.truth.model_dump(),
                      "windows": {k: v.model_dump() for k, v in settings.windows.items()}},
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        if values.get("states"):
            values["states"] = sorted({s.strip().upper() for s in values["states"] if s.strip()})
        return cls(issue_time=stamp.isoformat(), **values)

    @property
    def run_id(self) -> str:
        """Readable and deterministic: the same parameters give the same id (reruns replace)."""
        digest = hashlib.sha256(
            json.dumps(self.__dict__, sort_keys=True).encode()
        ).hexdigest()[:8]
        stamp = to_utc(self.issue_time).strftime("%Y%m%dT%H%MZ")
        return f"{stamp}-{self.window}-{self.source}-{digest}"

    def settings_for(self, settings: Settings) -> Settings:
        """``settings`` with this run's recorded rules (facts, truth, windows) in force."""
        if not self.rules:
            return settings
        return settings.model_copy(update={
            "facts": FactRules(**self.rules["facts"]),
            "truth": TruthRules(**self.rules["truth"]),
            "windows": {k: WindowSpec(**v) for k, v in self.rules["windows"].items()},
        })

    def scale_specs(self) -> dict[str, VariableScale]:
        return {k: VariableScale(**v) for k, v in self.scales.items()}


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
) -> Clustering:
    """Plan truthful slots over every ZIP's scaled window — the whole nation, no subsample.

    With a Dask ``client`` the heavy DTW work runs on its workers; the plan is identical.
    """
    X, names = scale_series(series, params.scale_specs())
    window = max(0, params.dtw_window_hours // series.step_hours)
    plan = plan_slots(
        X, FactArrays.from_frame(facts), states, weights=weights,
        max_slots=params.max_slots, target=params.target_truth, rules=rules,
        window=window, random_state=params.seed, n_jobs=n_jobs,
        on_slot=on_slot, client=client, bound_seconds=bound_seconds,
    )
    return Clustering(
        labels=plan.labels, fits=plan.fits, statements=plan.statements,
        distances=plan.distances, centers=plan.centers, variables=names, truth=plan.truth,
        reached_target=plan.reached_target, coverage_curve=plan.coverage_curve,
        chosen_from=plan.chosen_from, baseline_groupings=plan.baseline_groupings,
        bound=plan.bound,
    )


def baselines(
    clustering: Clustering,
    facts: pd.DataFrame,
    rules: TruthRules,
    *,
    weights: np.ndarray | None = None,
) -> dict[str, dict[str, Any]]:
    """Per-state, raw k-means and DTW-only groupings at the run's slot count, scored alike."""
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


def with_automatic(assignments: pd.DataFrame, rules: TruthRules,
                   weights: np.ndarray | None = None) -> float:
    """The share told the truth counting automatic messages: a ZIP whose slot does not fit
    reads its own automatic message, checked here against its own facts like any other."""
    w = np.ones(len(assignments)) if weights is None else np.asarray(weights, dtype=float)
    true = assignments["fits"].to_numpy(bool).copy()
    for i in np.flatnonzero(~true):
        row = assignments.iloc[[i]]
        true[i] = bool(fits(row, own_statement(row.iloc[0].to_dict()), rules)[0])
    return round(float(w[true].sum() / w.sum()), 4)


def rule_words(rules: TruthRules) -> str:
    """The fit rule in one line, for summaries and artifacts."""
    return (f"highs and lows within the stated range (at most {rules.stated_range_f:g} F "
            f"wide) +/- {rules.temperature_slack_f:g} F; dry means dry, else the same type "
            f"with onset within {rules.onset_tolerance_h:g} h "
            f"({rules.onset_tolerance_coarse_h:g} h for 3-hourly data); the same wind and, "
            "when stated, sky category; hazards both ways")


def replay_params(stored: dict[str, Any]) -> RunParams:
    """The parameters of a stored run (``store.load_run``), reading its ingest snapshot.

    Every parameter comes from the run's own record, not from today's settings, so
    ``zipcast run --replay RUN_ID`` recomputes the run exactly as it was made.
    """
    snapshot = (stored.get("summary") or {}).get("snapshot")
    if not snapshot:
        raise ValueError(f"run {stored['id']} recorded no ingest snapshot, so it cannot be "
                         "replayed; runs made since snapshots exist can")
    known = set(RunParams.__dataclass_fields__)
    values = {k: v for k, v in (stored.get("params") or {}).items() if k in known}
    values["replay"] = snapshot
    return RunParams(**values)


def compare_runs(original: Path, replayed: Path, limit: int = 10) -> dict[str, Any]:
    """Do two run folders hold identical slots? Membership (ZIP → slot), each ZIP's fit and
    distance, and each slot's name, facts, statement and draft message are compared."""
    differences: list[str] = []
    a = pd.read_parquet(Path(original) / "assignments.parquet").set_index("zip").sort_index()
    b = pd.read_parquet(Path(replayed) / "assignments.parquet").set_index("zip").sort_index()
    if not a.index.equals(b.index):
        differences.append(f"ZIPs differ: {len(a.index.symmetric_difference(b.index))} "
                           "in only one run")
    else:
        for column in sorted(set(a.columns) & set(b.columns)):
            left, right = a[column], b[column]
            same = (left == right) | (left.isna() & right.isna())
            if not same.all():
                bad = same.index[~same.to_numpy()][:3]
                differences.append(f"{column} differs for {int((~same).sum())} ZIPs, e.g. "
                                   + ", ".join(f"{z}: {left[z]!r} vs {right[z]!r}" for z in bad))
    slots_a = json.loads((Path(original) / "slots.json").read_text())
    slots_b = json.loads((Path(replayed) / "slots.json").read_text())
    if len(slots_a) != len(slots_b):
        differences.append(f"{len(slots_a)} slots vs {len(slots_b)}")
    for x, y in zip(slots_a, slots_b, strict=False):
        for key in sorted(set(x) | set(y)):
            if key in ("run_id",):
                continue
            if x.get(key) != y.get(key):
                differences.append(f"slot {x.get('slot_id')}: {key} differs")
    return {"identical": not differences, "n_slots": len(slots_b),
            "n_zips": int(len(b)), "differences": differences[:limit]}


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


def run_summary(
    params: RunParams,
    series: SeriesSet,
    clustering: Clustering,
    assignments: pd.DataFrame,
    slot_sizes: list[int],
    rules: TruthRules,
    *,
    baseline_scores: dict[str, dict[str, Any]] | None = None,
    unchanged_ids: float | None = None,
    seconds: dict[str, float] | None = None,
    weights: np.ndarray | None = None,
) -> dict[str, Any]:
    """The JSON summary a run prints with ``--json`` and writes to ``summary.json``."""
    truth = truthfulness(
        assignments["fits"].to_numpy(bool), weights, assignments["state"].to_numpy(),
        assignments["slot_id"].to_numpy(), rules.state_floor,
    )
    truth["target"] = params.target_truth
    truth["reached_target"] = truth["national"] >= params.target_truth
    truth["n_automatic"] = int(assignments["automatic"].sum())
    truth["with_automatic"] = with_automatic(assignments, rules, weights)
    truth["coverage_curve"] = clustering.coverage_curve
    truth["rule"] = rule_words(rules)
    bound = clustering.bound
    if bound is not None:
        truth["upper_bound"] = {
            "k": bound.k, "value": round(bound.value, 4), "lp_value": round(bound.lp_value, 4),
            "converged": bound.converged, "gap_points": round(100 * (bound.value
                                                                     - truth["national"]), 2),
            "seconds": bound.seconds,
        }
    return {
        "run_id": params.run_id,
        "source": params.source,
        "issue_time": params.issue_time,
        "window": params.window,
        "n_zips": int(len(series.zips)),
        "n_steps": int(series.values.shape[1]),
        "step_hours": series.step_hours,
        "n_slots": len(slot_sizes),
        "slot_sizes": {"largest": max(slot_sizes), "smallest": min(slot_sizes)},
        "truthfulness": truth,
        "baselines": baseline_scores or {},
        "slot_ids_unchanged_share": unchanged_ids,
        "clustering": {
            "method": "truthful: greedy cover sets k; an integer program picks k statements "
                      "from the LP bound's pool; DTW membership (pipeline.planning.plan)",
            "statements_chosen_from": clustering.chosen_from,
            "variables": clustering.variables,
            "dtw_window_steps": max(0, params.dtw_window_hours // series.step_hours),
        },
        "params": params.__dict__,
        "code": code_version(),
        "seconds": dict(seconds or {}),
    }


LINEAGE_PACKAGES = ("numpy", "pandas", "numba", "scikit-learn", "scipy", "tslearn", "pyarrow",
                    "geopandas", "shapely", "pyproj", "zipcodes", "xarray", "cfgrib", "eccodes",
                    "pandera", "sqlalchemy", "prefect", "jinja2")


def code_version(root: Path = REPO_ROOT) -> dict[str, Any]:
    """What code made the run: the git commit (and whether the tree had local changes), the
    zipcast version and the versions of the packages that shape its numbers."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                                  timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    status = git("status", "--porcelain", "--untracked-files=no")
    packages: dict[str, str | None] = {}
    for name in LINEAGE_PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    try:
        zipcast = metadata.version("zipcast")
    except metadata.PackageNotFoundError:
        zipcast = None
    return {"git_commit": git("rev-parse", "HEAD"),
            "git_dirty": None if status is None else bool(status),
            "zipcast": zipcast, "python": platform.python_version(), "packages": packages}
