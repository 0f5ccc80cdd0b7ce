"""The twice-daily run: forecasts for every ZIP → message slots, as a Prefect flow.

The body reads like the data flow: sources → validate → features → cluster → slots → store →
review (artifacts, "sheet ready" mail). Each task calls one library function; big frames pass
in memory, so tasks skip input hashing.

* **Ingest** is one cached task per (source, issue time) — plus the ZIPs, path and seed asked —
  whose ZIP partitions are fetched as ``fetch`` tasks with retries and a timeout (on Dask
  workers when the flow runs on Dask). A partition that still fails falls back to each ZIP's
  last good forecast while it is fresh (the quality step reports it), and such an incomplete
  ingest is fetched again by the next run rather than reused from the cache.
* **Lineage**: summary.json records source, issue time, snapshot id and hash, every parameter,
  the git commit and package versions; ``replay=RUN_ID`` recomputes a stored run from its
  snapshot with its own parameters and reports whether the slots are identical.
* **Idempotent**: the run id is a hash of the parameters, so rerunning a crashed or finished
  run replaces its folder and rows, and editors' messages (keyed by slot id) survive.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task, unmapped
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE
from prefect.utilities.annotations import quote

from flows.artifacts import artifact_key, publish_gate
from flows.progress import RunDisplay
from flows.runners import dask_address, dask_client
from pipeline import geo, ingest, run, slots, sources, store
from pipeline.drawing import maps
from pipeline.editorial import notify
from pipeline.features import build_series, zip_facts
from pipeline.settings import Settings, get_settings
from pipeline.snapshots import SnapshotNotFound, load_snapshot
from pipeline.times import to_utc


class _Step:
    """A library function as a Prefect task whose arguments Prefect does not walk.

    Prefect visits every argument of a task call looking for futures; the run's big inputs
    (slot lists with 41k ZIP ids, series sets) cost seconds of that per call, and a flow
    body that calls tasks directly passes no futures. ``quote`` skips the walk.
    """

    def __init__(self, fn, name: str, **options) -> None:  # type: ignore[no-untyped-def]
        self.task = task(fn, name=name, cache_policy=NONE, **options)

    def __call__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return self.task(*(quote(a) for a in args), **{k: quote(v) for k, v in kwargs.items()})


_task = _Step


load_zips = _task(geo.load_zips, "gazetteer")
check = _task(ingest.check_and_keep, "quality")
features = _task(build_series, "features")
facts = _task(zip_facts, "facts")
baselines = _task(run.baselines, "baselines")
make_slots = _task(slots.build_slots, "slots")
previous_run = _task(store.previous_run, "previous-run")
write_folder = _task(store.write_run_folder, "run-folder")
draw_map = _task(maps.slots_svg, "map")
save = _task(store.save_run, "store")
tell_editors = _task(notify.sheet_ready, "notify-editors", retries=2,
                     retry_delay_seconds=[10, 60])


def _cluster(series, zip_fact_rows, states_of, params, rules, *, on_slot, n_jobs,  # type: ignore[no-untyped-def]
         address, bound_seconds) -> run.Clustering:
    """Plan the slots; on the flow's Dask cluster when there is one."""
    with dask_client(address) as client:
        return run.cluster_locations(series, zip_fact_rows, states_of, params, rules,
                                     on_slot=on_slot, n_jobs=n_jobs, client=client,
                                     bound_seconds=bound_seconds)


plan = _task(_cluster, "cluster")


# -- ingest ------------------------------------------------------------------------------


@task(name="fetch", cache_policy=NONE)
def fetch(source: str, zips: pd.DataFrame, issue_time: str, seed: int, hours: int,
          path: str | None, settings: Any) -> pd.DataFrame:
    """One partition's raw rows from the source (retries and timeout: see ingest_forecasts)."""
    return sources.fetch_raw(source, zips, issue_time, seed=seed, hours=hours, path=path,
                             settings=settings)


@dataclass
class IngestRef:
    """What the cached ingest task keeps: the snapshot, not the rows (those are in Parquet)."""

    snapshot_id: str
    issue_time: str
    quality: dict[str, Any]
    log_lines: list[str] = field(default_factory=list)
    sha256: str = ""
    failed_partitions: list[str] = field(default_factory=list)
    made_by: str | None = None  # the flow run that fetched it

    @property
    def complete(self) -> bool:
        """Every ZIP fetched fresh: no failed partition, no stale fallback, none left out
        (sources that fail per ZIP do not raise, so the quality counts tell)."""
        return not (self.failed_partitions or self.quality.get("n_stale")
                    or self.quality.get("n_left_out"))


