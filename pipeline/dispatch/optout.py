"""Opt-out and help: inbound SMS keywords and the unsubscribe link in every email.

Sign-up, YES and the self-service commands (TIME, ZIP, PAUSE, RESUME) are handed to
:mod:`pipeline.dispatch.keywords`.

An inbound STOP (or UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPT OUT, STOPALL) opts the sender
out at once, so the next dispatch — even one already running — sends them nothing: the
dispatcher re-reads each subscriber's status right before calling the channel. HELP gets an
answer. WRONG marks the last message as wrong where the subscriber is
(:mod:`pipeline.dispatch.replies`; it never opts out). Every inbound message is recorded with
what was done about it, once: a replayed or retried delivery of the same provider message id
changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.dispatch.keywords import act
from pipeline.dispatch.models import (
    Delivery,
    DeliveryEvent,
    InboundMessage,
    SignUp,
    Subscriber,
)
from pipeline.dispatch.replies import WRONG_WORDS, last_sms_to, record_wrong
from pipeline.dispatch.subscribers import by_token, find_by_address, normalize_phone, opt_out
from pipeline.settings import Settings, get_settings

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE",
                        "OPTOUT", "OPT OUT"})
HELP_WORDS = frozenset({"HELP", "INFO"})
HELP_REPLY = ("zipcast: your local weather, twice a day. Text a ZIP to sign up; TIME 6:30, "
              "ZIP 94110, PAUSE 3, RESUME to change; WRONG if a message was wrong where you "
              "are. Reply STOP to unsubscribe. Msg&data rates may apply. "
              "Help: help@zipcast.example")
WRONG_REPLY = ("zipcast: thanks, noted that our last message was wrong where you are. We check "
               "every message against the weather. Reply STOP to unsubscribe.")
NO_MESSAGE_REPLY = ("zipcast: thanks, but we sent you no message in the last day and a half "
                    "to mark as wrong.")
STOP_REPLY = ("zipcast: you are unsubscribed and will get no more messages. "
              "Reply START to subscribe again.")


@dataclass(frozen=True)
class InboundResult:
    """What an inbound message did, and the reply to send back (None: stay silent)."""

    action: str  # opt_out, opt_in, help, unknown_sender, none; duplicate: seen before
    reply: str | None
    subscriber_id: int | None


def keyword(body: str) -> str:
    """The message as a carrier keyword: trimmed, upper case, inner spaces collapsed."""
    return re.sub(r"\s+", " ", body.strip().strip(".!").upper())


def handle_inbound_sms(db: Session, sender: str, body: str, at: datetime, *,
                       provider_id: str | None = None,
                       settings: Settings | None = None) -> InboundResult:
    """Act on an inbound SMS from ``sender`` once per ``provider_id`` (commits).

    Parameters
    ----------
    db : a session with nothing read yet (the message is claimed first; see below)
    sender, body : the message as the provider gave it
    at : when it arrived (aware datetime)
    provider_id : the provider's message id (Twilio ``MessageSid``); a message already
        recorded under it is a replay or a retry: action ``duplicate``, no reply, no change.
        None (no id given) always acts.
    settings : sign-up limits, default delivery times and quiet hours (for the self-service
        commands of :mod:`pipeline.dispatch.keywords`); default: from the environment
    """
    # claim the message id before reading or changing anything: the unique column decides
    # which of two simultaneous deliveries acts, and a write as the transaction's first
    # statement waits for the other writer instead of failing on a stale SQLite snapshot
    record = InboundMessage(channel="sms", sender=sender[:254], body=body[:1600],
                            action="pending", at=at, provider_id=provider_id)
    db.add(record)
    try:
        db.flush()
    except IntegrityError:
        db.rollback()
        return InboundResult("duplicate", None, None)
    settings = settings or get_settings()
    sub = find_by_address(db, phone=sender) if sender.strip() else None
    phone: str | None
    try:
        phone = normalize_phone(sender)
    except ValueError:  # a short code or an alphanumeric sender: no self-service
        phone = None
    word = keyword(body)
    reply: str | None
    if word in STOP_WORDS:
        action, reply = ("opt_out", STOP_REPLY) if sub else ("unknown_sender", STOP_REPLY)
        if sub is not None:
            opt_out(db, sub.id, via=f"sms {word}", at=at, source=phone)
        # a sign-up waiting for its YES ends too
        db.execute(update(SignUp).where(SignUp.address == (phone or sender.strip()),
                                        SignUp.status == "pending")
                   .values(status="void").execution_options(synchronize_session=False))
    elif word in HELP_WORDS:
        action, reply = "help", HELP_REPLY
    elif word in WRONG_WORDS and sub is not None:  # a second signal, never an opt-out
        last = last_sms_to(db, sub.id, at)
        if last is None:
            action, reply = "wrong_none", NO_MESSAGE_REPLY
        else:
            record_wrong(db, last, via="sms", at=at, text=body)
            action, reply = "wrong", WRONG_REPLY
    elif phone and (done := act(db, phone, word, sub, at, settings)) is not None:
        action, reply = done
        if sub is None and action == "confirmed":
            sub = find_by_address(db, phone=phone)
    else:
        action, reply = ("none" if sub else "unknown_sender"), None
    record.action, record.subscriber_id = action, sub.id if sub else None
    if sub is not None and sub.phone:
        record.sender = sub.phone
    db.commit()
    return InboundResult(action, reply, sub.id if sub else None)


def unsubscribe(db: Session, token: str, at: datetime,
                via: str = "email link") -> Subscriber | None:
    """Opt out the subscriber whose unsubscribe link carries ``token`` (commits).

    Returns the subscriber, or None for an unknown token. Idempotent.
    """
    sub = by_token(db, token)
    if sub is None:
        return None
    if opt_out(db, sub.id, via=via, at=at, source="unsubscribe link"):
        db.add(InboundMessage(channel="email", sender=sub.email or f"subscriber {sub.id}",
                              body="unsubscribe link", action="opt_out", subscriber_id=sub.id,
                              at=at))
    db.commit()
    return sub


# provider status -> our delivery status; others (queued, sending, sent) are recorded only
FINAL_STATUSES = {"delivered": "delivered", "undelivered": "undelivered", "failed": "failed",
                  "read": "delivered"}


def record_status(db: Session, provider_id: str, status: str, at: datetime, *,
                  channel: str = "sms", error_code: str | None = None) -> bool:
    """Record a provider status callback (commits); True if it matched a delivery.

    A final status updates the delivery; error 21610 (the recipient unsubscribed at the
    carrier) also opts the subscriber out.
    """
    row = db.scalars(select(Delivery).where(Delivery.provider_id == provider_id)).first()
    detail = f"error {error_code}" if error_code else None
    db.add(DeliveryEvent(delivery_id=row.id if row else None, provider_id=provider_id,
                         channel=channel, status=status[:32], detail=detail, at=at))
    if row is not None and status in FINAL_STATUSES:
        row.status, row.updated_at = FINAL_STATUSES[status], at
        if detail:
            row.error = f"{status}: {detail}"
        if error_code == "21610":
            opt_out(db, row.subscriber_id, via="sms provider (21610)", at=at,
                    source=f"Twilio error 21610 on {provider_id}")
    db.commit()
    return row is not None
