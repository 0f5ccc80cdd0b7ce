"""Orchestration settings (``settings.flows``, env ``ZIPCAST_FLOWS__*``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator


def _default_runs() -> dict[str, str]:
    return {"morning": "04:30", "evening": "15:30"}


class FlowSettings(BaseModel):
    """Orchestration: schedules, ingest retries and caching, scale-out on Dask.

    Read from ``ZIPCAST_FLOWS__<FIELD>``, e.g. ``ZIPCAST_FLOWS__RUNS='{"morning": "05:00"}'``.
    """

    timezone: str = "America/New_York"
    # window -> local start time (HH:MM in ``timezone``) of the twice-daily run for it
    runs: dict[str, str] = Field(default_factory=_default_runs)
    dispatch_every_minutes: int = Field(default=5, gt=0)
    ingest_retries: int = Field(default=2, ge=0)
    ingest_retry_delays_s: list[float] = Field(default_factory=lambda: [10.0, 60.0])
    ingest_timeout_s: float = Field(default=1800.0, gt=0)
    ingest_cache_hours: float = Field(default=24.0, ge=0)  # 0: never reuse an ingest
    # scale-out: a Dask scheduler address ("tcp://host:8786"), or a local cluster of
    # ``dask_workers`` processes; neither: everything runs in the flow's own process
    dask_address: str | None = None
    dask_workers: int = Field(default=0, ge=0)
    ingest_partitions: int = Field(default=1, ge=1)  # ingest tasks per run (ZIPs split)
    dispatch_partitions: int = Field(default=1, ge=1)  # send tasks per run (subscribers split)
    # Prefect's server when PREFECT_API_URL is unset (flows/server.py): "auto" uses the local
    # one on ``prefect_port`` when it answers (`zipcast server start`), else a temporary one
    # per command; "ephemeral" always a temporary one
    prefect_server: Literal["auto", "ephemeral"] = "auto"
    prefect_port: int = Field(default=4200, gt=0, lt=65536)

    @field_validator("runs")
    @classmethod
    def _times(cls, runs: dict[str, str]) -> dict[str, str]:
        for window, at in runs.items():
            hour, _, minute = at.partition(":")
            if not (hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60):
                raise ValueError(f"run time for {window!r} must be HH:MM, not {at!r}")
        return runs

    @property
    def dask(self) -> bool:
        return bool(self.dask_address or self.dask_workers)
