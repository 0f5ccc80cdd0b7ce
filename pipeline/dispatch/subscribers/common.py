"""Subscriber basics: errors, the ZIP → time zone gazetteer, and one-value normalisers
(local times, E.164 phones, emails, webhook URLs)."""

from __future__ import annotations

import base64
import re
import secrets
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

from pipeline.dispatch.models import Subscriber

if TYPE_CHECKING:
    pass

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
