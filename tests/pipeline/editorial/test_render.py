"""Placeholder parsing and filling per member ZIP."""

from pipeline.editorial.render import check, member_context
from pipeline.times import clock

MEMBER = {"zip": "02903", "state": "RI", "city": "Providence", "high": 41, "low": 30,
          "rain_start": "7 am", "precip_start": "7 am"}
SNOWY = {"zip": "02806", "state": "RI", "city": "Barrington", "high": 33, "low": 22,
         "snow_start": "11 am", "precip_start": "11 am"}


def test_fills_placeholders_per_member():
    """Each member gets its own values."""
    report = check("{{ city }}: high {{ high }}", [MEMBER, SNOWY])
    assert report.ok
    assert [text for _, text, _ in report.previews] == ["Providence: high 41",
                                                        "Barrington: high 33"]


def test_unknown_placeholder_is_named():
    """An unknown placeholder blocks approval and is named."""
    report = check("Hi {{ temp }}", [MEMBER])
    assert not report.ok and "unknown placeholder {{ temp }}" in report.problems[0]


def test_missing_value_names_the_zip():
    """A placeholder with no value for one ZIP (rain start where it snows) names that ZIP."""
    report = check("Rain from {{ rain_start }}", [MEMBER, SNOWY])
    assert not report.ok
    assert "ZIP 02806" in report.problems[0] and "rain_start" in report.problems[0]
    assert "02903" not in report.problems[0]


def test_python_objects_are_unreachable():
    """Attributes, calls and indexes are refused by the parser, so approval is blocked."""
    for text in ("{{ ''.__class__ }}", "{{ ''.__class__.__mro__[1].__subclasses__() }}",
                 "{{ high.__class__ }}", "{{ cycler.__init__.__globals__ }}"):
        report = check(text, [MEMBER])
        assert not report.ok, text
        assert not report.previews


def test_statements_cannot_mutate():
    """A ``{% set %}`` statement and a mutating call are refused, so approval is blocked."""
    assert not check("{% set x = [] %}{{ x.append(1) }}", [MEMBER]).ok


def test_syntax_error_is_reported():
    """An unclosed placeholder is a clear syntax error."""
    report = check("High {{ high", [MEMBER])
    assert "syntax error" in report.problems[0]


def test_clock_words():
    """Hours read the way people say them."""
    assert [clock(h) for h in (0, 7, 12, 13.5, 23)] == ["midnight", "7 am", "noon",
                                                        "1:30 pm", "11 pm"]


def test_member_context_leaves_out_what_does_not_apply():
    """A snowy ZIP has snow_start and no rain_start."""
    row = {"zip": "02806", "state": "RI", "wind_category": "breezy", "sky": "overcast",
           "hazards": "freeze", "high_f": 32.6, "low_f": 21.2, "pop_max": 90.0,
           "gust_max_mph": 24.6, "precip": True, "precip_type": "snow",
           "precip_start_hour": 11.0, "precip_end_hour": 20.0, "snow_total_in": 2.46}
    context = member_context(row, "Barrington")
    assert context["high"] == 33 and context["snow_start"] == "11 am"
    assert context["snow_in"] == "2.5" and "rain_start" not in context
