"""Read an editor's message as claims: the same claims the drafts are rendered from.

``parse("Sunny and bone dry all day – leave the umbrella at home")`` gives a sky claim and two
dry claims, each with its span in the text, so the fit rule (:mod:`pipeline.truth.rule`) can
say for how many members each is false. The words come from ``vocabulary.toml`` (its header
documents the format); a word it does not know is not a claim (wit is fine).

Readings, when a phrase can be read two ways (the reading a subscriber would accept as true):

- a lone temperature ("75°F", "in the upper 80s") is the day's high, or the low when the same
  clause says "tonight", "overnight" or "night"; numbers after "feels like", "wind chill",
  "heat index" and "dew point" claim nothing;
- a range or "near 73" is checked like a draft's, widened by the rule's slack; so is a decade
  ("in the 70s", "upper 80s", "teens"): 70 up to 80, then the slack on each side;
- a time word between the keyword and the number says which: "temps tonight near 30" is
  the low, "temps this afternoon near 50" the high;
- "temperatures 40 to 60" says both the high and the low lie in 40–60;
- a time after a wet word ("rain from 6 am", "snow after 2 pm", "showers by noon", "storms
  this afternoon") or a part of the day before it ("afternoon showers") is the onset, checked
  within the rule's tolerance; "until", "through" and "before" say when it ends: no onset;
  a clock without a day is read as its first time at or after the window's start;
- "no"/"not"/"without" before a phrase negates it: "no heat" says the heat hazard does not
  hold, "no snow" says it does not snow (rain may fall), "no heavy rain" says nothing about
  rain but its heaviness. The vocabulary's own "no rain" and "leave the umbrella at home" say
  dry;
- a placeholder (``{{ high }}``) is filled from each ZIP's own facts, so it is true by
  construction: "Highs near {{ high }}F" and "Rain from {{ rain_start }}" claim no
  temperature and no onset.

Every claim parsed here is a :class:`~pipeline.truth.claims.Claim`; the three kinds defined
below (:class:`Not`, :class:`AnyOf`, :class:`TemperatureSpan`) compose the rule's own checks.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

import numpy as np

from pipeline.settings import TruthRules
from pipeline.times import clock
from pipeline.truth.claims import (
    Claim,
    Hazard,
    Onset,
    Precipitation,
    Sky,
    TemperatureRange,
    Wind,
)
from pipeline.truth.rule import (
    HAZARDS,
    PRECIP_TYPES,
    SKY_CATEGORIES,
    WIND_CATEGORIES,
    FactArrays,
    onset_tolerance,
)
from pipeline.truth.wording import says_day

VOCABULARY = Path(__file__).with_name("vocabulary.toml")
NEGATORS = frozenset({"no", "not", "without", "never", "nor", "zero"})
#: words allowed between a negator and what it negates ("no heavy rain", "not a cloud")
NEGATION_GAP = frozenset({"any", "a", "an", "the", "much", "real"})
NIGHT_WORDS = frozenset({"tonight", "overnight", "night", "midnight", "dawn", "sunrise"})
DECADE_WORDS = frozenset({"low", "lower", "mid", "middle", "upper", "high"})
DAY_WORDS = frozenset({"today", "afternoon", "daytime", "midday"})
#: time words allowed between a temperature keyword and its number ("lows tonight near 20")
TIME_WORDS = NIGHT_WORDS | DAY_WORDS | frozenset({"this", "tomorrow", "morning", "evening"})
NOT_TEMPERATURE_UNITS = frozenset({"am", "pm", "mph", "in", "inch", "inches", "percent",
                                   "mm", "cm", "kt", "knots", "hours", "hour", "h", "days",
                                   "day", "minutes", "min", "miles", "mi", "ft", "feet"})
MAX_GAP = 5  # between words skipped after a temperature keyword or a wet phrase


# -- claims composed from the rule's checks -----------------------------------------------

@dataclass(frozen=True)
class Not(Claim):
    """The ``inner`` claim does not hold ("no heat", "no snow", "not windy")."""

    inner: Claim

    @property
    def topic(self) -> str:  # type: ignore[override]
        return self.inner.topic

    def holds(self, f: FactArrays, rules: TruthRules) -> np.ndarray:
        return ~self.inner.holds(f, rules)

    def describe(self) -> str:
        if isinstance(self.inner, Hazard):
            return f"no {self.inner.name}"
        if isinstance(self.inner, Precipitation):
            return "not dry" if self.inner.precip_type == "none" else \
                f"no {self.inner.precip_type}"
        return f"not {self.inner.describe()}"


@dataclass(frozen=True)
class AnyOf(Claim):
    """One of ``options`` holds ("cloudy": mostly cloudy or overcast)."""

    options: tuple[Claim, ...]

    @property
    def topic(self) -> str:  # type: ignore[override]
        return self.options[0].topic

    def holds(self, f: FactArrays, rules: TruthRules) -> np.ndarray:
        ok = np.zeros(len(f), dtype=bool)
        for option in self.options:
            ok |= option.holds(f, rules)
        return ok

    def describe(self) -> str:
        return " or ".join(option.describe() for option in self.options)


@dataclass(frozen=True)
class TemperatureSpan(TemperatureRange):
    """The high (or low) lies in the span the words name ("in the 70s" is 70 up to 80,
    "upper 80s" 87 up to 90), widened by the rule's slack like any stated range: a high of
    69 is "in the 70s" as much as it is "70 to 75F"."""

    label: str = ""

    def holds(self, f: FactArrays, rules: TruthRules) -> np.ndarray:
        values = f.high if self.which == "high" else f.low
        slack = rules.temperature_slack_f
        return (values >= self.lo - slack) & (values < self.hi + 1 + slack)

    def describe(self) -> str:
        name = "Highs" if self.which == "high" else "Lows"
        return f"{name} {self.label}" if self.label else \
            f"{name} {int(self.lo)} to under {int(self.hi) + 1}F"


@dataclass(frozen=True)
class OnsetSpan(Claim):
    """Precipitation starts within a part of the day ("morning snow": 5 am to noon), in
    hours since midnight of the window's day; 3-hourly data get the rule's extra tolerance
    for coarse steps at both ends (onsets are only known to the step)."""

    topic: ClassVar[str] = "onset"
    lo: float
    hi: float
    label: str = ""

    def holds(self, f: FactArrays, rules: TruthRules) -> np.ndarray:
        coarse = onset_tolerance(rules, f.step_hours) - onset_tolerance(rules, 1)
        wet = f.kind > 0
        onset = np.where(wet, f.onset, np.inf)
        return wet & (onset >= self.lo - coarse) & (onset <= self.hi + coarse)

    def describe(self) -> str:
        if self.label in ("tonight", "overnight"):
            return f"starting {self.label}"
        return f"starting in the {self.label}" if self.label else \
            f"starting {clock(self.lo)} to {clock(self.hi)}"


#: parts of the day as spans of local clock hours (the end may pass midnight: 30 is 6 am)
DAY_PARTS: dict[tuple[str, ...], tuple[float, float]] = {
    ("morning",): (5, 12), ("late", "morning"): (10, 12), ("early", "morning"): (4, 8),
    ("afternoon",): (12, 18), ("early", "afternoon"): (12, 15),
    ("late", "afternoon"): (15, 18), ("evening",): (17, 21), ("early", "evening"): (17, 19),
    ("tonight",): (18, 30), ("night",): (20, 30), ("overnight",): (24, 30),
}


# -- results ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReadingWindow:
    """When the reader reads: the local clock at the window's start and its length.

    Onsets are hours since midnight of the day the window starts (as
    :attr:`~pipeline.truth.rule.Statement.onset_h`); windows over 20 h say the day with a
    time ("2 pm tomorrow").
    """

    start_h: float = 0.0
    hours: float = 24.0

    @property
    def long(self) -> bool:
        return says_day(self.hours)

    @classmethod
    def of(cls, facts: FactArrays) -> ReadingWindow:
        """The window of a slot's facts (its earliest start)."""
        return cls(start_h=facts.onset_span[0], hours=float(facts.window_hours))

    def onset(self, clock_h: float, day: int | None) -> float:
        """Hours since the window's day of a clock time, on ``day`` or else its first
        time at or after the window's start (the nearest to the window when none is in it)."""
        clock_h %= 24
        if day is not None:
            return clock_h + 24 * day
        candidates = [clock_h + 24 * k for k in range(3)]
        end = self.start_h + self.hours
        inside = [c for c in candidates if self.start_h <= c <= end]
        if inside:
            return inside[0]
        return min(candidates, key=lambda c: max(self.start_h - c, c - end))


