"""Tests for reading an editor's text as claims (pipeline.truth.parse)."""

from __future__ import annotations

import pytest

from pipeline.settings import TruthRules
from pipeline.truth import Statement, fits
from pipeline.truth.claims import Hazard, Onset, Precipitation, Sky, TemperatureRange
from pipeline.truth.parse import (
    VOCABULARY,
    Not,
    OnsetSpan,
    ReadingWindow,
    TemperatureSpan,
    Vocabulary,
    parse,
    read,
)
from pipeline.truth.rule import FactArrays
from pipeline.truth.wording import message

MORNING = ReadingWindow(start_h=6, hours=18)
EVENING = ReadingWindow(start_h=17, hours=19)


def claims(text: str, window: ReadingWindow = MORNING) -> list:
    return [p.claim for p in parse(text, window=window)]


def test_issue_example_claims_sky_and_dry_twice():
    """Issue 15's text claims a sunny sky and a dry day (twice), each with its own words."""
    text = "Sunny and bone dry all day – leave the umbrella at home"
    parsed = parse(text, window=MORNING)
    assert [p.claim for p in parsed] == [Sky("sunny"), Precipitation("none"),
                                         Precipitation("none")]
    assert [p.words for p in parsed] == ["Sunny", "bone dry", "leave the umbrella at home"]
    assert all(text[p.span[0]:p.span[1]] == p.words for p in parsed)


@pytest.mark.parametrize("text, expected", [
    ("highs 70-75°F", [TemperatureRange("high", 70, 75)]),
    ("Highs 70–75°F", [TemperatureRange("high", 70, 75)]),
    ("high near 73", [TemperatureRange("high", 73, 73)]),
    ("lows around 20°F", [TemperatureRange("low", 20, 20)]),
    ("Highs -8 to -3F", [TemperatureRange("high", -8, -3)]),
    ("75°F and sunny", [TemperatureRange("high", 75, 75), Sky("sunny")]),
    ("a high of 80 and a low of 60", [TemperatureRange("high", 80, 80),
                                      TemperatureRange("low", 60, 60)]),
    ("in the 70s", [TemperatureSpan("high", 70, 79, "in the 70s")]),
    ("upper 80s", [TemperatureSpan("high", 87, 89, "in the upper 80s")]),
    ("lows in the teens", [TemperatureSpan("low", 10, 19, "in the teens")]),
    ("28°F tonight", [TemperatureRange("low", 28, 28)]),
])
def test_temperatures(text, expected):
    """Ranges, "near", decades and lone degrees read as the high (the low at night)."""
    def key(c):
        return (type(c), c.which, c.lo, c.hi) if isinstance(c, TemperatureRange) else c
    assert [key(c) for c in claims(text)] == [key(c) for c in expected]


def test_decades_and_ranges_both_take_the_slack():
    """'in the 70s' is 70 up to 80 widened by the rule's 2 °F like 'highs 70-75': a high of
    68 is in the 70s as much as it is 70-75, so the looser words are never stricter."""
    import numpy as np
    f = FactArrays(high=np.array([67.9, 68.0, 81.9, 82.0]), low=np.zeros(4),
                   kind=np.zeros(4, np.int8), onset=np.full(4, np.nan),
                   wind=np.zeros(4, np.int8), sky=np.zeros(4, np.int8),
                   hazards=np.zeros(4, np.int64))
    rules = TruthRules()
    assert claims("in the 70s")[0].holds(f, rules).tolist() == [False, True, True, False]
    assert claims("highs 70-75")[0].holds(f, rules).tolist() == [False, True, False, False]


def test_numbers_that_are_not_temperatures_claim_nothing():
    """Times, chances, speeds and apparent temperatures are not temperature claims."""
    assert claims("80% chance, gusts 10 mph, feels like 20°F, wind chills near -5") == []


@pytest.mark.parametrize("text, kind, hours", [
    ("Rain from 6 am", "rain", 6),
    ("snow after 2 pm", "snow", 14),
    ("showers by noon", "rain", 12),
    ("Rain likely after 2 p.m.", "rain", 14),
    ("sleet from 7:30 am", "mix", 7.5),
])
def test_wet_words_with_times_claim_type_and_onset(text, kind, hours):
    """A wet word claims its type; a time with it claims the onset."""
    got = claims(text)
    assert Precipitation(kind) in got and Onset(hours) in got


@pytest.mark.parametrize("text, kind, span", [
    ("t-storms this afternoon", "rain", (12, 18)),
    ("afternoon thunderstorms", "rain", (12, 18)),
    ("flurries late afternoon", "snow", (15, 18)),
    ("Morning snow.", "snow", (5, 12)),
    ("Flurries this morning", "snow", (5, 12)),
])
def test_a_part_of_the_day_is_its_whole_span(text, kind, span):
    """'morning snow' is true for snow from 6 am as from 11 am: the words name a span."""
    got = claims(text)
    assert Precipitation(kind) in got
    assert [(c.lo, c.hi) for c in got if isinstance(c, OnsetSpan)] == [span]


