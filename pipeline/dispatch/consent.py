"""The consent record: when, how and to what words each address agreed to messages, and
when it withdrew.

Every way in writes a ``granted`` row — a texted YES, a code or link confirmed on the web,
an import (with the file's own consent column or the operator's statement), a START after a
STOP — and every opt-out a ``revoked`` row. Rows are never changed or deleted, so the history
outlives the subscription: ``zipcast subscribers consent ADDRESS`` prints it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pipeline.dispatch.models import Consent, Subscriber
from pipeline.times import utc

CHANNEL_OF = {"phone": "sms", "email": "email", "webhook_url": "webhook"}


def addresses_of(sub: Subscriber) -> list[tuple[str, str]]:
    """(channel, address) for each channel the subscriber has."""
    return [(channel, getattr(sub, column)) for column, channel in CHANNEL_OF.items()
            if getattr(sub, column)]


def record(db: Session, *, subscriber_id: int | None, channel: str, address: str,
           event: str, method: str, text: str, source: str, at: datetime,
           detail: str | None = None) -> Consent:
    """Add one consent event (does not commit)."""
    row = Consent(subscriber_id=subscriber_id, channel=channel, address=address[:2048],
                  event=event, method=method, text=text, source=source[:300], at=at,
                  detail=detail)
    db.add(row)
    return row


def revoke_all(db: Session, sub: Subscriber, *, method: str, text: str, source: str,
               at: datetime) -> None:
    """A ``revoked`` row for every address of the subscriber (an opt-out stops them all)."""
    for channel, address in addresses_of(sub):
        record(db, subscriber_id=sub.id, channel=channel, address=address, event="revoked",
               method=method, text=text, source=source, at=at)


def latest_event(db: Session, address: str) -> str | None:
    """``granted`` or ``revoked``: the newest consent event of an address (None: none)."""
    return db.scalars(select(Consent.event).where(Consent.address == address)
                      .order_by(Consent.at.desc(), Consent.id.desc()).limit(1)).first()


def reactivate(db: Session, sub: Subscriber, *, channel: str, address: str,
               at: datetime) -> None:
    """Make an opted-out subscriber active again through one address (does not commit).

    Only the address that just agreed comes back: every other address of the subscriber
    whose newest consent event is not a ``granted`` one is detached (its history stays in
    the record), so re-subscribing by text does not switch the email back on, nor an email
    link the texts.
    """
    for column, other_channel in CHANNEL_OF.items():
        other = getattr(sub, column)
        if other and (other_channel, other) != (channel, address) and \
                latest_event(db, other) != "granted":
            setattr(sub, column, None)
    sub.status, sub.opted_out_at, sub.opt_out_via, sub.updated_at = "active", None, None, at


@dataclass(frozen=True)
class ConsentEvent:
    """One line of an address's consent history."""

    at: datetime
    event: str
    channel: str
    address: str
    method: str
    source: str
    text: str
    detail: str | None
    subscriber_id: int | None

    def line(self) -> str:
        """``2026-12-02 18:40 UTC  granted  sms  +14015550100  keyword from +1401…``"""
        how = f"{self.method} from {self.source}"
        extra = f"; {self.detail}" if self.detail else ""
        return (f"{utc(self.at):%Y-%m-%d %H:%M} UTC  {self.event:<8} {self.channel:<7} "
                f"{self.address}  {how}{extra}")


def history(db: Session, addresses: Iterable[str]) -> list[ConsentEvent]:
    """Every consent event of these addresses, and of the subscribers that hold them now or
    held them then, oldest first."""
    keys = [a for a in addresses if a]
    if not keys:
        return []
    subs = set(db.scalars(select(Subscriber.id).where(or_(
        Subscriber.phone.in_(keys), Subscriber.email.in_(keys),
        Subscriber.webhook_url.in_(keys)))))
    subs |= {i for i in db.scalars(select(Consent.subscriber_id).where(
        Consent.address.in_(keys))) if i is not None}
    rows = db.scalars(select(Consent).where(or_(
        Consent.address.in_(keys), Consent.subscriber_id.in_(subs)))
        .order_by(Consent.at, Consent.id))
    return [ConsentEvent(at=utc(r.at), event=r.event, channel=r.channel, address=r.address,
                         method=r.method, source=r.source, text=r.text, detail=r.detail,
                         subscriber_id=r.subscriber_id) for r in rows]
