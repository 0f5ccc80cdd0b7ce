"""Saving messages with optimistic versions, approving them, and the audit trail.

Approval has two gates. The text must fill for every member ZIP (:func:`render.check`), and
no claim of it may be false for more than ``max_false_share`` of the slot's subscribers
(:mod:`pipeline.editorial.factcheck`, ``ZIPCAST_REVIEW__MAX_FALSE_SHARE``). A refused approval
still saves the text as a draft, so no work is lost. A lead may approve over the fact check
with a written reason, which the audit log keeps; nobody can approve over the fill check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.editorial.factcheck import FactCheck, fact_check, run_slot_facts, slot_facts
from pipeline.editorial.models import AuditEntry, Editor, Message
from pipeline.editorial.render import check as fill_check
from pipeline.editorial.render import member_context
from pipeline.settings import Settings, TruthRules, get_settings
from pipeline.store.models import Slot

#: given a slot and a text, the fact check the caller made (subscriber-weighted), or None
CheckOf = Callable[[Slot, str], FactCheck | None]


class SlotConflict(Exception):
    """Someone saved the slot's message after the version this edit started from."""

    def __init__(self, current: Message | None) -> None:
        super().__init__("the message changed since you opened it")
        self.current = current


class ApprovalBlocked(ValueError):
    """The message cannot be approved; ``problems`` says why (the text is kept as a draft)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class FactCheckBlocked(ApprovalBlocked):
    """A claim of the message is false for more than ``max_false_share`` of the slot;
    ``check`` has every claim and its share, ``problems`` one line per false claim."""

    def __init__(self, check: FactCheck, max_false_share: float) -> None:
        super().__init__(check.problems(max_false_share))
        self.check = check
        self.max_false_share = max_false_share


class OverrideRefused(PermissionError):
    """An approval over the fact check by someone who is not a lead, or without a reason."""


def _limits(max_false_share: float | None, rules: TruthRules | None) -> tuple[float, TruthRules]:
    settings: Settings | None = None
    if max_false_share is None or rules is None:
        settings = get_settings()
    return (settings.review.max_false_share if max_false_share is None and settings
            else float(max_false_share or 0.0),
            settings.truth if rules is None and settings else rules or TruthRules())


def own_check(slot: Slot, text: str, members: Sequence[Mapping[str, Any]], *,
              rules: TruthRules) -> FactCheck | None:
    """The fact check of ``text`` when the caller made none: the slot's exact facts from its
    run folder, else the facts in ``members``; every ZIP weighs the same (no subscriber
    counts at this layer). None when there are no facts to check against."""
    run = getattr(slot, "run", None)
    facts = run_slot_facts(run.run_dir, slot.slot_id) if run is not None else None
    if facts is None or not len(facts):
        if not members:
            return None
        facts = slot_facts(members)
    return fact_check(text, facts, rules=rules)


def _overriding(editor: Editor, reason: str | None) -> str | None:
    """The stripped reason of a lead's override, None when there is none; raises otherwise."""
    if reason is None:
        return None
    if editor.role != "lead":
        raise OverrideRefused(f"{editor.name} is not a lead: only a lead can approve a "
                              "message over the fact check")
    if not reason.strip():
        raise OverrideRefused("write why this message may go out although the fact check "
                              "refused it")
    return reason.strip()


def check_for_approval(text: str, members: Sequence[Mapping[str, Any]] | Any,
                       settings: Settings | None = None, *,
                       weights: Mapping[str, float] | None = None,
                       check: FactCheck | None = None) -> list[str]:
    """Why ``text`` may not be approved for a slot with ``members``; empty when it may.

    For the import path and "copy last run's message": the fill check, then the fact check.

    Parameters
    ----------
    members : the slot's member rows: assignments rows (facts; filled through
        :func:`~pipeline.editorial.render.member_context`) or placeholder values, or a
        DataFrame of assignments rows
    settings : for ``review.max_false_share`` and ``truth``; default :func:`get_settings`
    weights : subscribers per member ZIP (default: every ZIP the same)
    check : a fact check of ``text`` already made (used instead of making one)
    """
    settings = settings or get_settings()
    rows = members.to_dict("records") if hasattr(members, "to_dict") else list(members)
    contexts = [member_context(r) if "high_f" in r and "wind" not in r else r for r in rows]
    if problems := fill_check(text, contexts).problems:
        return problems
    if check is None or check.text != text:
        check = fact_check(text, rows, rules=settings.truth, weights=weights)
    return check.problems(settings.review.max_false_share)


def messages_of(db: Session, slot_ids: Sequence[str]) -> dict[str, Message]:
    """Saved messages by full slot id."""
    rows = db.scalars(select(Message).where(Message.slot_id.in_(list(slot_ids))))
    return {m.slot_id: m for m in rows}


