"""``zipcast verify RUN_ID --obs PATH…``: score a stored run's messages against observations.

Steps (each a plain function; the Prefect flow calls them one per task)::

    run = load_run_to_verify(run_id, settings)
    obs = load_observations(run, ["synthetic"] or paths, settings)
    observed = observe(run, obs, settings)
    scored = score_run(run, observed, settings)
    summary = summarize(run, obs, observed, scored, settings)
    save_verification(run, observed, scored, summary, settings)

Results go to the run folder (``verification.json``, ``verification.parquet``, written
atomically) and the ``verifications`` table (one row per run, replaced on a re-verify).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.dispatch.job import approved_messages
from pipeline.dispatch.plan import zip_texts
from pipeline.dispatch.subscribers.queries import subscriber_counts
from pipeline.editorial.gate import gate_of
from pipeline.features import SeriesSet, build_series
from pipeline.features.windows import window_end
from pipeline.files import write_atomically
from pipeline.geo import city_names, zip_rows
from pipeline.settings import Settings
from pipeline.sources import fetch_analyses
from pipeline.store import load_run, migrate, session_scope
from pipeline.store.assignments import read_assignments
from pipeline.store.models import Run, Verification
from pipeline.store.verification import (
    KIND_NAMES,
    MAP_FILE,
    SUMMARY_FILE,
    TOPICS,
    ZIPS_FILE,
    Coverage,
    VerificationSummary,
    read_verification,
    score_color,
)
from pipeline.truth.rule import Statement
from pipeline.verify.facts import KNOWN_COLUMNS, ObservedFacts, observed_facts
from pipeline.verify.observations import (
    SYNTHETIC,
    Observations,
    combine,
    read_observations,
    synthetic_observations,
)
from pipeline.verify.scores import (
    KINDS,
    Baseline,
    Scored,
    attribution,
    categorical,
    errors,
    message_scores,
    score_messages,
)

ANALYSES = ("urma", "rtma")  # --obs keywords: hourly analyses fetched for the window


class NotVerifiable(ValueError):
    """The run cannot be verified (no forecast or assignments stored); the message says why."""


@dataclass
class RunToVerify:
    """A stored run, ready to verify: everything aligned to ``window.zips``."""

    run_id: str
    stored: dict[str, Any]
    run_dir: Path
    zips: pd.DataFrame  # gazetteer rows
    window: SeriesSet
    assignments: pd.DataFrame
    statements: dict[str, Statement]
    sent_texts: pd.DataFrame
    weights: np.ndarray
    weighting: str  # "subscribers" or "ZIPs"

    @property
    def window_end(self) -> datetime:
        return pd.Timestamp(self.window.valid_time.max()).tz_localize("UTC").to_pydatetime()


# -- steps ----------------------------------------------------------------------------------

def load_run_to_verify(run_id: str | None, settings: Settings, *,
                       now: datetime | None = None) -> RunToVerify:
    """The stored run with its window, drafts, what each ZIP was sent, and subscriber weights.

    Parameters
    ----------
    run_id : a stored run (``zipcast runs``); None: the newest
    settings : Settings
    now : when the gate is read (what was sent by then); default now
    """
    migrate(settings.db_url)
    stored = load_run(settings.db_url, run_id)
    run_dir = Path(stored["run_dir"])
    assignments = read_assignments(run_dir)
    forecast_path = run_dir / "forecast.parquet"
    if assignments is None or not forecast_path.exists():
        raise NotVerifiable(f"run {stored['id']}: its folder {run_dir} has no assignments or "
                            "forecast; rerun it (`zipcast run --replay {id}`) to verify it")
    gazetteer = zip_rows()
    zips = gazetteer[gazetteer["zip"].isin(assignments["zip"])].reset_index(drop=True)
    forecast = pd.read_parquet(forecast_path)
    issue = pd.Timestamp(stored["issue_time"])
    issue = issue.tz_localize("UTC") if issue.tzinfo is None else issue.tz_convert("UTC")
    window = build_series(forecast, zips, window=stored["window"], settings=settings,
                          issue_time=issue)
    assignments = assignments.set_index("zip").reindex(window.zips).reset_index()
    slots = json.loads((run_dir / "slots.json").read_text())
    statements = {s["slot_id"]: Statement.from_json(s["facts"]["stated"]) for s in slots
                  if (s.get("facts") or {}).get("stated")}
    with session_scope(settings.db_url) as db:
        run = db.get(Run, stored["id"])
        assert run is not None
        gate = gate_of(db, run, settings.review, now or datetime.now(UTC))
        approved = approved_messages(db, stored["id"])
    texts = zip_texts(assignments, gate, approved, city_names()).frame
    sent = texts.reindex(window.zips)
    counts = subscriber_counts(settings.db_url).reindex(window.zips).fillna(0).to_numpy(float)
    weighting = "subscribers" if counts.sum() > 0 else "ZIPs"
    weights = counts if counts.sum() > 0 else np.ones(len(window.zips))
    return RunToVerify(run_id=stored["id"], stored=stored, run_dir=run_dir, zips=zips,
                       window=window, assignments=assignments, statements=statements,
                       sent_texts=sent, weights=weights, weighting=weighting)


def load_observations(run: RunToVerify, paths: Sequence[str | Path], settings: Settings
                      ) -> Observations:
    """Observations for the run's ZIPs: ``synthetic`` (the synthetic source's observed weather
    for this run's issue time and seed), ``urma`` or ``rtma`` (the hourly analyses of the
    run's window, fetched by the model feed into its cache) and/or files or URLs (see
    :mod:`pipeline.verify.observations`)."""
    parts = []
    files: list[str | Path] = [p for p in paths if str(p) not in (SYNTHETIC, *ANALYSES)]
    for model in (str(p) for p in paths if str(p) in ANALYSES):  # fetched for the window
        start = pd.Timestamp(run.window.valid_time.min()) - pd.Timedelta(
            hours=run.window.step_hours - 1)
        end = pd.Timestamp(run.window.valid_time.max())
        files += fetch_analyses(start.tz_localize("UTC"), end.tz_localize("UTC"),
                                settings=settings.sources, model=model)
    if SYNTHETIC in (str(p) for p in paths):
        issue = pd.Timestamp(run.stored["issue_time"])
        issue = issue.tz_localize("UTC") if issue.tzinfo is None else issue.tz_convert("UTC")
        end = pd.Timestamp(run.window.valid_time.max()).tz_localize("UTC")
        hours = max(1, math.ceil((end - issue.floor("h")) / pd.Timedelta(hours=1)))
        seed = int((run.stored.get("params") or {}).get("seed") or settings.seed)
        parts.append(synthetic_observations(run.zips, issue, hours, seed=seed,
                                            error_seed=settings.verify.synthetic_error_seed))
    if files:
        parts.append(read_observations(files, run.zips, settings.verify,
                                       download_dir=settings.cache_dir / "observations"))
    return combine(parts)


def observe(run: RunToVerify, obs: Observations, settings: Settings) -> ObservedFacts:
    """The run's ZIPs' observed facts (:func:`pipeline.verify.facts.observed_facts`)."""
    return observed_facts(run.window, obs, settings.facts,
                          min_coverage=settings.verify.min_coverage)


def score_run(run: RunToVerify, observed: ObservedFacts, settings: Settings) -> Scored:
    return score_messages(run.assignments, observed, run.statements, run.sent_texts,
                          settings.truth)


def summarize(run: RunToVerify, obs: Observations, observed: ObservedFacts, scored: Scored,
              settings: Settings, seconds: dict[str, float] | None = None
              ) -> VerificationSummary:
    a, w = run.assignments, run.weights
    states = a["state"].astype(str).to_numpy() if "state" in a else np.full(len(a), "")
    slots = a["slot_id"].astype(str).to_numpy()
    messages = {kind: message_scores(scored.status[kind], scored.topics[kind], w, states, slots)
                for kind in KINDS}
    forecast_wet = a["precip_type"].astype(str).to_numpy() != "none"
    observed_wet = observed.arrays.kind > 0
    total = float(w.sum())

    def share(mask: np.ndarray) -> float:
        return round(float(w[mask].sum()) / total, 4) if total else 0.0

    coverage = Coverage(high=share(observed.known_high), low=share(observed.known_low),
                        precipitation=share(observed.known_precip),
                        precip_type=share(observed.known_type),
                        onset=share(observed.known_onset), wind=share(observed.known_wind),
                        sky=share(observed.known_sky))
    sent = scored.status["sent"]
    issue = pd.Timestamp(run.stored["issue_time"])
    return VerificationSummary(
        run_id=run.run_id, verified_at=datetime.now(UTC).isoformat(timespec="seconds"),
        issue_time=issue.isoformat(), window=run.stored["window"],
        window_end=run.window_end.isoformat(), weighting=run.weighting,
        n_zips=len(a), n_sent=int((sent != -2).sum()), n_held=int((sent == -2).sum()),
        observations=[asdict(s) for s in obs.sources], coverage=coverage, messages=messages,
        attribution=attribution(scored, w),
        precipitation=categorical(forecast_wet, observed_wet, observed.known_precip),
        temperature=errors(a["high_f"].to_numpy(float), a["low_f"].to_numpy(float), observed),
        baselines=[persistence(run, observed, settings), Baseline(
            name="climatology", available=False,
            why="no climatology normals are configured (zipcast ships none)")],
        seconds=seconds or {})


def persistence(run: RunToVerify, observed: ObservedFacts, settings: Settings) -> Baseline:
    """Yesterday's observed weather as today's forecast, from the verification of the run of
    the same window and source about a day earlier."""
    issue = pd.Timestamp(run.stored["issue_time"])
    issue = issue.tz_localize("UTC") if issue.tzinfo is None else issue.tz_convert("UTC")
    with session_scope(settings.db_url) as db:
        rows = db.query(Run.run_dir, Run.issue_time).filter(
            Run.window == run.stored["window"], Run.source == run.stored["source"],
            Run.id != run.run_id).all()
    best: Path | None = None
    nearest = timedelta(hours=7)
    for run_dir, issued in rows:  # the verified run issued nearest to a day before
        t = pd.Timestamp(issued)
        t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
        off = abs(issue - t - timedelta(hours=24))
        if off < nearest and (Path(run_dir) / ZIPS_FILE).exists():
            best, nearest = Path(run_dir), off
    if best is None:
        return Baseline(name="persistence", available=False,
                        why="no verified run of this window and source a day earlier")
    before = pd.read_parquet(best / ZIPS_FILE).set_index("zip").reindex(observed.zips)
    known = before["known_precip"].fillna(False).to_numpy(bool) & observed.known_precip
    wet_before = before["precip_type"].fillna("none").astype(str).to_numpy() != "none"
    high = np.where(before["known_high"].fillna(False).to_numpy(bool),
                    before["high_f"].to_numpy(float), np.nan)
    low = np.where(before["known_low"].fillna(False).to_numpy(bool),
                   before["low_f"].to_numpy(float), np.nan)
    return Baseline(name="persistence", available=True,
                    why=f"observed in {best.name}",
                    precipitation=categorical(wet_before, observed.arrays.kind > 0, known),
                    temperature=errors(high, low, observed))


def save_verification(run: RunToVerify, observed: ObservedFacts, scored: Scored,
                      summary: VerificationSummary, settings: Settings) -> Path:
    """The per-ZIP table and the summary into the run folder (atomically), the summary into
    the ``verifications`` table (replacing an earlier one). Returns the summary's path."""
    assert observed.frame is not None, "the observed facts of the whole run, not a take"
    table = observed.frame.reset_index(drop=True).copy()
    table.insert(1, "slot_id", run.assignments["slot_id"].astype(str).to_numpy())
    table.insert(2, "state", run.assignments["state"].astype(str).to_numpy()
                 if "state" in run.assignments else "")
    table.insert(3, "weight", run.weights)
    for kind in KINDS:
        table[f"{kind}_status"] = scored.status[kind]
    for kind in KINDS:
        for topic in TOPICS:
            table[f"{kind}_{topic}"] = scored.topics[kind][topic]
    keep = ["zip", "slot_id", "state", "weight", *[f"{k}_status" for k in KINDS],
            *[f"{k}_{t}" for k in KINDS for t in TOPICS], "high_f", "low_f", "precip_type",
            "precip_total_in", "precip_onset_h", "wind_max_mph", "gust_max_mph",
            "wind_category", "cloud_mean", "sky", "hazards", *KNOWN_COLUMNS]
    table = table[keep]
    write_atomically(run.run_dir / ZIPS_FILE, lambda temp: table.to_parquet(temp, index=False))
    path = run.run_dir / SUMMARY_FILE
    text = summary.model_dump_json(indent=1)
    write_atomically(path, partial(_write, text=text))
    for kind in KINDS:
        write_atomically(run.run_dir / MAP_FILE.format(kind=kind),
                         partial(_write, text=verification_map(run, summary, kind)))
    sent = summary.messages["sent"].national
    with session_scope(settings.db_url) as db:
        row = db.get(Verification, run.run_id) or Verification(run_id=run.run_id)
        row.verified_at = datetime.now(UTC)
        row.window_end = run.window_end
        row.sent_true_share = sent.true_share
        row.verifiable_share = sent.verifiable_share
        row.observations = "; ".join(f"{o['kind']} {o['path']}" for o in summary.observations)
        row.summary = summary.to_json()
        db.merge(row)
    return path


