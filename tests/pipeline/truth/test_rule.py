"""The fit rule: every claim of a statement must hold for the member, the strict reading."""

import numpy as np
import pytest

from pipeline.settings import TruthRules
from pipeline.truth import Statement, claims_of, fits
from tests.pipeline.truth.conftest import facts

RULES = TruthRules()
DRY = Statement(high_f=(48.0, 53.0), low_f=(33.0, 38.0), precip_type="none", onset_h=None,
                wind_category="calm", hazards=())
RAIN = Statement(high_f=(48.0, 53.0), low_f=(33.0, 38.0), precip_type="rain", onset_h=14.0,
                 wind_category="calm", hazards=())


def test_high_and_low_lie_in_the_stated_range_widened_by_2f():
    """"Highs 48-53F" is true from 46 to 55 °F, and not a tenth of a degree beyond."""
    f = facts(high_f=np.array([46.0, 55.0, 45.9, 55.1, 50.0]))
    assert fits(f, DRY, RULES).tolist() == [True, True, False, False, True]
    f = facts(low_f=np.array([31.0, 40.0, 30.9, 40.1]))
    assert fits(f, DRY, RULES).tolist() == [True, True, False, False]


def test_near_means_two_degrees_either_side():
    """"Near 71" is 69–73: a high of 73.4 is not near 71 (values are not rounded first)."""
    near = Statement(**{**DRY.__dict__, "high_f": (71.0, 71.0)})
    f = facts(high_f=np.array([69.0, 73.0, 73.4, 68.9]))
    assert fits(f, near, RULES).tolist() == [True, True, False, False]


def test_dry_means_dry_and_rain_means_rain_of_the_same_type():
    """A wet member does not fit "Dry", a dry one not "Rain", snow not "Rain"."""
    f = facts(precip_type=["none", "rain", "snow", "mix"],
              precip_onset_h=np.array([np.nan, 14.0, 14.0, 14.0]))
    assert fits(f, DRY, RULES).tolist() == [True, False, False, False]
    assert fits(f, RAIN, RULES).tolist() == [False, True, False, False]


def test_onset_within_2h_hourly_and_3h_three_hourly():
    """Onset 2 h off fits hourly data; 3 h off only 3-hourly data; never 3.5 h."""
    onsets = np.array([12.0, 16.0, 11.0, 17.0, 10.5])
    hourly = facts(precip_type=["rain"] * 5, precip_onset_h=onsets)
    coarse = facts(precip_type=["rain"] * 5, precip_onset_h=onsets, step_hours=3)
    assert fits(hourly, RAIN, RULES).tolist() == [True, True, False, False, False]
    assert fits(coarse, RAIN, RULES).tolist() == [True, True, True, True, False]


def test_onset_counts_hours_from_the_day_the_window_starts():
    """"Rain from about 11 pm" (23) is true for rain at 1 am the next day (25), not for rain at
    1 am before the window (1): an onset is never compared around the clock."""
    late = Statement(**{**RAIN.__dict__, "onset_h": 23.0})
    f = facts(precip_type=["rain"] * 3, precip_onset_h=np.array([25.0, 21.0, 1.0]))
    assert fits(f, late, RULES).tolist() == [True, True, False]


def test_one_message_never_covers_both_ends_of_a_window():
    """An evening window (5 pm to noon) with 3-hourly steps: rain at 5 pm and rain at 11 am
    the next day are 18 hours apart, so no stated onset fits both."""
    from pipeline.truth import best_statement

    f = facts(precip_type=["rain"] * 2, precip_onset_h=np.array([17.0, 35.0]), step_hours=3,
              window_hours=19, window_start_h=np.array([17.0, 17.0]))
    statement, mask = best_statement(f, None, RULES)
    assert mask.sum() == 1 and 14 <= statement.onset_h <= 38


def test_onset_carries_the_day_in_longer_windows():
    """In a 72 h window, 2 pm tomorrow (38) is not 2 pm today (14)."""
    tomorrow = Statement(**{**RAIN.__dict__, "onset_h": 38.0})
    f = facts(precip_type=["rain"] * 3, precip_onset_h=np.array([38.0, 14.0, 40.0]),
              window_hours=72)
    assert fits(f, tomorrow, RULES).tolist() == [True, False, True]


def test_a_statement_is_only_what_a_message_can_say():
    """Whole degrees and hours, and a time for any precipitation."""
    with pytest.raises(ValueError, match="whole-degree"):
        Statement(**{**DRY.__dict__, "high_f": (-0.4, -0.4)})
    with pytest.raises(ValueError, match="onset"):
        Statement(**{**RAIN.__dict__, "onset_h": None})
    with pytest.raises(ValueError, match="whole hour"):
        Statement(**{**RAIN.__dict__, "onset_h": 14.5})


def test_wind_category_must_match():
    f = facts(wind_category=["calm", "breezy"])
    assert fits(f, DRY, RULES).tolist() == [True, False]


def test_sky_is_checked_only_when_stated():
    """Unstated sky: any sky fits. Stated: the same category; an unknown sky never fits it."""
    f = facts(sky=["sunny", "overcast", None])
    assert fits(f, DRY, RULES).tolist() == [True, True, True]
    sunny = Statement(**{**DRY.__dict__, "sky": "sunny"})
    assert fits(f, sunny, RULES).tolist() == [True, False, False]


def test_hazards_hold_both_ways():
    """A stated hazard must hold, and every hazard the member has must be stated."""
    f = facts(hazards=["", "freeze", "freeze,strong gusts"], low_f=np.array([33.0, 33.0, 33.0]))
    warned = Statement(**{**DRY.__dict__, "hazards": ("freeze",)})
    assert fits(f, DRY, RULES).tolist() == [True, False, False]
    assert fits(f, warned, RULES).tolist() == [False, True, False]


def test_fit_is_every_claim_holding():
    """``fits`` is exactly the conjunction of the statement's claims, the silent one included."""
    rng = np.random.default_rng(2)
    n = 200
    f = facts(high_f=rng.uniform(40, 60, n), low_f=rng.uniform(25, 45, n),
              precip_type=rng.choice(["none", "rain"], n),
              precip_onset_h=rng.integers(6, 24, n).astype(float),
              wind_category=rng.choice(["calm", "breezy"], n),
              sky=rng.choice(["sunny", "overcast"], n),
              hazards=rng.choice(["", "freeze"], n))
    statement = Statement(high_f=(48.0, 53.0), low_f=(30.0, 35.0), precip_type="rain",
                          onset_h=15.0, wind_category="calm", hazards=("freeze",),
                          sky="overcast")
    from pipeline.truth.rule import FactArrays

    arrays = FactArrays.from_frame(f)
    claims = claims_of(statement)
    assert {c.topic for c in claims} == {"high", "low", "precipitation", "onset", "wind",
                                         "sky", "hazards"}
    both = np.logical_and.reduce([c.holds(arrays, RULES) for c in claims])
    assert (fits(f, statement, RULES) == both).all()


def test_rule_numbers_are_whole():
    """Messages state whole numbers, so the rule's slack and tolerances must be whole."""
    with pytest.raises(ValueError, match="whole number"):
        TruthRules(temperature_slack_f=1.5)
