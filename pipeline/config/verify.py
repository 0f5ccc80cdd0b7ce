"""Verification settings (``settings.verify``, env ``ZIPCAST_VERIFY__*``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class VerifySettings(BaseModel):
    """How observations are matched to ZIPs and when a fact counts as observed.

    - ``station_max_km``: a station stands for a ZIP when it is the nearest one and within this
      distance of the ZIP's point. 10 km: about the size of a town or a suburban ZIP, and four
      HRRR cells; farther than that, a gauge's daily total and a ZIP's can differ as much as a
      forecast's error (convective rain varies on a few km), so the ZIP is "not verifiable"
      rather than scored on someone else's weather.
    - ``min_coverage``: the share of a window's steps that must be observed for its high, low,
      wind or sky to count as known: every step by default, since a missing hour may hold the
      peak (lower it to accept gaps, knowing a "true" may then be a guess). A partial record
      still proves a claim false when it already breaks it (an observed 80 F breaks "highs
      near 70F" whatever the missing hours held).
    - ``obs_path``: where the scheduled verification finds observations for a run, formatted
      with the run's fields: ``{run_id}``, ``{window}``, ``{date}`` (the window's local date,
      YYYYMMDD). ``synthetic`` uses the synthetic source's observed weather.
    - ``delay_hours``: the scheduled verification waits this long after a window ends
      (observations and analyses arrive late: URMA about 1 h, Stage IV 24 h totals ~ 12 h).
    - ``synthetic_error_seed``: which forecast error the synthetic observed weather has.
    """

    station_max_km: float = Field(default=10.0, gt=0, le=100)
    min_coverage: float = Field(default=1.0, gt=0, le=1)
    obs_path: str = "synthetic"
    delay_hours: float = Field(default=2.0, ge=0)
    lookback_days: int = Field(default=3, gt=0)
    synthetic_error_seed: int = 1
