"""Opt-out: inbound STOP words through Twilio's webhook, HELP, the email link, callbacks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from pipeline.dispatch.job import dispatch
from pipeline.dispatch.models import Delivery, DeliveryEvent, InboundMessage, Subscriber
from pipeline.dispatch.optout import STOP_WORDS, keyword
from pipeline.review.app import create_app
from pipeline.settings import ReviewSettings
from pipeline.store.db import get_engine

from .test_dispatch import approve, at, deliveries
from .test_dispatch import settings as settings  # noqa: F401 -- the fixture

TOKEN = "twilio-auth-token"
PUBLIC = "https://zipcast.example"


def hooks_at(settings, now: datetime):  # noqa: F811
    """A client of the public endpoints, signed by TOKEN for PUBLIC, with the clock at
    ``now`` (a context manager)."""
    settings.dispatch.twilio_auth_token = SecretStr(TOKEN)
    settings.dispatch.public_url = PUBLIC
    return TestClient(create_app(settings, ReviewSettings(secret_key="k"), now=lambda: now))


@pytest.fixture
def hooks(settings):  # noqa: F811
    with hooks_at(settings, datetime(2026, 1, 15, 12, tzinfo=UTC)) as client:
        yield client


def signed_post(client, path, form, token=TOKEN):
    signature = RequestValidator(token).compute_signature(PUBLIC + path, form)
    return client.post(path, data=form, headers={"X-Twilio-Signature": signature})


def status_of(settings, phone):  # noqa: F811
    with Session(get_engine(settings.db_url)) as db:
        return db.scalars(select(Subscriber.status).where(Subscriber.phone == phone)).one()


@pytest.mark.parametrize("word", ["STOP", "stop", " Unsubscribe ", "CANCEL", "end", "QUIT",
                                  "REVOKE", "opt out", "OPTOUT", "Stop."])
def test_stop_words_opt_out_at_once(hooks, settings, word):  # noqa: F811
    response = signed_post(hooks, "/hooks/twilio/inbound", {"From": "+14015550100",
                                                           "Body": word})
    assert response.status_code == 200 and "unsubscribed" in response.text
    assert response.headers["content-type"].startswith("text/xml")
    assert status_of(settings, "+14015550100") == "opted_out"


def test_every_required_keyword_is_known():
    for word in ["STOP", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPT OUT"]:
        assert keyword(word.lower()) in STOP_WORDS


def test_help_gets_an_answer_and_changes_nothing(hooks, settings):  # noqa: F811
    response = signed_post(hooks, "/hooks/twilio/inbound", {"From": "+14015550100",
                                                           "Body": "help"})
    assert "<Message>" in response.text and "Reply STOP" in response.text
    assert status_of(settings, "+14015550100") == "active"
    with Session(get_engine(settings.db_url)) as db:
        assert db.scalars(select(InboundMessage.action)).all() == ["help"]


def test_forged_or_unsigned_webhooks_are_refused(hooks, settings):  # noqa: F811
    form = {"From": "+14015550100", "Body": "STOP"}
    assert hooks.post("/hooks/twilio/inbound", data=form).status_code == 403
    assert signed_post(hooks, "/hooks/twilio/inbound", form, token="wrong").status_code == 403
    assert status_of(settings, "+14015550100") == "active"


def test_nothing_is_sent_after_stop(hooks, settings):  # noqa: F811
    approve(settings.db_url, "s001", "Rain, high {{ high }}.")
    signed_post(hooks, "/hooks/twilio/inbound", {"From": "(401) 555-0100", "Body": "STOP"})
    dispatch(settings, dry_run=True, now=lambda: at(13, 5))
    assert "sms" not in set(deliveries(settings.db_url)["channel"])


def test_email_unsubscribe_link(hooks, settings):  # noqa: F811
    page = hooks.get("/u/tok-p0@example.com")
    assert page.status_code == 200 and "Unsubscribe" in page.text
    with Session(get_engine(settings.db_url)) as db:  # a GET (link scanner) changes nothing
        assert db.scalars(select(Subscriber.status).where(
            Subscriber.email == "p0@example.com")).one() == "active"
    done = hooks.post("/u/tok-p0@example.com")  # the button, or RFC 8058 one-click
    assert done.status_code == 200 and "You are unsubscribed" in done.text
    assert hooks.post("/u/tok-p0@example.com").status_code == 200  # idempotent
    assert hooks.post("/u/no-such-token").status_code == 404
    approve(settings.db_url, "s001", "Rain, high {{ high }}.")
    dispatch(settings, dry_run=True, now=lambda: at(13, 5))
    assert "p0@example.com" not in set(_addresses(settings))


def _addresses(settings):  # noqa: F811
    with Session(get_engine(settings.db_url)) as db:
        return db.scalars(select(Delivery.address)).all()


def test_status_callbacks_are_recorded(hooks, settings):  # noqa: F811
    approve(settings.db_url, "s001", "Rain, high {{ high }}.")

    class Fake:
        name = "sms"

        def send(self, message):
            from pipeline.channels.base import Sent
            return Sent(provider_id="SM" + "a" * 32)

        def already_sent(self, messages):
            return {}

        def close(self):
            pass

    dispatch(settings, now=lambda: at(13, 5), channel_factory=lambda name: Fake())
    response = signed_post(hooks, "/hooks/twilio/status", {
        "MessageSid": "SM" + "a" * 32, "MessageStatus": "undelivered", "ErrorCode": "21610"})
    assert response.status_code == 204
    with Session(get_engine(settings.db_url)) as db:
        event = db.scalars(select(DeliveryEvent)).one()
        assert (event.status, event.detail) == ("undelivered", "error 21610")
        assert db.get(Delivery, event.delivery_id).status == "undelivered"
    assert status_of(settings, "+14015550100") == "opted_out"


def test_start_resubscribes(hooks, settings):  # noqa: F811
    signed_post(hooks, "/hooks/twilio/inbound", {"From": "+14015550100", "Body": "STOP"})
    response = signed_post(hooks, "/hooks/twilio/inbound", {"From": "+14015550100",
                                                           "Body": "START"})
    assert "subscribed again" in response.text
    assert status_of(settings, "+14015550100") == "active"
