"""The twice-daily run: forecasts for every ZIP → message slots, as a Prefect flow.

The body reads like the data flow, one line per step: sources → validate → features → plan →
slots → map → store → sheet files → review (artifacts, "sheet ready" mail). Each step is a
plain library function (:mod:`pipeline.run` and the packages it names) wired as a task
here; retries, caching and timeouts are added at wiring time. Big frames pass in memory, so
tasks skip input hashing.

* **Ingest** is one cached task per (source, issue time) — plus the ZIPs, path and seed asked —
  whose ZIP partitions are fetched as ``fetch`` tasks with retries and a timeout (on Dask
  workers when the flow runs on Dask). A partition that still fails falls back to each ZIP's
  last good forecast while it is fresh (the quality step reports it), and such an incomplete
  ingest is fetched again by the next run rather than reused from the cache. A bad input file
  (``sources.InputError``: missing, unreadable, lacking a column) is neither retried nor
  replaced by the last good forecast: the run stops and names it.
* **Lineage**: summary.json records source, issue time, snapshot id and hash, every parameter,
  the git commit and package versions; ``replay=RUN_ID`` recomputes a stored run from its
  snapshot with its own parameters and reports whether the slots are identical.
* **Idempotent**: the run id is a hash of the parameters, so rerunning a crashed or finished
  run replaces its folder and rows, and editors' messages (keyed by slot id) survive.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task, unmapped
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE
from prefect.utilities.annotations import quote

from flows.artifacts import artifact_key, publish_gate
from flows.progress import RunDisplay
from flows.runners import dask_address, dask_client
from pipeline import allocator, geo, ingest, run, slots, sources, store
from pipeline.editorial import notify
from pipeline.features import build_series, zip_facts
from pipeline.run.report import replay_markdown, run_markdown, slot_table
from pipeline.settings import Settings, get_settings
from pipeline.store.summary import ReplayVerdict, RunSummary
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


def _cluster(series, zip_fact_rows, states_of, params, rules, *, on_slot, n_jobs,  # type: ignore[no-untyped-def]
             address, bound_seconds, on_stage=None) -> run.Clustering:
    """Plan the slots; on the flow's Dask cluster when there is one."""
    with dask_client(address) as client:
        return run.cluster_locations(series, zip_fact_rows, states_of, params, rules,
                                     on_slot=on_slot, n_jobs=n_jobs, client=client,
                                     bound_seconds=bound_seconds, on_stage=on_stage)


load_zips = _task(geo.load_zips, "gazetteer")
check = _task(ingest.check_and_keep, "quality")
features = _task(build_series, "features")
facts = _task(zip_facts, "facts")
plan = _task(_cluster, "cluster")
baselines = _task(run.baselines, "baselines")
previous_run = _task(run.RunStart.previous, "previous-run")
make_slots = _task(slots.build_slots, "slots")
# -- imports the later steps need --------------------------------------------------------

#: what the cluster, map and sheet steps import (scikit-learn, the DTW kernels, the drawing
#: and the sheet's modules: about a second) and nothing before them does
LATER_STEPS = ("pipeline.planning", "pipeline.drawing.maps", "pipeline.review.precompute")


@lru_cache(maxsize=1)  # one thread per process
def import_later_steps() -> threading.Thread:
    """Import :data:`LATER_STEPS` in a thread while the run starts and ingests.

    ``zipcast run`` then starts in under two seconds, and the imports overlap Prefect's
    flow-run setup (HTTP round trips) and the ingest's numpy work instead of preceding
    them. A step that needs a module first still imports it itself (waiting for this
    thread if it is half way); an import that fails here fails again there, with its cause.
    """
    def load() -> None:
        for name in LATER_STEPS:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001, S112 - the step's own import reports it
                continue

    thread = threading.Thread(target=load, name="import-later-steps", daemon=True)
    thread.start()
    return thread


def _slots_svg(zips: pd.DataFrame, slot_ids: Any, names: dict[str, str], *,
               title: str = "") -> str:
    """:func:`pipeline.drawing.maps.slots_svg`, imported when the step runs."""
    from pipeline.drawing import maps

    return maps.slots_svg(zips, slot_ids, names, title=title)


