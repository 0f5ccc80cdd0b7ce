"""Fill a slot's message per subscriber ZIP, and say exactly what went wrong.

A message is plain text with placeholders: ``"Highs near {{ high }}°F in {{ city }}"``. The
language is deliberately tiny: ``{{ name }}`` with a name from :data:`PLACEHOLDERS` (spaces
inside the braces optional) and nothing else: no ``{% %}`` statements, ``{# #}`` comments,
filters, calls, attributes, indexes or expressions. An editor's text is data, so it is split
by one left-to-right scan and filled by substitution; nothing in it is ever run (issue 16:
under Jinja, an 80-character draft looped 10^8 times on every sheet load). A lone ``{`` or
``}`` is plain text.

A placeholder with no value for some ZIP (``{{ rain_start }}`` where it snows), or a message
filling to more than :data:`MAX_FILLED_CHARS`, fails for that ZIP instead of sending a blank
or a 20-part SMS. Output is plain SMS text; HTML escaping happens where it is shown, in the
page templates.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.editorial.sms import SmsCount, count
from pipeline.store.assignments import FILE, read_assignments
from pipeline.times import clock

PLACEHOLDERS: dict[str, str] = {
    "high": "the ZIP's high, °F, rounded (42)",
    "low": "the ZIP's low, °F, rounded (28)",
    "city": "the ZIP's city (Providence)",
    "state": "two-letter state (RI)",
    "zip": "the ZIP code",
    "chance": "highest precipitation chance, % (80)",
    "precip_type": "rain, snow or mix (only where precipitation is expected)",
    "precip_start": "when precipitation starts, local clock (7 am)",
    "precip_end": "when precipitation ends, local clock (3 pm)",
    "rain_start": "when rain starts (only where it rains)",
    "snow_start": "when snow starts (only where it snows)",
    "snow_in": "snowfall, inches, one decimal (only where it snows)",
    "wind": "calm, breezy, windy or very windy",
    "gust": "strongest gust, mph, rounded",
    "sky": "sunny, partly cloudy, mostly cloudy or overcast",
    "hazards": "hazards, comma-separated (may be empty)",
}
PREVIEW_MEMBERS = 3
MAX_FAILURES_SHOWN = 5
MAX_TEXT_CHARS = 1000  # what an editor may write; the sheet's textarea has the same maxlength
MAX_FILLED_CHARS = 1000  # what one ZIP may receive: 7 SMS parts in GSM-7, 15 in UCS-2
MAX_QUOTED_CHARS = 60  # offending text quoted in a problem is cut here: flashes live in a cookie

_OPENER = re.compile(r"\{[{%#]")
_CLOSER = {"{{": "}}", "{%": "%}", "{#": "#}"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # ASCII only, unlike str.isidentifier()


class TemplateError(ValueError):
    """A message that is not plain text with known ``{{ name }}`` placeholders, or that cannot
    be filled for some subscriber ZIP; ``problems`` lists each reason, quoting the text."""

    def __init__(self, *problems: str) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


def _number(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


#: the ``assignments.parquet`` columns :func:`member_context` reads
CONTEXT_COLUMNS = ("zip", "state", "wind_category", "sky", "hazards", "high_f", "low_f",
                   "pop_max", "gust_max_mph", "precip", "precip_type", "precip_start_hour",
                   "precip_end_hour", "snow_total_in")


#: :func:`~pipeline.times.clock` for member rows: a run's 40k ZIPs share a few dozen hours
_clock = lru_cache(maxsize=1024)(clock)


def member_context(row: Mapping[str, Any], city: str = "") -> dict[str, Any]:
    """The placeholder values of one ZIP from its ``assignments.parquet`` row.

    Values that do not apply (a rain start where it snows) are left out, so using them
    fails for that ZIP rather than printing nothing.
    """
    context: dict[str, Any] = {"zip": row["zip"], "state": row["state"], "city": city,
                               "wind": row["wind_category"], "sky": row["sky"],
                               "hazards": (row.get("hazards") or "").replace("|", ", ")}
    for name, column in (("high", "high_f"), ("low", "low_f"), ("chance", "pop_max"),
                         ("gust", "gust_max_mph")):
        if (value := _number(row.get(column))) is not None:
            context[name] = int(round(value))
    if row.get("precip"):
        kind = row.get("precip_type") or ""
        context["precip_type"] = kind
        if (start := _number(row.get("precip_start_hour"))) is not None:
            context["precip_start"] = _clock(start)
            if kind in ("rain", "snow"):
                context[f"{kind}_start"] = context["precip_start"]
        if (end := _number(row.get("precip_end_hour"))) is not None:
            context["precip_end"] = _clock(end)
        if kind == "snow" and (snow := _number(row.get("snow_total_in"))) is not None:
            context["snow_in"] = f"{snow:.1f}"
    return context


@lru_cache(maxsize=16)
def _assignments(run_dir: str, mtime: float) -> pd.DataFrame | None:
    return read_assignments(run_dir)


def slot_members(run_dir: str | Path, slot_id: str, cities: Mapping[str, str]) -> list[dict]:
    """Placeholder values for every ZIP of a slot, medoid-near first (ordered by distance).

    Parameters
    ----------
    run_dir : the run folder holding ``assignments.parquet``
    slot_id : short slot id, e.g. ``"s001"``
    cities : ZIP -> city name
    """
    path = Path(run_dir) / FILE
    frame = _assignments(str(run_dir), path.stat().st_mtime) if path.exists() else None
    if frame is None:
        return []
    rows = frame[frame["slot_id"] == slot_id].sort_values(["distance", "zip"])
    return [member_context(row, cities.get(row["zip"], "")) for row in rows.to_dict("records")]


@dataclass
class RenderReport:
    """What a template does for a slot's members; ``ok`` means it may be approved."""

    problems: list[str] = field(default_factory=list)
    previews: list[tuple[dict, str, SmsCount]] = field(default_factory=list)
    n_members: int = 0
    max_segments: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class MessageTemplate:
    """A parsed message: literal text and placeholder names, alternating.

    ``parts`` has odd length: ``parts[0::2]`` are literal text, ``parts[1::2]`` known
    placeholder names. Build it with :func:`parse`.
    """

    parts: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """The placeholder names, in order, repeats included."""
        return self.parts[1::2]

    def render(self, context: Mapping[str, Any]) -> str:
        """The message filled for one ZIP: one pass, one look-up per placeholder.

        Parameters
        ----------
        context : placeholder values of the ZIP (see :func:`member_context`)

        Raises
        ------
        TemplateError : a placeholder has no value in ``context``, or the filled message
            would be longer than :data:`MAX_FILLED_CHARS` (it stops there, so a long value
            costs no more than the limit)
        """
        out: list[str] = []
        size = 0
        for i, part in enumerate(self.parts):
            if i % 2:
                try:
                    part = str(context[part])
                except KeyError:
                    raise TemplateError(f"{{{{ {part} }}}} has no value there") from None
            size += len(part)
            if size > MAX_FILLED_CHARS:
                raise TemplateError(f"the filled message is more than {MAX_FILLED_CHARS} "
                                    "characters; shorten it or use fewer placeholders")
            out.append(part)
        return "".join(out)


