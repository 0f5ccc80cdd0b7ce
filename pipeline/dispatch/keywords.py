"""Self-service by text: a ZIP (or ``JOIN 10001``) to sign up, YES to confirm, ``TIME 6:30``,
``ZIP 94110``, ``PAUSE 3``, ``RESUME``.

:func:`act` is called by :func:`pipeline.dispatch.optout.handle_inbound_sms` for every
message that is not STOP, HELP or WRONG; it returns the action recorded with the inbound
message and the reply, or None when the text is not one of these commands.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy.orm import Session

from pipeline.dispatch import consent, selfservice
from pipeline.dispatch.models import Subscriber
from pipeline.dispatch.selfservice import PROGRAM, SignupRefused
from pipeline.settings import Settings

JOIN = re.compile(r"^(?:(?:JOIN|SUBSCRIBE|SIGN ?UP|START)\s+)?(\d[\d-]*)$")
JOIN_ALONE = frozenset({"JOIN", "SUBSCRIBE", "SIGNUP", "SIGN UP"})
ZIP = re.compile(r"^ZIP(?:\s*CODE)?\s+(\S+)$")
TIME = re.compile(r"^(TIME|MORNING|EVENING)\s+(.+)$")
PAUSE = re.compile(r"^PAUSE(?:\s+(\S+?)(?:\s*DAYS?)?)?$")
RESUME_WORDS = frozenset({"RESUME", "UNPAUSE", "RESTART"})
CONFIRM_WORDS = frozenset({"YES", "Y", "START", "UNSTOP"})
DEFAULT_PAUSE_DAYS = 7
HOW = "Text TIME 6:30, ZIP 94110, PAUSE 3 or RESUME; STOP to cancel."

Outcome = tuple[str, str | None]


def _not_subscribed() -> str:
    return (f"{PROGRAM}: you are not subscribed. Text your ZIP (e.g. 10001) to sign up for "
            "your local weather twice a day.")


def _opted_out() -> str:
    return f"{PROGRAM}: you are unsubscribed. Reply START to subscribe again."


def _join(db: Session, sender: str, zip_text: str, at: datetime,
          settings: Settings) -> Outcome:
    if not selfservice.textable(sender):  # abroad, premium-rate...: no reply costs us
        return "not_textable", None
    try:
        zip_code = selfservice.check_zip(zip_text)
    except SignupRefused as err:
        return "signup_bad_zip", f"{PROGRAM}: {err}. Text your 5-digit ZIP to sign up."
    prompt = selfservice.keyword_prompt(zip_code, settings.dispatch, settings.signup)
    try:
        selfservice.start_signup(
            db, channel="sms", address=sender, zip_code=zip_code, morning_at=None,
            evening_at=None, method="keyword", source=sender, text_shown=prompt, now=at,
            settings=settings.signup, limit_source=False)
    except SignupRefused:
        return "signup_limited", None  # silence: they were asked to confirm enough times
    return "signup", prompt


def _confirm(db: Session, sender: str, word: str, sub: Subscriber | None, at: datetime,
             settings: Settings) -> Outcome | None:
    done = selfservice.confirm_keyword(db, sender, word, at, dispatch=settings.dispatch)
    if done.outcome == "confirmed":
        assert done.subscriber is not None
        return "confirmed", (
            f"{PROGRAM}: you're subscribed: "
            f"{selfservice.summary(done.subscriber, at, settings.dispatch)}. {HOW}")
    if done.outcome == "expired" and (sub is None or sub.status != "active"):
        return "signup_expired", (f"{PROGRAM}: that sign-up expired. Text your ZIP again "
                                  "to start over.")
    if sub is None:
        return ("unknown_sender", _not_subscribed()) if word in ("YES", "Y") else None
    if sub.status == "opted_out":
        if word in ("Y",):
            return None
        consent.reactivate(db, sub, channel="sms", address=sub.phone or sender, at=at)
        reply = (f"{PROGRAM}: you are subscribed again: "
                 f"{selfservice.summary(sub, at, settings.dispatch)}. Reply STOP to "
                 "unsubscribe, HELP for help.")
        consent.record(db, subscriber_id=sub.id, channel="sms", address=sub.phone or sender,
                       event="granted", method="keyword", text=reply, source=sender, at=at,
                       detail=f'texted "{word}" after opting out')
        return "opt_in", reply
    if word in ("Y",):
        return None
    return "opt_in", (f"{PROGRAM}: you are subscribed: "
                      f"{selfservice.summary(sub, at, settings.dispatch)}. {HOW}")


def _manage(sub: Subscriber, word: str, at: datetime, settings: Settings) -> Outcome | None:
    """TIME, ZIP, PAUSE, RESUME for an active subscriber (None: not such a command)."""
    dispatch = settings.dispatch
    if match := ZIP.match(word):
        try:
            zip_code = selfservice.check_zip(match[1])
        except SignupRefused as err:
            return "bad_zip", f"{PROGRAM}: {err}. Nothing changed."
        selfservice.set_zip(sub, zip_code, at)
        return "zip", (f"{PROGRAM}: from your next message, the weather for "
                       f"{selfservice.summary(sub, at, dispatch)}.")
    if match := TIME.match(word):
        try:
            hhmm = selfservice.check_time(match[2])
        except SignupRefused as err:
            return "bad_time", f"{PROGRAM}: {err}. Nothing changed."
        window = (selfservice.window_of(hhmm) if match[1] == "TIME"
                  else match[1].lower())
        selfservice.set_time(sub, window, hhmm, at)
        return "time", (f"{PROGRAM}: your {window} message comes at "
                        f"{selfservice._clock(hhmm)} from the next one."
                        f"{selfservice.quiet_note(hhmm, dispatch)}")
    if match := PAUSE.match(word):
        text = match[1]
        if text is not None and not text.isdigit():
            return "bad_pause", f"{PROGRAM}: write PAUSE and a number of days, e.g. PAUSE 3."
        try:
            until = selfservice.pause(sub, int(text or DEFAULT_PAUSE_DAYS), at, settings.signup)
        except SignupRefused as err:
            return "bad_pause", f"{PROGRAM}: {err}. Nothing changed."
        return "pause", (f"{PROGRAM}: paused: no messages until {until:%a %b} {until.day}. "
                         "Text RESUME to restart sooner.")
    if word in RESUME_WORDS:
        was = selfservice.resume(sub, at)
        return "resume", (f"{PROGRAM}: " + ("resumed" if was else "you were not paused")
                          + f": {selfservice.summary(sub, at, dispatch)}.")
    return None


def act(db: Session, sender: str, word: str, sub: Subscriber | None, at: datetime,
        settings: Settings) -> Outcome | None:
    """Act on a self-service text (does not commit); None when it is not one.

    ``sender`` is the E.164 number, ``word`` the message as a keyword
    (:func:`pipeline.dispatch.optout.keyword`), ``sub`` the sender's subscriber if any.
    """
    if word in CONFIRM_WORDS:
        return _confirm(db, sender, word, sub, at, settings)
    if word in JOIN_ALONE:
        return "signup_help", f"{PROGRAM}: text JOIN and your 5-digit ZIP, e.g. JOIN 10001."
    join = JOIN.match(word)
    if join or (ZIP.match(word) and (sub is None or sub.status != "active")):
        zip_text = join[1] if join else ZIP.match(word)[1]  # type: ignore[index]
        if sub is not None and sub.status == "active":
            try:
                zip_code = selfservice.check_zip(zip_text)
            except SignupRefused as err:
                return "bad_zip", f"{PROGRAM}: {err}. Nothing changed."
            if zip_code == sub.zip:
                return "already", (f"{PROGRAM}: you're already subscribed for "
                                   f"{selfservice.summary(sub, at, settings.dispatch)}. {HOW}")
            return "already", (f"{PROGRAM}: you're subscribed for {sub.zip}. To change it, "
                               f"text ZIP {zip_code}.")
        return _join(db, sender, zip_text, at, settings)
    if not (ZIP.match(word) or TIME.match(word) or PAUSE.match(word) or word in RESUME_WORDS):
        return None
    if sub is None:
        return "unknown_sender", _not_subscribed()
    if sub.status != "active":
        return "opted_out", _opted_out()
    return _manage(sub, word, at, settings)
