"""How strict the ingest quality gate is (``settings.quality``, env ``ZIPCAST_QUALITY__*``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class QualityRules(BaseModel):
    """How strict the quality gate is (``settings.quality``, env ``ZIPCAST_QUALITY__*``)."""

    min_coverage: float = Field(default=0.98, ge=0, le=1)  # share of ZIPs asked that must be usable
    max_stale_hours: float = Field(default=12.0, ge=0)  # oldest last-good forecast substituted
    max_examples: int = Field(default=50, ge=0)  # quarantine examples in report() / log_lines()
