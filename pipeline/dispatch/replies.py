"""Subscribers' "wrong?" replies: a second signal beside the observed verification.

A reply is recorded against the delivery it answers (one per delivery: a second WRONG to the
same message changes nothing) and never opts anyone out. By SMS, ``WRONG`` answers the
newest message sent to that number in the last ``REPLY_WINDOW``; by email, the "wrong?" link
in the footer carries the subscriber's secret token and the delivery id.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline.dispatch.models import Delivery, Reply, Subscriber

REPLY_WINDOW = timedelta(hours=36)
WRONG_WORDS = frozenset({"WRONG", "WRONG?", "NOT TRUE", "INCORRECT"})
SENT = ("sent", "delivered")


def last_sms_to(db: Session, subscriber_id: int, at: datetime) -> Delivery | None:
    """The newest SMS sent to the subscriber within ``REPLY_WINDOW`` before ``at``."""
    return db.scalars(select(Delivery).where(
        Delivery.subscriber_id == subscriber_id, Delivery.channel == "sms",
        Delivery.status.in_(SENT), Delivery.sent_at.is_not(None),
        Delivery.sent_at >= at - REPLY_WINDOW, Delivery.sent_at <= at + timedelta(minutes=5))
        .order_by(Delivery.sent_at.desc()).limit(1)).first()


def record_wrong(db: Session, delivery: Delivery, *, via: str, at: datetime,
                 text: str | None = None) -> bool:
    """Record that ``delivery`` was wrong (does not commit). False when already recorded.

    Two at the same moment for the same delivery: the unique key refuses the second at
    commit (``IntegrityError``), which callers treat as already recorded.
    """
    if db.scalar(select(Reply.id).where(Reply.delivery_id == delivery.id,
                                        Reply.kind == "wrong")) is not None:
        return False
    db.add(Reply(delivery_id=delivery.id, run_id=delivery.run_id, slot_id=delivery.slot_id,
                 zip=delivery.zip, subscriber_id=delivery.subscriber_id,
                 channel=delivery.channel, via=via, kind="wrong", at=at,
                 text=(text or "")[:500] or None))
    return True


def delivery_for_link(db: Session, token: str, delivery_id: int) -> Delivery | None:
    """The delivery a "wrong?" link names, if it is an email sent to the subscriber the
    token is of (never another's message, a failed one, or another channel's)."""
    delivery = db.get(Delivery, delivery_id)
    if delivery is None or delivery.channel != "email" or delivery.status not in SENT:
        return None
    owner = db.scalar(select(Subscriber.token).where(Subscriber.id == delivery.subscriber_id))
    return delivery if owner is not None and owner == token else None


def reply_rates(db: Session, run_id: str) -> pd.DataFrame:
    """Per slot of the run: messages sent, "wrong" replies and their rate (index slot_id)."""
    sent = dict(db.execute(select(Delivery.slot_id, func.count()).where(
        Delivery.run_id == run_id, Delivery.status.in_(SENT)).group_by(Delivery.slot_id)).all())
    wrong = dict(db.execute(select(Reply.slot_id, func.count()).where(
        Reply.run_id == run_id, Reply.kind == "wrong").group_by(Reply.slot_id)).all())
    slots = sorted({s for s in [*sent, *wrong] if s is not None})
    frame = pd.DataFrame({"sent": [int(sent.get(s, 0)) for s in slots],
                          "wrong": [int(wrong.get(s, 0)) for s in slots]},
                         index=pd.Index(slots, name="slot_id"))
    frame["rate"] = (frame["wrong"] / frame["sent"].where(frame["sent"] > 0)).round(4)
    return frame
