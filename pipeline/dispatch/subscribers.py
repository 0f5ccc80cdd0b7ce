"""Subscribers: who gets which ZIP's forecast, through which channels, at what local time.

Three ways in:

- :func:`import_csv` reads a subscriber CSV, checks every row, merges duplicates and writes
  the good rows in one transaction, with an :class:`ImportReport` of what happened per line;
- :func:`make_demo` writes realistic demo subscribers, spread like people are;
- :func:`subscriber_counts`, :func:`subscriber_stats`, :func:`find_by_address`,
  :func:`by_token` and :func:`opt_out` serve the dispatch job, the review sheet, STOP handling
  and unsubscribe links.

A subscriber's time zone always comes from its ZIP (the gazetteer), never from a file. Phones
are stored in E.164; emails are normalised by ``email_validator`` and lower-cased, so
``Ann@Example.com`` and ``ann@example.com`` are one person (providers treat them alike).
Delivery times are local ``HH:MM`` strings.
"""

from __future__ import annotations

import base64
import csv
import io
import re
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parseaddr
from functools import lru_cache
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import phonenumbers
from email_validator import EmailNotValidError, validate_email
from phonenumbers import PhoneNumberType
from scipy.spatial import cKDTree
from sqlalchemy import (
    Connection,
    Table,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.config.dispatch import DispatchSettings
from pipeline.dispatch.models import CHANNELS, Subscriber
from pipeline.store.db import get_engine

if TYPE_CHECKING:
    from pipeline.settings import Settings

TABLE = cast(Table, Subscriber.__table__)
COLUMNS = ("zip", "phone", "email", "webhook_url", "morning_at", "evening_at", "status")
CHANNEL_COLUMNS = ("phone", "email", "webhook_url")
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}  # the only hosts a plain-http webhook may use
DEMO_TOKEN_PREFIX = "demo-"  # marks demo subscribers; `make_demo(replace=True)` deletes them
# the demo's channel mix: "+" joins channels one subscriber has together
DEMO_MIX: dict[str, float] = {"sms": 0.60, "email": 0.25, "sms+email": 0.10, "webhook": 0.05}
CHUNK = 50_000  # rows per executemany
_IN_CHUNK = 500  # ids per "IN (...)": well under SQLite's bound-parameter limit