def _cut(piece: str) -> str:
    return piece if len(piece) <= MAX_QUOTED_CHARS else piece[:MAX_QUOTED_CHARS - 1] + "…"


def _quote(piece: str) -> str:
    return f'"{_cut(piece)}"'


def _scan(text: str) -> tuple[tuple[str, ...], list[str], list[str]]:
    """Split ``text`` at its ``{{ }}``, ``{% %}`` and ``{# #}`` pieces in one forward pass.

    Each character is looked at a bounded number of times (``search`` and ``find`` only move
    forward), so the cost is linear in ``len(text)`` whatever the text.

    Returns
    -------
    parts : literal text and known names, alternating (the unusable pieces are dropped)
    malformed : a problem per piece that is not a placeholder at all
    unknown : each well-formed ``{{ name }}`` whose name is not known, as written
    """
    parts: list[str] = []
    malformed: list[str] = []
    unknown: list[str] = []
    literal_from = pos = 0
    while (found := _OPENER.search(text, pos)) is not None:
        start, opener = found.start(), found.group()
        end = text.find(_CLOSER[opener], start + 2)
        if end < 0:
            malformed.append(f"placeholder syntax error: {_quote(text[start:])} is not "
                             f"closed with {_CLOSER[opener]}")
            break
        pos = end + 2
        piece, name = text[start:pos], text[start + 2:end].strip()
        if opener != "{{":
            malformed.append(f"{_quote(piece)} is not allowed: a message has no {{% %}} "
                             "statements or {# #} comments, only {{ name }} placeholders")
        elif not _NAME.fullmatch(name):
            malformed.append(f"{_quote(piece)} is not a placeholder: write a bare "
                             "{{ name }}, without calls, filters, attributes, indexes or "
                             "expressions")
        elif name not in PLACEHOLDERS:
            unknown.append(piece)
        else:
            parts += [text[literal_from:start], name]
            literal_from = pos
    parts.append(text[literal_from:])
    return tuple(parts), malformed, unknown


