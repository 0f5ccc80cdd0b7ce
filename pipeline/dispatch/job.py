"""The dispatch job: plan who is due, write the outbox, send, record — exactly once.

``dispatch(settings, run_id)`` may run every few minutes (the orchestration issue's flow) or by
hand (``zipcast dispatch``). Each call:

1. takes the run's dispatch lock (one dispatcher per run; a killed one releases it);
2. resolves what a crashed predecessor left in ``sending`` by asking the channel;
3. plans the subscribers due now and writes their deliveries to the outbox (insert-or-ignore
   on the unique key, so nothing is queued twice);
4. sends pending deliveries: re-checks opt-outs just before sending, honours per-channel rate
   limits, retries transient errors with backoff, records permanent failures and opts out a
   recipient the provider says unsubscribed.

Steps 1–3 and step 4 can also run apart, step 4 split by subscriber into partitions that run
in parallel (separate processes): see :mod:`pipeline.dispatch.partitions`. Both share the
helpers here; :func:`dispatch` is one :func:`prepare_run` and one :func:`send_run` under one
exclusive lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from pipeline.channels.base import (
    Channel,
)
from pipeline.dispatch.locks import run_lock
from pipeline.dispatch.models import Delivery, DeliveryEvent, DryDelivery, outbox_table
from pipeline.dispatch.outbox import (
    due_rows,
    enqueue,
    next_retry,
)
from pipeline.dispatch.plan import load_assignments, plan
from pipeline.dispatch.result import DispatchResult
from pipeline.dispatch.send import Channels, _send_rows, outbox_path, reconcile
from pipeline.editorial.gate import Gate, gate_of
from pipeline.editorial.models import Message
from pipeline.geo import city_names
from pipeline.settings import Settings
from pipeline.store.db import get_engine, migrate
from pipeline.store.models import Run, Slot
from pipeline.store.runs import pick_run
from pipeline.times import utc


def approved_messages(db: Session, run_id: str) -> dict[str, str]:
    """Slot id -> approved template of the run."""
    rows = db.execute(select(Slot.slot_id, Message.text).join(
        Message, Message.slot_id == Slot.id).where(Slot.run_id == run_id,
                                                   Message.status == "approved"))
    return dict(rows.all())  # Result has keys(): dict(rows) would treat it as a mapping



def window_start_hour(settings: Settings, window: str) -> int:
    spec = settings.windows.get(window)
    return spec.start_hour if spec else 0


def dispatch(settings: Settings, run_id: str | None = None, *, dry_run: bool = False,
             now: Callable[[], datetime] = lambda: datetime.now(UTC),
             channel_factory: Callable[[str], Channel] | None = None,
             max_wait_s: float = 0.0, sleep: Callable[[float], None] = time.sleep,
             progress: Callable[[str, int], None] | None = None) -> DispatchResult:
    """Queue and send everything due for one run now.

    Parameters
    ----------
    settings : zipcast settings (database, dispatch and channel settings)
    run_id : the run to dispatch; default the newest
    dry_run : write every message to ``<outbox_dir>/<run>.jsonl`` instead of sending
    now : the wall clock (aware UTC); tests pass a fixed one
    channel_factory : channel name -> Channel (default :func:`make_channel`)
    max_wait_s : wait up to this long in this call for retries that come due (0: leave them
        for the next call, which the scheduled flow makes every few minutes)
    progress : called with ("queued" | "sent", count) as work is done

    Notes
    -----
    The same as :func:`~pipeline.dispatch.partitions.prepare` followed by
    :func:`~pipeline.dispatch.partitions.send_partition` ``(…, 0, 1)``, but under one
    exclusive lock held throughout and with one set of channels (connections, limiters).
    """
    migrate(settings.db_url)
    engine = get_engine(settings.db_url)
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as db:
        run_id = pick_run(db, run_id).id
    with run_lock(settings.data_dir, run_id, db_url=settings.db_url), factory() as db:
        channels = Channels(settings, run_id, dry_run, channel_factory, sleep)
        try:
            result = prepare_run(db, run_id, settings, channels, now=now, progress=progress)
            send_run(db, result, settings, channels, now=now, max_wait_s=max_wait_s,
                     sleep=sleep, progress=progress)
        finally:
            channels.close()
    return result


def prepare_run(db: Session, run_id: str, settings: Settings, channels: Channels, *,
                now: Callable[[], datetime],
                progress: Callable[[str, int], None] | None = None) -> DispatchResult:
    """Gate, reconcile what a dead dispatcher left in ``sending``, plan and enqueue; no
    sending. The caller holds the run's exclusive lock (:func:`run_lock`)."""
    run = pick_run(db, run_id)
    gate = gate_of(db, run, settings.review, now())
    result = DispatchResult(run.id, run.window, channels.dry_run, gate.describe())
    if channels.dry_run:
        result.outbox = str(channels.path)
    clock: dict[str, float] = {}
    started = time.perf_counter()
    result.reconciled = reconcile(db, run.id, run.window, channels,
                                  settings.dispatch.public_url, now())
    clock["reconcile"] = time.perf_counter() - started
    started = time.perf_counter()
    rows, result.planned = plan_now(db, run, gate, settings, now(), channels.table)
    result.problems += result.planned.pop("problems", [])
    clock["plan"] = time.perf_counter() - started
    started = time.perf_counter()
    result.enqueued = enqueue(
        get_engine(settings.db_url), run.id, run.window, rows, now(),
        on_chunk=(lambda n: progress("queued", n)) if progress else None,
        table=channels.table)
    clock["enqueue"] = time.perf_counter() - started
    result.seconds = {k: round(v, 3) for k, v in clock.items()}
    return result


