"""A run's parameters: everything that decides its result, its lineage and its id."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pipeline.settings import (
    FactRules,
    Settings,
    TruthRules,
    VariableScale,
    WindowSpec,
)
from pipeline.times import to_utc


@dataclass
class RunParams:
    """Everything that decides a run's result (its lineage, and its id)."""

    source: str = "synthetic"
    issue_time: str = ""  # ISO, UTC
    window: str = "morning"
    max_slots: int = 60
    states: list[str] | None = None
    seed: int = 0
    horizon_hours: int = 72
    dtw_window_hours: int = 3
    cluster_max_iter: int = 20
    target_truth: float = 0.97
    path: str | None = None  # source files (table, gridded)
    replay: str | None = None  # snapshot id the forecast was replayed from
    scales: dict[str, dict[str, float]] = field(default_factory=dict)
    # the rules that shape the result: facts, truth, windows (quality is the ingest's, in the
    # snapshot); recorded so a replay applies the run's own rules, not today's settings
    rules: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> RunParams:
        issue = overrides.pop("issue_time", None)
        stamp = to_utc(issue) if issue else pd.Timestamp.now(tz="UTC").floor("h")
        values: dict[str, Any] = {
            "source": settings.source,
            "window": settings.window,
            "max_slots": settings.max_slots,
            "seed": settings.seed,
            "horizon_hours": settings.horizon_hours,
            "dtw_window_hours": settings.dtw_window_hours,
            "cluster_max_iter": settings.cluster_max_iter,
            "target_truth": settings.truth.target,
            "scales": {k: v.model_dump() for k, v in settings.scales.items()},
            "rules": {"facts": settings.facts.model_dump(),
                      "truth": settings.truth.model_dump(),
                      "windows": {k: v.model_dump() for k, v in settings.windows.items()}},
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        if values.get("states"):
            values["states"] = sorted({s.strip().upper() for s in values["states"] if s.strip()})
        return cls(issue_time=stamp.isoformat(), **values)

    @property
    def run_id(self) -> str:
        """Readable and deterministic: the same parameters give the same id (reruns replace)."""
        digest = hashlib.sha256(
            json.dumps(self.__dict__, sort_keys=True).encode()
        ).hexdigest()[:8]
        stamp = to_utc(self.issue_time).strftime("%Y%m%dT%H%MZ")
        return f"{stamp}-{self.window}-{self.source}-{digest}"

    def settings_for(self, settings: Settings) -> Settings:
        """``settings`` with this run's recorded rules (facts, truth, windows) in force."""
        if not self.rules:
            return settings
        return settings.model_copy(update={
            "facts": FactRules(**self.rules["facts"]),
            "truth": TruthRules(**self.rules["truth"]),
            "windows": {k: WindowSpec(**v) for k, v in self.rules["windows"].items()},
        })

    def scale_specs(self) -> dict[str, VariableScale]:
        return {k: VariableScale(**v) for k, v in self.scales.items()}


def issue_hour(scheduled_start: Any | None) -> str:
    """The issue time of a run started (or scheduled) at ``scheduled_start``: that hour, so a
    crashed run retried later is the same run (same id, folder and rows replaced)."""
    started = scheduled_start if scheduled_start is not None else pd.Timestamp.now("UTC")
    return to_utc(str(started)).floor("h").isoformat()
