"""Self-service by text, through the signed Twilio inbound webhook: sign up with a ZIP and YES,
change time and ZIP, pause, resume, STOP, START — the rows, the consent record, and what the
next dispatch does with them; then the bad-input catalogue.

The stored run (tests/pipeline/review/conftest.py) covers Rhode Island ZIPs 02903, 02904,
02905, 02806 and 02809 for the morning of 2026-01-15; 7:00 deliveries move to 8:00 EST
(13:00 UTC) by quiet hours.
"""

from __future__ import annotations

import html
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.dispatch.consent import history
from pipeline.dispatch.job import dispatch
from pipeline.dispatch.models import Consent, InboundMessage, SignUp, Subscriber
from pipeline.dispatch.selfservice import pause
from pipeline.store.db import get_engine, session_scope

from .test_dispatch import ChangeOnFirstSend, add_subscriber, approve, at, deliveries
from .test_dispatch import settings as settings  # noqa: F401 -- the fixture
from .test_optout import hooks_at, signed_post

NEW = "+14015550199"
_sids = itertools.count(1)


def text(settings, body, *, sender=NEW, now=None, sid=None):  # noqa: F811
    """Send ``body`` from ``sender`` through the signed webhook; the reply's text ('' none)."""
    form = {"From": sender, "Body": body, "MessageSid": sid or f"SM{next(_sids):032d}"}
    with hooks_at(settings, now or at(10)) as client:
        response = signed_post(client, "/hooks/twilio/inbound", form)
    assert response.status_code == 200, response.text
    body_xml = response.text
    if "<Message>" not in body_xml:
        return ""
    return html.unescape(body_xml.split("<Message>")[1].split("</Message>")[0])


def subscriber(settings, phone=NEW) -> Subscriber | None:  # noqa: F811
    with Session(get_engine(settings.db_url)) as db:
        return db.scalars(select(Subscriber).where(Subscriber.phone == phone)).first()


def consents(settings, address=NEW) -> list[tuple[str, str, str]]:  # noqa: F811
    with Session(get_engine(settings.db_url)) as db:
        return [(e.event, e.method, e.channel) for e in history(db, [address])]


def test_sign_up_by_text_needs_a_yes_and_records_consent(settings):  # noqa: F811
    reply = text(settings, "02904")
    assert "reply YES" in reply and "02904 (Providence, RI)" in reply
    assert "Msg & data rates may apply" in reply and "STOP" in reply and "HELP" in reply
    assert subscriber(settings) is None and consents(settings) == []  # not yet
    done = text(settings, "yes")
    sub = subscriber(settings)
    assert sub is not None and sub.status == "active" and sub.zip == "02904"
    assert sub.timezone == "America/New_York" and (sub.morning_at, sub.evening_at) == (
        "07:00", "18:00")
    assert "you're subscribed" in done and "TIME 6:30" in done
    with Session(get_engine(settings.db_url)) as db:
        row = db.scalars(select(Consent)).one()
        signup = db.scalars(select(SignUp)).one()
    assert (row.event, row.method, row.channel, row.address) == ("granted", "keyword", "sms",
                                                                  NEW)
    assert row.text == reply and row.source == NEW and row.detail == f'replied "YES" from {NEW}'
    assert signup.status == "confirmed" and signup.subscriber_id == sub.id


def test_nothing_is_sent_to_a_number_waiting_for_its_yes(settings):  # noqa: F811
    approve(settings.db_url, "s001", "Rain, high {{ high }}.")
    approve(settings.db_url, "s002", "Snow in {{ city }}.")
    text(settings, "02904")
    result = dispatch(settings, dry_run=True, now=lambda: at(13, 5))
    assert result.outcomes["sent"] == 6  # the six stored subscribers, not the new number
    with Session(get_engine(settings.db_url)) as db:
        assert db.scalars(select(Subscriber.id).where(Subscriber.phone == NEW)).all() == []


def test_join_keyword_and_zip_plus_four(settings):  # noqa: F811
    assert "reply YES" in text(settings, "JOIN 02806")
    assert "reply YES" in text(settings, "Join 02905-1234", sender="+14015550198")
    text(settings, "YES", sender="+14015550198")
    assert subscriber(settings, "+14015550198").zip == "02905"


