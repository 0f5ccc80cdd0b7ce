"""Messages rendered from statements: every word a checked claim, GSM-7, one SMS."""

import itertools

import numpy as np

from pipeline.settings import TruthRules
from pipeline.times import clock
from pipeline.truth import HAZARDS, PRECIP_TYPES, SKY_CATEGORIES, WIND_CATEGORIES, Statement, fits
from pipeline.truth.wording import automatic_message, headline, message, own_statement
from tests.flows.reference import parse_headline, parse_message
from tests.pipeline.truth.conftest import facts

GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLM"
           "NOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
RAIN = Statement(high_f=(40.0, 45.0), low_f=(30.0, 35.0), precip_type="rain", onset_h=14.0,
                 wind_category="breezy", hazards=("freeze",))


def test_message_says_exactly_the_statement():
    """Ranges with a hyphen and F, the onset clock, the wind, the hazards; nothing else."""
    assert message(RAIN) == (
        "Highs 40-45F, lows 30-35F. Rain from about 2 pm. Breezy. Watch for freeze.")
    dry = Statement(high_f=(40.0, 45.0), low_f=(-8.0, -3.0), precip_type="none", onset_h=None,
                    wind_category="calm", hazards=(), sky="sunny")
    assert message(dry) == "Highs 40-45F, lows -8 to -3F. Dry, sunny. Light winds."


def test_heavy_precipitation_says_no_more_than_an_inch_of_water():
    """An inch of water on a snow day is heavy precipitation: the facts measure water, not
    snow depth, so the message does not say "heavy snow" (nor "heavy rain")."""
    snow = Statement(**{**RAIN.__dict__, "precip_type": "snow",
                        "hazards": ("freeze", "heavy rain")})
    assert message(snow).endswith("Watch for freeze and heavy precipitation.")


def test_headline_is_a_subset_of_the_claims():
    assert headline(RAIN) == "Rain from about 2 pm, highs 40-45F"
    assert headline(RAIN, long_window=True) == "Rain from about 2 pm today, highs 40-45F"
    tomorrow = Statement(**{**RAIN.__dict__, "onset_h": 38.0})
    assert message(tomorrow, long_window=True).startswith(
        "Highs 40-45F, lows 30-35F. Rain from about 2 pm tomorrow.")


def test_every_message_is_gsm7_one_sms_and_parses_back():
    """Over every combination of categories, hazards and extreme values, a message fits one
    SMS in GSM-7 and the independent parser reads back exactly the statement."""
    longest = ""
    for kind, wind, sky, n_haz, temps, long_window in itertools.product(
            PRECIP_TYPES, WIND_CATEGORIES, (None, *SKY_CATEGORIES), range(len(HAZARDS) + 1),
            ((-38.0, -33.0, -45.0, -40.0), (105.0, 110.0, 88.0, 93.0), (0.0, 0.0, -1.0, -1.0)),
            (False, True)):
        hazards = HAZARDS[:n_haz]
        if kind == "none" and "heavy rain" in hazards:
            continue  # no such statement: an inch of water is never dry
        s = Statement(high_f=temps[:2], low_f=temps[2:], precip_type=kind,
                      onset_h=None if kind == "none" else 48.0 if long_window else 23.0,
                      wind_category=wind, hazards=hazards, sky=sky)
        text = message(s, long_window=long_window)
        assert set(text) <= GSM7 and len(text) <= 160, text
        longest = max(longest, text, key=len)
        back = parse_message(text)
        assert back["high"] == tuple(int(t) for t in s.high_f)
        assert back["low"] == tuple(int(t) for t in s.low_f)
        assert back["precip"] == kind and back["wind"] == wind and back["sky"] == sky
        assert back["hazards"] == set(s.hazards)
        assert parse_headline(headline(s, long_window=long_window))["precip"] == kind
    assert len(longest) <= 160


def test_no_minus_zero_and_no_nan():
    s = Statement(**{**RAIN.__dict__, "high_f": (-0.0, -0.0)})
    assert message(s).startswith("Highs near 0F")
    row = {"high_f": float("nan"), "low_f": 30.0, "precip_type": "none", "wind_category":
           "calm", "hazards": "", "sky": None, "window_hours": 18}
    assert automatic_message(row) == "Dry. Light winds."


def test_midnight_in_a_long_window_is_12_am():
    """"Midnight tomorrow" reads as the end of tomorrow to many; "12 am tomorrow" does not."""
    s = Statement(**{**RAIN.__dict__, "onset_h": 24.0})
    assert "Rain from about 12 am tomorrow." in message(s, long_window=True)
    assert "Rain from about midnight." in message(s)


def test_automatic_message_is_true_for_its_own_zip():
    """A ZIP's own statement fits it, whatever its facts (rounded values stay within 2 °F)."""
    rng = np.random.default_rng(5)
    n = 500
    kind = rng.choice(["none", "rain", "snow", "mix"], n)
    f = facts(high_f=rng.uniform(-20, 110, n), low_f=rng.uniform(-40, 80, n),
              precip_type=kind,
              precip_onset_h=np.where(kind != "none", rng.uniform(6, 24, n), np.nan),
              wind_category=rng.choice(list(WIND_CATEGORIES), n),
              sky=rng.choice([*SKY_CATEGORIES, None], n),
              hazards=rng.choice(["", "heat", "freeze,strong gusts"], n))
    rules = TruthRules()
    for i, row in enumerate(f.to_dict("records")):
        assert fits(f.iloc[[i]], own_statement(row), rules)[0], row
        assert len(automatic_message(row)) <= 160


def test_clock():
    """Hours print as a person says them; a day later reads the same clock."""
    assert [clock(0), clock(9), clock(12), clock(14.0), clock(38.0), clock(None)] == [
        "midnight", "9 am", "noon", "2 pm", "2 pm", "",
    ]
