"""What the dispatch job, the sheet, STOP handling and unsubscribe links ask of subscribers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from typing import TYPE_CHECKING

import pandas as pd
from sqlalchemy import (
    func,
    select,
)
from sqlalchemy.orm import Session

from pipeline.dispatch.consent import revoke_all
from pipeline.dispatch.models import CHANNELS, Subscriber
from pipeline.dispatch.subscribers.common import (
    TABLE,
    SubscriberNotFound,
    _gazetteer,
    normalize_email,
    normalize_phone,
)
from pipeline.store.db import get_engine

if TYPE_CHECKING:
    pass




# --- what the dispatch job, the sheet, STOP handling and unsubscribe links use --------------


def subscriber_counts(url: str) -> pd.Series:
    """Active subscribers per ZIP: int Series named ``subscribers``, index ``zip`` (sorted)."""
    query = (select(TABLE.c.zip, func.count()).where(TABLE.c.status == "active")
             .group_by(TABLE.c.zip).order_by(TABLE.c.zip))
    with get_engine(url).connect() as conn:
        found = conn.execute(query).all()
    return pd.Series([n for _, n in found], index=pd.Index([z for z, _ in found], name="zip",
                                                           dtype=object),
                     name="subscribers", dtype="int64")


@dataclass
class SubscriberStats:
    """Counts for ``zipcast subscribers stats``."""

    by_status: dict[str, int]
    by_channel: dict[str, int]  # active subscribers with each channel
    top_states: list[tuple[str, int]]  # active subscribers, most first
    zips: int  # ZIPs with at least one active subscriber

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


def subscriber_stats(url: str, *, top: int = 10) -> SubscriberStats:
    """Subscribers by status, active ones by channel, and the states with the most."""
    query = select(TABLE.c.zip, TABLE.c.status, func.count(), func.count(TABLE.c.phone),
                   func.count(TABLE.c.email), func.count(TABLE.c.webhook_url)
                   ).group_by(TABLE.c.zip, TABLE.c.status)
    with get_engine(url).connect() as conn:
        frame = pd.DataFrame(conn.execute(query).all(),
                             columns=["zip", "status", "n", "sms", "email", "webhook"])
    active = frame[frame["status"] == "active"]
    states = active["zip"].map(dict(zip(_gazetteer()["zip"], _gazetteer()["state"],
                                        strict=True))).fillna("?")
    by_state = active.groupby(states)["n"].sum().sort_values(ascending=False, kind="stable")
    return SubscriberStats(
        by_status={str(k): int(v) for k, v in frame.groupby("status")["n"].sum().items()},
        by_channel={c: int(active[c].sum()) for c in CHANNELS},
        top_states=[(str(k), int(v)) for k, v in by_state.head(top).items()],
        zips=int(active["zip"].nunique()),
    )


def find_by_address(session: Session, phone: str | None = None,
                    email: str | None = None) -> Subscriber | None:
    """The subscriber with this phone (any common format) or email, phone first; else None.

    ``email`` may be a whole ``From`` header (``Ann <ann@example.com>``).
    """
    if phone is None and email is None:
        raise ValueError("find_by_address needs a phone or an email")
    if phone:
        try:
            key = normalize_phone(phone)
        except ValueError:
            key = phone.strip()
        found = session.scalars(select(Subscriber).where(Subscriber.phone == key)).first()
        if found is not None:
            return found
    if email:
        address = parseaddr(email)[1] or email.strip()
        try:
            key = normalize_email(address)
        except ValueError:
            key = address.lower()
        return session.scalars(select(Subscriber).where(Subscriber.email == key)).first()
    return None


def by_token(session: Session, token: str) -> Subscriber | None:
    """The subscriber whose unsubscribe token this is, or None."""
    if not token:
        return None
    return session.scalars(select(Subscriber).where(Subscriber.token == token)).first()


def _revocation_method(via: str) -> str:
    if "provider" in via:
        return "provider"
    for prefix, method in (("sms", "keyword"), ("email link", "link"), ("import", "import"),
                           ("webhook", "webhook"), ("web", "web")):
        if via.startswith(prefix):
            return method
    return "link"


def opt_out(session: Session, subscriber_id: int, via: str, at: datetime,
            source: str | None = None) -> bool:
    """Opt a subscriber out of every channel; True if they were active until now.

    Opting out twice keeps the first time and way (``opted_out_at``, ``opt_out_via``). The
    consent record gets a ``revoked`` row per address (:mod:`pipeline.dispatch.consent`).

    Parameters
    ----------
    session : an open session; the caller commits
    subscriber_id : ``Subscriber.id``
    via : how, e.g. ``sms:STOP``, ``email:link``, ``webhook:410``, ``provider:21610``
    at : when (aware datetime)
    source : who or what asked (the texting number, ``unsubscribe link``); default ``via``

    Raises
    ------
    SubscriberNotFound
    """
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise SubscriberNotFound(f"no subscriber #{subscriber_id}")
    if subscriber.status == "opted_out":
        return False
    subscriber.status, subscriber.opted_out_at = "opted_out", at
    subscriber.opt_out_via, subscriber.updated_at = via[:64], at
    revoke_all(session, subscriber, method=_revocation_method(via), text=via,
               source=source or via, at=at)
    return True