# rows an ingest task fetched in this process, handed to its own flow run without a re-read
# of the snapshot it just wrote: (flow run id, snapshot id) -> contract rows
_FRESH: dict[tuple[str, str], pd.DataFrame] = {}


def ingest_key(params: run.RunParams, settings: Settings) -> str:
    """The ingest cache key: source and issue time, plus what else changes the rows (and the
    data folder whose snapshot store the cached result points into)."""
    options = json.dumps({"states": params.states, "path": params.path, "seed": params.seed,
                          "hours": params.horizon_hours,
                          "data": str(Path(settings.data_dir).resolve())}, sort_keys=True)
    digest = hashlib.sha256(options.encode()).hexdigest()[:10]
    return (f"ingest-{params.source}-{to_utc(params.issue_time):%Y%m%dT%H%MZ}-"
            f"{digest}")


@task(name="ingest", persist_result=True,
      cache_key_fn=lambda context, parameters: ingest_key(parameters["params"],
                                                          parameters["settings"]))
def ingest_forecasts(params: run.RunParams, zips: pd.DataFrame, settings: Settings) -> IngestRef:
    """Fetch every partition of ZIPs (tasks with retries and a timeout), check, snapshot."""
    from prefect.runtime import flow_run

    log = get_run_logger()
    flows = settings.flows
    parts = geo.split(zips, flows.ingest_partitions)
    fetch_part = fetch.with_options(retries=flows.ingest_retries,
                                    retry_delay_seconds=flows.ingest_retry_delays_s,
                                    timeout_seconds=flows.ingest_timeout_s)
    same = (params.source, params.issue_time, params.seed, params.horizon_hours, params.path,
            settings.sources)
    if len(parts) == 1:  # in this thread, where the timeout can interrupt the call
        outcomes = [_outcome(lambda: fetch_part(same[0], parts[0], *same[1:]))]
    else:  # one task per partition, side by side (on the Dask workers with a DaskTaskRunner)
        futures = fetch_part.map(unmapped(same[0]), parts, *(unmapped(x) for x in same[1:]))
        outcomes = [_outcome(future.result) for future in futures]
    raws, failed = [], []
    for part, (raw_part, error) in zip(parts, outcomes, strict=True):
        where = f"ZIPs {part['zip'].iloc[0]}–{part['zip'].iloc[-1]}"
        try:
            if error is not None:
                raise error
            raws.append(raw_part)
        except sources.UnknownSource:
            raise
        except Exception as err:  # noqa: BLE001 - any failure: fall back, loudly
            failed.append(where)
            log.error("ingest of %s failed after %d retries, falling back to the last good "
                      "forecast: %s: %s", where, flows.ingest_retries, type(err).__name__, err)
    raw = pd.concat(raws, ignore_index=True) if raws else ingest.empty_forecast()
    got = check(raw, zips, source=params.source, issue_time=params.issue_time,
                settings=settings,
                options={"path": params.path, "seed": params.seed, "states": params.states})
    _FRESH[(flow_run.id, got.snapshot_id)] = got.forecast
    return IngestRef(got.snapshot_id, got.issue_time.isoformat(), got.quality, got.log_lines,
                     got.sha256, failed, flow_run.id)


def _outcome(call) -> tuple[pd.DataFrame | None, BaseException | None]:  # type: ignore[no-untyped-def]
    try:
        return call(), None
    except Exception as err:  # noqa: BLE001 - sorted out by the caller
        return None, err