def test_whole_life_by_text_and_dispatch_honours_it(settings):  # noqa: F811
    """Sign up, change time and ZIP, pause, resume, STOP, START — and each next window."""
    approve(settings.db_url, "s001", "Rain, high {{ high }}.")
    approve(settings.db_url, "s002", "Snow in {{ city }}.")
    text(settings, "02904")
    text(settings, "YES")
    reply = text(settings, "TIME 6:30")
    assert subscriber(settings).morning_at == "06:30"
    assert "morning message comes at 6:30 am" in reply and "comes at 8:00 am" in reply
    reply = text(settings, "ZIP 02806")
    assert subscriber(settings).zip == "02806" and "02806 (Barrington, RI)" in reply
    reply = text(settings, "PAUSE 3")
    sub = subscriber(settings)
    assert sub.status == "active" and "paused: no messages until Mon Jan 19" in reply
    # 2026-01-15 10:00 UTC is Thursday 5 am in Providence: the rest of Thursday and 3 days
    assert sub.paused_until.replace(tzinfo=UTC) == datetime(2026, 1, 19, 5, tzinfo=UTC)
    dispatch(settings, dry_run=True, now=lambda: at(13, 5))
    sent = deliveries(settings.db_url, dry=True)
    assert sub.id not in set(sent["subscriber_id"])  # paused: nothing planned
    assert "resumed" in text(settings, "RESUME", now=at(13, 10))
    dispatch(settings, dry_run=True, now=lambda: at(13, 15))
    mine = deliveries(settings.db_url, dry=True).query("subscriber_id == @sub.id")
    assert list(mine["zip"]) == ["02806"] and list(mine["status"]) == ["sent"]
    assert mine["body"].iloc[0] == "Snow in Barrington."  # the new ZIP's slot, its city
    assert "unsubscribed" in text(settings, "STOP", now=at(14))
    assert subscriber(settings).status == "opted_out"
    assert "subscribed again" in text(settings, "START", now=at(15))
    assert subscriber(settings).status == "active"
    assert consents(settings) == [("granted", "keyword", "sms"), ("revoked", "keyword", "sms"),
                                  ("granted", "keyword", "sms")]


def test_pause_is_honoured_between_queueing_and_sending(settings):  # noqa: F811
    """A pause after the message was queued but before it went out: it is skipped."""
    approve(settings.db_url, "s001", "Rain, high {{ high }}.")
    approve(settings.db_url, "s002", "Snow in {{ city }}.")

    def pause_on_the_page() -> None:  # subscriber 2 (an email) pauses on the manage page
        with session_scope(settings.db_url) as db:
            pause(db.get(Subscriber, 2), 2, at(13, 6), settings.signup)

    channel = ChangeOnFirstSend(pause_on_the_page)
    settings.dispatch.batch_size = 1
    dispatch(settings, now=lambda: at(13, 7), channel_factory=lambda name: channel)
    calls = channel.calls
    got = deliveries(settings.db_url).set_index("subscriber_id")
    assert got.loc[2, "status"] == "skipped" and got.loc[2, "error"] == "paused before sending"
    assert 2 not in {int(m.key.split("/")[-2]) for m in calls}
    assert (got.drop(index=2)["status"] == "sent").all()


def test_time_for_the_evening_and_explicit_windows(settings):  # noqa: F811
    text(settings, "TIME 6:15pm", sender="+14015550100")
    text(settings, "MORNING 9", sender="+14015550100")  # no am/pm, no minutes: refused
    sub = subscriber(settings, "+14015550100")
    assert (sub.morning_at, sub.evening_at) == ("07:00", "18:15")
    reply = text(settings, "evening 21:30", sender="+14015550100")
    assert "We send nothing after 9:00 pm, so it comes at 8:59 pm" in reply
    assert subscriber(settings, "+14015550100").evening_at == "21:30"


# --- the bad-input catalogue -----------------------------------------------------------------


@pytest.mark.parametrize("body, says", [
    ("JOIN 1234", "is not a ZIP code"),
    ("00000", "we have no forecast for ZIP 00000"),
    ("99999", "we have no forecast for ZIP 99999"),
    ("JOIN 123456", "is not a ZIP code"),
    ("JOIN", "text JOIN and your 5-digit ZIP"),
])
def test_unknown_or_malformed_zips_get_a_clear_reply(settings, body, says):  # noqa: F811
    assert says in text(settings, body)
    with Session(get_engine(settings.db_url)) as db:
        assert db.scalars(select(SignUp)).all() == []


def test_replayed_yes_acts_once(settings):  # noqa: F811
    text(settings, "02904")
    assert "subscribed" in text(settings, "YES", sid="SMreplayed")
    assert text(settings, "YES", sid="SMreplayed") == ""  # the same MessageSid again
    with Session(get_engine(settings.db_url)) as db:
        assert len(db.scalars(select(Consent)).all()) == 1
        assert db.scalars(select(InboundMessage.action).where(
            InboundMessage.provider_id == "SMreplayed")).all() == ["confirmed"]
    # a second, new YES: already subscribed, no second consent row
    assert "you are subscribed" in text(settings, "YES")
    assert len(consents(settings)) == 1


def test_an_expired_sign_up_is_not_confirmed(settings):  # noqa: F811
    text(settings, "02904", now=at(10))
    late = at(10) + timedelta(hours=settings.signup.keyword_ttl_hours, minutes=1)
    assert "expired" in text(settings, "YES", now=late)
    assert subscriber(settings) is None and consents(settings) == []


def test_yes_without_a_sign_up_and_commands_from_strangers(settings):  # noqa: F811
    assert "not subscribed" in text(settings, "YES")
    assert "not subscribed" in text(settings, "TIME 6:30")
    assert "not subscribed" in text(settings, "PAUSE 3")
    assert subscriber(settings) is None


