"""Subscriber basics: errors, the ZIP → time zone gazetteer, and one-value normalisers
(local times, E.164 phones, emails, webhook URLs)."""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Collection
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit

import pandas as pd
import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import (
    Table,
)

from pipeline.channels.webhook import (
    ALLOW_HOSTS_VARIABLE,
    WebhookAddressRefused,
    check_webhook_host,
    is_allowed_host,
)
from pipeline.dispatch.models import Subscriber

if TYPE_CHECKING:
    pass

TABLE = cast(Table, Subscriber.__table__)
COLUMNS = ("zip", "phone", "email", "webhook_url", "morning_at", "evening_at", "status",
           "consent_text", "consent_at", "consent_source")
# the consent record of an import: the words each person agreed to (or --consent), and
# optionally when and where
CONSENT_COLUMNS = ("consent_text", "consent_at", "consent_source")
CHANNEL_COLUMNS = ("phone", "email", "webhook_url")
# Longest value a cell may hold, in characters; longer cells are reported by line. Generous
# for what each column holds: an email address is at most 254 (RFC 5321's path limit), E.164
# is 15 digits but people write "+1 (401) 555-0123 ext. 45", ZIP+4 is 10, times are written
# "6:30 p.m." or "07:00:00", statuses "opted_out". Browsers and proxies cope with 2,048-
# character URLs. FIELD_CAP applies to every other column, the ignored ones too.
FIELD_LIMITS = {"zip": 10, "phone": 32, "email": 254, "webhook_url": 2048, "morning_at": 16,
                "evening_at": 16, "status": 16, "consent_at": 40, "consent_source": 300}
FIELD_CAP = 4096
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
    return pd.DataFrame(zips[["zip", "city", "state", "timezone", "lat", "lon"]])


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


def check_webhook_url(text: str, allow_hosts: Collection[str] = ()) -> str:
    """The URL itself when a webhook may be posted to it; else ValueError.

    It must be https, and its host must not be a loopback, private, link-local, metadata or
    other non-public address as written (names are not resolved here: the webhook channel
    resolves them before each POST). Hosts in ``allow_hosts``
    (``DispatchSettings.webhook_allow_hosts``) are allowed anyway, and may use plain http.

    Raises
    ------
    ValueError
        With what is wrong and how to fix it (:class:`WebhookAddressRefused` for a refused
        address).
    """
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        host, parts = None, None
    if parts is None or not host or " " in text or parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"invalid webhook URL {text!r}: give a full https://host/path URL")
    try:
        check_webhook_host(host, allow_hosts)
    except WebhookAddressRefused as err:
        raise WebhookAddressRefused(
            f"webhook URL {text!r} refused: {err}; webhooks go to public addresses only "
            f"(allow a host with {ALLOW_HOSTS_VARIABLE})") from None
    if parts.scheme.lower() == "http" and not is_allowed_host(host, allow_hosts):
        raise ValueError(f"webhook URL {text!r} must use https:// (plain http is allowed only "
                         f"for hosts in {ALLOW_HOSTS_VARIABLE})")
    return text
