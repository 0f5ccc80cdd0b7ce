"""Subscribers manage themselves: sign up by text or on the web with double opt-in, change
ZIP and times, pause and resume.

A sign-up is a :class:`~pipeline.dispatch.models.SignUp` until it is confirmed: a texted ZIP
waits for YES, a phone number typed on the web for the 6-digit code texted to it, an email
for its link to be followed. Only the confirmation makes (or updates) a subscriber, and
writes a ``granted`` row to the consent record with the exact words the person was shown.
Nothing but that one confirmation message goes to an unconfirmed address, and limits per
network address (web) and per phone number or email (everyone) keep strangers from using
the sign-up to flood someone.

Changes (ZIP, times, pause) apply to the next message not yet queued: a window's message
already queued or sent is never sent again (the outbox key is per subscriber), so a change
made at 6:45 for a 7:00 message counts for that message, and one made at 7:05 from the next.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from pipeline.config.dispatch import DispatchSettings
from pipeline.config.signup import SignupSettings
from pipeline.dispatch import consent
from pipeline.dispatch.locks import advisory_key
from pipeline.dispatch.models import SignUp, Subscriber
from pipeline.dispatch.subscribers.common import (
    _gazetteer,
    _new_token,
    _zones,
    normalize_email,
    normalize_phone,
    parse_local_time,
)
from pipeline.times import utc

PROGRAM = "zipcast"
SIGNUP_LOCK = advisory_key("zipcast-signup-limits")  # PostgreSQL: sign-ups start one by one
WEB_DISCLOSURE = (
    "By signing up you agree to receive zipcast weather messages for your ZIP code: up to "
    "2 messages a day, at the local times you choose, by text message or email. Msg & data "
    "rates may apply. Reply HELP for help and STOP to cancel at any time. Consent is not a "
    "condition of any purchase.")


class SignupRefused(ValueError):
    """A sign-up or change that cannot be made, with a message the person can act on.

    ``kind`` says which: ``zip``, ``phone``, ``email``, ``time``, ``consent``, ``limit_ip``,
    ``limit_address``, ``limit_sms``, ``days``.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


# --- one value at a time ------------------------------------------------------------------


def place(zip_code: str) -> str:
    """``New York, NY`` for a ZIP in the gazetteer ('' when unknown)."""
    frame = _gazetteer()
    match = frame.loc[frame["zip"] == zip_code]
    if match.empty:
        return ""
    row = match.iloc[0]
    return f"{str(row['city']).title()}, {row['state']}"


def check_zip(text: str) -> str:
    """The 5-digit ZIP we have a forecast for, or :class:`SignupRefused` saying why not."""
    value = text.strip()
    if re.fullmatch(r"\d{5}-\d{4}", value):
        value = value[:5]
    if not re.fullmatch(r"\d{5}", value):
        raise SignupRefused("zip", f"{value[:20]!r} is not a ZIP code: a ZIP has 5 digits, "
                                   "e.g. 10001")
    if value not in _zones():
        raise SignupRefused("zip", f"we have no forecast for ZIP {value}: it is not a ZIP "
                                   "with a location (PO box, military and retired ZIPs have "
                                   "none). Check it, or use the ZIP where you live")
    return value


def check_time(text: str) -> str:
    """``HH:MM`` from what a person typed, or :class:`SignupRefused`."""
    try:
        return parse_local_time(text)
    except ValueError:
        raise SignupRefused("time", f"{text.strip()[:20]!r} is not a time: write it like "
                                    "6:30, 6:30am or 18:00") from None


def check_contact(text: str) -> tuple[str, str]:
    """(channel, address) for a phone number or an email, or :class:`SignupRefused`."""
    value = text.strip()
    if "@" in value:
        try:
            return "email", normalize_email(value)
        except ValueError as err:
            raise SignupRefused("email", f"that email address does not work: "
                                         f"{str(err).split(': ', 1)[-1]}") from None
    try:
        phone = normalize_phone(value)
    except ValueError:
        phone = None
    if phone is None or not textable(phone):
        raise SignupRefused("phone", f"{value[:30]!r} is not a phone number we can text: "
                                     "write a US mobile number like (401) 555-0123, or an "
                                     "email address") from None
    return "sms", phone