def _planning_stages(show: Callable[[str], None], zips: pd.DataFrame
                     ) -> Callable[[str], None]:
    """The planner's ``on_stage``: each stage goes to the progress bar, and when the integer
    program starts (single-threaded, letting go of the GIL) a thread loads what the map and
    the sheet need of the gazetteer (:func:`pipeline.drawing.warm.warm_up`) on the idle core.

    DTW membership waits for that thread: its pandas work, holding the GIL, would delay each
    of membership's many short numba calls (measured under load: membership 13-24 s instead
    of 7-10 s when they overlapped). Started before the integer program, the loading slowed
    the cover and the starts as much as it saved.
    """
    loading: list[threading.Thread] = []

    def on_stage(name: str) -> None:
        show(name)
        if name == "milp_select":
            from pipeline.drawing import warm

            loading.append(warm.warm_up(zips))
        elif name == "dtw_membership":
            for thread in loading:
                thread.join()

    return on_stage


def _write_sheet(run_dir: Any, *, window: str, issue_time: pd.Timestamp, settings: Settings,
                 series: Any = None, gazetteer: pd.DataFrame | None = None) -> Any:
    """:func:`pipeline.review.precompute.write_sheet`, imported when the step runs."""
    from pipeline.review import precompute

    return precompute.write_sheet(run_dir, window=window, issue_time=issue_time,
                                  settings=settings, series=series, gazetteer=gazetteer)


draw_map = _task(_slots_svg, "map")
write_folder = _task(store.write_run_folder, "run-folder")
save = _task(store.save_run, "store")
write_sheet = _task(_write_sheet, "sheet-files")
tell_editors = _task(notify.sheet_ready, "notify-editors", retries=2,
                     retry_delay_seconds=[10, 60])


# -- ingest ------------------------------------------------------------------------------


@task(name="fetch", cache_policy=NONE)
def fetch(source: str, zips: pd.DataFrame, issue_time: str, seed: int, hours: int,
          path: str | None, settings: Any, progress: Any = None) -> pd.DataFrame:
    """One partition's raw rows from the source (retries and timeout: see ingest_forecasts);
    ``progress`` reaches sources that download (the model feed)."""
    return sources.fetch_raw(source, zips, issue_time, seed=seed, hours=hours, path=path,
                             settings=settings, progress=progress)


