"""Subscribers' "wrong?" replies: SMS WRONG and the email link, recorded per delivery, once,
never an opt-out; reply rates per slot."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.channels.base import Sent
from pipeline.channels.email import build_email
from pipeline.dispatch.job import dispatch
from pipeline.dispatch.models import Delivery, InboundMessage, Reply
from pipeline.dispatch.optout import NO_MESSAGE_REPLY, WRONG_REPLY
from pipeline.dispatch.replies import reply_rates
from pipeline.store.db import get_engine
from tests.pipeline.review.conftest import RUN_ID

from .test_dispatch import approve, at
from .test_dispatch import settings as settings  # noqa: F401 -- the fixture
from .test_optout import hooks_at, signed_post, status_of

PHONE = "+14015550100"


@pytest.fixture
def hooks(settings):  # noqa: F811
    """The public endpoints at 14:00 UTC, after the 13:05 dispatch."""
    with hooks_at(settings, datetime(2026, 1, 15, 14, tzinfo=UTC)) as client:
        yield client


class Accepting:
    """A channel that accepts everything and keeps what it was handed."""

    def __init__(self, name: str, kept: list) -> None:
        self.name, self.kept = name, kept

    def send(self, message):
        self.kept.append(message)
        return Sent(provider_id=f"P{message.delivery_id}")

    def already_sent(self, messages):
        return {}

    def close(self):
        pass


def send_everything(settings) -> list:  # noqa: F811
    approve(settings.db_url, "s001", "Rain, high {{ high }}.")
    approve(settings.db_url, "s002", "Snow in {{ city }}.")
    kept: list = []
    dispatch(settings, now=lambda: at(13, 5), channel_factory=lambda name: Accepting(name, kept))
    return kept


def replies(settings) -> list[Reply]:  # noqa: F811
    with Session(get_engine(settings.db_url)) as db:
        return list(db.scalars(select(Reply)))


def test_sms_wrong_marks_the_last_message_once_and_never_opts_out(hooks, settings):  # noqa: F811
    send_everything(settings)
    first = signed_post(hooks, "/hooks/twilio/inbound", {"From": PHONE, "Body": "Wrong!",
                                                        "MessageSid": "SM1"})
    assert WRONG_REPLY in first.text.replace("&#x27;", "'")
    again = signed_post(hooks, "/hooks/twilio/inbound", {"From": PHONE, "Body": "wrong",
                                                        "MessageSid": "SM2"})
    assert again.status_code == 200
    found = replies(settings)
    assert len(found) == 1
    reply = found[0]
    assert (reply.run_id, reply.slot_id, reply.zip, reply.channel, reply.via, reply.kind) == \
        (RUN_ID, "s001", "02903", "sms", "sms", "wrong")
    assert status_of(settings, PHONE) == "active"
    with Session(get_engine(settings.db_url)) as db:
        actions = db.scalars(select(InboundMessage.action).order_by(InboundMessage.id)).all()
    assert actions == ["wrong", "wrong"]


def test_wrong_without_a_recent_message_says_so(hooks, settings):  # noqa: F811
    response = signed_post(hooks, "/hooks/twilio/inbound", {"From": PHONE, "Body": "WRONG"})
    assert NO_MESSAGE_REPLY.split(",")[0] in response.text
    assert replies(settings) == []


def test_the_email_link_asks_first_then_records_once(hooks, settings):  # noqa: F811
    kept = send_everything(settings)
    emails = [m for m in kept if m.channel == "email"]
    assert emails and all(m.wrong_url for m in emails)
    message = emails[0]
    text = build_email(message, "zipcast <f@zipcast.example>").get_content()
    assert f"Wrong where you are? Tell us: {message.wrong_url}" in text
    path = re.sub(r"^https?://[^/]+", "", message.wrong_url)
    shown = hooks.get(path)
    assert shown.status_code == 200 and "Yes, it was wrong" in shown.text
    assert replies(settings) == []  # a link scanner's GET records nothing
    assert hooks.post(path).status_code == 200
    assert hooks.post(path).status_code == 200
    found = replies(settings)
    assert len(found) == 1 and found[0].via == "email link"
    assert found[0].delivery_id == message.delivery_id


def test_a_forged_link_records_nothing(hooks, settings):  # noqa: F811
    kept = send_everything(settings)
    message = next(m for m in kept if m.channel == "email")
    other = next(m for m in kept if m.channel == "email" and m.delivery_id != message.delivery_id)
    token = message.wrong_url.split("/")[-2]
    assert hooks.post(f"/w/{token}/{other.delivery_id}").status_code == 404
    assert hooks.post(f"/w/not-a-token/{message.delivery_id}").status_code == 404
    assert hooks.get(f"/w/{token}/999999").status_code == 404
    assert replies(settings) == []


def test_reply_rates_per_slot(hooks, settings):  # noqa: F811
    kept = send_everything(settings)
    signed_post(hooks, "/hooks/twilio/inbound", {"From": PHONE, "Body": "WRONG"})
    with Session(get_engine(settings.db_url)) as db:
        rates = reply_rates(db, RUN_ID)
        sent = dict(db.execute(select(Delivery.slot_id, Delivery.id)).all())
    assert sent and len(kept) == int(rates["sent"].sum())
    assert rates.loc["s001", "wrong"] == 1
    assert rates.loc["s001", "rate"] == round(1 / rates.loc["s001", "sent"], 4)
    assert rates.loc["s002", "wrong"] == 0