# where zipcast texts: the US and its territories on the North American plan
TEXT_REGIONS = frozenset({"US", "PR", "GU", "VI", "AS", "MP"})
_TEXT_TYPES = frozenset({phonenumbers.PhoneNumberType.MOBILE,
                         phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE})


def textable(e164: str) -> bool:
    """A number self-service may text: a US (or territory) number that can be a mobile —
    not premium-rate, toll-free, shared-cost or abroad, which cost us (or the person) money
    and are what "SMS pumping" fraud signs up."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return False
    return (phonenumbers.region_code_for_number(number) in TEXT_REGIONS
            and phonenumbers.number_type(number) in _TEXT_TYPES)


def network_of(source: str) -> str:
    """What the per-network limit counts: an IPv4 address, or an IPv6 address's /64 (one
    household or phone gets a whole /64, so counting single IPv6 addresses counts nothing)."""
    try:
        ip = ipaddress.ip_address(source)
    except ValueError:
        return source[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


_GMAIL = frozenset({"gmail.com", "googlemail.com"})


def address_key(address: str) -> str:
    """What the per-address limit counts: the phone, or the email's inbox (``a.b+x@gmail.com``
    and ``ab@gmail.com`` are one inbox; a ``+tag`` is dropped everywhere)."""
    if "@" not in address:
        return address
    local, domain = address.rsplit("@", 1)
    local = local.split("+", 1)[0]
    if domain in _GMAIL:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


def _clock(hhmm: str) -> str:
    hour, minute = map(int, hhmm.split(":"))
    shown = f"{hour % 12 or 12}:{minute:02d}"
    return f"{shown} {'am' if hour < 12 else 'pm'}"


def _minutes(value: str | time) -> int:
    if isinstance(value, time):
        return value.hour * 60 + value.minute
    hour, minute = map(int, value.split(":"))
    return hour * 60 + minute


def quiet_note(hhmm: str, dispatch: DispatchSettings) -> str:
    """What the quiet hours do to a delivery time ('' when nothing)."""
    lo, hi = _minutes(dispatch.quiet_start), _minutes(dispatch.quiet_end)
    if lo <= _minutes(hhmm) < hi:
        return ""
    start = dispatch.quiet_start.strftime("%H:%M")
    end = dispatch.quiet_end.strftime("%H:%M")
    if _minutes(hhmm) < lo:
        return f" We send nothing before {_clock(start)}, so it comes at {_clock(start)}."
    last = f"{(hi - 1) // 60:02d}:{(hi - 1) % 60:02d}"
    return f" We send nothing after {_clock(end)}, so it comes at {_clock(last)}."


# --- sign-ups ------------------------------------------------------------------------------


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _code_hash(public_id: str, code: str) -> str:
    return _hash(f"{public_id}:{code}")


def keyword_prompt(zip_code: str, dispatch: DispatchSettings,
                   settings: SignupSettings) -> str:
    """The reply to a texted ZIP: what they would get, and how to confirm (stored as the
    words they agreed to)."""
    morning = _clock(dispatch.default_times["morning"].strftime("%H:%M"))
    evening = _clock(dispatch.default_times["evening"].strftime("%H:%M"))
    where = place(zip_code)
    return (f"{PROGRAM}: reply YES to get the weather for {zip_code}"
            f"{f' ({where})' if where else ''}, 2 msgs/day ({morning} & {evening}). "
            f"Msg & data rates may apply. HELP for help, STOP to cancel.")


def code_message(code: str, zip_code: str) -> str:
    """The one SMS a phone number typed on the web gets."""
    return (f"{PROGRAM} code {code}: enter it on the sign-up page to get the weather for "
            f"{zip_code}. Msg & data rates may apply. Not you? Ignore this text.")


def link_message(url: str, zip_code: str, settings: SignupSettings) -> str:
    """The one email an address typed on the web gets."""
    return (f"Someone (we hope you) asked for the {PROGRAM} weather for ZIP {zip_code} at "
            f"this address.\n\nTo confirm, open this link within {settings.link_ttl_hours} "
            f"hours and press the button:\n{url}\n\n{WEB_DISCLOSURE}\n\n"
            f"Not you? Ignore this email: nothing will be sent to you.\n")


@dataclass(frozen=True)
class Started:
    """A sign-up waiting for confirmation, and the secret to send (a code, or the token of
    the link); the secret is never stored, only its hash."""

    signup: SignUp
    secret: str


def _count(db: Session, since: datetime, *where) -> int:  # type: ignore[no-untyped-def]
    """Sign-ups created since ``since`` that meet ``where``."""
    return int(db.scalar(select(func.count()).select_from(SignUp).where(
        SignUp.created_at >= since, *where)) or 0)


def check_limits(db: Session, *, address: str, source: str | None, now: datetime,
                 settings: SignupSettings, method: str = "web", channel: str = "sms",
                 exclude: int | None = None) -> None:
    """:class:`SignupRefused` when this network (:func:`network_of`) started too many web
    sign-ups in the last hour, all web sign-ups by phone sent too many codes in the last
    hour, or this phone or inbox (:func:`address_key`) was sent too many confirmations in the
    last day by this ``method`` — so web sign-ups by strangers cannot stop a number signing
    itself up by text, nor its own texts the web (``exclude``: the sign-up being started)."""
    now = now.astimezone(UTC)  # SQLite compares stamps as written: UTC on both sides
    others = () if exclude is None else (SignUp.id != exclude,)
    hour_ago = now - timedelta(hours=1)
    if source is not None and settings.per_ip_per_hour and _count(
            db, hour_ago, SignUp.network == network_of(source), SignUp.method == "web",
            *others) >= settings.per_ip_per_hour:
        raise SignupRefused("limit_ip", f"too many sign-ups from your network in the last "
                                        f"hour ({settings.per_ip_per_hour} at most); try "
                                        f"again in an hour")
    if method == "web" and channel == "sms" and settings.web_texts_per_hour and _count(
            db, hour_ago, SignUp.method == "web", SignUp.channel == "sms",
            SignUp.sent.is_(True), *others) >= settings.web_texts_per_hour:
        raise SignupRefused("limit_sms", "sign-up by text is busy just now; try again in an "
                                         "hour, or sign up with your email")
    if settings.per_address_per_day and _count(
            db, now - timedelta(days=1), SignUp.address_key == address_key(address),
            SignUp.sent.is_(True), SignUp.method == method,
            *others) >= settings.per_address_per_day:
        raise SignupRefused("limit_address", f"we already sent {settings.per_address_per_day}"
                                             " confirmations to this address today; use one "
                                             "of those, or try again tomorrow")


def start_signup(db: Session, *, channel: str, address: str, zip_code: str,
                 morning_at: str | None, evening_at: str | None, method: str, source: str,
                 text_shown: str, now: datetime, settings: SignupSettings,
                 limit_source: bool = True) -> Started:
    """Record a sign-up waiting for confirmation (commits) and return its secret.

    Parameters
    ----------
    channel : ``sms`` or ``email``
    address : E.164 phone or normalised email (see :func:`check_contact`)
    zip_code : a ZIP checked by :func:`check_zip`
    morning_at, evening_at : ``HH:MM`` or None (the default times)
    method : ``keyword`` (texted) or ``web``
    source : the network address (web) or the texting number (keyword)
    text_shown : the exact words the person is agreeing to
    limit_source : apply the per-network-address limit (web sign-ups)

    Raises
    ------
    SignupRefused
        A limit was reached (``limit_ip``, ``limit_address``, ``limit_sms``): nothing was
        recorded or sent.
    """
    now = now.astimezone(UTC)
    if db.get_bind().dialect.name == "postgresql":  # one start at a time, to the commit
        db.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SIGNUP_LOCK})
    public_id = secrets.token_urlsafe(16)[:22]
    if channel == "sms" and method == "web":
        secret = f"{secrets.randbelow(10**6):06d}"
        hashed = _code_hash(public_id, secret)
        ttl = timedelta(minutes=settings.code_ttl_minutes)
    elif channel == "email":
        secret = secrets.token_urlsafe(24)
        hashed = _hash(secret)
        ttl = timedelta(hours=settings.link_ttl_hours)
    else:  # a texted ZIP: the YES from the same number confirms it
        secret, hashed = "", None
        ttl = timedelta(hours=settings.keyword_ttl_hours)
    # counted toward the address's limit from the start (the confirmation is on its way):
    # send_confirmation un-counts it when it cannot be sent
    signup = SignUp(public_id=public_id, channel=channel, address=address, zip=zip_code,
                    morning_at=morning_at, evening_at=evening_at, method=method,
                    source=source[:300], network=network_of(source),
                    address_key=address_key(address), text_shown=text_shown, secret_hash=hashed,
                    attempts=0, sent=True, status="pending", created_at=now,
                    expires_at=now + ttl)
    db.add(signup)
    # the row is written before the limits are counted: on SQLite that write takes the
    # database's one write lock (waiting for other writers), on PostgreSQL the advisory lock
    # above is held, so two sign-ups at once cannot both pass a limit
    db.flush()
    try:
        check_limits(db, address=address, source=source if limit_source else None, now=now,
                     settings=settings, method=method, channel=channel, exclude=signup.id)
    except SignupRefused:
        db.delete(signup)
        db.flush()
        raise
    if method == "keyword":  # its prompt is the reply to the text: it goes out now
        _replace_older(db, signup)
    db.commit()
    return Started(signup, secret)


def _replace_older(db: Session, signup: SignUp) -> None:
    """The earlier sign-ups of the same address and way (web or text) still waiting are
    replaced by this one. Only earlier ones: of two sign-ups whose messages go out at once
    (a double click) the newest — the page the browser shows — always stays; and a web
    sign-up by someone else never ends the number's own texted one."""
    db.execute(update(SignUp).where(SignUp.address == signup.address,
                                    SignUp.method == signup.method,
                                    SignUp.status == "pending", SignUp.id < signup.id)
               .values(status="void").execution_options(synchronize_session=False))


