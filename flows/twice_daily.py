"""The twice-daily run: forecasts for every ZIP → message slots, as a Prefect flow.

The body reads like the data flow: sources → validate → features → cluster → slots → store.
Each task calls one library function; big frames pass in memory, so tasks skip input hashing.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NONE

from flows.progress import RunDisplay
from pipeline import geo, run, slots, sources, store
from pipeline.features import build_series, zip_facts
from pipeline.settings import get_settings

load_zips = task(geo.load_zips, name="gazetteer", cache_policy=NONE)
ingest = task(
    sources.fetch_forecast, name="ingest", cache_policy=NONE, retries=2, retry_delay_seconds=5
)
features = task(build_series, name="features", cache_policy=NONE)
facts = task(zip_facts, name="facts", cache_policy=NONE)
cluster = task(run.cluster_locations, name="cluster", cache_policy=NONE)
make_slots = task(slots.build_slots, name="slots", cache_policy=NONE)
write_folder = task(store.write_run_folder, name="run-folder", cache_policy=NONE)
save = task(store.save_run, name="store", cache_policy=NONE)


@flow(name="twice-daily", log_prints=True)
def twice_daily(
    source: str | None = None,
    issue_time: str | None = None,
    window: str | None = None,
    max_slots: int | None = None,
    states: list[str] | None = None,
    seed: int | None = None,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Cluster every ZIP's forecast into message slots; store and return the run summary."""
    settings = get_settings()
    params = run.RunParams.from_settings(
        settings, source=source, issue_time=issue_time, window=window,
        max_slots=max_slots, states=states, seed=seed,
    )
    display = RunDisplay(params, enabled=show_progress)
    clock = run.StepClock(on_done=display.step_done)
    store.migrate(settings.db_url)

    with clock.step("gazetteer") as s:
        zips = load_zips(params.states)
        s.detail = f"{len(zips):,} ZIPs"
    with clock.step("ingest") as s:
        forecast = ingest(
            params.source, zips, params.issue_time,
            seed=params.seed, hours=params.horizon_hours,
        )
        s.detail = f"{len(forecast):,} contract rows from {params.source}"
    with clock.step("features") as s:
        series = features(forecast, zips, window=params.window, settings=settings)
        zip_fact_rows = facts(series, settings.facts)
        s.detail = f"{series.values.shape[1]} steps × {len(series.variables)} variables"
    with clock.step("cluster") as s, display.iterations(params.cluster_max_iter) as tick:
        clustering = cluster(series, params, on_iteration=tick, n_jobs=settings.cluster_jobs)
        s.detail = f"k={len(clustering.centers)}, {clustering.n_iter} iterations"
    with clock.step("slots") as s:
        barycenters = run.unscale_centers(clustering, params, series.step_hours)
        run_slots, assignments = make_slots(
            series, zip_fact_rows, zips, clustering.labels, clustering.distances,
            barycenters, clustering.variables,
        )
        s.detail = f"{len(run_slots)} slots"
    with clock.step("store") as s:
        summary = run.run_summary(
            params, series, clustering, [x.n_zips for x in run_slots], clock.seconds
        )
        run_dir = write_folder(
            settings.runs_dir, params.run_id, forecast, assignments, run_slots, summary
        )
        save(
            settings.db_url, run_id=params.run_id, issue_time=sources.to_utc(params.issue_time),
            source=params.source, window=params.window, params=params.__dict__,
            summary=summary, run_dir=run_dir, slots=run_slots, assignments=assignments,
        )
        s.detail = str(run_dir)
    summary["seconds"] = dict(clock.seconds)
    summary["seconds"]["total"] = round(sum(clock.seconds.values()), 3)
    store.write_summary(run_dir, summary)
    display.finish(summary, run_slots)
    return summary
