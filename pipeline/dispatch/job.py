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

import fcntl
import hashlib
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from pipeline.channels import make_channel
from pipeline.channels.base import (
    Channel,
    ChannelConfigError,
    Outgoing,
    PermanentError,
    TransientError,
)
from pipeline.channels.file import part_path
from pipeline.config.dispatch import _default_rates
from pipeline.dispatch.models import Delivery
from pipeline.dispatch.outbox import (
    due_rows,
    enqueue,
    mark,
    mark_sending,
    next_retry,
    outgoing,
    stuck,
    subscriber_status,
)
from pipeline.dispatch.plan import load_assignments, plan
from pipeline.dispatch.ratelimit import RateLimiter, backoff
from pipeline.dispatch.subscribers import opt_out
from pipeline.editorial.gate import Gate, gate_of
from pipeline.editorial.models import Message
from pipeline.geo import city_names
from pipeline.settings import Settings
from pipeline.store.db import get_engine, migrate
from pipeline.store.models import Run, Slot
from pipeline.store.runs import pick_run
from pipeline.times import utc


class DispatchBusy(RuntimeError):
    """Another dispatcher holds this run's lock."""



@dataclass
class DispatchResult:
    """What one dispatch call did."""

    run_id: str
    window: str
    dry_run: bool
    gate: str
    planned: dict[str, Any] = field(default_factory=dict)
    enqueued: int = 0
    reconciled: dict[str, int] = field(default_factory=dict)  # found_sent, resent
    outcomes: Counter = field(default_factory=Counter)  # sent, retry, failed, skipped
    problems: list[str] = field(default_factory=list)
    outbox: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    partition: tuple[int, int] | None = None  # (part, n_parts) of a send-only partition

    def lines(self) -> list[str]:
        """A short human report."""
        p = self.planned
        part = f" — partition {self.partition[0]} of {self.partition[1]}" \
            if self.partition else ""
        out = [f"run {self.run_id} ({self.window}){' — dry run' if self.dry_run else ''}{part}"]
        if self.gate:  # a send-only partition neither gates nor plans
            out.append(f"gate: {self.gate}")
        if self.gate or p or self.enqueued:
            out.append(f"queued {self.enqueued:,} new deliveries; {p.get('not_due', 0):,} not "
                       f"due yet, {p.get('waiting_for_editors', 0):,} waiting for editors, "
                       f"{p.get('held', 0):,} held, {p.get('too_late', 0):,} too late")
        if any(self.reconciled.values()):
            out.append(f"after a crash: {self.reconciled.get('found_sent', 0)} found already "
                       f"sent, {self.reconciled.get('resent', 0)} queued again")
        out.append("sent " + ", ".join(f"{n:,} {k}" for k, n in sorted(self.outcomes.items()))
                   if self.outcomes else "nothing to send")
        if self.outbox:
            out.append(f"outbox: {self.outbox}")
        out += [f"problem: {p}" for p in self.problems]
        return out


def lock_path(data_dir: Path, run_id: str, suffix: str = "") -> Path:
    folder = data_dir / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"dispatch-{run_id.replace('/', '_')}{suffix}.lock"


@contextmanager
def _flock(path: Path, exclusive: bool, busy: str) -> Iterator[None]:
    """flock ``path`` without waiting (released by the kernel if the process dies); a held
    lock raises DispatchBusy(``busy``). Each call opens its own descriptor, so two holders
    conflict also within one process (threads)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DispatchBusy(busy) from None
        yield
    finally:
        os.close(fd)


def advisory_key(name: str) -> int:
    """A PostgreSQL advisory lock key (signed 64-bit) for a lock file's name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def _pg_lock(db_url: str | None, name: str, exclusive: bool, busy: str) -> Iterator[None]:
    """On PostgreSQL, also take the advisory lock for ``name`` without waiting, on a
    connection held for the duration (the server releases it if the process or host dies),
    so dispatchers on *different machines* exclude each other too. Elsewhere: nothing."""
    if not db_url or not db_url.startswith("postgresql"):
        yield
        return
    suffix = "" if exclusive else "_shared"
    key = advisory_key(name)
    with get_engine(db_url).connect() as connection:
        got = connection.execute(text(f"SELECT pg_try_advisory_lock{suffix}(:k)"),
                                 {"k": key}).scalar()
        connection.commit()
        if not got:
            raise DispatchBusy(busy)
        try:
            yield
        finally:
            connection.execute(text(f"SELECT pg_advisory_unlock{suffix}(:k)"), {"k": key})
            connection.commit()


