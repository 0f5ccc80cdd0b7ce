"""Self-service on both databases (SQLite, PostgreSQL): sign-ups, codes, pauses and the consent
record, through the library calls the webhook and the pages make."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.config.dispatch import DispatchSettings
from pipeline.config.signup import SignupSettings
from pipeline.dispatch import selfservice as ss
from pipeline.dispatch.consent import history
from pipeline.dispatch.models import SignUp, Subscriber
from pipeline.dispatch.outbox import subscriber_status
from pipeline.dispatch.plan import subscribers_frame
from pipeline.dispatch.subscribers import import_csv
from pipeline.store.db import get_engine, migrate
from tests.pipeline.test_store import db_url as db_url  # noqa: F401 -- the fixture

NOW = datetime(2026, 12, 2, 15, tzinfo=UTC)  # 10 am in New York
RULES = SignupSettings()
DISPATCH = DispatchSettings()


@pytest.fixture
def db(db_url):  # noqa: F811
    migrate(db_url)
    with Session(get_engine(db_url), expire_on_commit=False) as session:
        yield session


def test_code_sign_up_wrong_then_right_then_replayed(db):
    started = ss.start_signup(db, channel="sms", address="+14015550123", zip_code="10001",
                              morning_at="06:45", evening_at=None, method="web",
                              source="203.0.113.9", text_shown=ss.WEB_DISCLOSURE, now=NOW,
                              settings=RULES)
    assert len(started.secret) == 6 and started.signup.secret_hash != started.secret
    public = started.signup.public_id
    wrong = "000000" if started.secret != "000000" else "111111"
    assert ss.confirm_code(db, public, wrong, NOW, settings=RULES,
                           dispatch=DISPATCH).attempts_left == RULES.code_attempts - 1
    done = ss.confirm_code(db, public, started.secret, NOW + timedelta(minutes=1),
                           settings=RULES, dispatch=DISPATCH)
    assert done.outcome == "confirmed" and done.subscriber is not None
    sub = done.subscriber
    assert (sub.zip, sub.timezone, sub.morning_at, sub.evening_at, sub.status) == (
        "10001", "America/New_York", "06:45", "18:00", "active")
    replay = ss.confirm_code(db, public, started.secret, NOW + timedelta(minutes=2),
                             settings=RULES, dispatch=DISPATCH)
    assert replay.outcome == "already"
    events = history(db, ["+14015550123"])
    assert [(e.event, e.method, e.source, e.text) for e in events] == [
        ("granted", "web", "203.0.113.9", ss.WEB_DISCLOSURE)]


def test_an_expired_code_does_not_confirm(db):
    started = ss.start_signup(db, channel="sms", address="+14015550123", zip_code="10001",
                              morning_at=None, evening_at=None, method="web", source="ip",
                              text_shown=ss.WEB_DISCLOSURE, now=NOW, settings=RULES)
    late = NOW + timedelta(minutes=RULES.code_ttl_minutes, seconds=1)
    assert ss.confirm_code(db, started.signup.public_id, started.secret, late,
                           settings=RULES, dispatch=DISPATCH).outcome == "expired"
    assert db.scalars(select(Subscriber)).all() == []


def test_pause_is_read_the_same_on_both_databases(db):
    started = ss.start_signup(db, channel="sms", address="+14015550123", zip_code="10001",
                              morning_at=None, evening_at=None, method="keyword",
                              source="+14015550123", text_shown="prompt", now=NOW,
                              settings=RULES)
    assert started.signup.sent  # the texted prompt is the confirmation
    sub = ss.confirm_keyword(db, "+14015550123", "YES", NOW, dispatch=DISPATCH).subscriber
    assert sub is not None
    until = ss.pause(sub, 3, NOW, RULES)
    db.commit()
    assert until == datetime(2026, 12, 6, tzinfo=until.tzinfo)  # Wed rest + Thu, Fri, Sat
    zips = pd.Index(["10001"])
    during, after = until - timedelta(minutes=1), until + timedelta(minutes=1)
    assert subscribers_frame(db, zips, during).empty
    assert len(subscribers_frame(db, zips, after)) == 1
    assert subscriber_status(db, [sub.id], during.astimezone(UTC))[sub.id][0] == "paused"
    assert subscriber_status(db, [sub.id], after.astimezone(UTC))[sub.id][0] == "active"


def test_limits_count_per_network_and_per_address(db):
    for i in range(RULES.per_ip_per_hour):
        started = ss.start_signup(db, channel="email", address=f"p{i}@example.com",
                                  zip_code="10001", morning_at=None, evening_at=None,
                                  method="web", source="198.51.100.7",
                                  text_shown=ss.WEB_DISCLOSURE, now=NOW, settings=RULES)
        ss.mark_sent(db, started.signup)
    with pytest.raises(ss.SignupRefused, match="too many sign-ups from your network"):
        ss.start_signup(db, channel="email", address="other@example.com", zip_code="10001",
                        morning_at=None, evening_at=None, method="web",
                        source="198.51.100.7", text_shown=ss.WEB_DISCLOSURE,
                        now=NOW + timedelta(minutes=59), settings=RULES)
    assert db.scalar(select(SignUp.id).where(SignUp.address == "other@example.com")) is None


def test_import_consent_on_both_databases(db, db_url, tmp_path):  # noqa: F811
    path = tmp_path / "subs.csv"
    path.write_text("zip,phone,consent_text,consent_at\n"
                    "10001,(401) 555-0123,Text me the weather,2026-11-30T14:05Z\n")
    assert import_csv(db_url, path, now=NOW).added == 1
    (event,) = history(db, ["+14015550123"])
    assert (event.event, event.method, event.text) == ("granted", "import",
                                                       "Text me the weather")
    assert event.at == datetime(2026, 11, 30, 14, 5, tzinfo=UTC)


def test_of_two_sign_ups_sent_at_once_the_newest_stays(db):
    """A double click: both confirmations go out, the first finishes last; the newest
    sign-up (the page the browser shows) keeps working, the older one is replaced."""
    def start(minute: int) -> ss.Started:
        return ss.start_signup(db, channel="sms", address="+14015550123", zip_code="10001",
                               morning_at=None, evening_at=None, method="web",
                               source="198.51.100.7", text_shown=ss.WEB_DISCLOSURE,
                               now=NOW + timedelta(seconds=minute), settings=RULES)

    first, second = start(0), start(1)
    ss.mark_sent(db, second.signup)
    ss.mark_sent(db, first.signup)
    db.expire_all()
    assert (first.signup.status, second.signup.status) == ("void", "pending")
    done = ss.confirm_code(db, second.signup.public_id, second.secret, NOW + timedelta(
        minutes=1), settings=RULES, dispatch=DispatchSettings())
    assert done.outcome == "confirmed"
