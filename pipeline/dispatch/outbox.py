"""The transactional outbox: write deliveries once, claim them, record what happened.

Every delivery row is keyed by (run, window, subscriber, channel), and moves
``pending → sending → sent | failed`` (or ``pending`` again with a later ``next_attempt_at``
after a transient error). The row is written, and committed, before anything is sent; it is
marked ``sending`` (committed) right before the channel is called and ``sent`` right after.
A crash therefore leaves at most the rows of one claim in ``sending``; on the next start
:func:`reconcile` asks the channel which of them it already has and sends only the others.

The claim is atomic (``pending`` → ``sending`` only if still pending), so senders working on
the same run at once — the partitions of :mod:`pipeline.dispatch.partitions`, each reading
only its subscribers (:func:`in_partition`) — never both send one row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, Select, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from pipeline.channels.base import Outgoing
from pipeline.dispatch.models import Delivery, DryDelivery, OutboxRow, Subscriber
from pipeline.times import utc

Table = type[Delivery] | type[DryDelivery]  # the real outbox, or a dry run's

INSERT_CHUNK = 20_000


def delivery_key(run_id: str, window: str, subscriber_id: int, channel: str) -> str:
    """The delivery's unique key as one string (what providers see)."""
    return f"{run_id}/{window}/{subscriber_id}/{channel}"


def _insert(engine: Engine, table: Table):  # type: ignore[no-untyped-def]
    """An INSERT that skips rows whose key is already there (SQLite or PostgreSQL)."""
    if engine.dialect.name == "postgresql":
        unique = "uq_dry_delivery_key" if table is DryDelivery else "uq_delivery_key"
        return postgresql.insert(table).on_conflict_do_nothing(constraint=unique)
    if engine.dialect.name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(
            index_elements=["run_id", "window", "subscriber_id", "channel"])
    raise NotImplementedError(f"no insert-or-ignore for {engine.dialect.name}")


def enqueue(engine: Engine, run_id: str, window: str, rows: pd.DataFrame, now: datetime,
            on_chunk=None, table: Table = Delivery) -> int:  # type: ignore[no-untyped-def]
    """Write planned deliveries (see :func:`pipeline.dispatch.plan.plan`) to the outbox.

    Each chunk is one transaction; a key already present is left alone, so enqueueing the
    same plan twice (a rerun, two dispatchers) writes nothing the second time.
    Returns the number of rows handed to the database.
    """
    columns = ["subscriber_id", "channel", "slot_id", "zip", "address", "body", "automatic",
               "due_at", "status", "error"]
    statement = _insert(engine, table)
    written = 0
    for start in range(0, len(rows), INSERT_CHUNK):
        chunk = rows.iloc[start:start + INSERT_CHUNK][columns]
        records = [
            {"run_id": run_id, "window": window, "subscriber_id": int(sid), "channel": ch,
             "slot_id": slot, "zip": zip_code, "address": address, "body": body,
             "automatic": bool(auto), "due_at": due.to_pydatetime(), "status": status,
             "attempts": 0, "next_attempt_at": None, "provider_id": None,
             "error": error if isinstance(error, str) else None, "created_at": now,
             "sent_at": None, "updated_at": now}
            for sid, ch, slot, zip_code, address, body, auto, due, status, error
            in chunk.itertuples(index=False, name=None)
        ]
        with engine.begin() as connection:
            connection.execute(statement, records)
        written += len(records)
        if on_chunk is not None:
            on_chunk(len(records))
    return written


def in_partition(query: Select, partition: tuple[int, int] | None,
                 table: Table = Delivery) -> Select:
    """``query`` limited to the deliveries of partition ``(part, n_parts)``: those whose
    ``subscriber_id % n_parts == part`` (None, or one partition: all of them).

    By subscriber, so a subscriber's deliveries on all channels fall in one partition.
    """
    if partition is None:
        return query
    part, n_parts = partition
    if not 0 <= part < n_parts:
        raise ValueError(f"partition {part} of {n_parts}: need 0 <= part < n_parts")
    if n_parts == 1:
        return query
    return query.where(table.subscriber_id % n_parts == part)


def due_rows(db: Session, run_id: str, window: str, now: datetime, limit: int,
             skip_channels: Iterable[str] = (),
             partition: tuple[int, int] | None = None,
             table: Table = Delivery) -> list[OutboxRow]:
    """Up to ``limit`` pending rows whose (retry) time has come, oldest first; only those of
    ``partition`` = (part, n_parts) when given (see :func:`in_partition`)."""
    query = in_partition(select(table).where(
        table.run_id == run_id, table.window == window, table.status == "pending",
        (table.next_attempt_at.is_(None)) | (table.next_attempt_at <= now)), partition,
        table)
    if skip := list(skip_channels):
        query = query.where(table.channel.not_in(skip))
    return list(db.scalars(query.order_by(table.id).limit(limit)
                           .execution_options(populate_existing=True)))