@contextmanager
def run_lock(data_dir: Path, run_id: str, *, shared: bool = False,
             db_url: str | None = None) -> Iterator[None]:
    """The run's dispatch lock (flock: released by the kernel if the process dies; on
    PostgreSQL ``db_url`` also an advisory lock, which holds across machines).

    Exclusive (default) for whatever plans, reconciles and may send the whole run:
    :func:`dispatch` and :func:`~pipeline.dispatch.partitions.prepare`. Shared for a
    send-only partition: partitions run together, but never beside a reconcile, which would
    take their in-flight ``sending`` rows for a crash's leftovers.
    """
    path = lock_path(data_dir, run_id)
    busy = (f"run {run_id} is being prepared or dispatched (lock {path}); wait for it to "
            f"finish" if shared else
            f"another dispatcher is sending run {run_id} (lock {path}); wait for it to finish")
    with _flock(path, not shared, busy), _pg_lock(db_url, path.name, not shared, busy):
        yield



def approved_messages(db: Session, run_id: str) -> dict[str, str]:
    """Slot id -> approved template of the run."""
    rows = db.execute(select(Slot.slot_id, Message.text).join(
        Message, Message.slot_id == Slot.id).where(Slot.run_id == run_id,
                                                   Message.status == "approved"))
    return dict(rows.all())  # Result has keys(): dict(rows) would treat it as a mapping


def outbox_path(settings: Settings, run_id: str, part: int = 0, n_parts: int = 1) -> Path:
    """The dry-run outbox file of a run (``<outbox_dir>/<run>.jsonl``), or of one partition
    of its sending (``<run>.part-<p>-of-<n>.jsonl``; :func:`read_outbox` on the run's file
    reads those too)."""
    folder = settings.dispatch.outbox_dir or settings.data_dir / "outbox"
    return part_path(Path(folder) / f"{run_id.replace('/', '_')}.jsonl", part, n_parts)


class Channels:
    """The channel objects of one dispatch call, built on first use, each with its limiter.

    ``n_parts`` > 1: this call sends one of that many partitions running side by side, so
    each channel's rate is ``rate_per_second / n_parts`` (together they keep the provider's
    limit) and its limiter starts empty (they do not all burst at once), and a dry run
    writes the partition's own outbox file.
    """

    def __init__(self, settings: Settings, run_id: str, dry_run: bool,
                 factory: Callable[[str], Channel] | None = None,
                 sleep: Callable[[float], None] = time.sleep, *, part: int = 0,
                 n_parts: int = 1) -> None:
        self.settings, self.dry_run, self.sleep = settings, dry_run, sleep
        self.n_parts = n_parts
        self.path = outbox_path(settings, run_id, part, n_parts)
        self.factory = factory or (lambda name: make_channel(
            name, settings.dispatch, dry_run=dry_run, outbox_path=self.path))
        self.made: dict[str, Channel] = {}
        self.broken: dict[str, str] = {}
        self.limiters: dict[str, RateLimiter] = {}

    def get(self, name: str) -> Channel | None:
        if name in self.broken:
            return None
        if name not in self.made:
            try:
                self.made[name] = self.factory(name)
            except ChannelConfigError as err:
                self.broken[name] = str(err)
                return None
            rate_key = "file" if self.dry_run else name
            rates = _default_rates() | self.settings.dispatch.rate_per_second  # env sets a few
            rate = rates.get(rate_key, 0.0) / self.n_parts
            self.limiters[name] = RateLimiter(rate, burst=max(1, int(rate)), sleep=self.sleep,
                                              full=self.n_parts == 1)
        return self.made[name]

    def close(self) -> None:
        for channel in self.made.values():
            channel.close()


