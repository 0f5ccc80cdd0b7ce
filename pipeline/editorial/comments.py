"""A comment thread per slot, and who is looking at which slot right now.

Comments are kept with the run (editors argue about a message, then it goes out); presence
is only a hint, kept in memory by the sheet's process for :data:`PRESENCE_TTL_S` seconds.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from pipeline.editorial.models import AuditEntry
from pipeline.store.models import Base

MAX_COMMENT_CHARS = 1000
PRESENCE_TTL_S = 45.0


class SlotComment(Base):
    """One comment on a slot (full slot id ``<run_id>/<slot_id>``)."""

    __tablename__ = "slot_comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    slot_id: Mapped[str] = mapped_column(String(96), index=True)
    editor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    text: Mapped[str] = mapped_column(Text)


def add_comment(db: Session, slot_id: str, editor: str, text: str, now: datetime) -> SlotComment:
    """Keep a comment; commits. Raises ``ValueError`` for an empty or over-long one."""
    text = text.strip()
    if not text:
        raise ValueError("write something first")
    if len(text) > MAX_COMMENT_CHARS:
        raise ValueError(f"a comment holds at most {MAX_COMMENT_CHARS} characters, "
                         f"this one {len(text)}")
    comment = SlotComment(slot_id=slot_id, editor=editor, at=now, text=text)
    db.add(comment)
    db.commit()
    return comment


def comments_of(db: Session, slot_id: str) -> Sequence[SlotComment]:
    """The slot's comments, oldest first."""
    return db.scalars(select(SlotComment).where(SlotComment.slot_id == slot_id)
                      .order_by(SlotComment.at, SlotComment.id)).all()


def history_of(db: Session, slot_id: str) -> Sequence[AuditEntry]:
    """The slot's audit log, newest first: every save, approval and override with its reason."""
    return db.scalars(select(AuditEntry).where(AuditEntry.slot_id == slot_id)
                      .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())).all()


@dataclass
class Presence:
    """Who has which slot of which run open, as last reported by their sheet."""

    seen: dict[tuple[str, str], tuple[str, float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def report(self, run_id: str, editor: str, slot_id: str | None, now: float) -> None:
        """``editor`` is now on ``slot_id`` of ``run_id`` (``None``: on no slot)."""
        with self.lock:
            if slot_id:
                self.seen[(run_id, editor)] = (slot_id, now)
            else:
                self.seen.pop((run_id, editor), None)

    def of_run(self, run_id: str, now: float, *, but: str = "") -> dict[str, list[str]]:
        """Slot id -> the editors on it (other than ``but``) reported within the TTL."""
        out: dict[str, list[str]] = {}
        with self.lock:
            for (run, editor), (slot_id, at) in list(self.seen.items()):
                if now - at > PRESENCE_TTL_S:
                    self.seen.pop((run, editor), None)
                elif run == run_id and editor != but:
                    out.setdefault(slot_id, []).append(editor)
        return {k: sorted(v) for k, v in out.items()}
