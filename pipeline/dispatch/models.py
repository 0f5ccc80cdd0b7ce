"""Dispatch tables: subscribers, the delivery outbox, provider events and inbound messages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.store.models import Base

SUBSCRIBER_STATUSES = ("active", "opted_out")
CHANNELS = ("sms", "email", "webhook")  # "file" stands in for any of them on a dry run
# pending: in the outbox, not yet tried (or waiting for a retry at next_attempt_at)
# sending: claimed by a dispatcher; after a crash the channel is asked whether it went out
# handing: an email whose data and final "." are going to the relay (a crash now leaves it
# ambiguous; a crash while ``sending`` cannot have delivered it)
# sent: the channel accepted it; delivered/undelivered: a provider status callback said so
# failed: permanent error, or out of attempts; skipped: nothing to send (held, opted out,
# quiet hours passed); ambiguous: an email in flight when the connection or the dispatcher
# died, which may or may not have gone out, not sent again (ZIPCAST_DISPATCH__AMBIGUOUS_EMAIL)
DELIVERY_STATUSES = ("pending", "sending", "handing", "sent", "delivered", "undelivered",
                     "failed", "skipped", "ambiguous")


class Subscriber(Base):
    """A person (or system) getting the forecast for one ZIP through one or more channels."""

    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    zip: Mapped[str] = mapped_column(String(5), index=True)
    timezone: Mapped[str] = mapped_column(String(64))  # IANA, derived from the ZIP
    phone: Mapped[str | None] = mapped_column(String(20), unique=True, nullable=True)  # E.164
    email: Mapped[str | None] = mapped_column(String(254), unique=True, nullable=True)
    webhook_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    morning_at: Mapped[str] = mapped_column(String(5), default="07:00")  # local HH:MM
    evening_at: Mapped[str] = mapped_column(String(5), default="18:00")
    status: Mapped[str] = mapped_column(String(16), default="active")
    opted_out_at: Mapped[datetime | None] = mapped_column(nullable=True)
    opt_out_via: Mapped[str | None] = mapped_column(String(64), nullable=True)
    token: Mapped[str] = mapped_column(String(32), unique=True)  # unsubscribe-link secret
    # "PAUSE 3": no message is planned or sent before this moment (still active: not an opt-out)
    paused_until: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class DeliveryFields:
    """The columns of an outbox row (real or dry run), shared by the two outbox tables."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64))
    window: Mapped[str] = mapped_column(String(32))
    subscriber_id: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))  # sms, email, webhook
    slot_id: Mapped[str | None] = mapped_column(String(16), nullable=True)
    zip: Mapped[str] = mapped_column(String(5))
    address: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    automatic: Mapped[bool] = mapped_column(Boolean)  # the automatic factual message
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True)
    provider_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    updated_at: Mapped[datetime]


class Delivery(DeliveryFields, Base):
    """One message to one subscriber through one channel: the transactional outbox row.

    The key (run, window, subscriber, channel) is unique, so enqueueing twice is a no-op and
    nothing can be sent twice from the table's point of view.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("run_id", "window", "subscriber_id", "channel",
                         name="uq_delivery_key"),
        Index("ix_deliveries_run_status", "run_id", "status"),
    )


class DryDelivery(DeliveryFields, Base):
    """A dry run's outbox row: the same life as a real one, in its own table, so a rehearsal
    never marks a real delivery (``zipcast dispatch --dry-run``)."""

    __tablename__ = "dry_deliveries"
    __table_args__ = (
        UniqueConstraint("run_id", "window", "subscriber_id", "channel",
                         name="uq_dry_delivery_key"),
        Index("ix_dry_deliveries_run_status", "run_id", "status"),
    )


OutboxRow = Delivery | DryDelivery


def outbox_table(dry_run: bool) -> type[Delivery] | type[DryDelivery]:
    """The outbox a dispatch writes: the real one, or the dry run's own."""
    return DryDelivery if dry_run else Delivery


class DeliveryEvent(Base):
    """Something a provider told us about a delivery (a Twilio status callback, a bounce)."""

    __tablename__ = "delivery_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    provider_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    at: Mapped[datetime]