def reconcile(db: Session, run_id: str, window: str, channels: Channels, public_url: str,
              now: datetime) -> dict[str, int]:
    """Resolve rows a dead dispatcher left in ``sending``: sent if the channel has them,
    otherwise pending again (they will be sent now)."""
    rows = stuck(db, run_id, window)
    found = resent = 0
    by_channel: dict[str, list[Delivery]] = {}
    for row in rows:
        by_channel.setdefault(row.channel, []).append(row)
    for name, group in by_channel.items():
        channel = channels.get(name)
        messages = [outgoing(r, public_url, None) for r in group]
        have = channel.already_sent(messages) if channel is not None else {}
        for row, message in zip(group, messages, strict=True):
            if message.key in have:
                row.status, row.provider_id, row.sent_at = "sent", have[message.key], now
                row.error = "sent before a crash; confirmed by the channel"
                found += 1
            else:
                row.status, row.updated_at = "pending", now
                resent += 1
        db.commit()
    return {"found_sent": found, "resent": resent}


def _opted_out(db: Session, rows: list[Delivery], now: datetime,
               result: DispatchResult) -> tuple[list[Delivery], dict[int, str]]:
    """Rows whose subscriber is still active (+ their tokens); others are skipped now."""
    status = subscriber_status(db, (r.subscriber_id for r in rows))
    gone = [r.id for r in rows if status.get(r.subscriber_id, ("gone", ""))[0] != "active"]
    if gone:  # only rows still pending: never a row another sender claimed meanwhile
        skipped = mark(db, gone, now, if_status="pending", status="skipped",
                       error="opted out before sending")
        db.commit()
        result.outcomes["skipped"] += skipped
    keep = [r for r in rows if r.id not in set(gone)]
    return keep, {i: t for i, (_, t) in status.items()}


def _send_rows(db: Session, rows: list[Delivery], channels: Channels, settings: Settings,
               now: Callable[[], datetime], result: DispatchResult) -> None:
    """Send claimed rows: a whole batch at once where the channel can, else one by one."""
    rows, tokens = _opted_out(db, rows, now(), result)
    by_channel: dict[str, list[Delivery]] = {}
    for row in rows:
        by_channel.setdefault(row.channel, []).append(row)
    public = settings.dispatch.public_url
    for name, group in by_channel.items():
        channel = channels.get(name)
        if channel is None:  # misconfigured: the rows stay pending, untouched; say why
            problem = f"{name}: {channels.broken[name]}"
            if problem not in result.problems:
                result.problems.append(problem)
            continue
        messages = [outgoing(r, public, tokens.get(r.subscriber_id)) for r in group]
        limiter = channels.limiters[name]
        send_many = getattr(channel, "send_many", None)
        if send_many is not None:
            for _ in messages:
                limiter.acquire()
            # the claim is atomic: rows another sender took meanwhile are left to it
            claimed = {r.id for r in mark_sending(db, group, now())}
            if len(claimed) < len(group):
                group = [r for r in group if r.id in claimed]
                messages = [m for m in messages if m.delivery_id in claimed]
            if not group:
                continue
            try:
                sent = send_many(messages)
            except TransientError as err:
                _retry(db, group, err, settings, now(), result)
                continue
            stamp = now()
            mark(db, [r.id for r in group], stamp, status="sent", sent_at=stamp, error=None)
            db.commit()
            result.outcomes["sent"] += len(sent)
            continue
        for row, message in zip(group, messages, strict=True):
            limiter.acquire()
            if mark_sending(db, [row], now()):
                _send_one(db, row, message, channel, settings, now, result)