def save(db: Session, slot: Slot, text: str, version: int, editor: Editor, *,
         approve: bool, now: datetime, members: Sequence[Mapping[str, Any]] = (),
         action: str | None = None, check: FactCheck | None = None,
         override_reason: str | None = None, max_false_share: float | None = None,
         rules: TruthRules | None = None) -> Message:
    """Write the slot's message if nobody saved since ``version``; commits.

    Parameters
    ----------
    version : the message version the editor started from (0: nothing saved yet)
    approve : also approve; the text must then fill for every one of ``members`` and pass
        the fact check
    check : the fact check of ``text`` the caller made (subscriber-weighted); when None, or
        made for another text, one is made from the slot's facts with every ZIP the same
    override_reason : a lead's written reason to approve over the fact check; kept in the
        audit log
    max_false_share : the fact check's threshold; default ``settings.review.max_false_share``
    rules : the fit rule's thresholds; default ``settings.truth``

    Raises
    ------
    SlotConflict : the stored version is not ``version`` (nothing is written)
    OverrideRefused : ``override_reason`` from an editor who is not a lead, or blank
        (nothing is written)
    FactCheckBlocked : approval was asked and a claim is false for more than
        ``max_false_share`` of the slot, with no override; the text is saved as a draft first
    ApprovalBlocked : approval was asked and the text fails for some member; the text is
        still saved as a draft first, so no work is lost
    """
    reason = _overriding(editor, override_reason)
    current = db.get(Message, slot.id, populate_existing=True)
    if (current.version if current else 0) != version:
        raise SlotConflict(current)
    blocked: ApprovalBlocked | None = None
    overridden = False
    if approve and not text.strip():
        raise ApprovalBlocked(["the message is empty: there is nothing to approve"])
    if approve:
        report = fill_check(text, members)
        if not report.ok:
            blocked = ApprovalBlocked(report.problems)
        else:
            limit, truth = _limits(max_false_share, rules)
            fc = check if check is not None and check.text == text else \
                own_check(slot, text, members, rules=truth)
            if fc is not None and fc.blocked(limit):
                overridden = reason is not None
                blocked = None if overridden else FactCheckBlocked(fc, limit)
    keep_approved = (not approve and current is not None and current.status == "approved"
                     and current.text == text)
    status = "approved" if (approve and blocked is None) or keep_approved else "draft"
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
    if overridden:
        action = "override"
    action = action or ("approve" if status == "approved" and approve else "save")
    db.add(AuditEntry(slot_id=slot.id, editor=editor.name, at=now, action=action,
                      old_text=old_text, new_text=text,
                      reason=reason if approve and status == "approved" else None))
    db.commit()
    saved = db.get(Message, slot.id, populate_existing=True)
    if blocked is not None:
        raise blocked
    assert saved is not None, "the message was just written"
    return saved


def approve_remaining(db: Session, slots: Sequence[Slot], editor: Editor, *, now: datetime,
                      members_of: Callable[[Slot], Sequence[Mapping[str, Any]]],
                      check_of: CheckOf | None = None, max_false_share: float | None = None,
                      rules: TruthRules | None = None, dry_run: bool = False
                      ) -> tuple[list[str], dict[str, list[str]]]:
    """Approve every slot not yet approved: its saved draft, else the pipeline's draft.

    Each slot goes through both checks of :func:`save` (no override here): a text that does
    not fill, or with a claim false for more than ``max_false_share`` of the slot, is skipped
    and left as it is.

    Parameters
    ----------
    check_of : the caller's (subscriber-weighted) fact check of a slot's text; when it gives
        None, one is made from the slot's facts with every ZIP the same
    dry_run : write nothing; say what would be approved and what skipped

    Returns
    -------
    approved : short slot ids approved (or that would be, in a dry run)
    skipped : short slot id -> the problems that blocked it
    """
    limit, truth = _limits(max_false_share, rules)
    saved = messages_of(db, [s.id for s in slots])
    approved: list[str] = []
    skipped: dict[str, list[str]] = {}
    for slot in slots:
        message = saved.get(slot.id)
        if message is not None and message.status == "approved":
            continue
        text = message.text if message else slot.draft_message
        members = members_of(slot)
        if not (report := fill_check(text, members)).ok:  # skip without writing anything
            skipped[slot.slot_id] = report.problems
            continue
        fc = (check_of(slot, text) if check_of else None) or \
            own_check(slot, text, members, rules=truth)
        if fc is not None and fc.blocked(limit):
            skipped[slot.slot_id] = fc.problems(limit)
            continue
        if dry_run:
            approved.append(slot.slot_id)
            continue
        try:
            save(db, slot, text, message.version if message else 0, editor, approve=True,
                 now=now, members=members, action="approve_all", check=fc,
                 max_false_share=limit, rules=truth)
            approved.append(slot.slot_id)
        except ApprovalBlocked as err:
            skipped[slot.slot_id] = err.problems
        except SlotConflict:
            skipped[slot.slot_id] = ["someone saved it at the same moment; look again"]
    return approved, skipped