def mark_sent(db: Session, signup: SignUp) -> None:
    """The confirmation went out (commits): it counts toward the address's limit, and the
    code or link sent before it stops working (not earlier: a failed send leaves it)."""
    signup.sent = True
    _replace_older(db, signup)
    db.commit()


def mark_unsent(db: Session, signup: SignUp) -> None:
    """The confirmation could not be sent (commits): it does not count toward the
    address's limit."""
    signup.sent = False
    db.commit()


def _subscribe(db: Session, signup: SignUp, now: datetime, detail: str,
               dispatch: DispatchSettings) -> Subscriber:
    """Make or update the subscriber of a confirmed sign-up, and record the consent."""
    column = "phone" if signup.channel == "sms" else "email"
    sub = db.scalars(select(Subscriber).where(
        getattr(Subscriber, column) == signup.address)).first()
    defaults = {w: t.strftime("%H:%M") for w, t in dispatch.default_times.items()}
    if sub is None:
        sub = Subscriber(zip=signup.zip, timezone=_zones()[signup.zip],
                         morning_at=signup.morning_at or defaults["morning"],
                         evening_at=signup.evening_at or defaults["evening"], status="active",
                         token=_new_token(), created_at=now, updated_at=now)
        setattr(sub, column, signup.address)
        db.add(sub)
        db.flush()
    else:
        sub.zip, sub.timezone = signup.zip, _zones()[signup.zip]
        sub.morning_at = signup.morning_at or sub.morning_at
        sub.evening_at = signup.evening_at or sub.evening_at
        if sub.status != "active":  # back through this address only (see consent)
            consent.reactivate(db, sub, channel=signup.channel, address=signup.address,
                               at=now)
        sub.paused_until, sub.updated_at = None, now
    signup.status, signup.confirmed_at, signup.subscriber_id = "confirmed", now, sub.id
    consent.record(db, subscriber_id=sub.id, channel=signup.channel, address=signup.address,
                   event="granted", method=signup.method, text=signup.text_shown,
                   source=signup.source, at=now, detail=detail)
    return sub