def send_run(db: Session, result: DispatchResult, settings: Settings, channels: Channels, *,
             now: Callable[[], datetime], max_wait_s: float = 0.0,
             sleep: Callable[[float], None] = time.sleep,
             progress: Callable[[str, int], None] | None = None,
             partition: tuple[int, int] | None = None) -> DispatchResult:
    """Send the due pending rows of ``result``'s run (only those of ``partition`` = (part,
    n_parts) when given), adding outcomes and problems to ``result``. The caller holds the
    run's lock: exclusive, or shared plus the partition's (see
    :func:`~pipeline.dispatch.partitions.partition_lock`)."""
    started = time.perf_counter()
    _send_all(db, result.run_id, result.window, channels, settings, now, result, max_wait_s,
              sleep, progress, partition)
    result.seconds["send"] = round(time.perf_counter() - started, 3)
    return result


def plan_now(db: Session, run: Run, gate: Gate, settings: Settings, moment: datetime,
             table: type[Delivery] | type[DryDelivery] = Delivery,
             ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The deliveries to queue for ``run`` at ``moment`` (see :func:`plan.plan`)."""
    assignments = load_assignments(run.run_dir)
    return plan(db, run_id=run.id, window=run.window, issue_time=utc(run.issue_time),
                assignments=assignments, gate=gate, approved=approved_messages(db, run.id),
                cities=city_names(), settings=settings.dispatch,
                window_start_hour=window_start_hour(settings, run.window), now=moment,
                table=table)


def _send_all(db: Session, run_id: str, window: str, channels: Channels, settings: Settings,
              now: Callable[[], datetime], result: DispatchResult, max_wait_s: float,
              sleep: Callable[[float], None], progress,  # type: ignore[no-untyped-def]
              partition: tuple[int, int] | None = None) -> None:
    # the wait is on the dispatcher's clock, so a frozen ``--now`` moves with ``sleep``
    deadline = now() + timedelta(seconds=max_wait_s)
    while True:
        rows = due_rows(db, run_id, window, now(), settings.dispatch.batch_size,
                        skip_channels=channels.broken, partition=partition,
                        table=channels.table)
        if rows:
            before = result.outcomes["sent"]
            _send_rows(db, rows, channels, settings, now, result)
            if progress:
                progress("sent", result.outcomes["sent"] - before)
            continue
        retry_at = next_retry(db, run_id, window, partition, channels.table)
        if retry_at is None or utc(retry_at) > deadline:
            break
        sleep(max((utc(retry_at) - now()).total_seconds(), 0.0))


def report(settings: Settings, run_id: str | None = None, *,
           dry_run: bool = False) -> pd.DataFrame:
    """Deliveries of a run by window, slot, channel and status (``zipcast dispatch --report``;
    a dry run's rehearsal with ``dry_run``). Ambiguous ones are emails that may or may not
    have gone out (see ``ZIPCAST_DISPATCH__AMBIGUOUS_EMAIL``)."""
    migrate(settings.db_url)
    table = outbox_table(dry_run)
    with Session(get_engine(settings.db_url)) as db:
        run = pick_run(db, run_id)
        rows = db.execute(select(table.window, table.slot_id, table.channel,
                                 table.status, func.count())
                          .where(table.run_id == run.id)
                          .group_by(table.window, table.slot_id, table.channel,
                                    table.status)).all()
        ambiguous = db.scalar(select(func.count()).select_from(DeliveryEvent).join(
            Delivery, Delivery.id == DeliveryEvent.delivery_id).where(
            Delivery.run_id == run.id, DeliveryEvent.status == "ambiguous")) or 0
    frame = pd.DataFrame(rows, columns=["window", "slot_id", "channel", "status", "n"])
    frame.attrs["run_id"] = run.id
    # emails in flight when a connection or the dispatcher died (each may be resent, or not)
    frame.attrs["ambiguous_events"] = 0 if dry_run else int(ambiguous)
    return frame


def forget_rehearsal(settings: Settings, run_id: str | None = None) -> str:
    """Delete a run's dry-run rows and outbox files, so the next ``--dry-run`` rehearses the
    whole run again. The real deliveries are untouched."""
    migrate(settings.db_url)
    with Session(get_engine(settings.db_url)) as db:
        run = pick_run(db, run_id)
        n = db.execute(delete(DryDelivery).where(DryDelivery.run_id == run.id)).rowcount  # type: ignore[attr-defined]
        db.commit()
    base = outbox_path(settings, run.id)
    files = [p for p in base.parent.glob(base.stem + "*") if p.is_file()]
    for path in files:
        path.unlink()
    return f"forgot the rehearsal of {run.id}: {n:,} dry-run rows, {len(files)} outbox file(s)"


def delivery_counts(db: Session, run_id: str) -> dict[str, int]:
    """The run's real deliveries by status (``zipcast runs``)."""
    return dict(db.execute(select(Delivery.status, func.count())
                           .where(Delivery.run_id == run_id)
                           .group_by(Delivery.status)).all())  # type: ignore[arg-type]
