"""The one typed settings object. Every tunable lives here, read from ``ZIPCAST_*`` env vars.

Nested values use a double underscore, e.g. ``ZIPCAST_WEIGHTS__TEMPERATURE_F=2``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline.dispatch.config import DispatchSettings
from pipeline.quality import QualityRules
from pipeline.sources.config import SourceSettings

REPO_ROOT = Path(__file__).resolve().parent.parent


class WindowSpec(BaseModel):
    """A local-time window: starts at ``start_hour`` local, lasts ``hours``."""

    start_hour: int = Field(ge=0, le=23)
    hours: int = Field(gt=0, le=72)


class VariableScale(BaseModel):
    """How a clustered variable is scaled: ``(value / unit) * weight``.

    ``unit`` is the editorial "one notable difference" of the variable (5 °F is about as
    notable as a 25-point change in precipitation chance), so one unit of DTW distance means
    a comparable difference in what a message would say.
    """

    unit: float = Field(gt=0)
    weight: float = Field(default=1.0, ge=0)


def _default_scales() -> dict[str, VariableScale]:
    return {
        "temperature_f": VariableScale(unit=5.0),
        "precip_probability": VariableScale(unit=25.0),
        "precip_in": VariableScale(unit=0.05),
        "wind_mph": VariableScale(unit=8.0),
        "cloud_cover": VariableScale(unit=40.0, weight=0.5),
    }


def _default_windows() -> dict[str, WindowSpec]:
    return {
        "morning": WindowSpec(start_hour=6, hours=18),
        "evening": WindowSpec(start_hour=17, hours=19),
    }


class FactRules(BaseModel):
    """Thresholds that turn a forecast into the facts an editor writes from.

    Wind categories follow NWS wording (calm < 10 mph, breezy 10–20, windy 20–30, very windy
    > 30); hazards follow NWS heat/freeze/flood/wind-advisory practice.
    """

    precip_amount_in: float = 0.01  # measurable precipitation in one step
    precip_probability: float = 40.0  # % chance that counts as "precipitation: yes"
    snow_below_f: float = 32.0  # at or below: snow
    rain_above_f: float = 36.0  # at or above: rain; between: mix
    wind_breezy_mph: float = 10.0
    wind_windy_mph: float = 20.0
    wind_very_windy_mph: float = 30.0
    sky_partly_cloudy: float = 25.0  # mean cloud cover (%) at or above which it is not sunny
    sky_mostly_cloudy: float = 60.0
    sky_overcast: float = 85.0
    heat_f: float = 95.0
    freeze_f: float = 32.0
    heavy_rain_in: float = 1.0  # over the window
    strong_gust_mph: float = 45.0


class TruthRules(BaseModel):
    """When is a slot's message true for a member? Every claim it makes must hold.

    A member fits when its high lies in the stated range widened by ``temperature_slack_f`` on
    each side (a stated range is at most ``stated_range_f`` wide; "near 71°F" is 69–73), the
    same for its low; dry means dry, otherwise the same precipitation type with onset within
    ``onset_tolerance_h`` of the stated time (``onset_tolerance_coarse_h`` for 3-hourly or
    coarser data); the same wind category; the same sky category when sky is stated; and
    hazards both ways (every stated hazard holds, every hazard it has is stated). Numbers are
    whole °F and hours, so stated values are whole numbers and the search is exact.
    """

    temperature_slack_f: float = Field(default=2.0, ge=0)
    stated_range_f: float = Field(default=5.0, ge=0)
    onset_tolerance_h: float = Field(default=2.0, ge=0)
    onset_tolerance_coarse_h: float = Field(default=3.0, ge=0)  # 3-hourly (or coarser) data
    state_floor: float = Field(default=0.85, ge=0, le=1)  # a state below is flagged
    target: float = Field(default=0.97, ge=0, le=1)  # --target-truth default

    @field_validator("temperature_slack_f", "stated_range_f", "onset_tolerance_h",
                     "onset_tolerance_coarse_h")
    @classmethod
    def _whole(cls, value: float) -> float:
        if value != int(value):
            raise ValueError("must be a whole number (°F or hours): messages state whole "
                             f"numbers, so a slack of {value} cannot be said")
        return value


class ReviewSettings(BaseModel):
    """The review sheet's server: cookie, sign-in rate limit, deadline.

    Read from ``ZIPCAST_REVIEW__<FIELD>``, e.g. ``ZIPCAST_REVIEW__SECURE_COOKIE=true``.
    """

    secret_key: str | None = None  # default: generated once into <data_dir>/review-secret.key
    secure_cookie: bool = False  # True behind HTTPS: the session cookie gets the Secure flag
    session_max_age_s: int = 12 * 3600
    login_max_failures: int = 5
    login_window_s: float = 300.0
    # the run's send time (deadline banner, editor gate): issue time plus this many hours
    send_after_hours: float = 2.0
    # what happens at the deadline to slots nobody approved: hold them, or send the
    # automatic factual message; the lead can change it per run on the sheet
    unapproved_policy: Literal["hold", "automatic"] = "hold"
    # who hears that a run's sheet is ready: editors with an email (``zipcast users add
    # --email``) plus these; deadline alerts go to leads with an email plus ``alert_emails``
    notify_emails: list[str] = Field(default_factory=list)
    alert_emails: list[str] = Field(default_factory=list)


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


class Settings(BaseSettings):
    """zipcast settings; see the README's configuration table."""

    model_config = SettingsConfigDict(
        env_prefix="ZIPCAST_", env_nested_delimiter="__", extra="ignore"
    )

    data_dir: Path = REPO_ROOT / "data"
    database_url: str | None = None  # default: sqlite:///<data_dir>/zipcast.sqlite

    # run defaults
    source: str = "synthetic"
    window: str = "morning"
    max_slots: int = Field(default=60, gt=0)
    seed: int = 0
    horizon_hours: int = Field(default=72, gt=0)

    # clustering
    dtw_window_hours: int = Field(default=3, ge=0)
    cluster_max_iter: int = Field(default=20, gt=0)
    cluster_n_init: int = Field(default=1, gt=0)
    cluster_jobs: int | None = None
    # the LP upper bound on truthfulness at the run's slot count (pipeline.truth.bound), whose
    # statements the planner chooses from: a safety-net time limit (the bound stays valid when
    # cut short, but the plan may then differ between reruns)
    bound_seconds: float = Field(default=300.0, gt=0)
    windows: dict[str, WindowSpec] = Field(default_factory=_default_windows)
    scales: dict[str, VariableScale] = Field(default_factory=_default_scales)

    facts: FactRules = Field(default_factory=lambda: FactRules())
    truth: TruthRules = Field(default_factory=lambda: TruthRules())
    quality: QualityRules = Field(default_factory=lambda: QualityRules())
    sources: SourceSettings = Field(default_factory=lambda: SourceSettings())
    review: ReviewSettings = Field(default_factory=lambda: ReviewSettings())
    flows: FlowSettings = Field(default_factory=lambda: FlowSettings())
    dispatch: DispatchSettings = Field(default_factory=lambda: DispatchSettings())

    @property
    def snapshots_dir(self) -> Path:
        return self.data_dir / "snapshots"

    @property
    def runs_dir(self) -> Path:
        return self.data_dir / "runs"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'zipcast.sqlite'}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