class SubscriberFileError(ValueError):
    """A subscriber CSV that cannot be imported at all: unreadable, or its header is wrong."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line


class SubscriberNotFound(LookupError):
    """No subscriber has this id."""


class DemoCollision(RuntimeError):
    """Demo addresses clashed with subscribers written by someone else at the same time."""


# --- the gazetteer: ZIP → time zone, and where ZIPs are dense ------------------------------


@lru_cache(maxsize=1)
def _gazetteer() -> pd.DataFrame:
    from pipeline.geo import load_zips  # geopandas is slow to import; only load when needed

    zips = load_zips()
    return pd.DataFrame(zips[["zip", "state", "timezone", "lat", "lon"]])


@lru_cache(maxsize=1)
def _zones() -> dict[str, str]:
    frame = _gazetteer()
    return dict(zip(frame["zip"], frame["timezone"], strict=True))


def _now() -> datetime:
    return datetime.now(UTC)


def _new_token() -> str:
    """An unguessable unsubscribe token (128 bits); imported ones never look like demo ones."""
    while True:
        token = secrets.token_urlsafe(16)[:22]
        if not token.startswith(DEMO_TOKEN_PREFIX):
            return token


def _demo_tokens(n: int) -> list[str]:
    """``n`` demo tokens: ``demo-`` and 22 random URL-safe characters (132 bits), in bulk."""
    # 18 bytes are 24 base64 characters exactly, so one encode serves all n tokens
    text = base64.urlsafe_b64encode(secrets.token_bytes(18 * n)).decode()
    return [DEMO_TOKEN_PREFIX + text[i:i + 22] for i in range(0, 24 * n, 24)]


# --- one value at a time ---------------------------------------------------------------------

_TIME = re.compile(r"^(\d{1,2})(?::(\d{2})(?::(\d{2}))?)?\s*(?:([ap])\.?\s*m\.?)?$", re.I)


def parse_local_time(text: str) -> str:
    """Parse a local time of day into ``HH:MM`` (24 h).

    Accepts ``07:00``, ``7:00``, ``19:30``, ``7am``, ``6:30 pm``, ``6:30 p.m.`` and
    ``07:00:00`` (seconds are dropped).

    Raises
    ------
    ValueError
        With a message that says how to write the time.
    """
    match = _TIME.match(text.strip())
    how = "use HH:MM in 24-hour local time (07:30, 18:00) or 7:30am / 6pm"
    if not match:
        raise ValueError(f"bad time {text!r}: {how}")
    hour, minute, ampm = int(match[1]), int(match[2] or 0), (match[4] or "").lower()
    if not ampm and match[2] is None:
        raise ValueError(f"bad time {text!r}: {how}")
    if ampm:
        if not 1 <= hour <= 12 or minute > 59:
            raise ValueError(f"bad time {text!r}: with am/pm the hour is 1–12 ({how})")
        hour = hour % 12 + (12 if ampm == "p" else 0)
    elif hour > 23 or minute > 59:
        raise ValueError(f"time {text!r} is outside 00:00–23:59: {how}")
    return f"{hour:02d}:{minute:02d}"


def normalize_phone(text: str) -> str:
    """E.164 form of a phone number written the US way or with ``+`` and a country code.

    Raises
    ------
    ValueError
        When ``phonenumbers`` cannot parse it or it is not a valid number.
    """
    how = "write it as (401) 555-0123, or +<country code> <number> outside the US"
    try:
        number = phonenumbers.parse(text, "US")
    except phonenumbers.NumberParseException:
        raise ValueError(f"invalid phone {text!r}: not a phone number; {how}") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"invalid phone {text!r}: no such number (check the area code and "
                         f"that it has 10 digits); {how}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(text: str) -> str:
    """Normalised, lower-cased email address (no DNS lookup).

    Raises
    ------
    ValueError
        With ``email_validator``'s explanation.
    """
    try:
        valid = validate_email(text, check_deliverability=False)
    except EmailNotValidError as err:
        raise ValueError(f"invalid email {text!r}: {err}") from None
    return valid.normalized.lower()


def check_webhook_url(text: str) -> str:
    """The URL itself when it is https (http only for localhost); else ValueError."""
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        host, parts = None, None
    if parts is None or not host or " " in text or parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"invalid webhook URL {text!r}: give a full https://host/path URL")
    if parts.scheme.lower() == "http" and host not in LOCAL_HOSTS:
        raise ValueError(f"webhook URL {text!r} must use https:// (plain http is allowed "
                         "only for localhost)")
    return text


# --- the import ------------------------------------------------------------------------------


@dataclass
class ImportReport:
    """What an import did. ``errors`` are ``(line, reason)`` with the header as line 1."""

    rows: int = 0  # data rows read (blank lines are not rows)
    added: int = 0  # new subscribers
    updated: int = 0  # subscribers already stored whose values changed
    unchanged: int = 0  # subscribers already stored, matched, nothing to change
    merged: int = 0  # rows folded into an earlier row of the file (same phone or email)
    opted_out: int = 0  # subscribers this file opted out (status opted_out)
    kept_opted_out: int = 0  # rows for opted-out subscribers, who stay opted out
    errors: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        """Rows not imported (one error per such row)."""
        return len(self.errors)

    @property
    def ok(self) -> bool:
        """True when some rows were good, or there was nothing wrong."""
        return self.rows > self.skipped or not self.errors

    def lines(self) -> list[str]:
        """The report as text lines: a summary, then warnings, then errors by line."""
        out = [
            f"{self.rows:,} rows: {self.added:,} added, {self.updated:,} updated, "
            f"{self.unchanged:,} unchanged, {self.merged:,} merged, {self.skipped:,} skipped"
        ]
        if self.opted_out:
            out.append(f"{self.opted_out:,} subscribers opted out by this file")
        if self.kept_opted_out:
            out.append(f"{self.kept_opted_out:,} rows name opted-out subscribers: they stay "
                       "opted out (an import never re-subscribes anyone)")
        out += [f"warning: {w}" for w in self.warnings]
        out += [f"line {line}: {reason}" for line, reason in self.errors]
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


@dataclass
class _Row:
    """One good CSV row; ``None`` means the cell was empty."""

    line: int
    zip: str
    phone: str | None
    email: str | None
    webhook_url: str | None
    morning_at: str | None
    evening_at: str | None
    status: str | None


_FIELDS = ("zip", "timezone", "phone", "email", "webhook_url", "morning_at", "evening_at",
           "status", "opted_out_at", "opt_out_via", "token")


@dataclass(eq=False)
class _Person:
    """A subscriber being built or changed by the import (``id`` None: not stored yet)."""

    id: int | None
    zip: str
    timezone: str
    phone: str | None
    email: str | None
    webhook_url: str | None
    morning_at: str
    evening_at: str
    status: str
    opted_out_at: datetime | None
    opt_out_via: str | None
    token: str
    original: dict[str, Any] | None = None  # stored values, to tell updated from unchanged
    lines: list[int] = field(default_factory=list)  # file lines that matched this person

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _FIELDS}

    def who(self) -> str:
        return self.phone or self.email or self.webhook_url or "subscriber"


def _open_text(source: str | Path | IO[str] | IO[bytes]) -> tuple[IO[str], bool]:
    """A text stream for ``source`` and whether we opened it (and must close it)."""
    if isinstance(source, str | Path):
        try:
            return open(source, encoding="utf-8-sig", newline=""), True
        except OSError as err:
            raise SubscriberFileError(f"cannot read {source}: {err.strerror or err}") from None
    if isinstance(source, io.TextIOBase):
        return source, False
    return io.TextIOWrapper(cast(Any, source), encoding="utf-8-sig", newline=""), False


def _records(stream: IO[str]) -> Iterator[tuple[int, list[str]]]:
    """CSV records with the line each starts on (a quoted field may span lines)."""
    reader = csv.reader(stream)
    start = 1
    for record in reader:
        yield start, record
        start = reader.line_num + 1


def _header(line: int, record: list[str]) -> tuple[list[str], list[str]]:
    """Column names (case- and space-insensitive) and the warnings they earn."""
    names = [h.strip().lstrip("\ufeff").strip().lower() for h in record]
    seen = [n for n in names if n]
    dupes = sorted({n for n in seen if seen.count(n) > 1})
    if dupes:
        raise SubscriberFileError(f"column(s) {', '.join(dupes)} appear more than once in the "
                                  "header; keep one of each", line=line)
    found = ", ".join(repr(h.strip()) for h in record)
    if "zip" not in names:
        raise SubscriberFileError(f"no 'zip' column (the header has {found}); the first line "
                                  "must name the columns, e.g. zip,phone,email", line=line)
    if not set(names) & set(CHANNEL_COLUMNS):
        raise SubscriberFileError(f"no channel column (the header has {found}); add at least "
                                  "one of phone, email, webhook_url", line=line)
    unknown = [h for h in names if h and h not in COLUMNS]
    warnings = []
    if unknown:
        warnings.append(f"ignored unknown column(s) {', '.join(map(repr, unknown))}; known "
                        f"columns are {', '.join(COLUMNS)}")
    return names, warnings


def _parse_zip(text: str, zones: Mapping[str, str]) -> str:
    zip_code = text[:5] if re.fullmatch(r"\d{5}-\d{4}", text) else text  # ZIP+4 → ZIP
    if zip_code in zones:
        return zip_code
    padded = zip_code.zfill(5)
    if zip_code.isdigit() and len(zip_code) < 5 and padded in zones:
        raise ValueError(f"unknown ZIP {text!r}: did you mean {padded}? ZIPs have 5 digits; "
                         "spreadsheets drop leading zeros, so format the column as text")
    raise ValueError(f"unknown ZIP {text!r}: not an active US ZIP; check it for typos")


class _Parser:
    """Turns CSV cells into a :class:`_Row`, caching phone and email checks (files repeat)."""

    def __init__(self, zones: Mapping[str, str]) -> None:
        self.zones = zones
        self._phones: dict[str, str | ValueError] = {}
        self._emails: dict[str, str | ValueError] = {}

    @staticmethod
    def _cached(cache: dict[str, str | ValueError], check: Callable[[str], str],
                text: str) -> str:
        if text not in cache:
            try:
                cache[text] = check(text)
            except ValueError as err:
                cache[text] = err
        value = cache[text]
        if isinstance(value, ValueError):
            raise value
        return value

    def row(self, line: int, cells: Mapping[str, str]) -> _Row:
        """The row, or ValueError naming every problem it has."""
        problems: list[str] = []

        def check(name: str, fn: Callable[[str], str]) -> str | None:
            text = cells.get(name, "")
            if not text:
                return None
            try:
                return fn(text)
            except ValueError as err:
                problems.append(f"{name}: {err}" if name.endswith("_at") else str(err))
                return None

        zip_code = check("zip", lambda t: _parse_zip(t, self.zones))
        if not cells.get("zip"):
            problems.append("no ZIP: every row needs the subscriber's 5-digit ZIP")
        phone = check("phone", lambda t: self._cached(self._phones, normalize_phone, t))
        email = check("email", lambda t: self._cached(self._emails, normalize_email, t))
        webhook = check("webhook_url", check_webhook_url)
        morning, evening = check("morning_at", parse_local_time), check("evening_at",
                                                                        parse_local_time)
        status = check("status", _parse_status)
        if not any(cells.get(name) for name in CHANNEL_COLUMNS):
            problems.append("no channel: give a phone, an email or a webhook_url")
        if problems:
            raise ValueError("; ".join(problems))
        assert zip_code is not None
        return _Row(line, zip_code, phone, email, webhook, morning, evening, status)


def _parse_status(text: str) -> str:
    status = re.sub(r"[\s-]+", "_", text.lower())
    if status not in ("active", "opted_out"):
        raise ValueError(f"status {text!r} must be active or opted_out (or empty)")
    return status


def _read_rows(
    source: str | Path | IO[str] | IO[bytes], zones: Mapping[str, str], report: ImportReport
) -> list[_Row]:
    """Read and check a subscriber CSV; bad rows go to ``report.errors``, good ones back.

    Raises
    ------
    SubscriberFileError
        When the file cannot be read, is not UTF-8, or its header lacks ``zip`` or a channel.
    """
    stream, opened = _open_text(source)
    parser, rows = _Parser(zones), []
    try:
        records = _records(stream)
        first = next((r for r in records if any(cell.strip() for cell in r[1])), None)
        if first is None:
            raise SubscriberFileError("the file is empty: the first line must be a header "
                                      "such as zip,phone,email", line=1)
        names, warnings = _header(*first)
        report.warnings.extend(warnings)
        for line, record in records:
            if not any(cell.strip() for cell in record):
                continue  # blank lines and spreadsheet ",,,," rows
            report.rows += 1
            if len(record) != len(names):
                report.errors.append((line, f"{len(record)} fields, but the header has "
                                            f"{len(names)}: a value with a comma needs quotes"))
                continue
            cells = {n: v.strip() for n, v in zip(names, record, strict=True) if n in COLUMNS}
            try:
                rows.append(parser.row(line, cells))
            except ValueError as err:
                report.errors.append((line, str(err)))
    except UnicodeDecodeError:
        raise SubscriberFileError("the file is not UTF-8 text; save it as 'CSV UTF-8'") from None
    except csv.Error as err:
        raise SubscriberFileError(f"not a readable CSV file: {err}") from None
    finally:
        if opened:
            stream.close()
    return rows


def import_csv(
    url: str,
    source: str | Path | IO[str] | IO[bytes],
    *,
    settings: Settings | DispatchSettings | None = None,
    zones: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> ImportReport:
    """Import subscribers from a CSV file: check every row, merge duplicates, keep good rows.

    Rows that share a phone or an email (with each other or with a stored subscriber) are the
    same person: later rows override ZIP, times, webhook, phone and email, and channels add up.
    A row with only a webhook is the subscriber with that URL and ZIP and no phone or email
    (one endpoint may subscribe to many ZIPs), so importing a file twice changes nothing.
    An opted-out subscriber stays opted out. All good rows are written in one transaction.

    Parameters
    ----------
    url : SQLAlchemy database URL, already migrated
    source : path, or an open text or binary file, of a CSV with a header line; columns
        ``zip`` and at least one of ``phone``, ``email``, ``webhook_url``; optional
        ``morning_at``, ``evening_at`` (local times) and ``status`` (active or opted_out)
    settings : where the default delivery times come from (``dispatch.default_times``)
    zones : ZIP → IANA time zone; default: the gazetteer
    now : the clock, for ``created_at``/``updated_at``/``opted_out_at``

    Returns
    -------
    ImportReport

    Raises
    ------
    SubscriberFileError
        The file cannot be imported at all; nothing was written.
    """
    zones = _zones() if zones is None else zones
    defaults = _default_times(settings)
    now = now or _now()
    report = ImportReport()
    rows = _read_rows(source, zones, report)
    with get_engine(url).begin() as conn:
        merge = _Merge(conn, rows, zones, defaults, now, report)
        for row in rows:
            merge.add(row)
        merge.write()
    report.errors.sort()
    return report


def _default_times(settings: Settings | DispatchSettings | None) -> dict[str, str]:
    """Default delivery times per window as HH:MM, from ``dispatch.default_times``."""
    if settings is None:
        dispatch = DispatchSettings()
    elif isinstance(settings, DispatchSettings):
        dispatch = settings
    else:
        dispatch = settings.dispatch
    return {w: t.strftime("%H:%M") for w, t in dispatch.default_times.items()}


def _hook_key(row: _Row) -> tuple[str | None, str]:
    return row.webhook_url, row.zip


class _Merge:
    """Folds good rows into people: stored subscribers, or new ones (one pass, in file order)."""

    def __init__(self, conn: Connection, rows: list[_Row], zones: Mapping[str, str],
                 defaults: Mapping[str, str], now: datetime, report: ImportReport) -> None:
        self.conn, self.zones, self.defaults = conn, zones, defaults
        self.now, self.report = now, report
        self.new: list[_Person] = []
        self.stored: list[_Person] = []
        self.by_phone: dict[str, _Person] = {}
        self.by_email: dict[str, _Person] = {}
        # a webhook-only subscriber is its URL and ZIP: one endpoint may take many ZIPs
        self.by_hook: dict[tuple[str | None, str], _Person] = {}
        self._load(rows)

    def _load(self, rows: list[_Row]) -> None:
        """Load the stored subscribers this file mentions: one scan, then by id in chunks."""
        phones = {r.phone for r in rows if r.phone}
        emails = {r.email for r in rows if r.email}
        hooks = {_hook_key(r) for r in rows if not (r.phone or r.email)}
        ids_by_phone: dict[str, int] = {}
        ids_by_email: dict[str, int] = {}
        ids_by_hook: dict[tuple[str | None, str], int] = {}
        query = select(TABLE.c.id, TABLE.c.phone, TABLE.c.email, TABLE.c.webhook_url,
                       TABLE.c.zip).order_by(TABLE.c.id)
        for id_, phone, email, hook, zip_code in self.conn.execute(query):
            if phone in phones:
                ids_by_phone[phone] = id_
            if email and email.lower() in emails:
                ids_by_email[email.lower()] = id_
            if not (phone or email) and (hook, zip_code) in hooks:
                ids_by_hook.setdefault((hook, zip_code), id_)
        ids = sorted({*ids_by_phone.values(), *ids_by_email.values(), *ids_by_hook.values()})
        people: dict[int, _Person] = {}
        for start in range(0, len(ids), _IN_CHUNK):
            query = select(TABLE).where(TABLE.c.id.in_(ids[start:start + _IN_CHUNK]))
            for stored in self.conn.execute(query).mappings():
                values = {name: stored[name] for name in _FIELDS}
                people[stored["id"]] = _Person(id=stored["id"], original=values, **values)
        self.stored = list(people.values())
        self.by_phone = {k: people[i] for k, i in ids_by_phone.items()}
        self.by_email = {k: people[i] for k, i in ids_by_email.items()}
        self.by_hook = {k: people[i] for k, i in ids_by_hook.items()}

    def add(self, row: _Row) -> None:
        """Fold one row in: a new person, or the person it shares a phone or email with."""
        by_phone = self.by_phone.get(row.phone) if row.phone else None
        by_email = self.by_email.get(row.email) if row.email else None
        if by_phone is not None and by_email is not None and by_phone is not by_email:
            self.report.errors.append((row.line, (
                f"phone {row.phone} is {self._where(by_phone)}'s and email {row.email} is "
                f"{self._where(by_email)}'s: one row cannot merge two people; fix or split it")))
            return
        person = by_phone or by_email
        if person is None and not (row.phone or row.email):
            person = self.by_hook.get(_hook_key(row))
        if person is None:
            person = _Person(
                id=None, zip=row.zip, timezone=self.zones[row.zip], phone=None, email=None,
                webhook_url=None, morning_at=self.defaults["morning"],
                evening_at=self.defaults["evening"], status="active", opted_out_at=None,
                opt_out_via=None, token=_new_token())
            self.new.append(person)
            if not (row.phone or row.email):
                self.by_hook[_hook_key(row)] = person
        elif person.lines:
            self.report.merged += 1
        self._apply(person, row)
        person.lines.append(row.line)

    def _where(self, person: _Person) -> str:
        if person.lines:
            return f"the subscriber on line {person.lines[0]}"
        return f"stored subscriber #{person.id}"

    def _apply(self, person: _Person, row: _Row) -> None:
        person.zip, person.timezone = row.zip, self.zones[row.zip]
        for name, index in (("phone", self.by_phone), ("email", self.by_email)):
            value, old = getattr(row, name), getattr(person, name)
            if value is None or value == old:
                continue
            if old is not None:
                self.report.warnings.append(f"line {row.line}: {name} of "
                                            f"{self._where(person)} changed from {old} to "
                                            f"{value}")
                index.pop(old, None)  # the file may not name the old one
            setattr(person, name, value)
            index[value] = person
        person.webhook_url = row.webhook_url or person.webhook_url
        person.morning_at = row.morning_at or person.morning_at
        person.evening_at = row.evening_at or person.evening_at
        if row.status == "opted_out" and person.status != "opted_out":
            person.status, person.opted_out_at, person.opt_out_via = "opted_out", self.now, "import"
            self.report.opted_out += 1
        elif row.status != "opted_out" and person.status == "opted_out":
            self.report.kept_opted_out += 1
            since = f" on {person.opted_out_at:%Y-%m-%d}" if person.opted_out_at else ""
            via = f" (via {person.opt_out_via})" if person.opt_out_via else ""
            self.report.warnings.append(f"line {row.line}: {person.who()} opted out{since}{via};"
                                        " kept opted out: only they can opt back in")

    def write(self) -> None:
        """Updates first (they may free a phone or email a new subscriber takes), then adds."""
        changed = [p for p in self.stored if p.values() != p.original]
        report = self.report
        report.updated = len(changed)
        report.unchanged = sum(1 for p in self.stored if p.lines) - len(changed)
        report.added = len(self.new)
        # a phone or email moving between people: clear them first so no unique index trips
        for name in ("phone", "email"):
            moved = [{"b_id": p.id} for p in changed
                     if p.original and p.original[name] != getattr(p, name)]
            if moved:
                self.conn.execute(update(TABLE).where(TABLE.c.id == bindparam("b_id"))
                                  .values({name: None}), moved)
        if changed:
            statement = update(TABLE).where(TABLE.c.id == bindparam("b_id")).values(
                {name: bindparam(f"b_{name}") for name in (*_FIELDS, "updated_at")})
            params = [{"b_id": p.id, "b_updated_at": self.now,
                       **{f"b_{k}": v for k, v in p.values().items()}} for p in changed]
            for start in range(0, len(params), CHUNK):
                self.conn.execute(statement, params[start:start + CHUNK])
        rows = [{**p.values(), "created_at": self.now, "updated_at": self.now} for p in self.new]
        for start in range(0, len(rows), CHUNK):
            self.conn.execute(insert(TABLE), rows[start:start + CHUNK])


# --- demo subscribers ------------------------------------------------------------------------

EARTH_RADIUS_KM = 6371.0088
# NANP line numbers 555-0100..0199 are reserved for fiction: demo numbers use them first, then
# the rest of the 555 exchange (unassigned for ordinary lines), never 555-1212 (directory help)
_DEMO_LINES = np.array([*range(100, 200), *(n for n in range(10_000)
                                            if not 100 <= n < 200 and n != 1212)])


@lru_cache(maxsize=1)
def _demo_area_codes() -> tuple[int, ...]:
    """US geographic area codes where phonenumbers takes NPA-555-01XX as a valid number."""
    kinds = {PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE,
             PhoneNumberType.FIXED_LINE_OR_MOBILE}
    found = []
    for npa in range(201, 1000):
        number = phonenumbers.parse(f"+1{npa}5550100")
        if (phonenumbers.is_valid_number(number)
                and phonenumbers.region_code_for_number(number) == "US"
                and phonenumbers.number_type(number) in kinds):
            found.append(npa)
    return tuple(found)


def demo_capacity() -> int:
    """How many distinct demo subscribers (phones) there can be."""
    return len(_demo_area_codes()) * len(_DEMO_LINES)


def demo_phones(index: np.ndarray) -> list[str]:
    """Distinct valid E.164 demo phones for distinct non-negative ``index`` values.

    Parameters
    ----------
    index : ndarray of int of shape (n,), each below :func:`demo_capacity`

    Returns
    -------
    list of n str, e.g. ``+12015550100``; neighbouring indices get different area codes.
    """
    codes = np.asarray(_demo_area_codes())
    npa = codes[index % len(codes)]
    line = _DEMO_LINES[index // len(codes)]
    return [f"+1{a}555{b:04d}" for a, b in zip(npa.tolist(), line.tolist(), strict=True)]


def zip_density(lat: np.ndarray, lon: np.ndarray, radius_km: float = 25.0) -> np.ndarray:
    """Number of points within ``radius_km`` of each point (itself included).

    Parameters
    ----------
    lat, lon : ndarray of shape (n,), degrees

    Returns
    -------
    ndarray of int of shape (n,)
    """
    phi, lam = np.radians(lat), np.radians(lon)
    xyz = np.column_stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)])
    chord = 2 * np.sin(radius_km / EARTH_RADIUS_KM / 2)  # great-circle radius on the unit sphere
    return cKDTree(xyz).query_ball_point(xyz, chord, return_length=True)


def demo_weights(zips: pd.DataFrame, rng: np.random.Generator, *, radius_km: float = 25.0,
                 sigma: float = 0.5) -> np.ndarray:
    """Population-like sampling weights of ZIPs, shape (n_zips,), summing to 1.

    The gazetteer has no population; ZIPs are denser where people are, so a ZIP's weight is
    the number of ZIPs within ``radius_km`` times a lognormal(0, ``sigma``) factor.
    """
    weights = zip_density(zips["lat"].to_numpy(), zips["lon"].to_numpy(), radius_km)
    weights = weights * rng.lognormal(0.0, sigma, size=len(weights))
    return weights / weights.sum()


def _mix(channels: Mapping[str, float] | None) -> tuple[list[frozenset[str]], np.ndarray]:
    mix = dict(DEMO_MIX if channels is None else channels)
    combos = [frozenset(key.split("+")) for key in mix]
    unknown = set().union(*combos) - set(CHANNELS) if combos else set()
    shares = np.asarray(list(mix.values()), dtype=float)
    if unknown or not combos or (shares < 0).any() or shares.sum() <= 0:
        raise ValueError(f"channel mix {mix!r}: keys are channels joined by '+' (from "
                         f"{', '.join(CHANNELS)}), values non-negative shares")
    return combos, shares / shares.sum()


def _spread(rng: np.random.Generator, n: int, default: str, offsets_min: list[int],
            share_default: float = 0.7) -> np.ndarray:
    """Delivery times: ``share_default`` at the default, the rest at half-hour offsets."""
    base = int(default[:2]) * 60 + int(default[3:])
    choices = [f"{(base + m) % 1440 // 60:02d}:{(base + m) % 60:02d}" for m in offsets_min]
    picked = np.asarray(choices)[rng.integers(0, len(choices), size=n)]
    return np.where(rng.random(n) < share_default, default, picked)


def make_demo(
    url: str,
    count: int,
    *,
    seed: int = 0,
    settings: Settings | DispatchSettings | None = None,
    channels: Mapping[str, float] | None = None,
    replace: bool = False,
    progress: Callable[[int, int], None] | None = None,
    now: datetime | None = None,
) -> int:
    """Write ``count`` demo subscribers, spread over ZIPs like people are.

    ZIPs are drawn with :func:`demo_weights`. Addresses are fake but valid: phones from the
    555 exchange (:func:`demo_phones`), ``demo-<i>@example.com`` and
    ``https://hooks.example.com/zipcast/<i>`` (reserved domains). Demo subscribers are
    appended to those already stored: numbering continues and skips any phone or email
    somebody already has. Their tokens start with ``demo-``, which is how ``replace`` finds
    and deletes the previous demo subscribers (and only them) before writing. Everything
    happens in one transaction.

    Parameters
    ----------
    url : SQLAlchemy database URL, already migrated
    count : how many subscribers
    seed : ZIPs, channels and times are reproducible per seed (tokens are always random)
    settings : where the default delivery times come from
    channels : channel mix, e.g. :data:`DEMO_MIX` (the default)
    replace : delete earlier demo subscribers first
    progress : called with (rows written, count) after every chunk
    now : the clock

    Returns
    -------
    int, the number of subscribers written
    """
    if count < 0:
        raise ValueError(f"count must be 0 or more, not {count}")
    plan = _demo_plan(count, seed, _mix(channels), _default_times(settings))
    now = now or _now()
    is_demo = TABLE.c.token.startswith(DEMO_TOKEN_PREFIX, autoescape=True)
    with get_engine(url).begin() as conn, _big_cache(conn):
        if replace:
            conn.execute(delete(TABLE).where(is_demo))
        first = conn.execute(select(func.count()).where(is_demo)).scalar_one()
        index = _free_demo_numbers(conn, first, count)
        statement = insert(TABLE).values(_stamps(conn, now))
        for start in range(0, count, CHUNK):
            stop = min(start + CHUNK, count)
            try:
                conn.execute(statement, _demo_rows(plan[start:stop], index[start:stop]))
            except IntegrityError as err:  # only if someone writes the same addresses now
                raise DemoCollision("demo addresses clash with subscribers written meanwhile; "
                                    "run the demo again") from err
            if progress is not None:
                progress(stop, count)
    return count


def _demo_plan(count: int, seed: int, mix: tuple[list[frozenset[str]], np.ndarray],
               defaults: Mapping[str, str]) -> pd.DataFrame:
    """Everything seeded about ``count`` demo subscribers: zip, timezone, channels, times."""
    combos, shares = mix
    rng = np.random.default_rng(seed)
    zips = _gazetteer()
    picked = rng.choice(len(zips), size=count, p=demo_weights(zips, rng))
    kinds = rng.choice(len(combos), size=count, p=shares)
    return pd.DataFrame({
        "zip": zips["zip"].to_numpy()[picked],
        "timezone": zips["timezone"].to_numpy()[picked],
        **{c: np.array([c in combo for combo in combos])[kinds] for c in CHANNELS},
        "morning_at": _spread(rng, count, defaults["morning"], [-30, 30, 60, 90]),
        "evening_at": _spread(rng, count, defaults["evening"], [-60, -30, 30, 60]),
    })


def _stamps(conn: Connection, now: datetime) -> dict[str, Any]:
    """``created_at`` and ``updated_at`` as one pre-converted value for every row.

    Converting a datetime for SQLite costs more per row than SQLite's own insert; the
    dialect's converter runs once here instead, and the resulting text is what it would store.
    """
    convert = TABLE.c.created_at.type.bind_processor(conn.dialect)
    stamp = literal(convert(now)) if convert else literal(now, TABLE.c.created_at.type)
    return {"created_at": stamp, "updated_at": stamp}


def _free_demo_numbers(conn: Connection, first: int, count: int) -> np.ndarray:
    """``count`` demo numbers from ``first`` on whose phone and email nobody has yet.

    Earlier demo subscribers take ``0 .. first - 1`` as long as none was deleted by hand;
    imported subscribers may use 555 numbers or ``demo-<i>@example.com`` too: both are skipped.
    """
    phones = set(conn.execute(select(TABLE.c.phone).where(
        TABLE.c.phone.like("+1___555____"))).scalars())
    emails = set(conn.execute(select(TABLE.c.email).where(
        TABLE.c.email.like("demo-%@example.com"))).scalars())
    found: list[np.ndarray] = []
    start, missing = first, count
    while missing > 0:
        candidates = np.arange(start, start + missing)
        if candidates[-1] >= demo_capacity():
            raise ValueError(f"no room for {count:,} more demo subscribers (there are "
                             f"{demo_capacity():,} demo phones); use replace")
        if phones or emails:
            free = [phone not in phones and f"demo-{i}@example.com" not in emails
                    for i, phone in zip(candidates.tolist(), demo_phones(candidates),
                                        strict=True)]
            candidates = candidates[np.asarray(free, dtype=bool)]
        found.append(candidates)
        start, missing = start + missing, missing - len(candidates)
    return np.concatenate(found) if found else np.arange(0)


def _demo_rows(plan: pd.DataFrame, index: np.ndarray) -> list[dict[str, Any]]:
    """Insert parameters for the demo subscribers numbered ``index`` (one per plan row)."""
    return [
        {"zip": zip_code, "timezone": zone, "phone": phone if sms else None,
         "email": f"demo-{i}@example.com" if email else None,
         "webhook_url": f"https://hooks.example.com/zipcast/{i}" if webhook else None,
         "morning_at": morning, "evening_at": evening, "status": "active", "token": token}
        for i, phone, token, zip_code, zone, sms, email, webhook, morning, evening in zip(
            index.tolist(), demo_phones(index), _demo_tokens(len(plan)),
            *(plan[c].tolist() for c in ("zip", "timezone", *CHANNELS, "morning_at",
                                         "evening_at")), strict=True)
    ]


@contextmanager
def _big_cache(conn: Connection) -> Iterator[None]:
    """A 256 MB SQLite page cache while bulk-writing: random index inserts then stay in memory
    (it halves the time of a million-row demo); the connection's own setting comes back after.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
    conn.exec_driver_sql("PRAGMA cache_size=-262144")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size={int(before)}")


