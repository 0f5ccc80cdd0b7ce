"""The editor gate of a run: which slots may go out, and what happens at the deadline.

Before the run's send time only approved slots are released. From the send time on, slots
nobody approved follow the run's policy: ``hold`` (nothing is sent for them) or
``automatic`` (their subscribers get the automatic factual message). The lead sets the
policy on the sheet; without a choice the default comes from ``Settings.review``.

Plain SQLAlchemy: the sheet shows the gate, the dispatch job obeys it, Prefect reports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.editorial.models import POLICIES, AuditEntry, Message, RunGate
from pipeline.settings import ReviewSettings
from pipeline.store.models import Run, Slot
from pipeline.times import utc


@dataclass(frozen=True)
class Gate:
    """The gate of one run at one moment."""

    run_id: str
    window: str
    send_at: datetime
    policy: str  # hold, automatic
    policy_set_by: str | None  # None: the default from settings
    approved: frozenset[str]  # slot ids ("s001")
    pending: frozenset[str]  # slot ids not approved
    passed: bool  # the send time has come

    @property
    def released(self) -> frozenset[str]:
        """Slots whose approved message may go out now."""
        return self.approved

    @property
    def automatic(self) -> frozenset[str]:
        """Unapproved slots whose subscribers get the automatic message now."""
        return self.pending if self.passed and self.policy == "automatic" else frozenset()

    @property
    def held(self) -> frozenset[str]:
        """Unapproved slots held for good (deadline passed, policy hold)."""
        return self.pending if self.passed and self.policy == "hold" else frozenset()

    @property
    def state(self) -> str:
        """open (waiting for editors), complete (all approved), or closed (deadline passed)."""
        if not self.pending:
            return "complete"
        return "closed" if self.passed else "open"

    def describe(self) -> str:
        """One line for people: the sheet banner, Prefect, the log."""
        n_ok, n_wait = len(self.approved), len(self.pending)
        when = self.send_at.strftime("%Y-%m-%d %H:%M UTC")
        fate = ("held (nothing is sent for them)" if self.policy == "hold"
                else "sent the automatic factual message")
        if not n_wait:
            return f"All {n_ok} slots approved; they go out from {when}."
        if self.passed:
            return (f"Deadline {when} passed: {n_ok} approved slots go out; "
                    f"{n_wait} unapproved slots are {fate}.")
        return (f"{n_ok} approved, {n_wait} waiting. At {when} the unapproved slots will be "
                f"{fate}.")


def send_time(run: Run, review: ReviewSettings) -> datetime:
    """The run's send time: its issue time plus ``review.send_after_hours``."""
    return utc(run.issue_time) + timedelta(hours=review.send_after_hours)


def gate_of(db: Session, run: Run, review: ReviewSettings, now: datetime) -> Gate:
    """The run's gate now: approvals from the messages table, the policy from run_gates."""
    ids = {f"{run.id}/{s.slot_id}": s.slot_id for s in
           db.scalars(select(Slot).where(Slot.run_id == run.id))}
    approved = {ids[m] for m in db.scalars(
        select(Message.slot_id).where(Message.slot_id.in_(list(ids)),
                                      Message.status == "approved"))}
    row = db.get(RunGate, run.id)
    send_at = send_time(run, review)
    return Gate(run_id=run.id, window=run.window, send_at=send_at,
                policy=row.policy if row else review.unapproved_policy,
                policy_set_by=row.updated_by if row else None,
                approved=frozenset(approved), pending=frozenset(set(ids.values()) - approved),
                passed=now >= send_at)


def set_policy(db: Session, run_id: str, policy: str, editor_name: str,
               now: datetime) -> None:
    """Set the run's policy for unapproved slots (the caller checks the editor is a lead);
    audited like a message change, under the pseudo slot id ``<run>/*``. Commits."""
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {', '.join(POLICIES)}, not {policy!r}")
    row = db.get(RunGate, run_id)
    old = row.policy if row else None
    if row is None:
        db.add(RunGate(run_id=run_id, policy=policy, updated_by=editor_name, updated_at=now))
    else:
        row.policy, row.updated_by, row.updated_at = policy, editor_name, now
    db.add(AuditEntry(slot_id=f"{run_id}/*", editor=editor_name, at=now, action="policy",
                      old_text=old, new_text=policy))
    db.commit()

