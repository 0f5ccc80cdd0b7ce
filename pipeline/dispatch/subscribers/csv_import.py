"""Importing a subscriber CSV: every row checked, duplicates merged, one transaction, and an
:class:`ImportReport` of what happened per line."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from sqlalchemy import (
    Connection,
    Table,
    bindparam,
    insert,
    select,
    update,
)

from pipeline.config.dispatch import DispatchSettings
from pipeline.dispatch.consent import CHANNEL_OF
from pipeline.dispatch.models import Consent
from pipeline.dispatch.subscribers.common import (
    _IN_CHUNK,
    CHANNEL_COLUMNS,
    CHUNK,
    COLUMNS,
    FIELD_CAP,
    TABLE,
    SubscriberFileError,
    _new_token,
    _now,
    _zones,
    check_webhook_url,
    normalize_email,
    normalize_phone,
    parse_local_time,
)
from pipeline.dispatch.subscribers.csv_reader import (
    _field_length,
    _open_text,
    _Record,
    _records,
    _too_long,
)
from pipeline.store.db import get_engine

if TYPE_CHECKING:
    from pipeline.settings import Settings

CONSENT = cast(Table, Consent.__table__)



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
    consent_text: str | None = None
    consent_at: datetime | None = None
    consent_source: str | None = None


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
    consents: list[_Row] = field(default_factory=list)  # rows that say this person agreed
    revoked: bool = False  # this file opted the person out

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _FIELDS}

    def who(self) -> str:
        return self.phone or self.email or self.webhook_url or "subscriber"


def _header(header: _Record) -> tuple[list[str], list[str]]:
    """Column names (case- and space-insensitive) and the warnings they earn.

    Raises
    ------
    SubscriberFileError
        The header cannot be read (bad bytes, an over-long name) or lacks ``zip`` or a
        channel column: without it no row means anything.
    """
    line, record = header.line, header.cells
    if header.problem:
        raise SubscriberFileError(f"the header is {header.problem}"
                                  if header.problem.startswith("not UTF-8")
                                  else f"the header: {header.problem}", line=line)
    if (longest := max(map(_field_length, record), default=0)) > FIELD_CAP:
        raise SubscriberFileError(f"a column name is {longest:,} characters; the first "
                                  "line must name the columns, e.g. zip,phone,email", line=line)
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

    def __init__(self, zones: Mapping[str, str], allow_hosts: Collection[str] = (),
                 consent: str | None = None, now: datetime | None = None) -> None:
        self.zones = zones
        self.allow_hosts = allow_hosts
        self.consent = consent  # the operator's statement of the words every row agreed to
        self.now = now or _now()
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
        webhook = check("webhook_url", lambda t: check_webhook_url(t, self.allow_hosts))
        morning, evening = check("morning_at", parse_local_time), check("evening_at",
                                                                        parse_local_time)
        status = check("status", _parse_status)
        if not any(cells.get(name) for name in CHANNEL_COLUMNS):
            problems.append("no channel: give a phone, an email or a webhook_url")
        consent_at = None
        if cells.get("consent_at"):
            try:
                consent_at = _parse_when(cells["consent_at"], self.now)
            except ValueError as err:
                problems.append(f"consent_at: {err}")
        consent_text = cells.get("consent_text") or self.consent
        if not consent_text and status != "opted_out":
            problems.append("no consent_text: every subscriber needs the words they agreed to "
                            "(or pass --consent to state them for the whole file)")
        if problems:
            raise ValueError("; ".join(problems))
        assert zip_code is not None
        return _Row(line, zip_code, phone, email, webhook, morning, evening, status,
                    consent_text, consent_at, cells.get("consent_source") or None)


def _parse_when(text: str, now: datetime) -> datetime:
    """When consent was given: an ISO date or date and time (naive means UTC), not later than
    ``now``."""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not a date: write 2026-11-30 or 2026-11-30T14:05Z"
                         ) from None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    if when > now + timedelta(minutes=5):
        raise ValueError(f"{text!r} is in the future: consent must have been given already")
    return when


def _parse_status(text: str) -> str:
    status = re.sub(r"[\s-]+", "_", text.lower())
    if status not in ("active", "opted_out"):
        raise ValueError(f"status {text!r} must be active or opted_out (or empty)")
    return status


def _read_rows(
    source: str | Path | IO[str] | IO[bytes], zones: Mapping[str, str], report: ImportReport,
    allow_hosts: Collection[str] = (), consent: str | None = None,
    now: datetime | None = None,
) -> list[_Row]:
    """Read and check a subscriber CSV; bad rows go to ``report.errors``, good ones back.

    A row with bytes that are not UTF-8, or a cell longer than its column allows
    (``FIELD_LIMITS``, ``FIELD_CAP``), is reported by line like any other bad row.

    Raises
    ------
    SubscriberFileError
        When the file cannot be read, its header is not UTF-8 text, or the header lacks
        ``zip`` or a channel; or a text stream passed in fails to decode.
    """
    stream, opened = _open_text(source)
    parser, rows = _Parser(zones, allow_hosts, consent, now), []
    try:
        records = _records(stream)
        first = next((r for r in records if not r.blank), None)
        if first is None:
            raise SubscriberFileError("the file is empty: the first line must be a header "
                                      "such as zip,phone,email", line=1)
        names, warnings = _header(first)
        if "consent_text" not in names and not consent:
            raise SubscriberFileError(
                "no record of consent: add a consent_text column (the words each person "
                "agreed to; consent_at and consent_source are optional), or pass --consent "
                "'the words they agreed to' to state that every row agreed to them",
                line=first.line)
        report.warnings.extend(warnings)
        for record in records:
            if record.blank:
                continue  # blank lines and spreadsheet ",,,," rows
            report.rows += 1
            line, cells = record.line, record.cells
            problems = [record.problem] if record.problem else []
            if cells and len(cells) != len(names):
                problems.append(f"{len(cells)} fields, but the header has {len(names)}: a "
                                "value with a comma needs quotes")
            elif cells:
                problems += _too_long(names, cells)
            if problems:
                report.errors.append((line, "; ".join(problems)))
                continue
            values = {n: v.strip() for n, v in zip(names, cells, strict=True) if n in COLUMNS}
            try:
                rows.append(parser.row(line, values))
            except ValueError as err:
                report.errors.append((line, str(err)))
    except UnicodeDecodeError:  # only from a text stream opened by the caller
        raise SubscriberFileError("the file is not UTF-8 text; save it as 'CSV UTF-8'") from None
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
    consent: str | None = None,
) -> ImportReport:
    """Import subscribers from a CSV file: check every row, merge duplicates, keep good rows.

    Rows that share a phone or an email (with each other or with a stored subscriber) are the
    same person: later rows override ZIP, times, webhook, phone and email, and channels add up.
    A row with only a webhook is the subscriber with that URL and ZIP and no phone or email
    (one endpoint may subscribe to many ZIPs), so importing a file twice changes nothing.
    An opted-out subscriber stays opted out. All good rows are written in one transaction.
    Rows with bytes that are not UTF-8, cells over their column's length limit, or webhooks to
    non-public addresses are reported by line like any other bad row.

    Parameters
    ----------
    url : SQLAlchemy database URL, already migrated
    source : path, or an open text or binary file, of a CSV with a header line; columns
        ``zip`` and at least one of ``phone``, ``email``, ``webhook_url``; optional
        ``morning_at``, ``evening_at`` (local times) and ``status`` (active or opted_out)
    settings : where the default delivery times (``dispatch.default_times``) and the webhook
        hosts allowed despite a non-public address (``dispatch.webhook_allow_hosts``) come from
    zones : ZIP → IANA time zone; default: the gazetteer
    now : the clock, for ``created_at``/``updated_at``/``opted_out_at``
    consent : the words every person in the file agreed to, stated by whoever imports it;
        needed unless the file has a ``consent_text`` column. Each subscriber the import adds
        or changes gets a ``granted`` row in the consent record (``consent_at`` or the import
        time, ``consent_source`` or ``import <file> line <n>``); each one it opts out a
        ``revoked`` row

    Returns
    -------
    ImportReport

    Raises
    ------
    SubscriberFileError
        The file cannot be imported at all (including: no ``consent_text`` column and no
        ``consent``); nothing was written.
    """
    zones = _zones() if zones is None else zones
    defaults = _default_times(settings)
    now = now or _now()
    report = ImportReport()
    rows = _read_rows(source, zones, report, _dispatch(settings).webhook_allow_hosts,
                      consent, now)
    name = Path(source).name if isinstance(source, str | Path) else "stdin"
    with get_engine(url).begin() as conn:
        merge = _Merge(conn, rows, zones, defaults, now, report, name)
        for row in rows:
            merge.add(row)
        merge.write()
    report.errors.sort()
    return report


def _dispatch(settings: Settings | DispatchSettings | None) -> DispatchSettings:
    if settings is None:
        return DispatchSettings()
    if isinstance(settings, DispatchSettings):
        return settings
    return settings.dispatch


def _default_times(settings: Settings | DispatchSettings | None) -> dict[str, str]:
    """Default delivery times per window as HH:MM, from ``dispatch.default_times``."""
    dispatch = _dispatch(settings)
    return {w: t.strftime("%H:%M") for w, t in dispatch.default_times.items()}


def _hook_key(row: _Row) -> tuple[str | None, str]:
    return row.webhook_url, row.zip


class _Merge:
    """Folds good rows into people: stored subscribers, or new ones (one pass, in file order)."""

    def __init__(self, conn: Connection, rows: list[_Row], zones: Mapping[str, str],
                 defaults: Mapping[str, str], now: datetime, report: ImportReport,
                 file_name: str = "stdin") -> None:
        self.conn, self.zones, self.defaults = conn, zones, defaults
        self.now, self.report, self.file_name = now, report, file_name
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
        if person.status == "active" and row.consent_text:
            person.consents.append(row)

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
            person.revoked = True
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
        self._record_consent(changed)

    def _record_consent(self, changed: list[_Person]) -> None:
        """A ``granted`` row per address for every person added or changed with a consent,
        a ``revoked`` row per address for every person this file opted out."""
        people = [*changed, *self.new]
        ids = {p.token: p.id for p in people if p.id is not None}
        tokens = [p.token for p in self.new]
        for start in range(0, len(tokens), _IN_CHUNK):
            ids.update(self.conn.execute(select(TABLE.c.token, TABLE.c.id).where(
                TABLE.c.token.in_(tokens[start:start + _IN_CHUNK]))).tuples().all())
        records: list[dict[str, Any]] = []
        for person in people:
            addresses = [(channel, getattr(person, column)) for column, channel in
                         CHANNEL_OF.items() if getattr(person, column)]
            if person.revoked:
                records += [_consent(ids[person.token], channel, address, "revoked",
                                     "status opted_out in the file",
                                     f"import {self.file_name}", self.now)
                            for channel, address in addresses]
                continue
            for row in person.consents[-1:]:  # the last row that named them decides
                source = row.consent_source or f"import {self.file_name} line {row.line}"
                detail = None if row.consent_at else "no consent_at in the file: the import time"
                assert row.consent_text is not None
                records += [_consent(ids[person.token], channel, address, "granted",
                                     row.consent_text, source, row.consent_at or self.now,
                                     detail) for channel, address in addresses]
        for start in range(0, len(records), CHUNK):
            self.conn.execute(insert(CONSENT), records[start:start + CHUNK])


def _consent(subscriber_id: int, channel: str, address: str, event: str, text: str,
             source: str, at: datetime, detail: str | None = None) -> dict[str, Any]:
    return {"subscriber_id": subscriber_id, "channel": channel, "address": address,
            "event": event, "method": "import", "text": text, "source": source[:300],
            "at": at, "detail": detail}