# --- what the dispatch job, the sheet, STOP handling and unsubscribe links use --------------


def subscriber_counts(url: str) -> pd.Series:
    """Active subscribers per ZIP: int Series named ``subscribers``, index ``zip`` (sorted)."""
    query = (select(TABLE.c.zip, func.count()).where(TABLE.c.status == "active")
             .group_by(TABLE.c.zip).order_by(TABLE.c.zip))
    with get_engine(url).connect() as conn:
        found = conn.execute(query).all()
    return pd.Series([n for _, n in found], index=pd.Index([z for z, _ in found], name="zip",
                                                           dtype=object),
                     name="subscribers", dtype="int64")


@dataclass
class SubscriberStats:
    """Counts for ``zipcast subscribers stats``."""

    by_status: dict[str, int]
    by_channel: dict[str, int]  # active subscribers with each channel
    top_states: list[tuple[str, int]]  # active subscribers, most first
    zips: int  # ZIPs with at least one active subscriber

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


def subscriber_stats(url: str, *, top: int = 10) -> SubscriberStats:
    """Subscribers by status, active ones by channel, and the states with the most."""
    query = select(TABLE.c.zip, TABLE.c.status, func.count(), func.count(TABLE.c.phone),
                   func.count(TABLE.c.email), func.count(TABLE.c.webhook_url)
                   ).group_by(TABLE.c.zip, TABLE.c.status)
    with get_engine(url).connect() as conn:
        frame = pd.DataFrame(conn.execute(query).all(),
                             columns=["zip", "status", "n", "sms", "email", "webhook"])
    active = frame[frame["status"] == "active"]
    states = active["zip"].map(dict(zip(_gazetteer()["zip"], _gazetteer()["state"],
                                        strict=True))).fillna("?")
    by_state = active.groupby(states)["n"].sum().sort_values(ascending=False, kind="stable")
    return SubscriberStats(
        by_status={str(k): int(v) for k, v in frame.groupby("status")["n"].sum().items()},
        by_channel={c: int(active[c].sum()) for c in CHANNELS},
        top_states=[(str(k), int(v)) for k, v in by_state.head(top).items()],
        zips=int(active["zip"].nunique()),
    )


