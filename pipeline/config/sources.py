"""Settings of the forecast sources (URLs, keys, quotas, User-Agent), nested in Settings.

Read from ``ZIPCAST_SOURCES__<FIELD>`` environment variables, e.g.
``ZIPCAST_SOURCES__NWS_USER_AGENT="zipcast (ops@example.com)"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr

Archive = Literal["aws", "google", "nomads", "azure"]  # herbie's names of the public archives
DEFAULT_ARCHIVES: tuple[Archive, ...] = ("aws", "google", "nomads")


class SourceSettings(BaseModel):
    """Per-source settings. Sources receive this object; they never read the environment."""

    # shared HTTP behaviour (open-meteo, nws, the model feed's retries)
    http_timeout_s: float = Field(default=30.0, gt=0)
    http_retries: int = Field(default=4, ge=0)  # retries after the first attempt
    http_backoff_s: float = Field(default=1.0, ge=0)  # 1, 2, 4, 8 s … (+ jitter-free)
    http_max_backoff_s: float = Field(default=60.0, ge=0)  # also caps a Retry-After

    # table: CSV / Parquet of contract columns
    table_max_distance_km: float = Field(default=25.0, gt=0)

    # gridded: GRIB1 / GRIB2 / NetCDF model output
    gridded_method: Literal["nearest", "bilinear"] = "bilinear"
    gridded_max_cells: float = Field(default=1.5, gt=0)  # farther from any grid point: outside
    gridded_fill_missing: bool = False  # absent precip/wind -> 0 with a warning instead of error

    # model feed: nbm, hrrr, gfs (and urma/rtma analyses) fetched with herbie-data
    model_priority: list[Archive] = Field(
        default_factory=lambda: list(DEFAULT_ARCHIVES))  # archives tried in this order
    model_base_url: str | None = None  # a mirror laid out like the AWS bucket; replaces them
    model_cache_dir: Path | None = None  # None: <data_dir>/cache/models (set by Settings)
    model_cache_days: float = Field(default=3.0, gt=0)  # cycles fetched longer ago: deleted
    model_workers: int = Field(default=4, ge=1)  # steps downloaded side by side

    # open-meteo
    open_meteo_base_url: str | None = None  # self-hosted; default public or customer- URL
    open_meteo_api_key: SecretStr | None = None  # commercial: apikey=, customer-api host
    open_meteo_grid_deg: float = Field(default=0.1, gt=0)  # ZIPs in one cell share a call
    open_meteo_batch_size: int = Field(default=100, gt=0)  # locations per request
    open_meteo_calls_per_minute: float | None = 600  # free tier; None: unlimited
    open_meteo_calls_per_hour: float | None = 5_000
    open_meteo_calls_per_day: float | None = 10_000

    # nws (api.weather.gov)
    nws_base_url: str = "https://api.weather.gov"
    nws_user_agent: str | None = None  # required by api.weather.gov: "app (contact)"
    nws_cache_path: Path | None = None  # SQLite file for /points lookups; None: in memory
    nws_fetch_qpf: bool = True  # fetch raw gridpoint QPF for precip_in (else 0)


def source_settings(settings: object | None) -> SourceSettings:
    """The :class:`SourceSettings` in ``settings`` (app Settings, SourceSettings or None)."""
    if settings is None:
        return SourceSettings()
    if isinstance(settings, SourceSettings):
        return settings
    nested = getattr(settings, "sources", None)
    if isinstance(nested, SourceSettings):
        return nested
    raise TypeError(f"expected SourceSettings or Settings, got {type(settings).__name__}")
