"""Slots: one per planned statement, with what an editor needs to write its message."""

from pipeline.slots.build import Slot, build_slots, member_facts
from pipeline.slots.identity import PreviousRun, unchanged_share
from pipeline.slots.messages import automatic_message, clock, headline, statement_message

__all__ = [
    "PreviousRun",
    "Slot",
    "automatic_message",
    "build_slots",
    "clock",
    "headline",
    "member_facts",
    "statement_message",
    "unchanged_share",
]
