"""Row "(medium) … An SMTP server that drops the connection after accepting a message caused
67 resends." A connection lost after the whole message went out, before the relay answered,
is ambiguous: recorded and reported, then not resent (``skip``) or resent (``resend``)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.dispatch.job import dispatch, report
from pipeline.dispatch.models import Delivery, DeliveryEvent
from pipeline.settings import Settings
from pipeline.store.db import get_engine
from pipeline.times import FrozenClock
from tests.pipeline.dispatch.test_dispatch import add_subscriber, approve, at
from tests.pipeline.review.conftest import store_run
from tests.security.smtp_peers import DroppingSmtp


@pytest.mark.parametrize("policy", ["skip", "resend"])
def test_a_dropped_answer_is_ambiguous_and_follows_the_setting(tmp_path, dispatch_settings,
                                                               policy):
    """``skip``: one copy arrived, the row is ``ambiguous`` and never resent. ``resend``: it
    is sent again (two copies: the duplicate the setting accepts), and both are reported."""
    with DroppingSmtp(drops=1) as relay:
        settings = Settings(data_dir=tmp_path, dispatch=dispatch_settings)
        settings.dispatch.smtp_host, settings.dispatch.smtp_port = relay.host, relay.port
        settings.dispatch.ambiguous_email = policy
        store_run(settings)
        add_subscriber(settings.db_url, "02903", email="reader@example.com")
        approve(settings.db_url, "s001", "Rain in {{ city }}.")
        clock = FrozenClock(at(13, 5))
        first = dispatch(settings, now=clock.now, sleep=clock.sleep, max_wait_s=3600)
        again = dispatch(settings, now=clock.now, sleep=clock.sleep, max_wait_s=3600)
    assert first.outcomes["ambiguous"] == 1
    assert any(line.startswith("ambiguous: 1 email") for line in first.lines())
    with Session(get_engine(settings.db_url)) as db:
        status = db.scalar(select(Delivery.status))
        events = db.scalars(select(DeliveryEvent.status)).all()
    assert events == ["ambiguous"]
    assert report(settings).attrs["ambiguous_events"] == 1
    if policy == "skip":
        assert len(relay.received) == 1 and status == "ambiguous"
        assert not again.outcomes
    else:
        assert len(relay.received) == 2 and status == "sent"
        assert first.outcomes["sent"] == 1