def test_stop_before_yes_ends_the_sign_up(settings):  # noqa: F811
    text(settings, "02904")
    text(settings, "STOP")
    assert "not subscribed" in text(settings, "YES")
    assert subscriber(settings) is None


def test_a_number_is_asked_to_confirm_at_most_three_times_a_day(settings):  # noqa: F811
    for zip_code in ["02903", "02904", "02905"]:
        assert "reply YES" in text(settings, zip_code)
    assert text(settings, "02806") == ""  # silence: nothing more sent to this number
    assert "reply YES" in text(settings, "02806", now=at(10) + timedelta(days=1, minutes=1))


@pytest.mark.parametrize("body", ["TIME 25:00", "TIME soon", "PAUSE 99", "PAUSE soon",
                                  "ZIP 00000", "ZIP 123"])
def test_bad_changes_change_nothing(settings, body):  # noqa: F811
    before = subscriber(settings, "+14015550100")
    reply = text(settings, body, sender="+14015550100")
    assert "zipcast:" in reply and ("Nothing changed" in reply or "PAUSE 3" in reply)
    after = subscriber(settings, "+14015550100")
    assert (after.zip, after.morning_at, after.evening_at, after.paused_until) == (
        before.zip, before.morning_at, before.evening_at, before.paused_until)


def test_a_sender_that_is_not_a_phone_number_cannot_sign_up(settings):  # noqa: F811
    assert text(settings, "02904", sender="ZIPCAST") == ""
    with Session(get_engine(settings.db_url)) as db:
        assert db.scalars(select(SignUp)).all() == []


def test_start_by_text_does_not_switch_the_email_back_on(settings):  # noqa: F811
    """A subscriber with both unsubscribes by the email link; START by text brings the texts
    back only: the email (its newest consent a ``revoked``) is detached."""
    from pipeline.dispatch.optout import unsubscribe

    add_subscriber(settings.db_url, "02904", email="both@example.com", phone="+14015550111",
                   token="tok-both")
    with session_scope(settings.db_url) as db:
        unsubscribe(db, "tok-both", at(9))
    assert "subscribed again" in text(settings, "START", sender="+14015550111")
    sub = subscriber(settings, "+14015550111")
    assert (sub.status, sub.phone, sub.email) == ("active", "+14015550111", None)
    assert consents(settings, "both@example.com") == [  # the subscriber's whole history
        ("revoked", "link", "sms"), ("revoked", "link", "email"),
        ("granted", "keyword", "sms")]
    approve(settings.db_url, "s001", "Rain, high {{ high }}.")
    dispatch(settings, dry_run=True, now=lambda: at(13, 5))
    mine = deliveries(settings.db_url, dry=True).query("subscriber_id == @sub.id")
    assert list(mine["channel"]) == ["sms"]


@pytest.mark.parametrize("sender", ["+442079460000", "+19005550123", "+18005550123"])
def test_numbers_we_do_not_text_get_no_sign_up(settings, sender):  # noqa: F811
    """Abroad, premium-rate, toll-free: a texted ZIP records nothing and gets no reply."""
    assert text(settings, "02904", sender=sender) == ""
    with Session(get_engine(settings.db_url)) as db:
        assert db.scalars(select(SignUp)).all() == []


def test_a_pause_keeps_its_day_when_the_zip_moves_to_another_zone(settings):  # noqa: F811
    """Paused in Providence until (local) Monday; ZIP 94110: still until Monday, Pacific."""
    text(settings, "02904")
    text(settings, "YES")
    assert "until Mon Jan 19" in text(settings, "PAUSE 3")
    reply = text(settings, "ZIP 94110")
    sub = subscriber(settings)
    assert sub.timezone == "America/Los_Angeles"
    assert sub.paused_until.replace(tzinfo=UTC) == datetime(2026, 1, 19, 8, tzinfo=UTC)
    assert "94110" in reply
    from pipeline.dispatch.selfservice import summary

    assert "paused until Mon Jan 19" in summary(sub, at(10), settings.dispatch)


def test_what_the_limits_count():
    from pipeline.dispatch.selfservice import address_key, network_of, textable

    assert network_of("203.0.113.7") == "203.0.113.7"
    assert network_of("2001:db8:1:2:aaaa::1") == network_of("2001:db8:1:2::ffff") == \
        "2001:db8:1:2::/64"
    assert network_of("::ffff:203.0.113.7") == "203.0.113.7"
    assert network_of("testclient") == "testclient"
    assert address_key("j.o.ann+news@gmail.com") == address_key("joann@googlemail.com") == \
        "joann@gmail.com"
    assert address_key("jo.ann+x@example.com") == "jo.ann@example.com"
    assert address_key("+14015550123") == "+14015550123"
    assert textable("+14015550123") and textable("+17875550123")  # Providence, Puerto Rico
    assert not any(textable(n) for n in ("+19005550123", "+18005550123", "+442079460000",
                                         "+12685550123", "not a number"))
