"""Issue 16, row "Placeholders run arbitrary Jinja statements".

The attack: ``{{ lipsum(1000) }}`` previewed for 103 s; an 80-character saved draft with two
nested ``range(10000)`` loops made every sheet load take 28.5 s; ``{{ range }}``,
``{{ lipsum }}`` and ``{{ self }}`` passed as placeholders and could be approved; a
5,000-character draft saved; a message filling to 3,000 characters could be approved. A
message is data: plain text with ``{{ name }}`` placeholders, nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from pipeline.dispatch.plan import load_assignments, zip_texts
from pipeline.editorial.gate import Gate
from pipeline.editorial.models import Message
from pipeline.editorial.render import MAX_TEXT_CHARS, PLACEHOLDERS, check
from pipeline.review.spreadsheet import COLUMNS, parse
from pipeline.store.db import session_scope
from tests.pipeline.review import conftest as stored_run
from tests.pipeline.review.conftest import RUN_ID, csrf_of

# the review sheet's fixtures (a stored two-slot run, a signed-in editor), shared by name
app, clock, client = stored_run.app, stored_run.clock, stored_run.client
review_settings = stored_run.review_settings

MEMBER = {"zip": "02903", "state": "RI", "city": "Providence", "high": 41, "low": 30,
          "rain_start": "7 am", "precip_start": "7 am"}
NESTED_LOOPS = ("{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}"
                "{% endfor %}")
SHEET = f"/runs/{RUN_ID}"


def _refused(text: str, offending: str) -> None:
    report = check(text, [MEMBER])
    assert not report.ok, text
    assert not report.previews, text
    assert any(offending in problem for problem in report.problems), report.problems


def test_calls_are_refused_without_running():
    """``{{ lipsum(1000) }}`` is refused at check time, naming the call, without running it."""
    _refused("Hi {{ lipsum(1000) }}", "{{ lipsum(1000) }}")
    _refused("{{ range(10000) }}", "{{ range(10000) }}")


def test_statements_and_comments_are_refused():
    """Loops, conditions, assignments and comments are refused, each named as written."""
    _refused(NESTED_LOOPS, "{% for a in range(10000) %}")
    _refused("{% if high > 40 %}warm{% endif %}", "{% if high > 40 %}")
    _refused("{% set x = 1 %}{{ high }}", "{% set x = 1 %}")
    _refused("Rain {# note to self #}", "{# note to self #}")


@pytest.mark.parametrize("name", ["self", "range", "lipsum", "cycler", "joiner", "namespace",
                                  "loop", "dict"])
def test_template_globals_are_unknown_placeholders(name):
    """Jinja's globals are not placeholders: refused, and the known ones are listed."""
    report = check(f"Hi {{{{ {name} }}}}", [MEMBER])
    assert not report.ok and not report.previews
    assert f"{{{{ {name} }}}}" in report.problems[0] and "high" in report.problems[0]


@pytest.mark.parametrize("text", ["{{ high.__class__ }}", "{{ city.upper() }}",
                                  "{{ city[0] }}", "{{ city['x'] }}", "{{ city | upper }}",
                                  "{{ high + 1 }}", "{{ 'x' * 999 }}", "{{ }}", "{{ 42 }}",
                                  "{{ high }}{{ city.__init__.__globals__ }}"])
def test_attributes_indexes_filters_and_expressions_are_refused(text):
    """Anything inside ``{{ }}`` but a bare known name is refused, naming that text."""
    offending = text[text.rindex("{{"):]
    _refused(text, offending)


def test_unclosed_placeholder_is_named():
    """An unclosed ``{{`` is a syntax error that quotes what follows it."""
    _refused("High {{ high", "{{ high")


def test_lone_braces_stay_plain_text():
    """A lone ``{`` or ``}``, or a stray ``}}``, is plain text and filled as written."""
    text = "Smile :} {braces} 50% chance }} of {rain} {{ city }}}"
    report = check(text, [MEMBER])
    assert report.ok, report.problems
    assert report.previews[0][1] == "Smile :} {braces} 50% chance }} of {rain} Providence}"


def test_one_final_line_break_is_dropped_as_before():
    """Like the Jinja rendering it replaces, one final line break is not sent."""
    report = check("High {{ high }}\n\n", [MEMBER])
    assert report.previews[0][1] == "High 41\n"


def test_over_long_text_is_refused_with_its_length():
    """A 5,000-character message is refused at check time and its length named."""
    report = check("x" * 5000, [MEMBER])
    assert not report.ok and "5000 characters" in report.problems[0]
    assert str(MAX_TEXT_CHARS) in report.problems[0]


def test_filled_message_over_the_limit_is_refused_per_zip():
    """A text under the input limit that fills to more than 1,000 characters names the ZIP."""
    text = "{{city}}" * 120  # 960 characters in, 1,200 out for Providence
    assert len(text) <= MAX_TEXT_CHARS
    short = dict(MEMBER, zip="02999", city="Ely")  # 360 characters: fine
    report = check(text, [MEMBER, short])
    assert not report.ok
    assert "ZIP 02903" in report.problems[0] and "1000 characters" in report.problems[0]
    assert "02999" not in report.problems[0]


