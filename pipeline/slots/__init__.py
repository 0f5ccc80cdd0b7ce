"""Slots: one per planned statement, with what an editor needs to write its message."""

from pipeline.slots.build import Slot, build_slots, member_facts
from pipeline.slots.identity import PreviousRun, unchanged_share

__all__ = ["PreviousRun", "Slot", "build_slots", "member_facts", "unchanged_share"]