def _worth_retrying(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect's ``retry_condition_fn``: retry a failed fetch unless its input is wrong (a
    missing or unreadable file, a missing column), which fetching again cannot change.

    Prefect hands the exception over as the Failed state's ``data``; it must be a plain
    function (Prefect calls only what ``inspect.isfunction`` accepts).
    """
    return not isinstance(state.data, sources.InputError)


def _ingest_key(params: run.RunParams, settings: Settings) -> str:
    return ingest.ingest_key(params.source, params.issue_time, states=params.states,
                             path=params.path, seed=params.seed, hours=params.horizon_hours,
                             data_dir=settings.data_dir)


@task(name="ingest", persist_result=True,
      cache_key_fn=lambda context, parameters: _ingest_key(parameters["params"],
                                                           parameters["settings"]))
def ingest_forecasts(params: run.RunParams, zips: pd.DataFrame,
                     settings: Settings, progress: Any = None) -> ingest.IngestRef:
    """Fetch every partition of ZIPs (tasks with retries and a timeout), check, snapshot.

    ``progress`` (a download bar's callback) is passed when there is one partition: it runs
    in this process. Partitions on Dask workers download without a bar (the model feed's
    cache makes the first partition's files the others')."""
    flows = settings.flows
    parts = geo.split(zips, flows.ingest_partitions)
    fetch_part = fetch.with_options(retries=flows.ingest_retries,
                                    retry_delay_seconds=flows.ingest_retry_delays_s,
                                    retry_condition_fn=_worth_retrying,
                                    timeout_seconds=flows.ingest_timeout_s)
    same = (params.source, params.issue_time, params.seed, params.horizon_hours, params.path,
            settings.sources)
    if len(parts) == 1:  # in this thread, where the timeout can interrupt the call
        bar = {"progress": progress} if progress and params.source in sources.MODEL_FEEDS else {}
        outcomes = [_outcome(lambda: fetch_part(same[0], parts[0], *same[1:], **bar))]
    else:  # one task per partition, side by side (on the Dask workers with a DaskTaskRunner)
        futures = fetch_part.map(unmapped(same[0]), parts, *(unmapped(x) for x in same[1:]))
        outcomes = [_outcome(future.result) for future in futures]
    raw, failed = ingest.combine_partitions(parts, outcomes, retries=flows.ingest_retries)
    got = check(raw, zips, source=params.source, issue_time=params.issue_time,
                settings=settings,
                options={"path": params.path, "seed": params.seed, "states": params.states})
    return ingest.IngestRef.of(got, failed)


def _outcome(call) -> tuple[pd.DataFrame | None, BaseException | None]:  # type: ignore[no-untyped-def]
    try:
        return call(), None
    except Exception as err:  # noqa: BLE001 - sorted out by ingest.combine_partitions
        return None, err


def _ingest(params: run.RunParams, zips: pd.DataFrame, settings: Settings,
            progress: Any = None) -> ingest.Ingest:
    """The cached ingest; fetched again when the cached one was incomplete or is gone."""
    cached = ingest_forecasts.with_options(
        cache_expiration=timedelta(hours=settings.flows.ingest_cache_hours),
        refresh_cache=not settings.flows.ingest_cache_hours)
    got = ingest.resolve(cached(params, zips, settings, progress), zips, settings)
    if got is None:
        fresh = cached.with_options(refresh_cache=True)(params, zips, settings, progress)
        got = ingest.resolve(fresh, zips, settings)
    assert got is not None  # a fresh ref carries its rows
    return got


# -- review hand-off ---------------------------------------------------------------------


def _publish(summary: RunSummary, run_slots: list, settings: Settings) -> str:
    """A table of slots with their truthfulness, and a markdown summary linking to the sheet."""
    create_table_artifact(slot_table(summary, run_slots),
                          key=artifact_key("slots", summary.window),
                          description=f"Slots of {summary.run_id}: the automatic statement "
                                      "is true for this share of each slot's ZIPs")
    made = create_markdown_artifact(run_markdown(summary, notify.sheet_url(settings,
                                                                           summary.run_id)),
                                    key=artifact_key("run", summary.window),
                                    description=f"Run {summary.run_id}")
    return str(made)


publish = _task(_publish, "artifacts")


# -- the flow ----------------------------------------------------------------------------


def _run_over(flow: Any, flow_run: Any, state: Any) -> None:
    """Prefect's hook when the run ends, however it ends: the memory settings back."""
    allocator.give_back()


@flow(name="twice-daily", log_prints=True, on_completion=[_run_over], on_failure=[_run_over],
      on_crashed=[_run_over])
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
    settings: Settings | None = None,
) -> RunSummary:
    """Plan truthful message slots for every ZIP's forecast; store them and tell the editors.

    ``replay`` takes a stored run id (recompute it from its snapshot with its own parameters)
    or an ingest snapshot id (today's parameters on that forecast). ``settings`` default to
    the environment's (``ZIPCAST_*``).
    """
    from prefect.runtime import flow_run

    import_later_steps()  # the CLI started them already; a deployment's run starts them here
    allocator.set_for_run()  # freed memory kept, no huge page advice (until _run_over)
    settings = settings or get_settings()
    store.migrate(settings.db_url)
    start = run.begin(settings, replay=replay, issue_time=issue_time,
                      scheduled_start=flow_run.scheduled_start_time, source=source,
                      window=window, max_slots=max_slots, target_truth=target_truth,
                      states=states, seed=seed, path=path)
    params, settings = start.params, start.settings  # a replay's own rules, else today's
    display = RunDisplay(params, enabled=show_progress)
    clock = run.StepClock(on_done=display.step_done)

    with clock.step("gazetteer") as s:
        zips = load_zips(params.states)
        s.detail = f"{len(zips):,} ZIPs"
    with clock.step("ingest") as s, display.downloads() as downloaded:
        got = start.replayed or _ingest(params, zips, settings, downloaded)
        zips = ingest.covered_zips(zips, got, params.states)
        s.detail = (f"{len(got.forecast):,} contract rows from {got.snapshot_id}, coverage "
                    f"{got.quality.get('coverage', 1):.1%}")
    display.notes(got.log_lines, got.quality)
    with clock.step("features") as s:
        series = features(got.forecast, zips, window=params.window, settings=settings,
                          issue_time=got.issue_time)
        zip_fact_rows = facts(series, settings.facts)
        s.detail = f"{series.values.shape[1]} steps × {len(series.variables)} variables"
    # written in a thread while the planner works (its integer program leaves a core idle)
    forecast_file = store.StagedForecast(settings.runs_dir, params.run_id, got.forecast)
    with clock.step("cluster") as s, display.slots(params.max_slots) as bar:
        clustering = plan(series, zip_fact_rows, zips["state"].to_numpy(), params,
                          settings.truth, on_slot=bar.slot, n_jobs=settings.cluster_jobs,
                          address=dask_address(), bound_seconds=settings.bound_seconds,
                          on_stage=_planning_stages(bar.stage, zips))
        s.detail = display.planned(clustering, params)
    scores = {}
    if with_baselines:
        with clock.step("baselines") as s:
            scores = baselines(clustering, zip_fact_rows, settings.truth)
            s.detail = ", ".join(f"{k} {v['truthfulness']:.1%}" for k, v in scores.items())
    with clock.step("slots") as s:
        before = previous_run(start)
        run_slots, assignments = make_slots(
            series, zip_fact_rows, zips, clustering.labels, clustering.fits,
            clustering.statements, clustering.distances,
            run.unscale_centers(clustering, params, series.step_hours), clustering.variables,
            previous=before)
        s.detail = f"{len(run_slots)} slots, {int(assignments['automatic'].sum())} automatic"
    with clock.step("map") as s:
        svg = draw_map(zips, assignments["slot_id"].to_numpy(),
                       {x.slot_id: x.name for x in run_slots},
                       title=f"zipcast {params.run_id}: {len(run_slots)} slots")
        s.detail = f"{len(svg) // 1024} KiB SVG"
    with clock.step("store") as s:
        summary = run.build_summary(
            params, series, clustering, assignments, [x.n_zips for x in run_slots],
            settings.truth, got, baseline_scores=scores,
            unchanged_ids=slots.unchanged_share(assignments, before),
            previous_run_id=before.run_id if before else None, seconds=clock.seconds)
        run_dir = write_folder(settings.runs_dir, params.run_id, forecast_file, assignments,
                               run_slots, summary, extra_files={"map.svg": svg})
        if start.original is not None:
            summary.replay_of = ReplayVerdict(run_id=start.original["id"], **run.compare_runs(
                start.original["run_dir"], run_dir))
            display.replayed(summary.replay_of)
        save(settings.db_url, run_id=params.run_id, issue_time=to_utc(params.issue_time),
             source=params.source, window=params.window, params=params.__dict__,
             summary=summary, run_dir=run_dir, slots=run_slots, assignments=assignments,
             status="replay" if start.original is not None else "complete")
        s.detail = str(run_dir)
    with clock.step("sheet") as s:
        s.detail = _sheet_files(run_dir, params, settings, series, zips)
    summary.seconds = clock.totals()
    store.write_summary(run_dir, summary)
    if start.original is not None:
        _report_replay(summary)
    else:
        _hand_over(summary, run_slots, settings, notify_editors and not replay)
    display.finish(summary, run_slots)
    if start.original is None:
        display.hand_over(notify.sheet_url(settings, summary.run_id), notify.send_time_words(
            settings, to_utc(params.issue_time).to_pydatetime()))
    return summary