def _ingest(params: run.RunParams, zips: pd.DataFrame, settings: Settings) -> ingest.Ingest:
    """The cached ingest, fetched again when the cached one was incomplete or is gone."""
    from prefect.runtime import flow_run

    log = get_run_logger()
    cached = ingest_forecasts.with_options(
        cache_expiration=timedelta(hours=settings.flows.ingest_cache_hours))
    if not settings.flows.ingest_cache_hours:
        cached = cached.with_options(refresh_cache=True)
    ref = cached(params, zips, settings)
    if ref.made_by != flow_run.id:  # from the cache: use it if it is whole and still there
        if ref.complete:
            try:
                forecast, snap = load_snapshot(settings.snapshots_dir, ref.snapshot_id)
                lines = [f"reusing the ingest of {ref.snapshot_id} (cached by source and "
                         "issue time)", *ref.log_lines]
                return _ingested(ref, forecast, zips, lines, snap.sha256)
            except SnapshotNotFound:
                log.warning("cached ingest %s lost its snapshot; fetching again",
                            ref.snapshot_id)
        else:
            log.warning("cached ingest %s was incomplete (%s failed partitions, %s stale and "
                        "%s left-out ZIPs); fetching again", ref.snapshot_id,
                        len(ref.failed_partitions), ref.quality.get("n_stale", 0),
                        ref.quality.get("n_left_out", 0))
        ref = cached.with_options(refresh_cache=True)(params, zips, settings)
    # fetched by this flow run, in this process: the rows are at hand, no re-read
    forecast = _FRESH.pop((flow_run.id, ref.snapshot_id))
    return _ingested(ref, forecast, zips, list(ref.log_lines), ref.sha256)


def _ingested(ref: IngestRef, forecast: pd.DataFrame, zips: pd.DataFrame, lines: list[str],
              sha256: str) -> ingest.Ingest:
    forecast = forecast[forecast["zip"].isin(zips["zip"])].reset_index(drop=True)
    return ingest.Ingest(forecast=forecast, issue_time=to_utc(ref.issue_time),
                         snapshot_id=ref.snapshot_id, quality=ref.quality, log_lines=lines,
                         sha256=sha256)


def _replay(replay: str, settings: Settings) -> tuple[run.RunParams | None, dict | None,
                                                      ingest.Ingest]:
    """``replay`` is a snapshot id ("source/stamp") or a stored run id."""
    if "/" in replay:
        return None, None, ingest.replay(replay, settings)
    original = store.load_run(settings.db_url, replay)
    params = run.replay_params(original)
    got = ingest.replay(params.replay or "", settings)
    recorded = (original["summary"] or {}).get("snapshot_sha256")
    if recorded and recorded != got.sha256:
        got.log_lines.append(f"warning: snapshot {got.snapshot_id} changed since run {replay} "
                             f"(sha256 {recorded[:12]}… then, {got.sha256[:12]}… now)")
    return params, original, got


# -- review hand-off ---------------------------------------------------------------------


def _publish(summary: dict[str, Any], run_slots: list, settings: Settings) -> str:
    """A table of slots with their truthfulness, and a markdown summary linking to the sheet."""
    per_slot = summary["truthfulness"]["per_slot"]
    rows = [{"slot": s.slot_id, "name": s.name, "ZIPs": s.n_zips,
             "states": ", ".join(list(s.states)[:6]),
             "truthfulness": f"{per_slot.get(s.slot_id, 0.0):.1%}",
             "draft message": s.draft_message} for s in run_slots]
    create_table_artifact(rows, key=artifact_key("slots", summary["window"]),
                          description=f"Slots of {summary['run_id']}: the automatic statement "
                                      "is true for this share of each slot's ZIPs")
    url = notify.sheet_url(settings, summary["run_id"])
    truth = summary.get("truthfulness", {})
    under = truth.get("states_below_floor") or []
    lines = [
        f"# {summary['window'].title()} run `{summary['run_id']}`",
        "",
        f"**[Open the review sheet]({url})** — {summary['n_slots']} slots for "
        f"{summary['n_zips']:,} ZIPs.",
        "",
        "| | |", "|---|---|",
        f"| truthfulness | {truth.get('national', 0):.1%} (target "
        f"{truth.get('target', 0):.0%}) |",
        f"| states under the floor | {', '.join(map(str, under)) or 'none'} |",
        f"| source | {summary['source']}, snapshot `{summary.get('snapshot')}` |",
        f"| forecast issued | {summary.get('forecast_issue_time')} |",
        f"| code | `{(summary.get('code') or {}).get('git_commit')}` |",
        f"| seconds | {summary.get('seconds', {}).get('total', '?')} |",
    ]
    if summary.get("replay_of"):
        rep = summary["replay_of"]
        lines += ["", f"Replay of `{rep['run_id']}`: "
                      f"{'identical slots' if rep['identical'] else 'DIFFERENT slots'}."]
    made = create_markdown_artifact("\n".join(lines), key=artifact_key("run", summary["window"]),
                                    description=f"Run {summary['run_id']}")
    return str(made)