@dataclass(frozen=True)
class Confirmation:
    """What confirming did: ``confirmed``, ``already`` (a replay: nothing changed), ``wrong``
    (a wrong code; ``attempts_left``), ``expired``, ``void`` (replaced, or too many wrong
    codes), ``unknown``."""

    outcome: str
    subscriber: Subscriber | None = None
    signup: SignUp | None = None
    attempts_left: int = 0


def _state(signup: SignUp | None, now: datetime) -> str | None:
    """Why a sign-up cannot be confirmed now, or None when it can."""
    if signup is None:
        return "unknown"
    if signup.status == "confirmed":
        return "already"
    if signup.status != "pending":
        return signup.status
    if utc(signup.expires_at) <= now:
        return "expired"
    return None


def confirm_code(db: Session, public_id: str, code: str, now: datetime, *,
                 settings: SignupSettings, dispatch: DispatchSettings) -> Confirmation:
    """Confirm a web phone sign-up with the code texted to it (commits)."""
    signup = db.scalars(select(SignUp).where(SignUp.public_id == public_id,
                                             SignUp.method == "web")).first()
    if (why := _state(signup, now)) is not None:
        return Confirmation(why, signup=signup)
    assert signup is not None and signup.secret_hash is not None
    typed = re.sub(r"\D", "", code)[:12]
    # a try is taken in the database before the code is compared: however many guesses
    # arrive at once, no more than ``code_attempts`` are ever compared
    took = db.execute(update(SignUp).where(SignUp.id == signup.id, SignUp.status == "pending",
                                           SignUp.attempts < settings.code_attempts)
                      .values(attempts=SignUp.attempts + 1)
                      .execution_options(synchronize_session=False)).rowcount  # type: ignore[attr-defined]
    db.refresh(signup)
    right = hmac.compare_digest(_code_hash(public_id, typed), signup.secret_hash)
    if not took or not right:
        left = settings.code_attempts - signup.attempts if took else 0
        if left <= 0 and signup.status == "pending":
            signup.status = "void"
        db.commit()
        if not took and signup.status != "void":
            return Confirmation(_state(signup, now) or "void", signup=signup)
        return Confirmation("wrong" if left > 0 else "void", signup=signup,
                            attempts_left=max(left, 0))
    return _confirm(db, signup, now, f"entered the code texted to {signup.address}", dispatch)


