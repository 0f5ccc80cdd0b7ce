"""Saving messages with optimistic versions, approving them, and the audit trail."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.editorial.models import AuditEntry, Editor, Message
from pipeline.editorial.render import check
from pipeline.store.models import Slot


class SlotConflict(Exception):
    """Someone saved the slot's message after the version this edit started from."""

    def __init__(self, current: Message | None) -> None:
        super().__init__("the message changed since you opened it")
        self.current = current


class ApprovalBlocked(ValueError):
    """The message cannot be filled for every member ZIP; ``problems`` says why."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def messages_of(db: Session, slot_ids: Sequence[str]) -> dict[str, Message]:
    """Saved messages by full slot id."""
    rows = db.scalars(select(Message).where(Message.slot_id.in_(list(slot_ids))))
    return {m.slot_id: m for m in rows}


def save(db: Session, slot: Slot, text: str, version: int, editor: Editor, *,
         approve: bool, now: datetime, members: Sequence[Mapping[str, Any]] = (),
         action: str | None = None) -> Message:
    """Write the slot's message if nobody saved since ``version``; commits.

    Parameters
    ----------
    version : the message version the editor started from (0: nothing saved yet)
    approve : also approve; the text must then fill for every one of ``members``

    Raises
    ------
    SlotConflict : the stored version is not ``version`` (nothing is written)
    ApprovalBlocked : approval was asked and the text fails for some member; the text is
        still saved as a draft first, so no work is lost
    """
    current = db.get(Message, slot.id, populate_existing=True)
    if (current.version if current else 0) != version:
        raise SlotConflict(current)
    report = check(text, members) if approve else None
    blocked = report is not None and not report.ok
    keep_approved = (not approve and current is not None and current.status == "approved"
                     and current.text == text)
    status = "approved" if (approve and not blocked) or keep_approved else "draft"
    old_text = current.text if current else None
    if current is None:
        db.add(Message(slot_id=slot.id, text=text, status=status, version=1,
                       updated_by=editor.name, updated_at=now))
        try:
            db.flush()
        except IntegrityError:  # another editor inserted first
            db.rollback()
            raise SlotConflict(db.get(Message, slot.id, populate_existing=True)) from None
    else:
        result = db.execute(
            update(Message).where(Message.slot_id == slot.id, Message.version == version)
            .values(text=text, status=status, version=version + 1, updated_by=editor.name,
                    updated_at=now).execution_options(synchronize_session=False))
        if getattr(result, "rowcount", 0) != 1:  # a CursorResult for UPDATE
            db.rollback()
            raise SlotConflict(db.get(Message, slot.id, populate_existing=True))
    action = action or ("approve" if status == "approved" and approve else "save")
    db.add(AuditEntry(slot_id=slot.id, editor=editor.name, at=now, action=action,
                      old_text=old_text, new_text=text))
    db.commit()
    saved = db.get(Message, slot.id, populate_existing=True)
    if blocked and report is not None:
        raise ApprovalBlocked(report.problems)
    assert saved is not None, "the message was just written"
    return saved


def approve_remaining(db: Session, slots: Sequence[Slot], editor: Editor, *, now: datetime,
                      members_of: Callable[[Slot], Sequence[Mapping[str, Any]]]
                      ) -> tuple[list[str], dict[str, list[str]]]:
    """Approve every slot not yet approved: its saved draft, else the pipeline's draft.

    Returns the approved slot ids and, per skipped slot id, the problems that blocked it.
    """
    saved = messages_of(db, [s.id for s in slots])
    approved: list[str] = []
    skipped: dict[str, list[str]] = {}
    for slot in slots:
        message = saved.get(slot.id)
        if message is not None and message.status == "approved":
            continue
        text = message.text if message else slot.draft_message
        members = members_of(slot)
        if not (report := check(text, members)).ok:  # skip without writing anything
            skipped[slot.slot_id] = report.problems
            continue
        try:
            save(db, slot, text, message.version if message else 0, editor, approve=True,
                 now=now, members=members, action="approve_all")
            approved.append(slot.slot_id)
        except ApprovalBlocked as err:
            skipped[slot.slot_id] = err.problems
        except SlotConflict:
            skipped[slot.slot_id] = ["someone saved it at the same moment; look again"]
    return approved, skipped
