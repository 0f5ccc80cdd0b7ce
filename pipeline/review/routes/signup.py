"""Public pages of the self-service (GitHub issue 20): the web sign-up and the manage page.

- ``GET/POST /signup``: ZIP, a mobile number or an email, morning and evening times, and the
  consent box with :data:`~pipeline.dispatch.selfservice.WEB_DISCLOSURE`; the one
  confirmation message goes out (a code by SMS, a link by email);
- ``GET/POST /signup/{public_id}``: the code texted to a phone number;
- ``GET/POST /signup/confirm/{token}``: the link emailed to an address (a GET only shows the
  button: link scanners follow GETs);
- ``GET/POST /m/{token}``: a subscriber changes ZIP and times, pauses, resumes (the link in
  every email's footer, and on the page that confirmed the sign-up).

No login: a sign-up proves the address by its code or link, the manage page is reached by the
subscriber's secret token. Unlike ``/u/`` and ``/w/`` these forms carry the session's CSRF
token (the app-wide check applies). The rules (checks, limits, codes, consent) live in
:mod:`pipeline.dispatch.selfservice`; these routes parse, call and render.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.config.dispatch import DispatchSettings
from pipeline.dispatch import selfservice
from pipeline.dispatch.confirmations import ConfirmationNotSent, send_confirmation
from pipeline.dispatch.models import SignUp, Subscriber
from pipeline.dispatch.selfservice import WEB_DISCLOSURE, SignupRefused
from pipeline.dispatch.subscribers.queries import by_token
from pipeline.review.deps import SessionDep, public_page
from pipeline.settings import Settings
from pipeline.times import utc

log = logging.getLogger(__name__)

router = APIRouter(tags=["signup"])
WINDOWS = ("morning", "evening")
LIMIT_WAIT_S = {"limit_ip": 3600, "limit_address": 24 * 3600}  # Retry-After of a 429
FIELD_MAX = 300  # characters of a field looked at (the checks quote at most 30)
Text = Annotated[str, Form()]


def _now(request: Request) -> datetime:
    return request.app.state.now()


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _sentence(message: str) -> str:
    """A library message (``we have no forecast ...``) as a sentence on a page."""
    text = message.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _clock(hhmm: str) -> str:
    return selfservice._clock(hhmm)  # the one way times are written


def _ending(address: str) -> str:
    """``the number ending in 0123`` / the email itself (shown to whoever has the URL)."""
    return f"the number ending in {address[-4:]}" if address.startswith("+") else address


def _notes(times: dict[str, str], dispatch: DispatchSettings) -> list[str]:
    """Quiet-hours notes of the chosen times: ``Your morning message: we send nothing ...``."""
    notes = []
    for window, hhmm in times.items():
        note = selfservice.quiet_note(hhmm, dispatch).strip()
        if note:
            notes.append(f"Your {window} message at {_clock(hhmm)}: {note[:1].lower()}"
                         f"{note[1:]}")
    return notes


def _quiet_hint(dispatch: DispatchSettings) -> str:
    start, end = (dispatch.quiet_start.strftime("%H:%M"), dispatch.quiet_end.strftime("%H:%M"))
    return f"We send messages between {_clock(start)} and {_clock(end)}, your local time."


def _first_due(sub: Subscriber, now: datetime, dispatch: DispatchSettings) -> str:
    """When the next message is due (``today at 6:00 pm``), its time moved into the quiet
    hours as the dispatch moves it, after a pause if there is one."""
    zone = ZoneInfo(sub.timezone)
    start = now
    if selfservice.is_paused(sub, now):
        assert sub.paused_until is not None
        start = utc(sub.paused_until)
    local = start.astimezone(zone)
    lo = dispatch.quiet_start.hour * 60 + dispatch.quiet_start.minute
    hi = dispatch.quiet_end.hour * 60 + dispatch.quiet_end.minute
    due = []
    for days in range(3):
        day = local.date() + timedelta(days=days)
        for hhmm in (sub.morning_at, sub.evening_at):
            hour, minute = map(int, hhmm.split(":"))
            minutes = min(max(hour * 60 + minute, lo), max(lo, hi - 1))
            moment = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=zone)
            if moment > local:
                due.append(moment)
    first = min(due)
    today = now.astimezone(zone).date()
    day_text = ("today" if first.date() == today else "tomorrow"
                if first.date() == today + timedelta(days=1)
                else f"on {first:%a %b} {first.day}")
    return f"{day_text} at {_clock(first.strftime('%H:%M'))}"


def _page(request: Request, name: str, context: dict[str, Any], status_code: int = 200):
    return public_page(request, f"review/{name}.html", context, status_code=status_code)


def _message(request: Request, title: str, text: str, status_code: int, *,
             again: bool = False, detail: list[str] | None = None):
    """A page saying one thing (and, with ``again``, linking to a fresh sign-up)."""
    return _page(request, "signup_message", {
        "title": title, "text": text, "detail": detail or [], "again": again},
        status_code=status_code)


def _not_found(request: Request, what: str):
    return _message(request, "Link not found",
                    f"This {what} is not valid: it may be mistyped or cut short. Copy the "
                    "whole link from the message, or sign up again.", 404, again=True)


# --- sign up -------------------------------------------------------------------------------


def _form(request: Request, values: dict[str, Any], errors: dict[str, str],
          status_code: int = 200, alert: str | None = None, notes: list[str] | None = None):
    settings = _settings(request)
    return _page(request, "signup", {
        "values": values, "errors": errors, "alert": alert, "disclosure": WEB_DISCLOSURE,
        "quiet": _quiet_hint(settings.dispatch), "notes": notes or []},
        status_code=status_code)


@router.get("/signup")
def signup_form(request: Request):
    """The sign-up form, the default times filled in."""
    defaults = _settings(request).dispatch.default_times
    values = {"zip": "", "contact": "", "consent": False,
              **{w: defaults[w].strftime("%H:%M") for w in WINDOWS}}
    return _form(request, values, {})


def _check_times(values: dict[str, Any], errors: dict[str, str]) -> dict[str, str]:
    """The checked ``HH:MM`` of each window (problems into ``errors``)."""
    times = {}
    for window in WINDOWS:
        try:
            hhmm = selfservice.check_time(values[window])
        except SignupRefused as err:
            errors[window] = _sentence(str(err))
            continue
        if selfservice.window_of(hhmm) != window:
            errors[window] = ("The morning message comes before noon: pick a time before "
                              "12:00 pm." if window == "morning" else
                              "The evening message comes from noon on: pick 12:00 pm or "
                              "later.")
            continue
        times[window] = hhmm
    return times


@router.post("/signup")
def signup(request: Request, db: SessionDep, zip: Text = "", contact: Text = "",
           morning: Text = "", evening: Text = "", consent: Text = ""):
    """Check everything (every problem at once, 400), then start the sign-up and send its one
    confirmation: a phone number goes on to the code page, an email to "check your inbox".

    Whether the address already subscribes is never shown: it gets the same pages.
    """
    settings = _settings(request)
    values: dict[str, Any] = {"zip": zip[:FIELD_MAX], "contact": contact[:FIELD_MAX],
                              "morning": morning[:FIELD_MAX], "evening": evening[:FIELD_MAX],
                              "consent": bool(consent)}
    errors: dict[str, str] = {}
    zip_code = channel = address = ""
    try:
        zip_code = selfservice.check_zip(values["zip"])
    except SignupRefused as err:
        errors["zip"] = _sentence(str(err))
    try:
        channel, address = selfservice.check_contact(values["contact"])
    except SignupRefused as err:
        errors["contact"] = _sentence(str(err))
    times = _check_times(values, errors)
    if not values["consent"]:
        errors["consent"] = ("Tick the box to agree to the messages: we send nothing without "
                             "your agreement.")
    notes = _notes(times, settings.dispatch)
    if errors:
        return _form(request, values, errors, 400, notes=notes)
    now = _now(request)
    try:
        started = selfservice.start_signup(
            db, channel=channel, address=address, zip_code=zip_code,
            morning_at=times["morning"], evening_at=times["evening"], method="web",
            source=request.client.host if request.client else "unknown",
            text_shown=WEB_DISCLOSURE, now=now, settings=settings.signup)
    except SignupRefused as err:  # limit_ip, limit_address: nothing recorded or sent
        response = _form(request, values, {}, 429, alert=_sentence(str(err)), notes=notes)
        response.headers["Retry-After"] = str(LIMIT_WAIT_S.get(err.kind, 3600))
        return response
    link = None
    if channel == "email":
        link = f"{settings.dispatch.public_url.rstrip('/')}/signup/confirm/{started.secret}"
    try:
        send_confirmation(db, started, settings, link=link)
    except ConfirmationNotSent as err:
        log.warning("web sign-up %s: %s", started.signup.public_id, err.detail)
        return _form(request, values, {}, 503, notes=notes, alert=(
            f"We could not send your {'code' if channel == 'sms' else 'link'}: "
            f"{_sentence(str(err))}"))
    if channel == "sms":
        return RedirectResponse(f"/signup/{started.signup.public_id}", status_code=303)
    return _page(request, "signup_sent", {
        "address": address, "hours": settings.signup.link_ttl_hours,
        "notes": notes})


# --- confirm -------------------------------------------------------------------------------


def _done(request: Request, sub: Subscriber | None, signup: SignUp | None):
    """The page after a confirmation: what they get, when the first comes, where to manage."""
    assert sub is not None and signup is not None
    settings = _settings(request)
    now = _now(request)
    times = {"morning": sub.morning_at, "evening": sub.evening_at}
    return _page(request, "signup_done", {
        "summary": selfservice.summary(sub, now, settings.dispatch),
        "how": "by text to " + _ending(signup.address) if signup.channel == "sms"
        else "by email to " + signup.address,
        "channel": signup.channel, "first": _first_due(sub, now, settings.dispatch),
        "notes": _notes(times, settings.dispatch), "token": sub.token})


def _outcome(request: Request, outcome: str, what: str):
    """The page of a confirmation that did not confirm (``what``: code, link)."""
    signup = _settings(request).signup
    if outcome == "already":
        return _message(request, "Already confirmed",
                        "This sign-up is already confirmed; nothing changed. Your messages "
                        "are on their way at the times you chose.", 200)
    if outcome == "expired":
        life = (f"{signup.code_ttl_minutes} minutes" if what == "code"
                else f"{signup.link_ttl_hours} hours")
        return _message(request, f"The {what} expired",
                        f"The {what} works for {life} and this one has expired. Sign up "
                        "again to get a new one.", 410, again=True)
    if outcome == "void":
        return _message(request, "Start again",
                        "This sign-up can no longer be confirmed: too many wrong codes were "
                        "tried, or a newer sign-up for the same address replaced it. Sign up "
                        "again (use the newest code or link you were sent).", 410, again=True)
    return _not_found(request, f"confirmation {what}")


def _pending_sms(db: Session, public_id: str) -> SignUp | None:
    if not public_id or len(public_id) > 64:
        return None
    return db.scalars(select(SignUp).where(SignUp.public_id == public_id,
                                           SignUp.method == "web",
                                           SignUp.channel == "sms")).first()


def _code_page(request: Request, signup: SignUp, error: str | None = None,
               status_code: int = 200):
    settings = _settings(request)
    times = {"morning": signup.morning_at or "", "evening": signup.evening_at or ""}
    return _page(request, "signup_code", {
        "signup": signup, "to": _ending(signup.address), "error": error,
        "place": selfservice.place(signup.zip), "times": times,
        "clock": {w: _clock(t) for w, t in times.items() if t},
        "minutes": settings.signup.code_ttl_minutes,
        "notes": _notes({w: t for w, t in times.items() if t}, settings.dispatch)},
        status_code=status_code)


@router.get("/signup/{public_id}")
def code_form(request: Request, public_id: str, db: SessionDep):
    """Where a phone sign-up types the code texted to it."""
    signup = _pending_sms(db, public_id)
    if signup is None:
        return _not_found(request, "sign-up page")
    state = selfservice._state(signup, _now(request))  # why it cannot be confirmed
    if state is not None:
        return _outcome(request, state, "code")
    return _code_page(request, signup)


@router.post("/signup/{public_id}")
def code_confirm(request: Request, public_id: str, db: SessionDep, code: Text = ""):
    """Check the code: confirmed (the done page), wrong (tries left), or why not."""
    signup = _pending_sms(db, public_id)
    if signup is None:
        return _not_found(request, "sign-up page")
    settings = _settings(request)
    if not re.search(r"\d", code) and signup.status == "pending":
        return _code_page(request, signup, "Type the 6-digit code from the text message.",
                          400)
    done = selfservice.confirm_code(db, public_id, code[:FIELD_MAX], _now(request),
                                    settings=settings.signup, dispatch=settings.dispatch)
    if done.outcome == "confirmed":
        return _done(request, done.subscriber, done.signup)
    if done.outcome == "wrong":
        left = done.attempts_left
        return _code_page(request, signup, f"That code is wrong: {left} "
                                           f"{'try' if left == 1 else 'tries'} left.", 400)
    return _outcome(request, done.outcome, "code")


@router.get("/signup/confirm/{token}")
def link_page(request: Request, token: str, db: SessionDep):
    """The emailed link: a confirmation button (link scanners follow GETs)."""
    signup = selfservice.find_link(db, token)
    if signup is None:
        return _not_found(request, "confirmation link")
    state = selfservice._state(signup, _now(request))  # why it cannot be confirmed
    if state is not None:
        return _outcome(request, state, "link")
    times = {"morning": signup.morning_at or "", "evening": signup.evening_at or ""}
    return _page(request, "signup_confirm", {
        "token": token, "signup": signup, "place": selfservice.place(signup.zip),
        "clock": {w: _clock(t) for w, t in times.items() if t}})


@router.post("/signup/confirm/{token}")
def link_confirm(request: Request, token: str, db: SessionDep):
    """The button: confirm the email sign-up."""
    done = selfservice.confirm_link(db, token, _now(request),
                                    dispatch=_settings(request).dispatch)
    if done.outcome == "confirmed":
        return _done(request, done.subscriber, done.signup)
    return _outcome(request, done.outcome, "link")


# --- manage --------------------------------------------------------------------------------


def _manage(request: Request, sub: Subscriber, *, values: dict[str, Any] | None = None,
            errors: dict[str, str] | None = None, saved: list[str] | None = None,
            status_code: int = 200):
    settings = _settings(request)
    now = _now(request)
    paused_until = None
    if selfservice.is_paused(sub, now):
        assert sub.paused_until is not None
        end = utc(sub.paused_until).astimezone(ZoneInfo(sub.timezone))
        paused_until = f"{end:%a %b} {end.day}"
    return _page(request, "manage", {
        "sub": sub, "token": sub.token, "place": selfservice.place(sub.zip),
        "summary": selfservice.summary(sub, now, settings.dispatch),
        "clock": {"morning": _clock(sub.morning_at), "evening": _clock(sub.evening_at)},
        "values": values or {"zip": sub.zip, "morning": sub.morning_at,
                             "evening": sub.evening_at, "days": "3"},
        "errors": errors or {}, "saved": saved or [], "paused_until": paused_until,
        "max_days": settings.signup.max_pause_days, "quiet": _quiet_hint(settings.dispatch),
        "phone": _ending(sub.phone) if sub.phone else None, "email": sub.email,
        "active": sub.status == "active"}, status_code=status_code)


@router.get("/m/{token}")
def manage_page(request: Request, token: str, db: SessionDep):
    """The subscriber's page: ZIP, times, pause, and the way out."""
    sub = by_token(db, token) if len(token) <= 64 else None
    if sub is None:
        return _not_found(request, "manage link")
    return _manage(request, sub)