def mark_sending(db: Session, rows: Sequence[OutboxRow], now: datetime) -> list[OutboxRow]:
    """Claim rows right before the channel is called: ``sending``, one more attempt (commits).

    Only what is about to be handed to the channel is ever in ``sending``: one row, or one
    batch for channels that take a batch, so a crash leaves little to reconcile.

    The claim is atomic: a row is taken only if it is still ``pending`` (one UPDATE … WHERE
    status = 'pending' RETURNING id), so of two senders that read the same pending row only
    one gets it. Returns the rows this call claimed (all of them unless another sender got
    there first); send only those.
    """
    if not rows:
        return []
    table = type(rows[0])
    ids = [r.id for r in rows]
    claimed: set[int] = set()
    for start in range(0, len(ids), 20_000):
        claimed.update(db.scalars(
            update(table)
            .where(table.id.in_(ids[start:start + 20_000]), table.status == "pending")
            .values(status="sending", attempts=table.attempts + 1, updated_at=now)
            .returning(table.id)
            .execution_options(synchronize_session=False)))
    db.commit()
    mine = [r for r in rows if r.id in claimed]
    for row in mine:  # what the UPDATE wrote, without marking the objects dirty (no re-flush)
        set_committed_value(row, "status", "sending")
        set_committed_value(row, "attempts", row.attempts + 1)
    return mine


def stuck(db: Session, run_id: str, window: str, table: Table = Delivery) -> list[OutboxRow]:
    """Rows left in ``sending`` (or ``handing``: an email past the point of no return) by a
    dispatcher that died."""
    return list(db.scalars(select(table).where(
        table.run_id == run_id, table.window == window,
        table.status.in_(("sending", "handing"))).order_by(table.id)))


def next_retry(db: Session, run_id: str, window: str,
               partition: tuple[int, int] | None = None,
               table: Table = Delivery) -> datetime | None:
    """When the earliest pending retry is due (None: nothing waits for a retry); only among
    the rows of ``partition`` = (part, n_parts) when given."""
    return db.scalar(in_partition(select(table.next_attempt_at).where(
        table.run_id == run_id, table.window == window, table.status == "pending",
        table.next_attempt_at.is_not(None)), partition, table)
        .order_by(table.next_attempt_at).limit(1))


def subscriber_status(db: Session, ids: Iterable[int],
                      now: datetime | None = None) -> dict[int, tuple[str, str]]:
    """Subscriber id -> (status, unsubscribe token), read right before sending; status is
    ``paused`` for an active subscriber paused at ``now``."""
    ids = list(set(ids))
    out: dict[int, tuple[str, str]] = {}
    for start in range(0, len(ids), 20_000):
        out.update({i: ("paused" if s == "active" and now is not None and p is not None
                        and utc(p) > now else s, t) for i, s, t, p in db.execute(
            select(Subscriber.id, Subscriber.status, Subscriber.token, Subscriber.paused_until)
            .where(Subscriber.id.in_(ids[start:start + 20_000])))})
    return out


def mark(db: Session, ids: Sequence[int], now: datetime, *, if_status: str | None = None,
         table: Table = Delivery, **values) -> int:  # type: ignore[no-untyped-def]
    """Set ``values`` on the rows ``ids`` of ``table`` (does not commit); with ``if_status``,
    only on those still in that status. Returns the number of rows changed."""
    changed = 0
    for start in range(0, len(ids), 20_000):
        statement = update(table).where(table.id.in_(list(ids[start:start + 20_000])))
        if if_status is not None:
            statement = statement.where(table.status == if_status)
        result = db.execute(statement.values(updated_at=now, **values)
                            .execution_options(synchronize_session=False))
        changed += result.rowcount  # type: ignore[attr-defined]
    return changed


def outgoing(row: OutboxRow, public_url: str, token: str | None,
             subject: str = "Your forecast") -> Outgoing:
    """What a channel is handed for one outbox row."""
    unsubscribe = f"{public_url.rstrip('/')}/u/{token}" if token else None
    # a real delivery's "wrong?" link (a dry run's rows are another table: no link)
    wrong = (f"{public_url.rstrip('/')}/w/{token}/{row.id}"
             if token and row.channel == "email" and isinstance(row, Delivery) else None)
    manage = (f"{public_url.rstrip('/')}/m/{token}"  # SMS: 160 characters, and text commands
              if token and row.channel in ("email", "webhook") else None)
    return Outgoing(
        key=delivery_key(row.run_id, row.window, row.subscriber_id, row.channel),
        delivery_id=row.id, channel=row.channel, address=row.address, body=row.body,
        subject=subject, unsubscribe_url=unsubscribe, wrong_url=wrong, manage_url=manage,
        meta={"run_id": row.run_id, "window": row.window, "slot_id": row.slot_id or "",
              "zip": row.zip})
