"""The twice-daily run: forecasts for every ZIP → message slots, as a Prefect flow.

The body reads like the data flow: sources → validate → features → cluster → slots → store.
Each task calls one library function; big frames pass in memory, so tasks skip input hashing.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from flows.progress import RunDisplay
from pipeline import geo, ingest, maps, run, slots, sources, store
from pipeline.features import build_series, zip_facts
from pipeline.settings import get_settings


def _task(fn, name: str, **options):
    return task(fn, name=name, cache_policy=NONE, **options)


load_zips = _task(geo.load_zips, "gazetteer")
fetch = _task(sources.fetch_raw, "ingest", retries=2, retry_delay_seconds=[5, 30],
              timeout_seconds=1800)
check = _task(ingest.check_and_keep, "quality")
replay_snapshot = _task(ingest.replay, "replay")
features = _task(build_series, "features")
facts = _task(zip_facts, "facts")
plan = _task(run.cluster_locations, "cluster")
baselines = _task(run.baselines, "baselines")
make_slots = _task(slots.build_slots, "slots")
previous_run = _task(store.previous_run, "previous-run")
write_folder = _task(store.write_run_folder, "run-folder")
draw_map = _task(maps.slots_svg, "map")
save = _task(store.save_run, "store")


def _fetch_or_nothing(params: run.RunParams, zips, settings):
    """The source's raw rows; after the task's retries, nothing (the checks then fall back to
    each ZIP's last good forecast while it is fresh, or report it left out)."""
    try:
        return fetch(params.source, zips, params.issue_time, seed=params.seed,
                     hours=params.horizon_hours, path=params.path, settings=settings.sources)
    except sources.ForecastUnavailable as err:
        get_run_logger().error("ingest failed after retries, falling back: %s", err)
        return ingest.empty_forecast()


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
) -> dict[str, Any]:
    """Plan truthful message slots for every ZIP's forecast; store and return the summary."""
    settings = get_settings()
    replayed = replay_snapshot(replay, settings) if replay else None
    if replayed is not None:  # the snapshot says which source and issue time
        source, issue_time = replayed.snapshot_id.split("/")[0], replayed.issue_time.isoformat()
    params = run.RunParams.from_settings(
        settings, source=source, issue_time=issue_time, window=window, max_slots=max_slots,
        target_truth=target_truth, states=states, seed=seed, path=path, replay=replay,
    )
    display = RunDisplay(params, enabled=show_progress)
    clock = run.StepClock(on_done=display.step_done)
    store.migrate(settings.db_url)

    with clock.step("gazetteer") as s:
        zips = load_zips(params.states)
        s.detail = f"{len(zips):,} ZIPs"
    with clock.step("ingest") as s:
        got = replayed or check(
            _fetch_or_nothing(params, zips, settings), zips, source=params.source,
            issue_time=params.issue_time, settings=settings,
            options={"path": params.path, "seed": params.seed, "states": params.states},
        )
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
                          on_slot=tick, n_jobs=settings.cluster_jobs)
        s.detail = (f"{len(clustering.statements)} slots, truthfulness "
                    f"{clustering.truth:.1%} (target {params.target_truth:.0%})")
    scores = {}
    if with_baselines:
        with clock.step("baselines") as s:
            scores = baselines(clustering, zip_fact_rows, settings.truth, series.step_hours)
            s.detail = ", ".join(f"{k} {v['truthfulness']:.1%}" for k, v in scores.items())
    with clock.step("slots") as s:
        before = previous_run(settings.db_url, params)
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
        summary["forecast_issue_time"] = got.issue_time.isoformat()
        run_dir = write_folder(settings.runs_dir, params.run_id, forecast, assignments,
                               run_slots, summary, extra_files={"map.svg": svg})
        save(settings.db_url, run_id=params.run_id,
             issue_time=sources.to_utc(params.issue_time), source=params.source,
             window=params.window, params=params.__dict__, summary=summary, run_dir=run_dir,
             slots=run_slots, assignments=assignments)
        s.detail = str(run_dir)
    summary["seconds"] = dict(clock.seconds)
    summary["seconds"]["total"] = round(sum(clock.seconds.values()), 3)
    store.write_summary(run_dir, summary)
    display.finish(summary, run_slots)
    return summary