publish = _task(_publish, "artifacts")


# -- the flow ----------------------------------------------------------------------------


@flow(name="twice-daily", log_prints=True)
def twice_daily(
    source: str | None = None,
    issue_time: str | None = None,
    window: str | None = None,
    max_slots: int | None = None,
    target_truth: float | None = None,
    states: list[str] | None = None,
    seed: int | None = None,
    path: str | None = None,
    replay: str | None = None,
    with_baselines: bool = True,
    show_progress: bool = False,
    notify_editors: bool = True,
) -> dict[str, Any]:
    """Plan truthful message slots for every ZIP's forecast; store them and tell the editors.

    ``replay`` takes a stored run id (recompute it from its snapshot with its own parameters)
    or an ingest snapshot id (today's parameters on that forecast).
    """
    from prefect.runtime import flow_run

    settings = get_settings()
    store.migrate(settings.db_url)
    if issue_time is None and not replay:
        # this hour of the *scheduled* start, so a crashed run retried later is the same run
        started = flow_run.scheduled_start_time or pd.Timestamp.now("UTC")
        issue_time = to_utc(str(started)).floor("h").isoformat()
    replayed_params, original, replayed = (_replay(replay, settings) if replay
                                           else (None, None, None))
    if replayed_params is not None:  # a stored run: its own parameters
        params = replayed_params
    else:
        if replayed is not None:  # the snapshot says which source and issue time
            source, issue_time = replayed.snapshot_id.split("/")[0], replayed.issue_time.isoformat()
        params = run.RunParams.from_settings(
            settings, source=source, issue_time=issue_time, window=window, max_slots=max_slots,
            target_truth=target_truth, states=states, seed=seed, path=path, replay=replay,
        )
    settings = params.settings_for(settings)  # a replay's own rules; else today's, unchanged
    display = RunDisplay(params, enabled=show_progress)
    clock = run.StepClock(on_done=display.step_done)

    with clock.step("gazetteer") as s:
        zips = load_zips(params.states)
        s.detail = f"{len(zips):,} ZIPs"
    with clock.step("ingest") as s:
        got = replayed or _ingest(params, zips, settings)
        forecast = got.forecast
        s.detail = (f"{len(forecast):,} contract rows from {got.snapshot_id}, coverage "
                    f"{got.quality.get('coverage', 1):.1%}")
    for line in got.log_lines:
        display.note(line)
    zips = geo.covered(zips, forecast)  # left-out ZIPs are reported by the quality step
    if zips.empty:
        raise sources.ForecastUnavailable(
            f"{got.snapshot_id} has no forecast rows for the ZIPs asked "
            f"({', '.join(params.states or ['the nation'])}); check --states or the source")
    with clock.step("features") as s:
        series = features(forecast, zips, window=params.window, settings=settings,
                          issue_time=got.issue_time)
        zip_fact_rows = facts(series, settings.facts)
        s.detail = f"{series.values.shape[1]} steps × {len(series.variables)} variables"
    states_of = zips["state"].to_numpy()
    with clock.step("cluster") as s, display.slots(params.max_slots) as tick:
        clustering = plan(series, zip_fact_rows, states_of, params, settings.truth,
                          on_slot=tick, n_jobs=settings.cluster_jobs, address=dask_address(),
                          bound_seconds=settings.bound_seconds)
        s.detail = (f"{len(clustering.statements)} slots, truthfulness "
                    f"{clustering.truth:.1%} (target {params.target_truth:.0%}; at most "
                    f"{clustering.bound.value:.1%} with {clustering.bound.k} slots)")
    scores = {}
    if with_baselines:
        with clock.step("baselines") as s:
            scores = baselines(clustering, zip_fact_rows, settings.truth)
            s.detail = ", ".join(f"{k} {v['truthfulness']:.1%}" for k, v in scores.items())
    with clock.step("slots") as s:
        follows = ((original or {}).get("summary") or {}).get("previous_run_id")
        before = (previous_run(settings.db_url, params, run_id=follows) if follows
                  else previous_run(settings.db_url, params))
        run_slots, assignments = make_slots(
            series, zip_fact_rows, zips, clustering.labels, clustering.fits,
            clustering.statements, clustering.distances,
            run.unscale_centers(clustering, params, series.step_hours), clustering.variables,
            previous=before,
        )
        s.detail = f"{len(run_slots)} slots, {int(assignments['automatic'].sum())} automatic"
    with clock.step("map") as s:
        svg = draw_map(zips, assignments["slot_id"].to_numpy(),
                       {x.slot_id: x.name for x in run_slots},
                       title=f"zipcast {params.run_id}: {len(run_slots)} slots")
        s.detail = f"{len(svg) // 1024} KiB SVG"
    with clock.step("store") as s:
        summary = run.run_summary(
            params, series, clustering, assignments, [x.n_zips for x in run_slots],
            settings.truth, baseline_scores=scores,
            unchanged_ids=slots.unchanged_share(assignments, before), seconds=clock.seconds,
        )
        summary["n_zips_asked"] = int(got.quality.get("n_asked", len(zips)))
        summary["data_quality"] = got.quality
        summary["snapshot"] = got.snapshot_id
        summary["snapshot_sha256"] = got.sha256
        summary["forecast_issue_time"] = got.issue_time.isoformat()
        summary["previous_run_id"] = before.run_id if before else None
        run_dir = write_folder(settings.runs_dir, params.run_id, forecast, assignments,
                               run_slots, summary, extra_files={"map.svg": svg})
        if original is not None:
            summary["replay_of"] = {"run_id": original["id"],
                                    **run.compare_runs(original["run_dir"], run_dir)}
            display.note(f"replay of {original['id']}: "
                         + ("identical slots" if summary["replay_of"]["identical"] else
                            "DIFFERENT: " + "; ".join(summary["replay_of"]["differences"])))
        save(settings.db_url, run_id=params.run_id,
             issue_time=to_utc(params.issue_time), source=params.source,
             window=params.window, params=params.__dict__, summary=summary, run_dir=run_dir,
             slots=run_slots, assignments=assignments,
             status="replay" if original is not None else "complete")
        s.detail = str(run_dir)
    summary["seconds"] = dict(clock.seconds)
    summary["seconds"]["total"] = round(sum(clock.seconds.values()), 3)
    store.write_summary(run_dir, summary)
    if original is not None:
        _report_replay(summary)
    else:
        _hand_over(summary, run_slots, settings,
                   notify_editors and not replay)
    display.finish(summary, run_slots)
    return summary


