"""The one typed settings object. Every tunable lives here, read from ``ZIPCAST_*`` env vars.

Nested values use a double underscore, e.g. ``ZIPCAST_WEIGHTS__TEMPERATURE_F=2``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline.config.dispatch import DispatchSettings
from pipeline.config.flows import FlowSettings
from pipeline.config.quality import QualityRules
from pipeline.config.review import ReviewSettings
from pipeline.config.rules import (
    FactRules,
    TruthRules,
    VariableScale,
    WindowSpec,
    _default_scales,
    _default_windows,
)
from pipeline.config.signup import SignupSettings
from pipeline.config.sources import SourceSettings
from pipeline.config.verify import VerifySettings
from pipeline.resources import in_checkout

__all__ = [
    "REPO_ROOT", "DispatchSettings", "FactRules", "FlowSettings", "QualityRules",
    "ReviewSettings", "Settings", "SignupSettings", "SourceSettings", "TruthRules", "VariableScale",
    "VerifySettings", "WindowSpec", "get_settings",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
# runtime state: data/ in a checkout; ./data where an installed zipcast is run
DEFAULT_DATA_DIR = REPO_ROOT / "data" if in_checkout() else Path.cwd() / "data"


class Settings(BaseSettings):
    """zipcast settings; see the README's configuration table."""

    model_config = SettingsConfigDict(
        env_prefix="ZIPCAST_", env_nested_delimiter="__", extra="ignore"
    )

    data_dir: Path = DEFAULT_DATA_DIR
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
    verify: VerifySettings = Field(default_factory=lambda: VerifySettings())
    signup: SignupSettings = Field(default_factory=lambda: SignupSettings())

    @model_validator(mode="after")
    def _model_cache_under_data_dir(self) -> Settings:
        """Model downloads go under the data folder unless a folder is set for them."""
        if self.sources.model_cache_dir is None:
            self.sources.model_cache_dir = self.cache_dir / "models"
        return self

    @property
    def snapshots_dir(self) -> Path:
        return self.data_dir / "snapshots"

    @property
    def runs_dir(self) -> Path:
        return self.data_dir / "runs"

    @property
    def cache_dir(self) -> Path:
        """Things derived from shipped data (the gazetteer), safe to delete at any time."""
        return self.data_dir / "cache"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'zipcast.sqlite'}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