@dataclass(frozen=True)
class ParsedClaim:
    """One claim of an editor's text: the claim, where it is (``text[start:end]``), and the
    words as written."""

    claim: Claim
    span: tuple[int, int]
    words: str


@dataclass(frozen=True)
class WitWord:
    """A recognised word that claims nothing the rule can check, and why."""

    span: tuple[int, int]
    words: str
    why: str


@dataclass(frozen=True)
class Reading:
    """All of a text's claims and recognised wit, in text order."""

    claims: tuple[ParsedClaim, ...]
    wit: tuple[WitWord, ...]


# -- the vocabulary -----------------------------------------------------------------------

@dataclass(frozen=True)
class _Entry:
    words: tuple[str, ...]
    claims: tuple[Claim, ...] = ()
    wet: bool = False  # a wet phrase: a time after it (or a part of the day before) is the onset
    wit: str | None = None


@dataclass(frozen=True)
class Vocabulary:
    """``vocabulary.toml`` read once: phrases by first word, longest first."""

    phrases: dict[str, tuple[_Entry, ...]]
    temperature: dict[str, tuple[tuple[str, ...], ...]]
    between: frozenset[str]
    units: tuple[tuple[str, ...], ...]
    decade_parts: dict[str, tuple[int, int]]
    onset_start: tuple[tuple[str, ...], ...]
    onset_end: frozenset[str]
    onset_between: frozenset[str]
    times: dict[tuple[str, ...], float]
    days: dict[str, int]
    placeholders: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path = VOCABULARY) -> Vocabulary:
        """Read and check a vocabulary file (unknown claim kinds or values raise)."""
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        entries = [_entry(phrase, specs) for phrase, specs in raw["claims"].items()]
        entries += [_Entry(_words(phrase), wit=why) for phrase, why in raw["wit"].items()]
        phrases: dict[str, list[_Entry]] = {}
        for entry in entries:
            phrases.setdefault(entry.words[0], []).append(entry)
        t, o = raw["temperature"], raw["onset"]
        return cls(
            phrases={w: tuple(sorted(es, key=lambda e: -len(e.words)))
                     for w, es in phrases.items()},
            temperature={k: _longest(t[k]) for k in ("high", "low", "both", "not")},
            between=frozenset(t["between"]),
            units=_longest(t["units"]),
            decade_parts={k: (int(v[0]), int(v[1])) for k, v in t["decade_parts"].items()},
            onset_start=_longest(o["start"]),
            onset_end=frozenset(o["end"]),
            onset_between=frozenset(o["between"]),
            times={_words(k): float(v) for k, v in raw["times"].items()},
            days={str(k): int(v) for k, v in raw["days"].items()},
            placeholders=dict(raw["placeholders"]),
        )


