"""Staff email: "the sheet is ready" to editors, "deadline missed" alerts to leads and on-call.

Mail goes through the dispatch email channel (:class:`~pipeline.channels.email.
EmailChannel`, the same SMTP relay and settings subscribers' email uses). Every notice is
recorded in the ``notices`` table under a key naming its occasion, so a rerun, a retried flow
or the next five-minute dispatch never mails the same thing twice; a notice whose mail failed
keeps its error and is retried on the next occasion.

Plain SQLAlchemy, no Prefect: the flows call these and log what they return.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.channels.base import Channel, Outgoing, PermanentError, TransientError
from pipeline.editorial.gate import Gate, gate_of, send_time
from pipeline.editorial.models import Editor, Notice
from pipeline.settings import Settings
from pipeline.store import get_engine, migrate
from pipeline.store.models import Run
from pipeline.store.runs import open_runs, pick_run
from pipeline.store.summary import RunSummary
from pipeline.times import utc

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sent:
    """What became of one notice."""

    key: str
    subject: str
    recipients: list[str]
    sent: bool  # mailed now or earlier
    already: bool  # an earlier call had mailed it; nothing was sent this time
    error: str | None = None


def _email_channel(settings: Settings) -> Channel:
    from pipeline.channels.email import EmailChannel

    return EmailChannel(settings.dispatch)


def editor_addresses(db: Session, settings: Settings, *, leads_only: bool = False) -> list[str]:
    """Editors' (or leads') addresses, then the configured extra ones, without repeats."""
    query = select(Editor.email).where(Editor.email.is_not(None))
    if leads_only:
        query = query.where(Editor.role == "lead")
    extra = settings.review.alert_emails if leads_only else settings.review.notify_emails
    found = [*db.scalars(query.order_by(Editor.name)), *extra]
    return list(dict.fromkeys(a.strip() for a in found if a and a.strip()))


NOBODY = ("nobody to tell: give editors an email (zipcast users add NAME --email ADDRESS) or "
          "set ZIPCAST_REVIEW__NOTIFY_EMAILS / ZIPCAST_REVIEW__ALERT_EMAILS")
SENDING = "sending"  # the error column while a process holds the notice
STALE_CLAIM = timedelta(minutes=15)  # a claim this old belonged to a process that died


class NoticeNotSent(RuntimeError):
    """Some recipients could not be mailed (the notice keeps them for the next try)."""


def send_notice(
    settings: Settings,
    *,
    key: str,
    kind: str,
    subject: str,
    body: str,
    recipients: Sequence[str],
    run_id: str | None = None,
    now: datetime | None = None,
    channel_factory: Callable[[Settings], Channel] = _email_channel,
) -> Sent:
    """Mail ``subject``/``body`` to ``recipients`` once for ``key``; record the outcome.

    The notice row is claimed (inserted, or its error set to ``sending``, in one committed
    statement) before any mail goes out, so two processes never both send it. Recipients
    that fail stay on the row and are the only ones a later call (:func:`retry_unsent`) mails.
    """
    moment = now or datetime.now(UTC)
    migrate(settings.db_url)
    with Session(get_engine(settings.db_url)) as db:
        notice = db.get(Notice, key)
        if notice is None:
            notice = Notice(key=key, kind=kind, run_id=run_id, subject=subject, body=body,
                            recipients=",".join(recipients), created_at=moment,
                            error=SENDING if recipients else NOBODY)
            db.add(notice)
            try:
                db.commit()
            except IntegrityError:  # another process claimed it a moment ago
                db.rollback()
                return Sent(key, subject, list(recipients), False, True, SENDING)
            todo = list(recipients)
        elif notice.sent_at is not None:
            return Sent(key, notice.subject, notice.recipients.split(","), True, True)
        else:
            owed = [a for a in notice.recipients.split(",") if a] or list(recipients)
            if notice.error == SENDING and moment - utc(notice.created_at) < STALE_CLAIM:
                return Sent(key, subject, owed, False, True, SENDING)  # being sent now
            claimed = db.execute(
                update(Notice).where(Notice.key == key, Notice.sent_at.is_(None),
                                     Notice.error == notice.error)
                .values(error=SENDING, recipients=",".join(owed))).rowcount  # type: ignore[attr-defined]
            db.commit()
            if not claimed:
                return Sent(key, subject, owed, False, True, SENDING)
            db.refresh(notice)
            todo = owed
        if not todo:
            return Sent(key, subject, [], False, False, NOBODY)
        failed: dict[str, str] = {}
        channel = channel_factory(settings)
        try:
            for address in todo:
                outgoing = Outgoing(key=f"notice/{key}/{address}", delivery_id=0,
                                    channel="email", address=address, body=body,
                                    subject=subject, meta={"kind": kind, "run_id": run_id or ""})
                try:
                    channel.send(outgoing)
                except (TransientError, PermanentError) as err:
                    failed[address] = str(err)
        finally:
            channel.close()
            notice.recipients = ",".join(failed)  # what is still owed
            notice.error = "; ".join(f"{a}: {e}" for a, e in failed.items()) or None
            notice.sent_at = None if failed else moment
            db.commit()
        return Sent(key, subject, todo, not failed, False, notice.error)


def retry_unsent(settings: Settings, now: datetime, *,
                 lookback: timedelta = timedelta(hours=24),
                 channel_factory: Callable[[Settings], Channel] = _email_channel,
                 ) -> list[Sent]:
    """Mail again the notices of the last ``lookback`` that still owe someone a copy."""
    with Session(get_engine(settings.db_url)) as db:
        keys = list(db.scalars(select(Notice.key).where(
            Notice.sent_at.is_(None), Notice.recipients != "",
            Notice.created_at >= now - lookback)))
    out = []
    for key in keys:
        with Session(get_engine(settings.db_url)) as db:
            notice = db.get(Notice, key)
            if notice is None:
                continue
            kind, subject, body, run_id = (notice.kind, notice.subject, notice.body,
                                           notice.run_id)
            owed = [a for a in notice.recipients.split(",") if a]
        out.append(send_notice(settings, key=key, kind=kind, subject=subject, body=body,
                               recipients=owed, run_id=run_id, now=now,
                               channel_factory=channel_factory))
    return out


def sheet_url(settings: Settings, run_id: str) -> str:
    return f"{settings.dispatch.public_url.rstrip('/')}/runs/{run_id}"


def _local(moment: datetime, settings: Settings) -> str:
    zone = ZoneInfo(settings.flows.timezone)
    return moment.astimezone(zone).strftime("%H:%M %Z on %a %d %b")


def send_time_words(settings: Settings, issue_time: datetime) -> str:
    """A run's send time (issue time + ``send_after_hours``) as the newsroom reads it."""
    due = issue_time + timedelta(hours=settings.review.send_after_hours)
    return f"{_local(due, settings)} ({due:%H:%M} UTC)"