def test_time_words_between_keyword_and_number():
    """'lows tonight near 80' and 'temps tonight near 80' claim the low."""
    for text in ("Lows tonight near 80.", "Temps tonight near 80."):
        assert claims(text) == [TemperatureRange("low", 80, 80)], text
    assert claims("Temps this afternoon near 50") == [TemperatureRange("high", 50, 50)]


def test_not_a_drop_of_rain_is_dry():
    """'Not a drop of rain' says dry, not rain."""
    assert claims("Not a drop of rain today.") == [Precipitation("none")]


def test_clock_times_are_read_from_the_window_start():
    """In an evening window "2 am" is the next day's (26 h); a long window says the day."""
    assert Onset(26.0) in claims("Rain from 2 am", EVENING)
    assert Onset(38.0) in claims("Rain from about 2 pm tomorrow", ReadingWindow(6, 42))
    assert Onset(24.0) in claims("Snow from about midnight.", MORNING)


def test_until_says_when_it_ends_not_when_it_starts():
    """'rain until 3 pm' claims rain without an onset; 'dry until 3 pm' claims the onset."""
    assert claims("rain until 3 pm") == [Precipitation("rain")]
    assert claims("dry until 3 pm") == [Onset(15.0)]


def test_negations():
    """'no rain' is a dry day; 'no heat' and 'no snow' deny just the hazard or the type."""
    assert claims("no rain") == [Precipitation("none")]
    assert claims("no heat") == [Not(Hazard("heat"))]
    assert claims("No snow today") == [Not(Precipitation("snow"))]
    assert claims("no heavy rain") == [Not(Hazard("heavy rain"))]


def test_editorial_words():
    """The words editors use map to the rule's categories."""
    got = claims("Scorcher! Bundle up? No: t-storms, flurries, balmy, frigid, umbrella")
    assert Hazard("heat") in got and Precipitation("rain") in got
    assert Precipitation("snow") in got
    assert {w.words.lower() for w in read("bundle up, balmy and frigid").wit} == \
        {"bundle up", "balmy", "frigid"}


def test_unknown_words_are_not_claims():
    """Wit the vocabulary does not know claims nothing."""
    assert parse("a real stunner of a day") == []


def test_placeholders_are_not_parsed():
    """A placeholder is true by construction: no temperature or onset is read from it."""
    assert claims("Highs near {{ high }}F. Rain from {{ rain_start }}.") == \
        [Precipitation("rain")]
    assert claims("{{ high }}°F in {{ city }}") == []


def test_vocabulary_rejects_unknown_claims(tmp_path):
    """A claim the rule cannot check is an error in the vocabulary file, not a silent pass."""
    text = VOCABULARY.read_text(encoding="utf-8")
    bad = tmp_path / "v.toml"
    bad.write_text(text.replace('"calm" = ["wind:calm"]', '"calm" = ["wind:still"]'),
                   encoding="utf-8")
    with pytest.raises(ValueError, match="unknown claim"):
        Vocabulary.load(bad)


STATEMENTS = [
    Statement(high_f=(52, 57), low_f=(38, 43), precip_type="rain", onset_h=14.0,
              wind_category="breezy", hazards=("freeze",), sky="overcast"),
    Statement(high_f=(71, 71), low_f=(55, 59), precip_type="none", onset_h=None,
              wind_category="calm", hazards=(), sky="partly cloudy"),
    Statement(high_f=(-8, -3), low_f=(-20, -16), precip_type="snow", onset_h=24.0,
              wind_category="very windy", hazards=("freeze", "heavy rain", "strong gusts")),
    Statement(high_f=(96, 99), low_f=(75, 78), precip_type="none", onset_h=None,
              wind_category="windy", hazards=("heat",), sky="sunny"),
    Statement(high_f=(33, 36), low_f=(28, 31), precip_type="mix", onset_h=9.0,
              wind_category="breezy", hazards=("freeze",), sky="mostly cloudy"),
]


@pytest.mark.parametrize("statement", STATEMENTS)
def test_drafts_round_trip(statement, make_facts):
    """Every draft the pipeline writes parses back into claims true for its fitting members."""
    import numpy as np
    high, low = statement.high_f, statement.low_f
    n = 9
    facts = make_facts(
        high_f=np.linspace(high[0] - 2, high[1] + 2, n),
        low_f=np.linspace(low[0] - 2, low[1] + 2, n),
        precip_type=[statement.precip_type] * n,
        precip_onset_h=np.full(n, np.nan) if not statement.precip
        else statement.onset_h + np.array([-2, -1, 0, 1, 2, 0, 0, 1, -1], float),
        wind_category=[statement.wind_category] * n,
        sky=[statement.sky or "sunny"] * n,
        hazards=[",".join(statement.hazards)] * n)
    rules = TruthRules()
    assert fits(facts, statement, rules).all()
    f = FactArrays.from_frame(facts)
    text = message(statement)
    parsed = parse(text, window=ReadingWindow.of(f))
    topics = {p.claim.topic for p in parsed}
    assert {"high", "low", "precipitation", "wind"} <= topics, text
    assert ("onset" in topics) == statement.precip, text
    for p in parsed:
        assert p.claim.holds(f, rules).all(), (text, p)