def _write(path: Path, *, text: str) -> None:
    path.write_text(text)


def verification_map(run: RunToVerify, summary: VerificationSummary, kind: str = "sent"
                     ) -> str:
    """The national map with each slot coloured by its ``kind`` messages' observed
    truthfulness (:data:`~pipeline.store.verification.SCORE_BINS`), worst first in the
    legend."""
    from pipeline.drawing.maps import slots_svg

    per_slot = summary.messages[kind].per_slot
    slots = json.loads((run.run_dir / "slots.json").read_text())
    names = {s["slot_id"]: s.get("name") or s["slot_id"] for s in slots}

    def label(slot: str) -> str:
        share = per_slot[slot].true_share if slot in per_slot else None
        said = "not verifiable" if share is None else f"{100 * share:.0f} % true"
        return f"{said} · {names.get(slot, slot)}"

    order = sorted(names, key=lambda s: (per_slot[s].true_share if s in per_slot and
                                         per_slot[s].true_share is not None else 2.0, s))
    colors = {s: score_color(per_slot[s].true_share if s in per_slot else None) for s in order}
    where = run.zips.set_index("zip").loc[run.window.zips].reset_index()
    return slots_svg(where, run.assignments["slot_id"].astype(str).to_numpy(),
                     {s: label(s) for s in order}, colors=colors, legend_columns=2,
                     title=f"Observed truthfulness by slot ({KIND_NAMES[kind]}) · "
                           f"{run.run_id}")