def sheet_ready(settings: Settings, summary: RunSummary, *,
                now: datetime | None = None,
                channel_factory: Callable[[Settings], Channel] = _email_channel) -> Sent:
    """Tell the editors that a run's sheet is ready, with the link and the send time.

    Raises NoticeNotSent when some editor could not be mailed (so a Prefect task retries;
    the next dispatch's :func:`retry_unsent` tries again too)."""
    run_id = summary.run_id
    with Session(get_engine(settings.db_url)) as db:
        run = pick_run(db, run_id)
        due = send_time(run, settings.review)
        to = editor_addresses(db, settings)
    national = summary.truthfulness.national
    subject = (f"zipcast: {summary.n_slots} {summary.window} slots to write, "
               f"send at {_local(due, settings)}")
    body = "\n".join([
        f"The {summary.window} run {run_id} is ready for review:",
        "",
        f"  {sheet_url(settings, run_id)}",
        "",
        f"{summary.n_slots} slots cover {summary.n_zips:,} ZIPs; the drafted messages are "
        f"true for {national:.1%} of them (the rest get their own automatic message).",
        f"Messages go out from {_local(due, settings)}. Slots nobody approves by then are "
        f"{'held' if settings.review.unapproved_policy == 'hold' else 'sent the automatic message'}"
        " unless the lead changes the run's policy on the sheet.",
    ])
    sent = send_notice(settings, key=f"sheet-ready/{run_id}", kind="sheet_ready",
                       subject=subject, body=body, recipients=to, run_id=run_id, now=now,
                       channel_factory=channel_factory)
    if to and not sent.sent and not sent.already:
        raise NoticeNotSent(f"sheet-ready mail for {run_id} not sent to everyone: {sent.error}")
    return sent


@dataclass(frozen=True)
class Missed:
    """A deadline that passed with work undone."""

    key: str
    run_id: str | None
    message: str