def _sheet_files(run_dir, params: run.RunParams, settings: Settings, series, zips) -> str:  # type: ignore[no-untyped-def]
    """What the review sheet needs, computed now so its first open only reads files; on
    failure the sheet computes it itself on first open (slower, nothing lost)."""
    try:
        folder = write_sheet(run_dir, window=params.window,
                             issue_time=to_utc(params.issue_time), settings=settings,
                             series=series, gazetteer=zips)
    except Exception as err:  # noqa: BLE001 - the run is stored; the sheet can compute it
        get_run_logger().warning("sheet files not written (the sheet will compute them on "
                                 "first open): %s", err)
        return "not written"
    return f"{sum(p.stat().st_size for p in folder.rglob('*') if p.is_file()) // 1024} KiB"


def _report_replay(summary: RunSummary) -> None:
    """A replay's verdict as an artifact (``replay-<window>``); the run's own are untouched."""
    verdict = summary.replay_of
    assert verdict is not None
    create_markdown_artifact(replay_markdown(summary),
                             key=artifact_key("replay", summary.window),
                             description=f"Replay of {verdict.run_id}")
    if not verdict.identical:
        get_run_logger().error("replay of %s differs: %s", verdict.run_id,
                               "; ".join(verdict.differences))


def _hand_over(summary: RunSummary, run_slots: list, settings: Settings, tell: bool) -> None:
    """Artifacts for Prefect; mail for the editors; an alert when the run itself is late."""
    from prefect.runtime import deployment

    log = get_run_logger()
    publish(summary, run_slots, settings)
    publish_gate(settings, summary.run_id, datetime.now(UTC))
    if not tell:
        return
    try:
        told = tell_editors(settings, summary)
        if told.error:
            log.warning("sheet-ready mail: %s", told.error)
    except Exception as err:  # noqa: BLE001 - the run is stored; mail is best effort
        log.error("could not tell the editors the sheet is ready: %s", err)
    if deployment.id:  # a scheduled run: finishing after the send time is an incident
        late = notify.late_run(settings, summary.run_id, datetime.now(UTC))
        if late is not None:
            log.error("DEADLINE MISSED: %s", late.subject)