def _words(phrase: str) -> tuple[str, ...]:
    """A phrase's words as the tokenizer sees them: "t-storms" is ("t", "storms")."""
    return tuple(w for w in re.split(r"[\s\-/]+", phrase.lower().replace("’", "'")) if w)


def _longest(phrases: list[str]) -> tuple[tuple[str, ...], ...]:
    return tuple(sorted((_words(p) for p in phrases), key=lambda ws: -len(ws)))


_KINDS: dict[str, tuple[str, ...]] = {
    "precipitation": (*PRECIP_TYPES, "any"), "wind": WIND_CATEGORIES, "sky": SKY_CATEGORIES,
    "hazard": HAZARDS, "no-hazard": HAZARDS,
}


def _one(kind: str, value: str) -> Claim:
    if kind == "precipitation":
        return Precipitation(value)
    if kind == "wind":
        return Wind(value)
    if kind == "sky":
        return Sky(value)
    if kind == "hazard":
        return Hazard(value)
    return Not(Hazard(value))


def _entry(phrase: str, specs: list[str]) -> _Entry:
    claims: list[Claim] = []
    wet = False
    for spec in specs:
        kind, _, values = spec.partition(":")
        options = [v.strip() for v in values.split("|")]
        if kind not in _KINDS or any(v not in _KINDS[kind] for v in options):
            raise ValueError(f"vocabulary.toml: {phrase!r} has unknown claim {spec!r}; "
                             f"kinds and values: {_KINDS}")
        if kind == "precipitation":
            wet |= any(v != "none" for v in options)
            if options == ["any"]:
                continue  # a wet phrase that names no type ("dry until"): onset only
        made = [_one(kind, v) for v in options]
        claims.append(made[0] if len(made) == 1 else AnyOf(tuple(made)))
    return _Entry(_words(phrase), tuple(claims), wet)


@lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    """The package's vocabulary, read once."""
    return Vocabulary.load()


# -- tokens -------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Token:
    kind: str  # word, num, decade, ph, stop, comma, sym
    text: str  # lower-cased; a placeholder's name
    start: int
    end: int
    value: float = 0.0
    colon: bool = False  # "6:30": a clock, never a temperature


_TOKEN = re.compile(r"""
    (?P<ph>\{\{.*?\}\}|\{%.*?%\}|\{\#.*?\#\})
  | (?P<decade>(?<![\w.])\d*0'?s(?!\w))
  | (?P<num>(?<![\w.])-\d+(?:\.\d+)?|\d+(?::\d\d)?(?:\.\d+)?)
  | (?P<ampm>\b[ap]\.m\.)
  | (?P<word>[^\W\d_]+(?:'[^\W\d_]+)*)
  | (?P<stop>[.!?;:\n…]|—)
  | (?P<comma>,)
  | (?P<sym>\S)
""", re.X | re.S | re.I)
#: same-length rewrites, so spans found in the working copy are spans of the text
_SAME_LENGTH = (("’", "'"), ("‘", "'"), ("–", "-"), ("º", "°"))
_PLACEHOLDER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _tokens(text: str) -> list[_Token]:
    work = text
    for old, new in _SAME_LENGTH:
        work = work.replace(old, new)
    out = []
    for m in _TOKEN.finditer(work):
        kind = m.lastgroup or "sym"
        raw = m.group()
        if kind == "ph":
            name = raw[2:-2].strip()
            out.append(_Token("ph", name if _PLACEHOLDER_NAME.fullmatch(name) else "",
                              m.start(), m.end()))
        elif kind == "num":
            hours, _, minutes = raw.partition(":")
            value = float(hours) + (float(minutes) / 60 if minutes else 0.0)
            out.append(_Token("num", raw, m.start(), m.end(), value, colon=bool(minutes)))
        elif kind == "ampm":  # "6 a.m." reads as "6 am"
            out.append(_Token("word", raw[0].lower() + "m", m.start(), m.end()))
        elif kind == "decade":
            out.append(_Token("decade", raw.lower(), m.start(), m.end(),
                              float(raw.rstrip("sS").rstrip("'"))))
        else:
            out.append(_Token(kind, raw.lower(), m.start(), m.end()))
    return out


# -- the reader ---------------------------------------------------------------------------

