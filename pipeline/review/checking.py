"""The sheet's fact check of an editor's text: each claim against every member of the slot,
weighted by the slot's active subscribers (every ZIP alike when it has none).

The slot's facts are built once per slot and kept until the subscribers are recounted
(:class:`pipeline.review.sheet.SubscriberCounts`); a check is then well under a
millisecond, cheap enough for every keystroke's preview.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from pipeline.editorial.factcheck import FACT_COLUMNS, FactCheck, SlotFacts, fact_check, slot_facts
from pipeline.review.sheet import assets_for
from pipeline.store.models import Slot


@dataclass
class CheckCache:
    """Each slot's built facts, with the subscriber counts they were weighted with."""

    counted_at: float = float("-inf")
    weights: dict[str, float] = field(default_factory=dict)
    facts: dict[tuple[str, str], SlotFacts | None] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _cache(request: Request) -> CheckCache:
    state = request.app.state
    if not hasattr(state, "check_cache"):
        state.check_cache = CheckCache()
    return state.check_cache


def facts_for(request: Request, slot: Slot) -> SlotFacts | None:
    """The slot's member facts with subscriber weights, built once per minute at most."""
    cache = _cache(request)
    stamp, counts = request.app.state.subscriber_counts.get()
    with cache.lock:
        if stamp != cache.counted_at:  # recounted: weigh again
            cache.weights = {str(k): float(v) for k, v in counts.items()}
            cache.counted_at = stamp
            cache.facts.clear()
        key = (slot.run_id, slot.slot_id)
        weights, built = cache.weights, cache.counted_at
        if key in cache.facts:
            return cache.facts[key]
    frame = assets_for(request.app.state.run_cache, slot.run).facts_of(slot)  # stored
    usable = len(frame) and all(c in frame.columns for c in FACT_COLUMNS)
    facts = slot_facts(frame, weights) if usable else None
    with cache.lock:
        if cache.counted_at == built:  # not recounted meanwhile: keep it
            cache.facts[key] = facts
    return facts


def slot_check(request: Request, slot: Slot, text: str) -> FactCheck | Any:
    """The fact check of ``text`` on ``slot``; None when the run has no member facts."""
    facts = facts_for(request, slot)
    if facts is None:
        return None
    return fact_check(text, facts, rules=request.app.state.settings.truth,
                      max_false_share=request.app.state.review.max_false_share)