class CountingMember(Mapping):
    """A member's values that count every look-up, to measure the work of a render."""

    def __init__(self, values: dict) -> None:
        self.values, self.lookups = values, 0

    def __getitem__(self, key):
        self.lookups += 1
        return self.values[key]

    def __iter__(self) -> Iterator:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


def test_worst_accepted_text_is_filled_in_one_pass():
    """The longest accepted text costs one look-up per placeholder per member, nothing more."""
    shortest = min(PLACEHOLDERS, key=len)
    text = f"{{{{{shortest}}}}}" * (MAX_TEXT_CHARS // (len(shortest) + 4))
    n_placeholders = text.count("{{")
    members = [CountingMember({"zip": f"{i:05d}", "low": 1}) for i in range(100)]
    report = check(text, members, n_preview=0)
    assert report.ok, report.problems
    assert [m.lookups for m in members] == [n_placeholders] * 100


def test_checking_hostile_texts_is_fast():
    """Checking the worst texts for 100 members takes well under 2 s in all.

    Jinja took 28.5 s for one 80-character draft; a linear parser and substitution take a
    few milliseconds here, so 2 s is far from any honest run, even on a busy shared machine.
    """
    shortest = min(PLACEHOLDERS, key=len)
    hostile = ["{{" * 500, "{" * 1000, "{%" * 500, "}}" * 500, "{{ " + "x" * 994 + " }}",
               "{{ high " * 125, f"{{{{{shortest}}}}}" * 142, "{{ high }}" * 100,
               NESTED_LOOPS, "{{ lipsum(1000) }}"]
    members = [dict(MEMBER, zip=f"{i:05d}", low=i) for i in range(100)]
    start = time.perf_counter()
    for text in hostile:
        assert len(text) <= MAX_TEXT_CHARS
        check(text, members)
    assert time.perf_counter() - start < 2.0


def _gate(approved: set[str]) -> Gate:
    return Gate(run_id=RUN_ID, window="morning", send_at=datetime(2026, 1, 15, 11, tzinfo=UTC),
                policy="hold", policy_set_by=None, approved=frozenset(approved),
                pending=frozenset({"s001", "s002"} - approved), passed=False)


def test_dispatch_never_runs_an_approved_template(review_settings):
    """A hand-approved ``{{ range }}`` is not rendered: its ZIPs get the automatic message."""
    assignments = load_assignments(review_settings.runs_dir / RUN_ID)
    texts = zip_texts(assignments, _gate({"s001"}), {"s001": "Hi {{ range }} {{ lipsum(9) }}"},
                      {})
    s001 = texts.frame[texts.frame["slot_id"] == "s001"]
    assert s001["automatic"].all() and not s001["body"].str.contains("function").any()
    assert any("s001" in problem and "{{ range }}" in problem for problem in texts.problems)


def test_dispatch_refuses_a_filled_message_over_the_limit(review_settings):
    """A ZIP whose message would fill past 1,000 characters gets the automatic message."""
    assignments = load_assignments(review_settings.runs_dir / RUN_ID)
    cities = {"02903": "Providence", "02904": "Ely", "02905": "Ely"}
    texts = zip_texts(assignments, _gate({"s001"}), {"s001": "{{city}}" * 120}, cities)
    frame = texts.frame
    assert bool(frame.loc["02903", "automatic"]) and not bool(frame.loc["02904", "automatic"])
    assert frame["body"].dropna().str.len().max() <= 1000
    assert [p for p in texts.problems if "02903" in p and "1000 characters" in p]


def _save(client, text, action="save"):
    token = csrf_of(client.get(SHEET).text)
    return client.post(f"{SHEET}/slots/s001/message", data={
        "text": text, "version": 0, "action": action, "csrf_token": token})


def _stored(review_settings) -> Message | None:
    with session_scope(review_settings.db_url) as db:
        return db.scalars(select(Message).where(Message.slot_id == f"{RUN_ID}/s001")).first()


def test_saving_a_statement_is_refused(client, review_settings):
    """A draft with a ``{% for %}`` is not saved, and the refusal quotes the statement."""
    html = _save(client, "Rain {% for a in range(3) %}!{% endfor %}").text
    assert "not saved" in html and "{% for a in range(3) %}" in html
    assert _stored(review_settings) is None


def test_saving_an_over_long_draft_is_refused(client, review_settings):
    """A 5,000-character draft is not saved, and the refusal names its length."""
    html = _save(client, "x" * 5000).text
    assert "not saved" in html and "5000 characters" in html
    assert _stored(review_settings) is None


def test_approving_a_message_that_fills_too_long_is_refused(client, review_settings):
    """Approval of a text filling past 1,000 characters is refused and names a ZIP."""
    html = _save(client, "{{city}}" * 120, action="approve").text
    assert "not approved" in html and "ZIP 02903" in html and "1000 characters" in html
    assert _stored(review_settings).status == "draft"


def test_import_refuses_statements_by_row():
    """An imported row with a Jinja statement is a row problem naming the statement."""
    header = ",".join(COLUMNS)
    content = (f"{header}\ns001,,,,\"{{% if high %}}warm{{% endif %}}\",draft,0,\n"
               f"s002,,,,Snow from {{{{ snow_start }}}},draft,0,\n").encode()
    rows, problems = parse(content, "sheet.csv")
    assert [r.slot_id for r in rows] == ["s002"]
    assert problems[0].row == 2 and "{% if high %}" in problems[0].reason