class _Reader:
    """One left-to-right pass per idea over a text's tokens; a token is used once."""

    def __init__(self, text: str, window: ReadingWindow, vocab: Vocabulary) -> None:
        self.text, self.window, self.v = text, window, vocab
        self.tokens = _tokens(text)
        self.used = [False] * len(self.tokens)
        self.claims: list[tuple[int, ParsedClaim]] = []
        self.wit: list[WitWord] = []

    # helpers
    def word(self, i: int, *words: str) -> bool:
        return (0 <= i < len(self.tokens) and self.tokens[i].kind == "word"
                and not self.used[i] and (not words or self.tokens[i].text in words))

    def match(self, i: int, words: tuple[str, ...]) -> int | None:
        """The index after ``words`` matched from ``i`` ("t-storms" as t, -, storms)."""
        j = i
        for k, w in enumerate(words):
            if not self.word(j, w):
                return None
            j += 1
            if k < len(words) - 1 and j < len(self.tokens) and self.tokens[j].kind == "sym" \
                    and self.tokens[j].text in "-/" and not self.used[j]:
                j += 1
        return j

    def match_any(self, i: int, options: tuple[tuple[str, ...], ...]) -> int | None:
        for words in options:  # longest first
            if (end := self.match(i, words)) is not None:
                return end
        return None

    def add(self, claim: Claim, first: int, last: int) -> None:
        start, end = self.tokens[first].start, self.tokens[last].end
        self.claims.append((start, ParsedClaim(claim, (start, end), self.text[start:end])))

    def use(self, first: int, end: int) -> None:
        for k in range(first, end):
            self.used[k] = True

    def clause(self, i: int) -> Iterator[_Token]:
        """The tokens of ``i``'s clause (up to a stop or comma either side)."""
        lo = i
        while lo > 0 and self.tokens[lo - 1].kind not in ("stop", "comma"):
            lo -= 1
        hi = i
        while hi < len(self.tokens) and self.tokens[hi].kind not in ("stop", "comma"):
            hi += 1
        return iter(self.tokens[lo:hi])

    # temperatures
    def temperatures(self) -> None:
        i = 0
        while i < len(self.tokens):
            i = self.keyword_temperature(i) or self.bare_temperature(i) or i + 1

    def keyword_temperature(self, i: int) -> int | None:
        for which in ("high", "low", "both"):
            end = self.match_any(i, self.v.temperature[which])
            if end is None:
                continue
            if end == i + 1 and self.tokens[i].text in DECADE_WORDS and self.decade_next(end):
                return None  # "low 70s": a part of the decade, read as a bare temperature
            j = end
            skipped: list[str] = []
            while j - end < MAX_GAP and self.word(j) and (
                    self.tokens[j].text in self.v.between
                    or self.tokens[j].text in TIME_WORDS):
                skipped.append(self.tokens[j].text)
                j += 1
            if which == "both" and NIGHT_WORDS & set(skipped):
                which = "low"  # "temps tonight near 30"
            elif which == "both" and DAY_WORDS & set(skipped):
                which = "high"  # "temps this afternoon near 50"
            if j < len(self.tokens) and self.tokens[j].kind == "ph":
                self.use(i, j + 1)  # "Highs near {{ high }}": true by construction
                return j + 1
            value = self.temperature_value(j, need_unit=False)
            if value is None:
                return None
            lo, hi, exact, label, stop = value
            for w in (("high", "low") if which == "both" else (which,)):
                claim = TemperatureSpan(w, lo, hi, label) if exact else \
                    TemperatureRange(w, lo, hi)
                self.add(claim, i, stop - 1)
            self.use(i, stop)
            return stop
        return None

    def bare_temperature(self, i: int) -> int | None:
        if self.used[i] or self.tokens[i].kind not in ("num", "decade", "word"):
            return None
        value = self.temperature_value(i, need_unit=True)
        if value is None:
            return None
        lo, hi, exact, label, stop = value
        self.use(i, stop)
        if self.after_not_word(i):
            return stop  # "feels like 20°F": apparent temperature is not in the facts
        night = any(t.text in NIGHT_WORDS for t in self.clause(i))
        which = "low" if night else "high"
        claim = TemperatureSpan(which, lo, hi, label) if exact else TemperatureRange(which, lo, hi)
        self.add(claim, i, stop - 1)
        return stop

    def after_not_word(self, i: int) -> bool:
        start = max(0, i - 5)
        return any(self.match(k, words) is not None
                   for k in range(start, i) for words in self.v.temperature["not"]
                   if self.tokens[k].kind == "word")

    def decade_next(self, j: int) -> bool:
        if j < len(self.tokens) and self.tokens[j].kind == "sym" and self.tokens[j].text == "-":
            j += 1
        return j < len(self.tokens) and (self.tokens[j].kind == "decade"
                                         or self.word(j, "teens"))

    def temperature_value(self, j: int, *, need_unit: bool
                          ) -> tuple[float, float, bool, str, int] | None:
        """``(lo, hi, exact, label, end)`` of a temperature at ``j``, else None."""
        if (span := self.decade(j)) is not None:
            return span
        if self.word(j, "between"):
            a = self.number(j + 1)
            if a is not None and self.word(a[1], "and"):
                b = self.number(a[1] + 1)
                if b is not None and (not need_unit or b[2]):
                    return min(a[0], b[0]), max(a[0], b[0]), False, "", b[1]
            return None
        a = self.number(j)
        if a is None:
            if not need_unit and self.word(j, "freezing", "zero"):
                value = 32.0 if self.tokens[j].text == "freezing" else 0.0
                return value, value, False, "", j + 1
            return None
        k = a[1]
        if k < len(self.tokens) and ((self.tokens[k].kind == "sym" and self.tokens[k].text == "-")
                                     or self.word(k, "to", "through")):
            b = self.number(k + 1)
            if b is not None and (not need_unit or b[2] or a[2]):
                return min(a[0], b[0]), max(a[0], b[0]), False, "", b[1]
        if need_unit and not a[2]:
            return None
        return a[0], a[0], False, "", a[1]

    def number(self, j: int) -> tuple[float, int, bool] | None:
        """``(value, end, has_unit)`` of a temperature number at ``j`` ("-5", "minus 5", "75°F")."""
        sign = 1.0
        if self.word(j, "minus"):
            sign, j = -1.0, j + 1
        if not (j < len(self.tokens) and self.tokens[j].kind == "num" and not self.used[j]
                and not self.tokens[j].colon):
            return None
        value, end = sign * self.tokens[j].value, j + 1
        if not -80 <= value <= 140:
            return None
        nxt = self.tokens[end] if end < len(self.tokens) else None
        if nxt is not None and (nxt.text == "%" or (nxt.kind == "word"
                                                     and nxt.text in NOT_TEMPERATURE_UNITS)):
            return None
        unit_end = self.match_any(end, self.v.units) if nxt is not None else None
        if unit_end is None and nxt is not None and nxt.kind == "sym" and nxt.text == "°":
            unit_end = end + 1 + (1 if self.word(end + 1, "f") else 0)
        if unit_end is None and nxt is not None and nxt.text == "f" and nxt.start == \
                self.tokens[j].end:
            unit_end = end + 1  # "75F"
        return value, unit_end or end, unit_end is not None

    def decade(self, j: int) -> tuple[float, float, bool, str, int] | None:
        part: tuple[int, int] | None = None
        first = j
        if self.word(j, *self.v.decade_parts):
            part = self.v.decade_parts[self.tokens[j].text]
            j += 1
            if j < len(self.tokens) and self.tokens[j].kind == "sym" and self.tokens[j].text == "-":
                j += 1
        if j < len(self.tokens) and self.tokens[j].kind == "decade" and not self.used[j]:
            base = self.tokens[j].value
            if not 0 <= base <= 120:
                return None
            lo, hi = (base + part[0], base + part[1]) if part else (base, base + 9)
            return lo, hi, True, self._label(first, j), j + 1
        if self.word(j, "teens"):
            lo, hi = (10.0 + part[0], 10.0 + part[1]) if part else (10.0, 19.0)
            return lo, hi, True, self._label(first, j), j + 1
        if part is None and self.word(j, "single") and self.word(j + 1, "digits"):
            return 0.0, 9.0, True, "in the single digits", j + 2
        return None

    def _label(self, first: int, last: int) -> str:
        return "in the " + self.text[self.tokens[first].start:self.tokens[last].end]

    # phrases
    def phrases(self) -> None:
        i = 0
        while i < len(self.tokens):
            token = self.tokens[i]
            if token.kind == "ph" and not self.used[i]:
                i = self.placeholder(i)
                continue
            entry, end = self.phrase_at(i)
            if entry is None:
                i += 1
                continue
            first = self.negator_before(i, entry)
            self.use(first, end)
            if entry.wit is not None:
                self.wit.append(WitWord((token.start, self.tokens[end - 1].end),
                                        self.text[token.start:self.tokens[end - 1].end],
                                        entry.wit))
                i = end
                continue
            claims = _negate(entry.claims) if first < i else list(entry.claims)
            for claim in claims:
                self.add(claim, first, end - 1)
            if entry.wet and first == i:
                end = self.onset_after(end, i)
            i = end

    def phrase_at(self, i: int) -> tuple[_Entry | None, int]:
        if not self.word(i):
            return None, i
        for entry in self.v.phrases.get(self.tokens[i].text, ()):
            if (end := self.match(i, entry.words)) is not None:
                return entry, end
        return None, i

    def negator_before(self, i: int, entry: _Entry) -> int:
        """The index of a negator before ``i`` ("no heat", "not a cloud"), else ``i``."""
        if entry.words[0] in NEGATORS or entry.wit is not None:
            return i
        k = i - 1
        if self.word(k) and self.tokens[k].text in NEGATION_GAP:
            k -= 1
        if self.word(k) and (self.tokens[k].text in NEGATORS
                             or self.tokens[k].text.endswith("n't")):
            return k
        return i

    def placeholder(self, i: int) -> int:
        """A ``{{ precip_type }}`` is a wet word whose type is true by construction."""
        self.used[i] = True
        if self.v.placeholders.get(self.tokens[i].text) == "precipitation":
            return self.onset_after(i + 1, i)
        return i + 1

    # onsets
    def onset_after(self, j: int, anchor: int) -> int:
        """Claim the onset a time after the wet phrase (or a part of the day before it) says;
        the index after what was used."""
        first = j
        while j - first < MAX_GAP and (self.word(j) and self.tokens[j].text in
                                       self.v.onset_between or (j < len(self.tokens)
                                                                and self.tokens[j].kind
                                                                == "comma")):
            j += 1
        if self.word(j) and self.tokens[j].text in self.v.onset_end:
            return first
        if j < len(self.tokens) and self.tokens[j].kind == "ph":
            self.used[j] = True  # "Rain from {{ rain_start }}": true by construction
            return j + 1
        time = self.time_at(j)  # first: "late afternoon" is a time, "late" a start word
        if time is None and (start := self.match_any(j, self.v.onset_start)) is not None:
            time = self.time_at(start)
        if time is None:
            self.onset_before(anchor)
            return first
        hours, end = time
        self.add(self.onset_claim(hours, j, end), j, end - 1)
        self.use(j, end)
        return end

    def onset_claim(self, hours: float, first: int, end: int) -> Claim:
        """An onset at ``hours``; a part of the day ("this morning") is its whole span."""
        for k in range(first, end):
            for words, (lo, hi) in DAY_PARTS.items():
                if self.match(k, words) is not None:
                    clock_h = self.v.times.get(words)
                    start = hours - (clock_h - lo) if clock_h is not None else hours
                    return OnsetSpan(start, start + (hi - lo), " ".join(words))
        return Onset(hours)

    def onset_before(self, anchor: int) -> None:
        """"afternoon showers": a part of the day just before the wet phrase."""
        for words, clock_h in sorted(self.v.times.items(), key=lambda kv: -len(kv[0])):
            k = anchor - len(words)
            if k >= 0 and self.match(k, words) == anchor:
                day = None
                if self.word(k - 1) and self.tokens[k - 1].text in self.v.days and \
                        self.tokens[k - 1].text != "tonight":
                    day = self.v.days[self.tokens[k - 1].text]
                    k -= 1
                self.add(self.onset_claim(self.window.onset(clock_h, day), k, anchor),
                         k, anchor - 1)
                self.use(k, anchor)
                return

    def time_at(self, j: int) -> tuple[float, int] | None:
        """``(onset hours, end)`` of "2 pm", "2 pm tomorrow", "tomorrow afternoon", "noon"."""
        day: int | None = None
        if self.word(j) and self.tokens[j].text in ("today", "tomorrow"):
            day, j = self.v.days[self.tokens[j].text], j + 1
        clock_h, end = self.clock_at(j)
        if clock_h is None:
            return None
        if self.word(end) and self.tokens[end].text in self.v.days and day is None:
            word = self.tokens[end].text
            if word != "tonight":
                day = self.v.days[word]
            end += 1
        elif self.word(end, "in") and end + 2 < len(self.tokens) and \
                self.tokens[end + 1].kind == "num" and self.word(end + 2, "days", "day"):
            day, end = int(self.tokens[end + 1].value), end + 3
        return self.window.onset(clock_h, day), end

    def clock_at(self, j: int) -> tuple[float | None, int]:
        if j < len(self.tokens) and self.tokens[j].kind == "num" and not self.used[j]:
            value = self.tokens[j].value
            if self.word(j + 1, "am", "pm") and 0 < value < 13:
                pm = self.tokens[j + 1].text == "pm"
                return value % 12 + (12 if pm else 0), j + 2
            return None, j
        for words, clock_h in sorted(self.v.times.items(), key=lambda kv: -len(kv[0])):
            if (end := self.match(j, words)) is not None:
                return clock_h, end
        return None, j