def _send_one(db: Session, row: Delivery, message: Outgoing, channel: Channel,
              settings: Settings, now: Callable[[], datetime], result: DispatchResult) -> None:
    try:
        sent = channel.send(message)
    except TransientError as err:
        _retry(db, [row], err, settings, now(), result)
        return
    except PermanentError as err:
        stamp = now()
        code = f" ({err.code})" if err.code else ""
        mark(db, [row.id], stamp, status="failed", error=f"{err}{code}")
        if err.opt_out:
            opt_out(db, row.subscriber_id, via=f"{row.channel} provider{code}", at=stamp)
        db.commit()
        result.outcomes["failed"] += 1
        return
    stamp = now()
    mark(db, [row.id], stamp, status=sent.status, provider_id=sent.provider_id, sent_at=stamp,
         error=None)
    db.commit()
    result.outcomes["sent"] += 1


def _retry(db: Session, rows: list[Delivery], err: TransientError, settings: Settings,
           stamp: datetime, result: DispatchResult) -> None:
    """A transient error: back off and try later, or give up after ``max_attempts``."""
    cfg = settings.dispatch
    for row in rows:
        if row.attempts >= cfg.max_attempts:
            mark(db, [row.id], stamp, status="failed",
                 error=f"gave up after {row.attempts} attempts: {err}")
            result.outcomes["failed"] += 1
        else:
            wait = backoff(row.attempts, cfg.backoff_s, cfg.max_backoff_s, err.retry_after)
            mark(db, [row.id], stamp, status="pending", error=f"retrying: {err}",
                 next_attempt_at=stamp + timedelta(seconds=wait))
            result.outcomes["retry"] += 1
    db.commit()


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
    rows, result.planned = plan_now(db, run, gate, settings, now())
    result.problems += result.planned.pop("problems", [])
    clock["plan"] = time.perf_counter() - started
    started = time.perf_counter()
    result.enqueued = enqueue(
        get_engine(settings.db_url), run.id, run.window, rows, now(),
        on_chunk=(lambda n: progress("queued", n)) if progress else None)
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


def plan_now(db: Session, run: Run, gate: Gate, settings: Settings,
             moment: datetime) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The deliveries to queue for ``run`` at ``moment`` (see :func:`plan.plan`)."""
    assignments = load_assignments(run.run_dir)
    return plan(db, run_id=run.id, window=run.window, issue_time=utc(run.issue_time),
                assignments=assignments, gate=gate, approved=approved_messages(db, run.id),
                cities=city_names(), settings=settings.dispatch,
                window_start_hour=window_start_hour(settings, run.window), now=moment)


def _send_all(db: Session, run_id: str, window: str, channels: Channels, settings: Settings,
              now: Callable[[], datetime], result: DispatchResult, max_wait_s: float,
              sleep: Callable[[float], None], progress,  # type: ignore[no-untyped-def]
              partition: tuple[int, int] | None = None) -> None:
    deadline = time.monotonic() + max_wait_s
    while True:
        rows = due_rows(db, run_id, window, now(), settings.dispatch.batch_size,
                        skip_channels=channels.broken, partition=partition)
        if rows:
            before = result.outcomes["sent"]
            _send_rows(db, rows, channels, settings, now, result)
            if progress:
                progress("sent", result.outcomes["sent"] - before)
            continue
        retry_at = next_retry(db, run_id, window, partition)
        if retry_at is None:
            break
        wait = (utc(retry_at) - now()).total_seconds()
        if time.monotonic() + wait > deadline:
            break
        sleep(max(wait, 0.0))


def report(settings: Settings, run_id: str | None = None) -> pd.DataFrame:
    """Deliveries of a run by window, slot, channel and status (``zipcast dispatch --report``)."""
    migrate(settings.db_url)
    with Session(get_engine(settings.db_url)) as db:
        run = pick_run(db, run_id)
        rows = db.execute(select(Delivery.window, Delivery.slot_id, Delivery.channel,
                                 Delivery.status, func.count())
                          .where(Delivery.run_id == run.id)
                          .group_by(Delivery.window, Delivery.slot_id, Delivery.channel,
                                    Delivery.status)).all()
    frame = pd.DataFrame(rows, columns=["window", "slot_id", "channel", "status", "n"])
    frame.attrs["run_id"] = run.id
    return frame
