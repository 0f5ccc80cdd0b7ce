"""What one dispatch call (or one send partition) did, and its short report."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class DispatchResult:
    """What one dispatch call did."""

    run_id: str
    window: str
    dry_run: bool
    gate: str
    planned: dict[str, Any] = field(default_factory=dict)
    enqueued: int = 0
    reconciled: dict[str, int] = field(default_factory=dict)  # found_sent, resent
    outcomes: Counter = field(default_factory=Counter)  # sent, retry, failed, skipped
    problems: list[str] = field(default_factory=list)
    outbox: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    partition: tuple[int, int] | None = None  # (part, n_parts) of a send-only partition

    def lines(self) -> list[str]:
        """A short human report."""
        p = self.planned
        part = f" — partition {self.partition[0]} of {self.partition[1]}" \
            if self.partition else ""
        out = [f"run {self.run_id} ({self.window}){' — dry run' if self.dry_run else ''}{part}"]
        if self.gate:  # a send-only partition neither gates nor plans
            out.append(f"gate: {self.gate}")
        if self.gate or p or self.enqueued:
            out.append(f"queued {self.enqueued:,} new deliveries; {p.get('not_due', 0):,} not "
                       f"due yet, {p.get('waiting_for_editors', 0):,} waiting for editors, "
                       f"{p.get('held', 0):,} held, {p.get('too_late', 0):,} too late")
        if any(self.reconciled.values()):
            out.append(f"after a crash: {self.reconciled.get('found_sent', 0)} found already "
                       f"sent, {self.reconciled.get('resent', 0)} queued again")
        if self.reconciled.get("ambiguous") or self.outcomes.get("ambiguous"):
            n = self.reconciled.get("ambiguous", 0) + self.outcomes.get("ambiguous", 0)
            out.append(f"ambiguous: {n} email(s) were in flight when a connection or a "
                       "dispatcher died and may or may not have arrived (see --report)")
        out.append("sent " + ", ".join(f"{n:,} {k}" for k, n in sorted(self.outcomes.items()))
                   if self.outcomes else "nothing to send")
        if self.outbox:
            out.append(f"outbox: {self.outbox}")
        out += [f"problem: {p}" for p in self.problems]
        return out
