"""The run summary as typed records: what ``summary.json`` holds and what the flow returns.

The CLI, the flows, the sheet and staff mail share these models, so a misspelt field fails
type checking instead of printing "none". A record also reads like the JSON it is written as
(``summary["n_zips"]``) for scripts that load ``summary.json``; code uses the attributes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Record(BaseModel):
    """A pydantic model that can also be read with ``record["field"]`` and ``.get()``."""

    model_config = ConfigDict(extra="ignore", validate_assignment=True)

    def __getitem__(self, key: str) -> Any:
        if key not in type(self).model_fields:
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if key in type(self).model_fields else default

    def __contains__(self, key: object) -> bool:
        return key in type(self).model_fields

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types (what ``summary.json`` and the database hold)."""
        return json.loads(self.model_dump_json())


class UpperBound(Record):
    """The LP upper bound on truthfulness at the run's slot count."""

    k: int
    value: float
    lp_value: float
    converged: bool
    gap_points: float  # bound minus the run's truthfulness, in percentage points
    seconds: float


class Truthfulness(Record):
    """The share of subscribers (ZIPs without subscribers) whose slot message is true."""

    national: float
    weighting: str  # "zip" or "subscribers"
    per_state: dict[str, float]
    states_below_floor: list[str]
    state_floor: float
    per_slot: dict[str, float]
    target: float = 0.0
    reached_target: bool = False
    n_automatic: int = 0
    with_automatic: float | None = None  # counting automatic messages
    coverage_curve: list[float] = Field(default_factory=list)
    rule: str = ""
    upper_bound: UpperBound | None = None


class ReplayVerdict(Record):
    """Whether a replay reproduced the stored run."""

    run_id: str
    identical: bool
    n_slots: int
    n_zips: int
    differences: list[str] = Field(default_factory=list)


class RunSummary(Record):
    """One run: what was asked, what came out, how long it took, what code made it."""

    run_id: str
    source: str
    issue_time: str
    window: str
    n_zips: int
    n_steps: int
    step_hours: int
    n_slots: int
    slot_sizes: dict[str, int]
    truthfulness: Truthfulness
    baselines: dict[str, dict[str, Any]] = Field(default_factory=dict)
    slot_ids_unchanged_share: float | None = None
    clustering: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    code: dict[str, Any] = Field(default_factory=dict)
    seconds: dict[str, float] = Field(default_factory=dict)
    n_zips_asked: int | None = None
    data_quality: dict[str, Any] = Field(default_factory=dict)
    snapshot: str | None = None
    snapshot_sha256: str | None = None
    forecast_issue_time: str | None = None
    forecast_sha256: str | None = None
    previous_run_id: str | None = None
    artifacts: dict[str, str] = Field(default_factory=dict)
    replay_of: ReplayVerdict | None = None


def read_summary(run_dir: str | Path) -> RunSummary:
    """A run folder's ``summary.json``."""
    return RunSummary.model_validate_json((Path(run_dir) / "summary.json").read_text())
