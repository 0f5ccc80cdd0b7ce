"""The rules that shape a run's result: windows, scales, facts, truth (recorded per run)."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator


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
