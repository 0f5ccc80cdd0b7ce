"""The dispatch flow: every few minutes, send what is due for the open runs — as Prefect tasks.

Per open run (the newest of each window; or the one asked): the **gate** (approved slots only
before the send time; the lead's policy for the rest after it) is reported as Prefect
artifacts, then **prepare** (reconcile, plan, enqueue) and the **send partitions** run as
tasks — on Dask workers when the flow runs on Dask — and their counts are added up. Last, any
**missed deadline** (a send time passed with slots held, or a scheduled run that never came)
is logged as an error and mailed once to the leads and on-call.

Nothing is sent twice: deliveries are unique per (run, window, subscriber, channel), each
partition sends only its own subscribers under its own lock, and rows a crash left in
``sending`` are reconciled with the provider by the next prepare.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger, task, unmapped
from prefect.cache_policies import NONE
from sqlalchemy.orm import Session

from flows.artifacts import publish_gate
from pipeline import store
from pipeline.dispatch.locks import DispatchBusy
from pipeline.dispatch.partitions import merge_results, prepare, send_partition
from pipeline.dispatch.result import DispatchResult
from pipeline.editorial import notify
from pipeline.settings import Settings, get_settings
from pipeline.store import open_runs
from pipeline.times import to_utc


def _clock(now: str | None):  # type: ignore[no-untyped-def]
    """The wall clock, or a fixed moment (rehearsals, tests)."""
    if now is None:
        return lambda: datetime.now(UTC)
    moment = to_utc(now).to_pydatetime()
    return lambda: moment


@task(name="gate", cache_policy=NONE, task_run_name="gate {run_id}")
def gate(settings: Settings, run_id: str, now: str | None) -> dict[str, Any]:
    """The run's editor gate now, published as a markdown and a progress artifact."""
    return publish_gate(settings, run_id, _clock(now)())


@task(name="prepare", cache_policy=NONE, task_run_name="prepare {run_id}")
def prepare_run(settings: Settings, run_id: str, now: str | None,
                dry_run: bool) -> DispatchResult:
    return prepare(settings, run_id, now=_clock(now), dry_run=dry_run)


@task(name="send", cache_policy=NONE, task_run_name="send {run_id} part {part}/{n_parts}",
      retries=1, retry_delay_seconds=30)
def send(settings: Settings, run_id: str, part: int, n_parts: int, now: str | None,
         dry_run: bool) -> DispatchResult:
    return send_partition(settings, run_id, part, n_parts, now=_clock(now), dry_run=dry_run)


@task(name="deadlines", cache_policy=NONE)
def deadlines(settings: Settings, now: str | None) -> list[str]:
    """Mail again what staff mail is still owed; log and mail (once) every missed deadline."""
    log = get_run_logger()
    moment = _clock(now)()
    for retried in notify.retry_unsent(settings, moment):
        if not retried.already:
            log.warning("staff mail %s: %s", retried.key,
                        "sent" if retried.sent else f"still not sent: {retried.error}")
    found = notify.alert_missed(settings, moment)
    for missed, sent in found:
        if not sent.already:
            log.error("DEADLINE MISSED: %s (alert mail: %s)", missed.message,
                      "sent" if sent.sent else sent.error)
    return [missed.message for missed, _ in found]


@flow(name="dispatch", log_prints=True)
def dispatch_flow(run_id: str | None = None, now: str | None = None, dry_run: bool = False,
                  partitions: int | None = None,
                  settings: Settings | None = None) -> dict[str, Any]:
    """Send what is due now for the open runs (or ``run_id``), in send partitions;
    ``settings`` default to the environment's (``ZIPCAST_*``)."""
    settings = settings or get_settings()
    store.migrate(settings.db_url)
    log = get_run_logger()
    n_parts = partitions or settings.flows.dispatch_partitions
    if run_id is None:
        with Session(store.get_engine(settings.db_url)) as db:
            run_ids = [r.id for r in open_runs(db, _clock(now)())]
    else:
        run_ids = [run_id]
    if not run_ids:
        log.info("no open runs: nothing to dispatch")
    report: dict[str, Any] = {"runs": {}}
    try:
        for rid in run_ids:
            try:
                report["runs"][rid] = _dispatch_run(settings, rid, now, dry_run, n_parts)
            except DispatchBusy as err:  # the previous five-minute run is still at it
                log.warning("%s", err)
                report["runs"][rid] = {"busy": str(err)}
            except Exception as err:  # noqa: BLE001 - the other runs and the alerts still go
                log.error("dispatch of %s failed: %s: %s", rid, type(err).__name__, err)
                report["runs"][rid] = {"error": f"{type(err).__name__}: {err}"}
    finally:
        report["missed_deadlines"] = deadlines(settings, now)
    failed = [rid for rid, r in report["runs"].items() if "error" in r]
    if failed:
        raise RuntimeError(f"dispatch failed for {', '.join(failed)}; see the log")
    return report


def _dispatch_run(settings: Settings, rid: str, now: str | None, dry_run: bool,
                  n_parts: int) -> dict[str, Any]:
    """Gate, prepare, send partitions and their total for one run."""
    log = get_run_logger()
    gate_state = gate(settings, rid, now)
    prepared = prepare_run(settings, rid, now, dry_run)
    futures = send.map(unmapped(settings), unmapped(rid), list(range(n_parts)),
                       unmapped(n_parts), unmapped(now), unmapped(dry_run))
    results, failed = [prepared], []
    for part, future in enumerate(futures):
        try:
            results.append(future.result())
        except Exception as err:  # noqa: BLE001 - the other partitions still count
            failed.append(f"partition {part}: {type(err).__name__}: {err}")
            log.error("send partition %d of %s failed: %s", part, rid, err)
    total = merge_results(results)
    for line in total.lines():
        print(line)
    return {"gate": gate_state, "enqueued": total.enqueued,
            "outcomes": dict(total.outcomes), "planned": total.planned,
            "problems": total.problems + failed, "outbox": total.outbox}
