"""Sending: the channels of a run, reconciling what a crashed predecessor left in flight,
and sending rows with opt-out re-checks, rate limits, retries and backoff."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from pipeline.channels import make_channel
from pipeline.channels.base import (
    AmbiguousSend,
    Channel,
    ChannelConfigError,
    Outgoing,
    PermanentError,
    TransientError,
)
from pipeline.channels.file import part_path
from pipeline.config.dispatch import _default_rates
from pipeline.dispatch.models import DeliveryEvent, DryDelivery, OutboxRow, outbox_table
from pipeline.dispatch.outbox import (
    mark,
    mark_sending,
    outgoing,
    stuck,
    subscriber_status,
)
from pipeline.dispatch.ratelimit import RateLimiter, backoff
from pipeline.dispatch.result import DispatchResult
from pipeline.dispatch.subscribers import opt_out
from pipeline.settings import Settings


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
        self.table = outbox_table(dry_run)  # a dry run never touches the real outbox
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


#: channels that cannot say what they already took (SMTP): a row they left ``handing`` (its
#: data going to the relay) is ambiguous; one left ``sending`` never reached that point, and
#: a relay discards a partial message, so it is safely sent again. Twilio is asked (its
#: message list), the file outbox reads itself, and a webhook resend carries the same
#: Idempotency-Key, which receivers dedupe on.
CANNOT_TELL = {"email"}


def reconcile(db: Session, run_id: str, window: str, channels: Channels, public_url: str,
              now: datetime) -> dict[str, int]:
    """Resolve rows a dead dispatcher left in ``sending``: sent if the channel has them;
    for email, which cannot tell, ambiguous (``ZIPCAST_DISPATCH__AMBIGUOUS_EMAIL``: not sent
    again with ``skip``, sent again with ``resend``); otherwise pending again (sent now)."""
    table = channels.table
    rows = stuck(db, run_id, window, table)
    found = resent = ambiguous = 0
    by_channel: dict[str, list[OutboxRow]] = {}
    for row in rows:
        by_channel.setdefault(row.channel, []).append(row)
    policy = channels.settings.dispatch.ambiguous_email
    for name, group in by_channel.items():
        channel = channels.get(name)
        messages = [outgoing(r, public_url, None) for r in group]
        have = channel.already_sent(messages) if channel is not None else {}
        for row, message in zip(group, messages, strict=True):
            unsure = (name in CANNOT_TELL and not channels.dry_run
                      and row.status == "handing")
            if message.key in have:
                row.status, row.provider_id, row.sent_at = "sent", have[message.key], now
                row.error = "sent before a crash; confirmed by the channel"
                found += 1
            elif unsure and policy == "skip":
                row.status, row.updated_at = "ambiguous", now
                row.error = ("in flight when the dispatcher stopped; SMTP cannot say whether "
                             "it went out, so it is not sent again (ambiguous_email=skip)")
                _ambiguous_event(db, row, "dispatcher stopped mid-send; not sent again", now)
                ambiguous += 1
            else:
                row.status, row.updated_at = "pending", now
                if unsure:
                    row.error = ("in flight when the dispatcher stopped; sent again, it may "
                                 "arrive twice (ambiguous_email=resend)")
                    _ambiguous_event(db, row, "dispatcher stopped mid-send; sent again", now)
                    ambiguous += 1
                resent += 1
        db.commit()
    counts = {"found_sent": found, "resent": resent}
    return counts | ({"ambiguous": ambiguous} if ambiguous else {})


def _ambiguous_event(db: Session, row: OutboxRow, detail: str, at: datetime) -> None:
    """Keep, for the report, that this delivery may have gone out twice or not at all."""
    db.add(DeliveryEvent(delivery_id=row.id, provider_id=None, channel=row.channel,
                         status="ambiguous", detail=detail, at=at))


def _opted_out(db: Session, rows: list[OutboxRow], now: datetime,
               result: DispatchResult) -> tuple[list[OutboxRow], dict[int, str]]:
    """Rows whose subscriber is still active (+ their tokens); others are skipped now."""
    status = subscriber_status(db, (r.subscriber_id for r in rows), now)
    state = {r.id: status.get(r.subscriber_id, ("gone", ""))[0] for r in rows}
    gone = [i for i, s in state.items() if s != "active"]
    skipped = 0
    for why, ids in (("paused before sending", [i for i in gone if state[i] == "paused"]),
                     ("opted out before sending", [i for i in gone if state[i] != "paused"])):
        if ids:  # only rows still pending: never a row another sender claimed meanwhile
            skipped += mark(db, ids, now, if_status="pending", status="skipped", error=why,
                            table=type(rows[0]))
    if gone:
        db.commit()
        result.outcomes["skipped"] += skipped
    keep = [r for r in rows if r.id not in set(gone)]
    return keep, {i: t for i, (_, t) in status.items()}


def _send_rows(db: Session, rows: list[OutboxRow], channels: Channels, settings: Settings,
               now: Callable[[], datetime], result: DispatchResult) -> None:
    """Send claimed rows: a whole batch at once where the channel can, else one by one."""
    rows, tokens = _opted_out(db, rows, now(), result)
    by_channel: dict[str, list[OutboxRow]] = {}
    for row in rows:
        by_channel.setdefault(row.channel, []).append(row)
    public = settings.dispatch.public_url
    table = channels.table
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
            mark(db, [r.id for r in group], stamp, status="sent", sent_at=stamp, error=None,
                 table=table)
            db.commit()
            result.outcomes["sent"] += len(sent)
            continue
        for row, message in zip(group, messages, strict=True):
            limiter.acquire()
            if mark_sending(db, [row], now()):
                _send_one(db, row, message, channel, settings, now, result)


def _send_one(db: Session, row: OutboxRow, message: Outgoing, channel: Channel,
              settings: Settings, now: Callable[[], datetime], result: DispatchResult) -> None:
    table = type(row)

    def handing() -> None:  # the point of no return: recorded before the data goes out
        mark(db, [row.id], now(), status="handing", table=table)
        db.commit()

    try:
        if getattr(channel, "supports_handover", False) and not isinstance(row, DryDelivery):
            sent = channel.send(message, before_handover=handing)  # type: ignore[call-arg]
        else:
            sent = channel.send(message)
    except AmbiguousSend as err:  # it may have gone out: the setting decides
        result.outcomes["ambiguous"] += 1
        skip = settings.dispatch.ambiguous_email == "skip"
        _ambiguous_event(db, row, f"{err}; {'not sent again' if skip else 'sent again'}",
                         now())
        if skip:
            mark(db, [row.id], now(), status="ambiguous", table=table,
                 error=f"{err}; not sent again (ambiguous_email=skip)")
            db.commit()
        else:
            _retry(db, [row], err, settings, now(), result)
        return
    except TransientError as err:
        _retry(db, [row], err, settings, now(), result)
        return
    except PermanentError as err:
        stamp = now()
        code = f" ({err.code})" if err.code else ""
        mark(db, [row.id], stamp, status="failed", error=f"{err}{code}", table=table)
        if err.opt_out:
            opt_out(db, row.subscriber_id, via=f"{row.channel} provider{code}", at=stamp)
        db.commit()
        result.outcomes["failed"] += 1
        return
    stamp = now()
    mark(db, [row.id], stamp, status=sent.status, provider_id=sent.provider_id, sent_at=stamp,
         error=None, table=table)
    db.commit()
    result.outcomes["sent"] += 1


def _retry(db: Session, rows: list[OutboxRow], err: TransientError, settings: Settings,
           stamp: datetime, result: DispatchResult) -> None:
    """A transient error: back off and try later, or give up after ``max_attempts``."""
    cfg = settings.dispatch
    for row in rows:
        table = type(row)
        if row.attempts >= cfg.max_attempts:
            mark(db, [row.id], stamp, status="failed", table=table,
                 error=f"gave up after {row.attempts} attempts: {err}")
            result.outcomes["failed"] += 1
        else:
            wait = backoff(row.attempts, cfg.backoff_s, cfg.max_backoff_s, err.retry_after)
            mark(db, [row.id], stamp, status="pending", error=f"retrying: {err}",
                 next_attempt_at=stamp + timedelta(seconds=wait), table=table)
            result.outcomes["retry"] += 1
    db.commit()