def verify(run_id: str | None, obs_paths: Sequence[str | Path], settings: Settings,
           *, now: datetime | None = None) -> VerificationSummary:
    """Every step in one call (the CLI without Prefect, tests, the benchmark)."""
    seconds: dict[str, float] = {}
    t = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        now_t = time.perf_counter()
        seconds[name] = round(now_t - t, 3)
        t = now_t

    run = load_run_to_verify(run_id, settings, now=now)
    lap("load")
    obs = load_observations(run, obs_paths, settings)
    lap("observations")
    observed = observe(run, obs, settings)
    lap("observed_facts")
    scored = score_run(run, observed, settings)
    lap("score")
    summary = summarize(run, obs, observed, scored, settings, seconds)
    lap("summarize")
    save_verification(run, observed, scored, summary, settings)
    lap("save")
    summary.seconds = seconds
    return summary


def due_runs(settings: Settings, now: datetime) -> list[tuple[str, str]]:
    """Runs whose window ended at least ``verify.delay_hours`` ago (within
    ``verify.lookback_days``) and that are not verified yet: (run id, observation path) each,
    the path from ``verify.obs_path`` with the run's fields filled in."""
    migrate(settings.db_url)
    cfg = settings.verify
    gazetteer = zip_rows()
    since = now - timedelta(days=cfg.lookback_days)
    with session_scope(settings.db_url) as db:
        done = {r for (r,) in db.query(Verification.run_id).all()}
        runs = db.query(Run.id, Run.issue_time, Run.window, Run.run_dir).filter(
            Run.issue_time >= since - timedelta(days=2)).order_by(Run.issue_time).all()
    due = []
    for run_id, issued, window, run_dir in runs:
        if run_id in done:
            continue
        members = read_assignments(run_dir, columns=["zip", "slot_id"])  # its time zones
        zones = gazetteer["timezone"] if members is None else \
            gazetteer.loc[gazetteer["zip"].isin(members["zip"]), "timezone"]
        issue = pd.Timestamp(issued)
        issue = issue.tz_localize("UTC") if issue.tzinfo is None else issue.tz_convert("UTC")
        end = window_end(zones, issue, window, settings)
        if since <= end.to_pydatetime() <= now - timedelta(hours=cfg.delay_hours):
            path = cfg.obs_path.format(run_id=run_id, window=window,
                                       date=(end - pd.Timedelta(hours=12)).strftime("%Y%m%d"))
            due.append((run_id, path))
    return due


stored_verification = read_verification