def missed_deadlines(settings: Settings, now: datetime, *,
                     lookback: timedelta = timedelta(hours=24)) -> list[Missed]:
    """Runs whose send time passed with slots still unapproved under the ``hold`` policy (their
    subscribers get nothing), and scheduled runs that never arrived by their send time."""
    out: list[Missed] = []
    with Session(get_engine(settings.db_url)) as db:
        runs = list(db.scalars(select(Run).where(Run.issue_time >= now - lookback,
                                                 Run.status != "replay")
                               .order_by(Run.issue_time)))
        for run in open_runs(db, now, lookback):
            gate = gate_of(db, run, settings.review, now)
            if gate.held:
                out.append(Missed(
                    f"deadline/{run.id}", run.id,
                    f"run {run.id}: the send time {_local(gate.send_at, settings)} passed with "
                    f"{len(gate.held)} of {len(gate.held) + len(gate.approved)} slots not "
                    f"approved; their subscribers get nothing (policy hold). Approve them on "
                    f"{sheet_url(settings, run.id)} or set the policy to automatic."))
        first = db.scalar(select(Run.issue_time).order_by(Run.issue_time).limit(1))
    if first is None:
        return out  # a fresh install expects nothing yet
    for window, _at, issue, due in scheduled_runs(settings, now - lookback, now):
        if utc(issue) <= utc(first):
            continue
        if not any(r.window == window and utc(r.issue_time) >= issue - timedelta(hours=1)
                   for r in runs):
            out.append(Missed(
                f"missing/{window}/{issue:%Y%m%dT%H%MZ}", None,
                f"no {window} run for {_local(issue, settings)}: its send time "
                f"{_local(due, settings)} passed. Check the twice-daily flow's last run in "
                "Prefect, then run `zipcast run --window " + window + "`."))
    return out


def scheduled_runs(settings: Settings, start: datetime, end: datetime
                   ) -> list[tuple[str, str, datetime, datetime]]:
    """(window, "HH:MM", issue time, send time) of scheduled runs whose send time is in
    (start, end]; the issue time is the scheduled time floored to the hour, as a run takes."""
    zone = ZoneInfo(settings.flows.timezone)
    found = []
    day = start.astimezone(zone).date()
    while day <= end.astimezone(zone).date():
        for window, at in settings.flows.runs.items():
            hour, minute = (int(x) for x in at.split(":"))
            local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
            issue = local.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
            due = issue + timedelta(hours=settings.review.send_after_hours)
            if start < due <= end:
                found.append((window, at, issue, due))
        day += timedelta(days=1)
    return found


def alert_missed(settings: Settings, now: datetime, *,
                 channel_factory: Callable[[Settings], Channel] = _email_channel,
                 ) -> list[tuple[Missed, Sent]]:
    """Log every missed deadline as an error and mail it once to leads and on-call."""
    with Session(get_engine(settings.db_url)) as db:
        to = editor_addresses(db, settings, leads_only=True)
    out = []
    for missed in missed_deadlines(settings, now):
        sent = send_notice(settings, key=missed.key, kind="deadline_missed",
                           subject=f"zipcast ALERT: {missed.message[:120]}",
                           body=missed.message, recipients=to, run_id=missed.run_id, now=now,
                           channel_factory=channel_factory)
        if not sent.already:
            log.error("DEADLINE MISSED: %s", missed.message)
        out.append((missed, sent))
    return out


def late_run(settings: Settings, run_id: str, now: datetime, *,
             channel_factory: Callable[[Settings], Channel] = _email_channel) -> Sent | None:
    """Alert leads and on-call (once) when a run is stored after its own send time."""
    with Session(get_engine(settings.db_url)) as db:
        run = pick_run(db, run_id)
        due = send_time(run, settings.review)
        to = editor_addresses(db, settings, leads_only=True)
    if now <= due:
        return None
    message = (f"run {run_id} finished at {_local(now, settings)}, after its send time "
               f"{_local(due, settings)}: editors had no time to review it. Its approved "
               f"slots go out as soon as they are approved; see {sheet_url(settings, run_id)}.")
    log.error("DEADLINE MISSED: %s", message)
    return send_notice(settings, key=f"late/{run_id}", kind="deadline_missed",
                       subject=f"zipcast ALERT: {message[:120]}", body=message, recipients=to,
                       run_id=run_id, now=now, channel_factory=channel_factory)


def gate_now(settings: Settings, run_id: str, now: datetime) -> Gate:
    """The gate of ``run_id`` now (for Prefect's gate artifact)."""
    with Session(get_engine(settings.db_url)) as db:
        run = pick_run(db, run_id)
        return gate_of(db, run, settings.review, now)