def find_by_address(session: Session, phone: str | None = None,
                    email: str | None = None) -> Subscriber | None:
    """The subscriber with this phone (any common format) or email, phone first; else None.

    ``email`` may be a whole ``From`` header (``Ann <ann@example.com>``).
    """
    if phone is None and email is None:
        raise ValueError("find_by_address needs a phone or an email")
    if phone:
        try:
            key = normalize_phone(phone)
        except ValueError:
            key = phone.strip()
        found = session.scalars(select(Subscriber).where(Subscriber.phone == key)).first()
        if found is not None:
            return found
    if email:
        address = parseaddr(email)[1] or email.strip()
        try:
            key = normalize_email(address)
        except ValueError:
            key = address.lower()
        return session.scalars(select(Subscriber).where(Subscriber.email == key)).first()
    return None


def by_token(session: Session, token: str) -> Subscriber | None:
    """The subscriber whose unsubscribe token this is, or None."""
    if not token:
        return None
    return session.scalars(select(Subscriber).where(Subscriber.token == token)).first()


def opt_out(session: Session, subscriber_id: int, via: str, at: datetime) -> bool:
    """Opt a subscriber out of every channel; True if they were active until now.

    Opting out twice keeps the first time and way (``opted_out_at``, ``opt_out_via``).

    Parameters
    ----------
    session : an open session; the caller commits
    subscriber_id : ``Subscriber.id``
    via : how, e.g. ``sms:STOP``, ``email:link``, ``webhook:410``, ``provider:21610``
    at : when (aware datetime)

    Raises
    ------
    SubscriberNotFound
    """
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise SubscriberNotFound(f"no subscriber #{subscriber_id}")
    if subscriber.status == "opted_out":
        return False
    subscriber.status, subscriber.opted_out_at = "opted_out", at
    subscriber.opt_out_via, subscriber.updated_at = via[:64], at
    return True