def _negate(claims: tuple[Claim, ...]) -> list[Claim]:
    """"no heavy rain" negates the hazard only; "no snow" the type; "no frost" is a no."""
    hazards: list[Claim] = [c for c in claims if isinstance(c, Hazard)]
    return [c.inner if isinstance(c, Not) else Not(c) for c in (hazards or list(claims))]


@lru_cache(maxsize=4096)
def read(text: str, window: ReadingWindow = ReadingWindow()) -> Reading:
    """Every claim and recognised wit word of ``text``, in text order.

    Parameters
    ----------
    text : an editor's message (placeholders allowed)
    window : the reader's window (for clock times without a day)
    """
    reader = _Reader(text, window, vocabulary())
    reader.temperatures()
    reader.phrases()
    claims = tuple(p for _, p in sorted(reader.claims, key=lambda sp: sp[0]))
    return Reading(claims, tuple(sorted(reader.wit, key=lambda w: w.span)))


def parse(text: str, *, window: ReadingWindow | None = None) -> list[ParsedClaim]:
    """The claims an editor's text makes, each with its span and words, in text order.

    Parameters
    ----------
    text : an editor's message; ``{{ name }}`` placeholders are true by construction and
        claim nothing
    window : the reader's window: a clock time without a day ("rain from 2 am") is its first
        time at or after the window's start; default a day from midnight

    Returns
    -------
    list of ParsedClaim : words the vocabulary does not know are not claims
    """
    return list(read(text, window or ReadingWindow()).claims)


def describe_all(claims: list[ParsedClaim]) -> list[str]:
    """``'"bone dry": dry'`` per claim, for logs and tests."""
    return [f'"{p.words}": {p.claim.describe()}' for p in claims]


__all__ = ["AnyOf", "Not", "ParsedClaim", "Reading", "ReadingWindow", "TemperatureSpan",
           "Vocabulary", "WitWord", "describe_all", "parse", "read", "vocabulary"]
