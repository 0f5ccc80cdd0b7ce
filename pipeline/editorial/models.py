"""Review tables: editors, one message per slot, and an append-only audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.store.models import Base

ROLES = ("editor", "lead")
POLICIES = ("hold", "automatic")  # what unapproved slots get at the deadline
STATUSES = ("draft", "approved")  # "empty" is the absence of a message row


class Editor(Base):
    """A person who signs in to the sheet; a ``lead`` may approve all remaining drafts."""

    __tablename__ = "editors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)  # for staff notices
    # a session cookie carries the version it was issued under; logout and password changes
    # bump it, so every older cookie stops working (server-side, whatever the cookie says)
    session_version: Mapped[int] = mapped_column(Integer, default=0)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class Message(Base):
    """The saved message of one slot; ``version`` grows by one on every write."""

    __tablename__ = "messages"

    # the Slot's full id "<run_id>/<slot_id>"; no foreign key on purpose: a rerun of the same
    # parameters replaces its slots (same ids), and editors' work must survive that
    slot_id: Mapped[str] = mapped_column(String(96), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[str] = mapped_column(String(64))  # editor name, kept if they leave
    updated_at: Mapped[datetime]


class AuditEntry(Base):
    """One change to a message: who, when, which slot, old and new text, what they did."""

    __tablename__ = "message_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    slot_id: Mapped[str] = mapped_column(String(96), index=True)
    editor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    action: Mapped[str] = mapped_column(String(32))  # save, approve, approve_all, override, …
    old_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    new_text: Mapped[str] = mapped_column(Text)
    # a lead's written reason for approving over the fact check (action "override")
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class RunGate(Base):
    """The editor gate of one run: the lead's policy for slots nobody approved by the deadline.

    No row means the default policy from settings. No foreign key, like messages: the gate
    survives a rerun that replaces the run's slots.
    """

    __tablename__ = "run_gates"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    policy: Mapped[str] = mapped_column(String(16))  # hold, automatic
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime]


class Notice(Base):
    """A staff email (sheet ready, deadline missed), recorded so it goes out once.

    ``key`` names the occasion, e.g. ``"sheet-ready/<run_id>"``: a rerun, a retried flow or the
    next five-minute dispatch finds the row and does not send again. ``sent_at`` stays empty
    while the mail could not be sent (``error`` says why); the next occasion retries it.
    """

    __tablename__ = "notices"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # sheet_ready, deadline_missed
    run_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    recipients: Mapped[str] = mapped_column(Text)  # comma-separated addresses
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