def _report_replay(summary: dict[str, Any]) -> None:
    """A replay's verdict as an artifact (``replay-<window>``); the run's own are untouched."""
    verdict = summary["replay_of"]
    lines = [f"# Replay of `{verdict['run_id']}`", "",
             f"**{'Identical slots' if verdict['identical'] else 'DIFFERENT slots'}** — "
             f"{verdict['n_slots']} slots, {verdict['n_zips']:,} ZIPs, replay run "
             f"`{summary['run_id']}` from snapshot `{summary.get('snapshot')}`."]
    lines += [f"- {d}" for d in verdict["differences"]]
    create_markdown_artifact("\n".join(lines), key=artifact_key("replay", summary["window"]),
                             description=f"Replay of {verdict['run_id']}")
    if not verdict["identical"]:
        get_run_logger().error("replay of %s differs: %s", verdict["run_id"],
                               "; ".join(verdict["differences"]))


def _hand_over(summary: dict[str, Any], run_slots: list, settings: Settings,
               tell: bool) -> None:
    """Artifacts for Prefect; mail for the editors; an alert when the run itself is late."""
    from prefect.runtime import deployment

    log = get_run_logger()
    publish(summary, run_slots, settings)
    publish_gate(settings, summary["run_id"], datetime.now(UTC))
    if not tell:
        return
    try:
        told = tell_editors(settings, summary)
        if told.error:
            log.warning("sheet-ready mail: %s", told.error)
    except Exception as err:  # noqa: BLE001 - the run is stored; mail is best effort
        log.error("could not tell the editors the sheet is ready: %s", err)
    if deployment.id:  # a scheduled run: finishing after the send time is an incident
        now = datetime.now(UTC)
        late = notify.late_run(settings, summary["run_id"], now)
        if late is not None:
            log.error("DEADLINE MISSED: %s", late.subject)