def _shown(problems: list[str]) -> list[str]:
    more = len(problems) - MAX_FAILURES_SHOWN
    return problems[:MAX_FAILURES_SHOWN] + ([f"and {more} more"] if more > 0 else [])


def _too_long(text: str) -> list[str]:
    if len(text) <= MAX_TEXT_CHARS:
        return []
    return [f"the message is {len(text)} characters; at most {MAX_TEXT_CHARS} are allowed"]


def draft_problems(text: str) -> list[str]:
    """Why ``text`` may not even be saved as a draft: too long, or not plain text with
    ``{{ name }}`` placeholders. An unknown but well-formed ``{{ name }}`` (a typo) may be
    saved; it blocks approval (see :func:`parse`)."""
    if too_long := _too_long(text):
        return too_long
    return _shown(list(dict.fromkeys(_scan(text)[1])))


def parse(text: str) -> MessageTemplate:
    """The message ``text`` as a template that can be filled per ZIP.

    Raises
    ------
    TemplateError : the text is longer than :data:`MAX_TEXT_CHARS`, has anything but plain
        text and ``{{ name }}`` placeholders, or names an unknown placeholder; every problem
        quotes the offending text (at most :data:`MAX_FAILURES_SHOWN` of them)
    """
    if too_long := _too_long(text):
        raise TemplateError(*too_long)
    parts, malformed, unknown = _scan(text)
    problems = _shown(list(dict.fromkeys(malformed)))
    if unknown:
        names = ", ".join(_shown([_cut(piece) for piece in dict.fromkeys(unknown)]))
        problems.append(f"unknown placeholder {names}; known: {', '.join(PLACEHOLDERS)}")
    if problems:
        raise TemplateError(*problems)
    # Jinja dropped one final line break (a textarea's last Enter); sent texts stay the same
    return MessageTemplate((*parts[:-1], parts[-1].removesuffix("\n")))


def check(text: str, members: Sequence[Mapping[str, Any]],
          n_preview: int = PREVIEW_MEMBERS) -> RenderReport:
    """Fill ``text`` for every member; collect previews and every reason to block approval.

    The cost is linear in ``len(text)`` times ``len(members)``: nothing in the text runs.

    Parameters
    ----------
    text : the message template
    members : placeholder values per ZIP (see :func:`member_context`), preview ones first
    n_preview : how many filled members to keep for the preview
    """
    report = RenderReport(n_members=len(members))
    try:
        template = parse(text)
    except TemplateError as err:
        report.problems += err.problems
        return report
    failures: list[str] = []
    for member in members:
        try:
            rendered = template.render(member)
        except TemplateError as err:
            failures.append(f"ZIP {member.get('zip', '?')}: {err}")
            continue
        sms = count(rendered)
        report.max_segments = max(report.max_segments, sms.segments)
        if len(report.previews) < n_preview:
            report.previews.append((dict(member), rendered, sms))
    if failures:
        shown = failures[:MAX_FAILURES_SHOWN]
        more = len(failures) - len(shown)
        tail = f"; and {more} more" if more else ""
        report.problems.append(f"cannot fill the message for {len(failures)} of "
                               f"{len(members)} ZIPs: {'; '.join(shown)}{tail}")
    return report
