"""The transactional outbox: write deliveries once, claim them, record what happened.

Every delivery row is keyed by (run, window, subscriber, channel), and moves
``pending → sending → sent | failed`` (or ``pending`` again with a later ``next_attempt_at``
after a transient error). The row is written, and committed, before anything is sent; it is
marked ``sending`` (committed) right before the channel is called and ``sent`` right after.
A crash therefore leaves at most the rows of one claim in ``sending``; on the next start
:func:`reconcile` asks the channel which of them it already has and sends only the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from pipeline.dispatch.channels.base import Outgoing
from pipeline.dispatch.models import Delivery, Subscriber

INSERT_CHUNK = 20_000


def delivery_key(run_id: str, window: str, subscriber_id: int, channel: str) -> str:
    """The delivery's unique key as one string (what providers see)."""
    return f"{run_id}/{window}/{subscriber_id}/{channel}"


def _insert(engine: Engine):  # type: ignore[no-untyped-def]
    """An INSERT that skips rows whose key is already there (SQLite or PostgreSQL)."""
    if engine.dialect.name == "postgresql":
        return postgresql.insert(Delivery).on_conflict_do_nothing(constraint="uq_delivery_key")
    if engine.dialect.name == "sqlite":
        return sqlite.insert(Delivery).on_conflict_do_nothing(
            index_elements=["run_id", "window", "subscriber_id", "channel"])
    raise NotImplementedError(f"no insert-or-ignore for {engine.dialect.name}")


def enqueue(engine: Engine, run_id: str, window: str, rows: pd.DataFrame, now: datetime,
            on_chunk=None) -> int:  # type: ignore[no-untyped-def]
    """Write planned deliveries (see :func:`pipeline.dispatch.plan.plan`) to the outbox.

    Each chunk is one transaction; a key already present is left alone, so enqueueing the
    same plan twice (a rerun, two dispatchers) writes nothing the second time.
    Returns the number of rows handed to the database.
    """
    columns = ["subscriber_id", "channel", "slot_id", "zip", "address", "body", "automatic",
               "due_at", "status", "error"]
    statement = _insert(engine)
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


def due_rows(db: Session, run_id: str, window: str, now: datetime, limit: int,
             skip_channels: Iterable[str] = ()) -> list[Delivery]:
    """Up to ``limit`` pending rows whose (retry) time has come, oldest first."""
    query = select(Delivery).where(
        Delivery.run_id == run_id, Delivery.window == window, Delivery.status == "pending",
        (Delivery.next_attempt_at.is_(None)) | (Delivery.next_attempt_at <= now))
    if skip := list(skip_channels):
        query = query.where(Delivery.channel.not_in(skip))
    return list(db.scalars(query.order_by(Delivery.id).limit(limit)
                           .execution_options(populate_existing=True)))


def mark_sending(db: Session, rows: Sequence[Delivery], now: datetime) -> None:
    """Claim rows right before the channel is called: ``sending``, one more attempt (commits).

    Only what is about to be handed to the channel is ever in ``sending``: one row, or one
    batch for channels that take a batch, so a crash leaves little to reconcile.
    """
    mark(db, [r.id for r in rows], now, status="sending", attempts=Delivery.attempts + 1)
    db.commit()
    for row in rows:
        row.attempts += 1


def stuck(db: Session, run_id: str, window: str) -> list[Delivery]:
    """Rows left in ``sending`` by a dispatcher that died."""
    return list(db.scalars(select(Delivery).where(
        Delivery.run_id == run_id, Delivery.window == window, Delivery.status == "sending")
        .order_by(Delivery.id)))


def next_retry(db: Session, run_id: str, window: str) -> datetime | None:
    """When the earliest pending retry is due (None: nothing waits for a retry)."""
    return db.scalar(select(Delivery.next_attempt_at).where(
        Delivery.run_id == run_id, Delivery.window == window, Delivery.status == "pending",
        Delivery.next_attempt_at.is_not(None)).order_by(Delivery.next_attempt_at).limit(1))


def subscriber_status(db: Session, ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """Subscriber id -> (status, unsubscribe token), read right before sending."""
    ids = list(set(ids))
    out: dict[int, tuple[str, str]] = {}
    for start in range(0, len(ids), 20_000):
        out.update({i: (s, t) for i, s, t in db.execute(
            select(Subscriber.id, Subscriber.status, Subscriber.token)
            .where(Subscriber.id.in_(ids[start:start + 20_000])))})
    return out


def mark(db: Session, ids: Sequence[int], now: datetime, **values) -> None:  # type: ignore[no-untyped-def]
    """Set ``values`` on the rows ``ids`` (does not commit)."""
    for start in range(0, len(ids), 20_000):
        db.execute(update(Delivery).where(Delivery.id.in_(list(ids[start:start + 20_000])))
                   .values(updated_at=now, **values)
                   .execution_options(synchronize_session=False))


def outgoing(row: Delivery, public_url: str, token: str | None,
             subject: str = "Your forecast") -> Outgoing:
    """What a channel is handed for one outbox row."""
    unsubscribe = f"{public_url.rstrip('/')}/u/{token}" if token else None
    return Outgoing(
        key=delivery_key(row.run_id, row.window, row.subscriber_id, row.channel),
        delivery_id=row.id, channel=row.channel, address=row.address, body=row.body,
        subject=subject, unsubscribe_url=unsubscribe,
        meta={"run_id": row.run_id, "window": row.window, "slot_id": row.slot_id or "",
              "zip": row.zip})
