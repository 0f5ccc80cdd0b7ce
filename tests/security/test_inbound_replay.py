"""Issue 16, row 4 (info): a replayed signed Twilio STOP/START webhook was acted on again.

Twilio's signature has no timestamp, so a captured request stays valid forever. Inbound
messages are now keyed by their ``MessageSid`` (``InboundMessage.provider_id``, unique): a
second delivery of the same message is answered 200 with an empty reply (so Twilio does not
retry) and changes nothing.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.dispatch.models import InboundMessage
from pipeline.dispatch.optout import handle_inbound_sms
from pipeline.store.db import get_engine
from tests.pipeline.dispatch.test_dispatch import settings  # noqa: F401 -- fixture
from tests.pipeline.dispatch.test_optout import hooks, signed_post, status_of  # noqa: F401

PHONE = "+14015550100"
INBOUND = "/hooks/twilio/inbound"


def _sms(sid: str, body: str) -> dict[str, str]:
    return {"MessageSid": sid, "SmsSid": sid, "From": PHONE, "Body": body}


def _recorded(settings) -> list[tuple[str | None, str]]:  # noqa: F811
    with Session(get_engine(settings.db_url)) as db:
        return [tuple(row) for row in db.execute(
            select(InboundMessage.provider_id, InboundMessage.action)
            .order_by(InboundMessage.id)).all()]


def test_a_replayed_start_does_not_resubscribe(hooks, settings):  # noqa: F811
    """Replaying an old START after a later STOP leaves the subscriber opted out."""
    signed_post(hooks, INBOUND, _sms("SM" + "1" * 32, "STOP"))
    signed_post(hooks, INBOUND, _sms("SM" + "2" * 32, "START"))
    signed_post(hooks, INBOUND, _sms("SM" + "3" * 32, "STOP"))
    replay = signed_post(hooks, INBOUND, _sms("SM" + "2" * 32, "START"))
    assert replay.status_code == 200 and "<Message>" not in replay.text
    assert status_of(settings, PHONE) == "opted_out"
    assert [sid[2] for sid, _ in _recorded(settings)] == ["1", "2", "3"]


def test_a_replayed_stop_does_not_opt_out_again(hooks, settings):  # noqa: F811
    """Replaying an old STOP after a later START leaves the subscriber subscribed."""
    signed_post(hooks, INBOUND, _sms("SM" + "a" * 32, "STOP"))
    signed_post(hooks, INBOUND, _sms("SM" + "b" * 32, "START"))
    replay = signed_post(hooks, INBOUND, _sms("SM" + "a" * 32, "STOP"))
    assert replay.status_code == 200
    assert replay.headers["content-type"].startswith("text/xml")
    assert status_of(settings, PHONE) == "active"
    assert [action for _, action in _recorded(settings)] == ["opt_out", "opt_in"]


def test_simultaneous_deliveries_act_once(settings):  # noqa: F811
    """Two deliveries of one STOP racing on separate sessions: one acts, one is a duplicate."""
    start = threading.Barrier(2)
    results: list[str] = []

    def deliver() -> None:
        with Session(get_engine(settings.db_url)) as db:
            start.wait(timeout=20)
            results.append(handle_inbound_sms(db, PHONE, "STOP", datetime(2026, 1, 15, 12,
                                                                          tzinfo=UTC),
                                              provider_id="SM" + "c" * 32).action)

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == ["duplicate", "opt_out"]
    assert _recorded(settings) == [("SM" + "c" * 32, "opt_out")]


def test_messages_without_a_sid_are_still_handled(hooks, settings):  # noqa: F811
    """A request without MessageSid (not from Twilio's API) is acted on as before."""
    signed_post(hooks, INBOUND, {"From": PHONE, "Body": "STOP"})
    assert status_of(settings, PHONE) == "opted_out"