def _save(request: Request, db: SessionDep, sub: Subscriber, values: dict[str, Any]):
    """Change ZIP and times together: every problem shown and nothing changed, or all saved."""
    settings = _settings(request)
    now = _now(request)
    errors: dict[str, str] = {}
    zip_code = ""
    try:
        zip_code = selfservice.check_zip(values["zip"])
    except SignupRefused as err:
        errors["zip"] = _sentence(str(err))
    times = _check_times(values, errors)
    if errors:
        return _manage(request, sub, values=values | {"days": "3"}, errors=errors,
                       status_code=400)
    changed = []
    if zip_code != sub.zip:
        selfservice.set_zip(sub, zip_code, now)
        changed.append("zip")
    for window, hhmm in times.items():
        if hhmm != getattr(sub, f"{window}_at"):
            selfservice.set_time(sub, window, hhmm, now)
            changed.append(window)
    if not changed:
        return _manage(request, sub, saved=["Nothing to change: that is what you have."])
    db.commit()
    saved = [f"Saved: from your next message, the weather for "
             f"{selfservice.summary(sub, now, settings.dispatch)}."]
    saved += _notes({w: t for w, t in times.items() if w in changed}, settings.dispatch)
    return _manage(request, sub, saved=saved)


@router.post("/m/{token}")
def manage_change(request: Request, token: str, db: SessionDep, action: Text = "",
                  zip: Text = "", morning: Text = "", evening: Text = "", days: Text = ""):
    """Apply one change (``action``: save, pause, resume) and commit it."""
    sub = by_token(db, token) if len(token) <= 64 else None
    if sub is None:
        return _not_found(request, "manage link")
    if sub.status != "active":
        return _manage(request, sub, status_code=409)
    now = _now(request)
    settings = _settings(request)
    if action == "save":
        return _save(request, db, sub, {"zip": zip[:FIELD_MAX], "morning": morning[:FIELD_MAX],
                                        "evening": evening[:FIELD_MAX]})
    if action == "pause":
        text = days.strip()[:FIELD_MAX]
        try:
            if not text.isdigit():
                raise SignupRefused("days", "write a number of days, e.g. 3")
            until = selfservice.pause(sub, int(text), now, settings.signup)
        except SignupRefused as err:
            return _manage(request, sub, errors={"days": _sentence(str(err))},
                           values={"zip": sub.zip, "morning": sub.morning_at,
                                   "evening": sub.evening_at, "days": text},
                           status_code=400)
        db.commit()
        return _manage(request, sub, saved=[
            f"Paused: no messages until {until:%a %b} {until.day}. Press Resume to restart "
            "sooner."])
    if action == "resume":
        was = selfservice.resume(sub, now)
        db.commit()
        return _manage(request, sub, saved=[
            ("Resumed" if was else "You were not paused") + ": the weather for "
            f"{selfservice.summary(sub, now, settings.dispatch)}, from your next message."])
    return _manage(request, sub, errors={"action": "Choose Save, Pause or Resume."},
                   status_code=400)