def _confirm(db: Session, signup: SignUp, now: datetime, detail: str,
             dispatch: DispatchSettings) -> Confirmation:
    """Claim the sign-up, then subscribe and record the consent (commits)."""
    if not _claim(db, signup, now):
        return Confirmation(_state(signup, now) or "already", signup=signup)
    sub = _subscribe(db, signup, now, detail, dispatch)
    db.commit()
    return Confirmation("confirmed", sub, signup)


def _claim(db: Session, signup: SignUp, now: datetime) -> bool:
    """Mark a pending sign-up confirmed in the database, if it still is pending: of two
    confirmations at once (two tabs, a replay) only one goes on to subscribe."""
    claimed = db.execute(update(SignUp).where(SignUp.id == signup.id,
                                              SignUp.status == "pending")
                         .values(status="confirmed", confirmed_at=now)
                         .execution_options(synchronize_session=False)).rowcount  # type: ignore[attr-defined]
    db.refresh(signup)
    return bool(claimed)


def find_link(db: Session, token: str) -> SignUp | None:
    """The email sign-up whose confirmation link carries ``token``."""
    if not token or len(token) > 64:
        return None
    return db.scalars(select(SignUp).where(SignUp.secret_hash == _hash(token),
                                           SignUp.channel == "email")).first()