class InboundMessage(Base):
    """A message a subscriber sent us (STOP, HELP, anything), and what we did about it."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))
    sender: Mapped[str] = mapped_column(String(254))
    body: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(16))  # opt_out, help, wrong, unknown_sender, none
    subscriber_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    at: Mapped[datetime]
    # the provider's id of the message (Twilio MessageSid): a replayed webhook is recorded and
    # acted on once
    provider_id: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)


class Reply(Base):
    """A subscriber telling us a message was wrong where they are (an SMS ``WRONG``, or the
    "wrong?" link in an email): one per delivery and kind, never an opt-out."""

    __tablename__ = "message_replies"
    __table_args__ = (UniqueConstraint("delivery_id", "kind", name="uq_reply_delivery_kind"),
                      Index("ix_message_replies_run", "run_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[str] = mapped_column(String(64))
    slot_id: Mapped[str | None] = mapped_column(String(16), nullable=True)
    zip: Mapped[str] = mapped_column(String(5))
    subscriber_id: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))  # the delivery's channel
    via: Mapped[str] = mapped_column(String(16))  # sms, email link
    kind: Mapped[str] = mapped_column(String(16), default="wrong")
    at: Mapped[datetime]
    text: Mapped[str | None] = mapped_column(Text, nullable=True)  # what they wrote, if any


CONSENT_EVENTS = ("granted", "revoked")
CONSENT_METHODS = ("keyword", "web", "import", "link", "provider", "webhook")


class Consent(Base):
    """One consent event: someone agreeing to messages, or withdrawing that agreement.

    Append-only: rows are never changed or deleted, an opt-out adds a ``revoked`` row and the
    earlier ``granted`` one stays, so the record shows when and how consent was given even
    after the subscriber left. ``address`` is kept as given (E.164 phone, normalised email,
    webhook URL) so the history is found by address after the subscriber changed numbers.
    """

    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_address", "address"),
                      Index("ix_consents_subscriber", "subscriber_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscriber_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    channel: Mapped[str] = mapped_column(String(16))  # sms, email, webhook; "all" for opt-outs
    address: Mapped[str] = mapped_column(String(2048))
    event: Mapped[str] = mapped_column(String(16))  # granted, revoked
    method: Mapped[str] = mapped_column(String(16))  # keyword, web, import, link, provider
    at: Mapped[datetime]
    text: Mapped[str] = mapped_column(Text)  # the exact words shown (or received, for STOP)
    source: Mapped[str] = mapped_column(String(300))  # IP address, phone number, file:line
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)  # e.g. 'replied "YES"'


SIGNUP_STATUSES = ("pending", "confirmed", "expired", "void")


class SignUp(Base):
    """A sign-up waiting for its confirmation: a texted ZIP waiting for YES, a phone number
    waiting for the code sent to it, an email waiting for its link to be followed.

    Nothing but the one confirmation message is ever sent to a pending sign-up's address;
    it becomes (or updates) a :class:`Subscriber` only when confirmed. ``public_id`` names it
    in the web page's URL; the code is stored as a salted hash, the email link's token as its
    SHA-256: the database holds no code or link in the clear (a 6-digit code can be found
    again from its hash by trying all million, which is why it lives minutes, and a link's
    192-bit token cannot).
    """

    __tablename__ = "signups"
    __table_args__ = (Index("ix_signups_address", "address_key", "created_at"),
                      Index("ix_signups_source", "network", "created_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    channel: Mapped[str] = mapped_column(String(16))  # sms, email
    address: Mapped[str] = mapped_column(String(254))  # E.164 phone or normalised email
    zip: Mapped[str] = mapped_column(String(5))
    morning_at: Mapped[str | None] = mapped_column(String(5), nullable=True)
    evening_at: Mapped[str | None] = mapped_column(String(5), nullable=True)
    method: Mapped[str] = mapped_column(String(16))  # keyword, web
    source: Mapped[str] = mapped_column(String(300))  # IP address or the texting number
    network: Mapped[str] = mapped_column(String(64))  # what the per-network limit counts
    address_key: Mapped[str] = mapped_column(String(254))  # what the per-address limit counts
    text_shown: Mapped[str] = mapped_column(Text)  # the disclosure the person agreed to
    secret_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # wrong codes so far
    # counts toward the address's daily limit: the confirmation went out, or is going out
    sent: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    subscriber_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
