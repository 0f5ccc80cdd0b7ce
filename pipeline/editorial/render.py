"""Fill a slot's message per subscriber ZIP, safely, and say exactly what went wrong.

Messages are Jinja2 text templates such as ``"Highs near {{ high }}°F in {{ city }}"``. They
run in an :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment` (no ``__class__``, no
mutation, no Python objects beyond the plain values below) with :class:`StrictUndefined`, so an
unknown placeholder, or one with no value for some ZIP (``{{ rain_start }}`` where it snows),
fails for that ZIP instead of sending a blank. Output is plain SMS text; HTML escaping happens
where it is shown, in the page templates.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import StrictUndefined, TemplateSyntaxError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

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
MAX_TEXT_CHARS = 1000  # a long template is a mistake, and a cheap sandbox guard


class TemplateError(ValueError):
    """A message template that cannot be filled for some subscriber ZIP."""


def _number(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


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
            context["precip_start"] = clock(start)
            if kind in ("rain", "snow"):
                context[f"{kind}_start"] = clock(start)
        if (end := _number(row.get("precip_end_hour"))) is not None:
            context["precip_end"] = clock(end)
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


MESSAGE_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def check(text: str, members: Sequence[Mapping[str, Any]],
          n_preview: int = PREVIEW_MEMBERS) -> RenderReport:
    """Render ``text`` for every member; collect previews and every reason to block approval.

    Parameters
    ----------
    text : the message template
    members : placeholder values per ZIP (see :func:`member_context`), preview ones first
    n_preview : how many rendered members to keep for the preview
    """
    report = RenderReport(n_members=len(members))
    if len(text) > MAX_TEXT_CHARS:
        report.problems.append(f"the message is {len(text)} characters; at most "
                               f"{MAX_TEXT_CHARS} are allowed")
        return report
    try:
        template = MESSAGE_ENV.from_string(text)
        named = meta.find_undeclared_variables(MESSAGE_ENV.parse(text))
        unknown = sorted(named - set(PLACEHOLDERS))
    except TemplateSyntaxError as err:
        report.problems.append(f"placeholder syntax error on line {err.lineno}: {err.message}")
        return report
    report.problems += [f"unknown placeholder {{{{ {name} }}}}; known: "
                        f"{', '.join(PLACEHOLDERS)}" for name in unknown]
    if unknown:
        return report
    failures: list[str] = []
    for member in members:
        try:
            rendered = template.render(member)
        except Exception as err:  # noqa: BLE001 -- any failure blocks approval, named per ZIP
            failures.append(f"ZIP {member.get('zip', '?')}: {_reason(err)}")
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


def _reason(err: Exception) -> str:
    message = getattr(err, "message", None) or str(err)
    if "is undefined" in message:
        name = message.split("'")[1] if "'" in message else message
        return f"{{{{ {name} }}}} has no value there"
    return f"{type(err).__name__}: {message}"