def confirm_link(db: Session, token: str, now: datetime, *,
                 dispatch: DispatchSettings) -> Confirmation:
    """Confirm an email sign-up by its link's button (commits)."""
    signup = find_link(db, token)
    if (why := _state(signup, now)) is not None:
        return Confirmation(why, signup=signup)
    assert signup is not None
    return _confirm(db, signup, now, f"followed the link emailed to {signup.address}",
                    dispatch)


def confirm_keyword(db: Session, phone: str, word: str, now: datetime, *,
                    dispatch: DispatchSettings) -> Confirmation:
    """Confirm the newest texted sign-up of ``phone`` by its YES (does not commit)."""
    signup = db.scalars(select(SignUp).where(
        SignUp.address == phone, SignUp.method == "keyword", SignUp.status == "pending")
        .order_by(SignUp.created_at.desc(), SignUp.id.desc()).limit(1)).first()
    if signup is None:
        return Confirmation("unknown")
    if utc(signup.expires_at) <= now:
        signup.status = "expired"
        return Confirmation("expired", signup=signup)
    if not _claim(db, signup, now):  # a YES of the same number handled at the same moment
        return Confirmation("already", signup=signup)
    sub = _subscribe(db, signup, now, f'replied "{word}" from {phone}', dispatch)
    return Confirmation("confirmed", sub, signup)


# --- changes -------------------------------------------------------------------------------


def set_zip(sub: Subscriber, zip_code: str, now: datetime) -> None:
    """Move the subscriber to another (checked) ZIP; its time zone follows, and a pause
    still ends at midnight of the same local day, in the new zone."""
    zone = _zones()[zip_code]
    if sub.paused_until is not None and zone != sub.timezone:
        day = utc(sub.paused_until).astimezone(ZoneInfo(sub.timezone)).date()
        sub.paused_until = datetime.combine(day, time(0), ZoneInfo(zone)).astimezone(UTC)
    sub.zip, sub.timezone, sub.updated_at = zip_code, zone, now


def set_time(sub: Subscriber, window: str, hhmm: str, now: datetime) -> None:
    """Set the local delivery time of ``window`` (morning, evening)."""
    if window not in ("morning", "evening"):
        raise SignupRefused("time", f"no window {window!r}: morning or evening")
    setattr(sub, f"{window}_at", hhmm)
    sub.updated_at = now


def window_of(hhmm: str) -> str:
    """``morning`` for a time before noon, else ``evening``."""
    return "morning" if _minutes(hhmm) < 12 * 60 else "evening"


def pause(sub: Subscriber, days: int, now: datetime, settings: SignupSettings) -> datetime:
    """Pause the rest of today (local) and ``days`` more days; returns when it ends."""
    if not 1 <= days <= settings.max_pause_days:
        raise SignupRefused("days", f"pause for 1 to {settings.max_pause_days} days (for "
                                    "longer, STOP and START again later)")
    zone = ZoneInfo(sub.timezone)
    local = now.astimezone(zone)
    end_day = local.date() + timedelta(days=days + 1)
    until = datetime(end_day.year, end_day.month, end_day.day, tzinfo=zone)
    sub.paused_until, sub.updated_at = until.astimezone(UTC), now  # stored in UTC
    return until


def resume(sub: Subscriber, now: datetime) -> bool:
    """End a pause; False when there was none."""
    was = sub.paused_until is not None and utc(sub.paused_until) > now
    sub.paused_until, sub.updated_at = None, now
    return was


def is_paused(sub: Subscriber, now: datetime) -> bool:
    return sub.paused_until is not None and utc(sub.paused_until) > now


def summary(sub: Subscriber, now: datetime, dispatch: DispatchSettings) -> str:
    """``10001 (New York, NY), 7:00 am & 6:00 pm`` plus a pause, for replies and pages."""
    where = place(sub.zip)
    text = (f"{sub.zip}{f' ({where})' if where else ''}, {_clock(sub.morning_at)} & "
            f"{_clock(sub.evening_at)}")
    if is_paused(sub, now):
        assert sub.paused_until is not None
        end = utc(sub.paused_until).astimezone(ZoneInfo(sub.timezone))
        text += f", paused until {end:%a %b} {end.day}"
    return text
