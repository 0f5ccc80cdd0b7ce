"""Tests for the fit rule, the best statement search and truthfulness scores."""

import itertools

import numpy as np
import pandas as pd

from pipeline.settings import TruthRules
from pipeline.truth import Statement, best_statement, fits, truthfulness

RULES = TruthRules()


def facts(**columns) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base = {
        "high_f": np.full(n, 50.0), "low_f": np.full(n, 35.0),
        "precip": np.zeros(n, bool), "precip_type": ["none"] * n,
        "precip_start_offset_h": np.full(n, np.nan), "wind_category": ["calm"] * n,
        "hazards": [""] * n,
    }
    base.update(columns)
    return pd.DataFrame(base)


DRY = Statement(high_f=(48.0, 53.0), low_f=(33.0, 38.0), precip=False, precip_type="none",
                onset_offset_h=None, wind_category="calm", hazards=())


def test_temperatures_within_5f_of_the_stated_range_fit():
    """Highs and lows fit when within 5 °F of the stated range, and not beyond."""
    f = facts(high_f=np.array([43.0, 58.0, 42.9, 58.1, 50.0]))
    assert fits(f, DRY, RULES, 1).tolist() == [True, True, False, False, True]


def test_precip_type_onset_wind_and_hazards_must_match():
    """Precipitation yes/no, type, onset within 2 h (3 h for 3-hourly), wind and hazards."""
    rain = Statement(**{**DRY.__dict__, "precip": True, "precip_type": "rain",
                        "onset_offset_h": 8.0})
    f = facts(precip=np.ones(5, bool), precip_type=["rain", "rain", "snow", "rain", "rain"],
              precip_start_offset_h=np.array([10.0, 11.0, 8.0, 8.0, 8.0]),
              wind_category=["calm", "calm", "calm", "breezy", "calm"],
              hazards=["", "", "", "", "freeze"])
    assert fits(f, rain, RULES, 1).tolist() == [True, False, False, False, False]
    assert fits(f, rain, RULES, 3).tolist() == [True, True, False, False, False]
    assert not fits(facts(high_f=[50.0]), rain, RULES, 1)[0]  # dry member, rain message
    warned = Statement(**{**rain.__dict__, "hazards": ("freeze",)})
    assert fits(f, warned, RULES, 1)[4]


def brute_force_best(f: pd.DataFrame) -> int:
    """The most members any statement can fit: every integer box, the rule written out again."""
    high, low = f["high_f"].to_numpy(), f["low_f"].to_numpy()
    onset = f["precip_start_offset_h"].to_numpy()
    best = 0
    for precip, kind, wind in {tuple(r) for r in f[["precip", "precip_type", "wind_category"]]
                               .values}:
        same = ((f["precip"] == precip) & (f["precip_type"] == kind)
                & (f["wind_category"] == wind)).to_numpy()
        for a, c in itertools.product(range(int(high.min()) - 11, int(high.max()) + 11),
                                      range(int(low.min()) - 11, int(low.max()) + 11)):
            ok = same & (high >= a - 5) & (high <= a + 10) & (low >= c - 5) & (low <= c + 10)
            if not precip:
                best = max(best, int(ok.sum()))
                continue
            for s in range(-3, 12):
                best = max(best, int((ok & (np.abs(onset - s) <= 2)).sum()))
    return best


def test_best_statement_matches_brute_force():
    """The prefix-sum search fits as many members as the best of every integer statement."""
    rng = np.random.default_rng(0)
    n = 40
    precip = rng.random(n) < 0.6
    f = facts(
        high_f=np.round(rng.normal(50, 5, n), 1), low_f=np.round(rng.normal(32, 4, n), 1),
        precip=precip, precip_type=np.where(precip, "rain", "none"),
        precip_start_offset_h=np.where(precip, rng.integers(0, 9, n), np.nan).astype(float),
        wind_category=rng.choice(["calm", "breezy"], n, p=[0.8, 0.2]),
    )
    statement, mask = best_statement(f, None, RULES, 1)
    assert mask.sum() == brute_force_best(f)
    assert statement.high_f[1] - statement.high_f[0] <= RULES.stated_range_f
    assert (fits(f, statement, RULES, 1) == mask).all()


def test_best_statement_states_shared_hazards():
    """A hazard held by enough of the fitting members is stated, so they still fit."""
    f = facts(low_f=np.array([30.0, 31.0, 33.0, 34.0]), hazards=["freeze", "freeze", "", ""])
    statement, mask = best_statement(f, None, RULES, 1)
    assert statement.hazards == ("freeze",) and mask.all()


def test_truthfulness_national_state_slot_and_floor():
    """Truthfulness is reported nationally, per state and per slot, flagging weak states."""
    report = truthfulness(
        np.array([True, True, False, True]), None, np.array(["NY", "NY", "NJ", "NJ"]),
        np.array(["s001", "s001", "s002", "s002"]), state_floor=0.85,
    )
    assert report["national"] == 0.75
    assert report["per_state"] == {"NJ": 0.5, "NY": 1.0}
    assert report["states_below_floor"] == ["NJ"]
    assert report["per_slot"] == {"s001": 1.0, "s002": 0.5}
    weighted = truthfulness(np.array([True, False]), np.array([3.0, 1.0]),
                            np.array(["NY", "NY"]), np.array(["a", "a"]), 0.85)
    assert weighted["national"] == 0.75 and weighted["weighting"] == "subscribers"
