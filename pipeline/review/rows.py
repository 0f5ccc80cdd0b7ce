"""One row of the review sheet per slot: what it states, the members' spread, the editor's
box, and what the row's message will cost.

A row is rendered whole (``partials/slot_row.html``) both for the full sheet and, after a
save, alone: the browser swaps just that row, so text typed in other rows stays where it is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.editorial.models import Message
from pipeline.editorial.render import RenderReport, check
from pipeline.editorial.sms import SmsCount, count
from pipeline.store.models import Run, Slot
from pipeline.times import clock

STATUS_LABELS = {"empty": "pipeline draft", "draft": "draft", "approved": "approved"}


def degrees(value: float | None) -> str:
    """A temperature as people write it: ``"42°F"``, never ``"-0°F"``."""
    if value is None:
        return "–"
    return f"{int(round(value)) + 0}°F"


def _spread(values: Mapping[str, Any] | None) -> str:
    """"38–45°F (most 40–43)": the members' full range and their 10th–90th percentiles."""
    if not values or values.get("min") is None:
        return "–"
    lo, hi = degrees(values["min"]), degrees(values["max"])
    out = lo if lo == hi else f"{lo[:-2]}–{hi}"
    if values.get("p10") is not None:
        p10, p90 = degrees(values["p10"]), degrees(values["p90"])
        if (p10, p90) != (lo, hi):
            out += f" (most {p10[:-2]}–{p90})" if p10 != p90 else f" (most {p10})"
    return out


def percent(share: float) -> str:
    """'42%', and '<1%' / '>99%' rather than a rounded 0 or 100 for a share in between."""
    p = 100 * share
    if 0 < p < 0.5:
        return "<1%"
    if 99.5 <= p < 100:
        return ">99%"
    return f"{round(p)}%"


def _shares(shares: Mapping[str, float] | None, limit: int = 3) -> str:
    if not shares:
        return "–"
    items = list(shares.items())[:limit]
    return ", ".join(f"{name} {percent(share)}" for name, share in items)


@dataclass(frozen=True)
class Fact:
    """One line of the facts panel: what the message states, and how the members spread."""

    topic: str
    stated: str
    members: str


def facts_panel(slot: Slot) -> list[Fact]:
    """Every stated fact of ``slot`` beside the spread over all its members.

    Reads only ``slot.facts`` (computed when the run was built), so it costs nothing.
    """
    facts = slot.facts or {}
    stated = facts.get("stated") or {}
    precip = facts.get("precip") or {}
    wind = facts.get("wind") or {}
    lines = []
    for topic, key, member_key in (("High", "high_f", "high_f"), ("Low", "low_f", "low_f")):
        rng = stated.get(key)
        said = "not stated" if not rng else (
            degrees(rng[0]) if rng[0] == rng[1] else f"{degrees(rng[0])[:-2]}–{degrees(rng[1])}")
        lines.append(Fact(topic, said, _spread(facts.get(member_key))))
    kind = stated.get("precip_type") or "none"
    onset = stated.get("onset_clock")
    said = "dry" if kind == "none" else kind + (f" from {clock(onset)}" if onset is not None
                                                 else "")
    wet = precip.get("start_hour") or {}
    first, last = clock(wet.get("min")), clock(wet.get("max"))
    starts = "" if not first else f"; starts {first}" + (f"–{last}" if last != first else "")
    lines.append(Fact("Precipitation", said,
                      _shares(precip.get("types")) + starts
                      + (f"; up to {precip['pop_max']:.0f}% chance"
                         if precip.get("pop_max") else "")))
    gusts = wind.get("gust_max_mph") or {}
    lines.append(Fact("Wind", stated.get("wind_category") or "not stated",
                      _shares(wind.get("categories"))
                      + (f"; gusts to {gusts['max']:.0f} mph" if gusts.get("max") else "")))
    lines.append(Fact("Sky", stated.get("sky") or "not stated",
                      _shares(facts.get("sky_shares"))))
    hazards = facts.get("hazards") or {}
    said_h = ", ".join(stated.get("hazards") or []) or "none"
    lines.append(Fact("Hazards", said_h, ", ".join(
        f"{name} {percent(share)}" for name, share in hazards.items()) or "none"))
    return lines


@dataclass
class SlotRow:
    """One row of the sheet."""

    slot: Slot
    message: Message | None
    text: str
    version: int
    status: str  # empty (the pipeline's draft, unsaved), draft, approved
    sms: SmsCount
    report: RenderReport
    n_subscribers: int = 0
    previous: Message | None = None  # the carried-from slot's message in the previous run
    # the carried-from slot's observed truthfulness (zipcast verify), with what it counts
    observed: tuple[float | None, float, str] | None = None  # (true share, verifiable, run)
    facts: list[Fact] = field(default_factory=list)
    hazards: list[str] = field(default_factory=list)
    check: Any = None  # the fact check of ``text`` (pipeline.editorial.factcheck.FactCheck)
    missing: dict[str, int] = field(default_factory=dict)  # placeholder -> ZIPs lacking it

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def segments(self) -> int:
        """SMS segments per subscriber: the longest filled text (placeholders change it)."""
        return self.report.max_segments if self.report.n_members else self.sms.segments

    @property
    def cost(self) -> int:
        """SMS segments this slot sends: segments × subscribers."""
        return self.segments * self.n_subscribers


def slot_row(slot: Slot, message: Message | None, head: Mapping[str, Any],
             n_subscribers: int = 0, text: str | None = None) -> SlotRow:
    """The row of one slot; ``head`` is :func:`pipeline.review.sheet.slot_head` of its
    members; ``text`` (default: the saved or pipeline text) is what the box holds, e.g. an
    editor's unsaved text sent back after a refused save. The sparkline and map are images
    of their own (``spark.svg``, ``map.svg``), so the sheet stays small."""
    shown = text if text is not None else (message.text if message else slot.draft_message)
    facts = slot.facts or {}
    return SlotRow(slot, message, shown, message.version if message else 0,
                   message.status if message else "empty", count(shown),
                   check(shown, head.get("preview", [])), n_subscribers,
                   facts=facts_panel(slot), missing=dict(head.get("missing", {})),
                   hazards=sorted((facts.get("hazards") or {}).keys()))


def slot_rows(run: Run, saved: dict[str, Message],
              head_of: Callable[[Slot], Mapping[str, Any]],
              audience: dict[str, int] | None = None) -> list[SlotRow]:
    """Rows ordered by subscribers reached (``audience``: slot id -> active subscribers),
    then ZIP count, then rank. ``head_of(slot)``: see :meth:`RunAssets.head_of`."""
    audience = audience or {}
    return [slot_row(slot, saved.get(slot.id), head_of(slot), audience.get(slot.slot_id, 0))
            for slot in sorted(run.slots, key=lambda s: (-audience.get(s.slot_id, 0),
                                                         -s.n_zips, s.rank))]
