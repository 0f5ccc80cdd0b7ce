"""The dispatch job on a small stored run: who is due, what they get, once, and the report.

The run (tests/pipeline/review/conftest.py) was issued 2026-01-15 09:00 UTC for the morning
window: Rhode Island's 7:00 deliveries move to 8:00 EST (13:00 UTC) by quiet hours, the send
time (deadline) is 11:00 UTC, and quiet hours end at 21:00 EST (02:00 UTC on the 16th).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.channels.base import PermanentError, Sent, TransientError
from pipeline.channels.file import read_outbox
from pipeline.dispatch.job import dispatch, report
from pipeline.dispatch.locks import DispatchBusy, run_lock
from pipeline.dispatch.models import Delivery, DryDelivery, Subscriber
from pipeline.dispatch.plan import delivery_moments
from pipeline.editorial.gate import set_policy
from pipeline.editorial.models import Message
from pipeline.settings import Settings
from pipeline.store.db import get_engine, session_scope
from tests.pipeline.review.conftest import RUN_ID, store_run

T0 = datetime(2026, 1, 15, tzinfo=UTC)


def at(hour: int, minute: int = 0, day: int = 15) -> datetime:
    return datetime(2026, 1, day, hour, minute, tzinfo=UTC)


def add_subscriber(url: str, zip_code: str, *, email=None, phone=None, webhook=None,
                   morning="07:00", status="active", token=None) -> int:
    with session_scope(url) as db:
        sub = Subscriber(zip=zip_code, timezone="America/New_York", email=email, phone=phone,
                         webhook_url=webhook, morning_at=morning, evening_at="18:00",
                         status=status, token=token or f"tok-{email or phone or webhook}",
                         created_at=T0, updated_at=T0)
        db.add(sub)
        db.flush()
        return sub.id


def approve(url: str, slot: str, text: str) -> None:
    with session_scope(url) as db:
        db.add(Message(slot_id=f"{RUN_ID}/{slot}", text=text, status="approved", version=1,
                       updated_by="dana", updated_at=T0))


@pytest.fixture
def settings(tmp_path) -> Settings:
    settings = Settings(data_dir=tmp_path)
    store_run(settings)
    for i, zip_code in enumerate(["02903", "02904", "02905", "02806", "02809"]):
        add_subscriber(settings.db_url, zip_code, email=f"p{i}@example.com")
    add_subscriber(settings.db_url, "02903", phone="+14015550100")
    return settings


def deliveries(url: str, dry: bool = False) -> pd.DataFrame:
    """The outbox rows: the real ones, or (``dry``) a dry run's, which live apart."""
    table = DryDelivery if dry else Delivery
    with Session(get_engine(url)) as db:
        rows = db.execute(select(table.subscriber_id, table.channel, table.slot_id,
                                 table.zip, table.status, table.body,
                                 table.automatic, table.error)).all()
    return pd.DataFrame(rows, columns=["subscriber_id", "channel", "slot_id", "zip", "status",
                                       "body", "automatic", "error"])


def test_delivery_moments_respect_local_time_quiet_hours_and_dst():
    """7:00 local moves to 8:00; 18:30 stays; the window date follows the local clock."""
    times = pd.Series(["07:00", "18:30", "23:30", "08:15"])
    zones = pd.Series(["America/New_York", "America/New_York", "Pacific/Honolulu",
                       "America/Phoenix"])
    due, latest = delivery_moments(times, zones, at(9), 6, *_quiet())
    got = pd.DatetimeIndex(due).tz_localize("UTC")
    assert list(got) == [pd.Timestamp("2026-01-15 13:00Z"), pd.Timestamp("2026-01-15 23:30Z"),
                         pd.Timestamp("2026-01-16 06:59Z"), pd.Timestamp("2026-01-15 15:15Z")]
    assert pd.Timestamp(latest[0], tz="UTC") == pd.Timestamp("2026-01-16 02:00Z")
    # across the March change: 8:00 EDT is 12:00 UTC
    due, _ = delivery_moments(pd.Series(["08:00"]), pd.Series(["America/New_York"]),
                              pd.Timestamp("2026-03-08 09:00Z"), 6, *_quiet())
    assert pd.Timestamp(due[0], tz="UTC") == pd.Timestamp("2026-03-08 12:00Z")


def _quiet():
    s = Settings().dispatch
    return s.quiet_start, s.quiet_end


def test_nothing_goes_out_before_the_local_delivery_time(settings):
    approve(settings.db_url, "s001", "Rain from {{ rain_start }} in {{ city }}, high {{ high }}.")
    result = dispatch(settings, dry_run=True, now=lambda: at(12, 59))
    assert result.enqueued == 0 and result.planned["not_due"] == 6
    assert not result.outcomes


def test_approved_slot_goes_out_rendered_per_zip_and_only_once(settings):
    approve(settings.db_url, "s001", "Rain from {{ rain_start }} in {{ city }}, high {{ high }}.")
    first = dispatch(settings, dry_run=True, now=lambda: at(13, 5))
    sent = deliveries(settings.db_url, dry=True)
    s001 = sent[sent["slot_id"] == "s001"]
    assert len(s001) == 4 and set(s001["status"]) == {"sent"}  # 3 emails + 1 phone
    assert "Rain from 7 am in Providence, high 41." in set(s001["body"])
    # s002 is not approved and the deadline (11:00 UTC) passed: held by the default policy
    s002 = sent[sent["slot_id"] == "s002"]
    assert set(s002["status"]) == {"skipped"} and s002["error"].str.startswith("held").all()
    assert first.outcomes["sent"] == 4
    lines = read_outbox(first.outbox)
    assert len(lines) == 4 and len({line["key"] for line in lines}) == 4
    again = dispatch(settings, dry_run=True, now=lambda: at(14))
    assert again.enqueued == 0 and not again.outcomes
    assert len(read_outbox(first.outbox)) == 4


def test_before_the_deadline_unapproved_slots_wait(settings):
    settings.review.send_after_hours = 6.0  # send time 15:00 UTC
    approve(settings.db_url, "s001", "Rain, high {{ high }}.")
    result = dispatch(settings, dry_run=True, now=lambda: at(13, 5))
    assert result.planned["waiting_for_editors"] == 2 and result.outcomes["sent"] == 4
    approve(settings.db_url, "s002", "Snow in {{ city }} from {{ snow_start }}.")
    later = dispatch(settings, dry_run=True, now=lambda: at(13, 30))
    assert later.outcomes["sent"] == 2
    assert "Snow in Barrington from 11 am." in set(deliveries(settings.db_url, dry=True)["body"])


def test_automatic_policy_sends_the_factual_message(settings):
    with Session(get_engine(settings.db_url)) as db:
        set_policy(db, RUN_ID, "automatic", "dana", at(10))
    result = dispatch(settings, dry_run=True, now=lambda: at(13, 5))
    sent = deliveries(settings.db_url, dry=True)
    assert result.outcomes["sent"] == 6 and sent["automatic"].all()
    assert sent["body"].str.match(r"^Highs near -?\d+F, lows near -?\d+F\. (Rain|Snow) from").all()


def test_opted_out_subscribers_get_nothing(settings):
    approve(settings.db_url, "s001", "Rain, high {{ high }}.")
    add_subscriber(settings.db_url, "02903", email="gone@example.com", status="opted_out")
    dispatch(settings, dry_run=True, now=lambda: at(13, 5))
    assert "gone@example.com" not in set(deliveries(settings.db_url, dry=True).get("address", []))
    assert len(deliveries(settings.db_url, dry=True)) == 6


class ChangeOnFirstSend:
    """An email channel that runs ``change`` (a subscriber changing something in another
    session) right before its first send, and records what it was handed."""

    name = "email"

    def __init__(self, change) -> None:  # type: ignore[no-untyped-def]
        self.change, self.calls = change, []

    def send(self, message):  # type: ignore[no-untyped-def]
        if not self.calls:
            self.change()
        self.calls.append(message)
        return Sent(provider_id=f"id-{len(self.calls)}")

    def already_sent(self, messages):  # type: ignore[no-untyped-def]
        return {}

    def close(self) -> None:
        pass


def test_opt_out_between_queueing_and_sending_is_honoured(settings):
    """The subscriber is re-checked right before the channel is called."""
    approve(settings.db_url, "s001", "Rain, high {{ high }}.")

    def opt_out() -> None:
        with session_scope(settings.db_url) as db:
            db.get(Subscriber, 2).status = "opted_out"

    channel = ChangeOnFirstSend(opt_out)
    settings.dispatch.batch_size = 1
    dispatch(settings, now=lambda: at(13, 5), channel_factory=lambda name: channel)
    got = deliveries(settings.db_url).set_index("subscriber_id")
    assert got.loc[2, "status"] == "skipped" and "opted out" in got.loc[2, "error"]
    calls = channel.calls
    assert 2 not in {int(m.key.split("/")[-2]) for m in calls}


def test_too_late_after_quiet_hours(settings):
    approve(settings.db_url, "s001", "Rain, high {{ high }}.")
    result = dispatch(settings, dry_run=True, now=lambda: at(2, 30, day=16))
    assert result.planned["too_late"] == 4 and not result.outcomes.get("sent")
    assert (deliveries(settings.db_url, dry=True)["status"] == "skipped").all()


class Scripted:
    """A channel answering from a script: 'ok', 'transient', 'permanent', 'optout'."""

    def __init__(self, script):
        self.script, self.sent = list(script), []
        self.name = "sms"

    def send(self, message):
        step = self.script.pop(0) if self.script else "ok"
        if step == "transient":
            raise TransientError("429 Too Many Requests", code="429", retry_after=1)
        if step == "permanent":
            raise PermanentError("invalid 'To' number", code="21211")
        if step == "optout":
            raise PermanentError("unsubscribed recipient", code="21610", opt_out=True)
        self.sent.append(message)
        return Sent(provider_id=f"SM{len(self.sent)}")

    def already_sent(self, messages):
        return {}

    def close(self):
        pass


def test_transient_errors_retry_with_backoff_then_succeed(settings):
    approve(settings.db_url, "s001", "Rain, high {{ high }}.")
    channel = Scripted(["transient", "transient"])
    clock = {"t": at(13, 5)}

    def sleep(seconds):
        clock["t"] = clock["t"] + pd.Timedelta(seconds=seconds)

    result = dispatch(settings, now=lambda: clock["t"], channel_factory=lambda n: channel,
                      max_wait_s=60, sleep=sleep)
    assert result.outcomes["retry"] == 2 and result.outcomes["sent"] == 4
    assert (deliveries(settings.db_url).query("slot_id == 's001'")["status"] == "sent").all()


def test_permanent_errors_are_recorded_not_retried_and_21610_opts_out(settings):
    approve(settings.db_url, "s001", "Rain, high {{ high }}.")
    channel = Scripted(["permanent", "optout"])
    result = dispatch(settings, now=lambda: at(13, 5), channel_factory=lambda n: channel,
                      max_wait_s=60, sleep=lambda s: None)
    assert result.outcomes["failed"] == 2 and result.outcomes["sent"] == 2
    got = deliveries(settings.db_url).query("slot_id == 's001'").sort_values("subscriber_id")
    failed = got[got["status"] == "failed"]
    assert failed["error"].str.contains("21211").any()
    assert failed["error"].str.contains("21610").any()
    with Session(get_engine(settings.db_url)) as db:
        opted = db.scalars(select(Subscriber).where(Subscriber.status == "opted_out")).all()
    assert len(opted) == 1 and "21610" in opted[0].opt_out_via


def test_out_of_attempts_is_a_recorded_failure(settings):
    approve(settings.db_url, "s001", "Rain, high {{ high }}.")
    settings.dispatch.max_attempts = 2
    channel = Scripted(["transient"] * 8)
    clock = {"t": at(13, 5)}

    def sleep(seconds):
        clock["t"] = clock["t"] + pd.Timedelta(seconds=seconds)

    result = dispatch(settings, now=lambda: clock["t"], channel_factory=lambda n: channel,
                      max_wait_s=600, sleep=sleep)
    assert result.outcomes["failed"] == 4 and not result.outcomes["sent"]
    errors = deliveries(settings.db_url).query("status == 'failed'")["error"]
    assert errors.str.startswith("gave up after 2 attempts").all()


def test_misconfigured_channel_keeps_its_messages_pending(settings):
    """No Twilio credentials: SMS rows wait, email still goes, the problem says what to set."""
    approve(settings.db_url, "s001", "Rain, high {{ high }}.")
    settings.dispatch.smtp_port = 1  # email fails transiently (nothing listens)
    result = dispatch(settings, now=lambda: at(13, 5), sleep=lambda s: None)
    assert any("sms" in p and "TWILIO" in p.upper() for p in result.problems)
    got = deliveries(settings.db_url).query("slot_id == 's001'")
    assert set(got.query("channel == 'sms'")["status"]) == {"pending"}


def test_a_second_dispatcher_for_the_same_run_is_refused(settings):
    with run_lock(settings.data_dir, RUN_ID), pytest.raises(DispatchBusy, match="another"):
        dispatch(settings, dry_run=True, now=lambda: at(13, 5))


def test_report_counts_by_slot_channel_status(settings):
    approve(settings.db_url, "s001", "Rain, high {{ high }}.")
    dispatch(settings, dry_run=True, now=lambda: at(13, 5))
    frame = report(settings, dry_run=True)
    counts = {(r.slot_id, r.channel, r.status): r.n for r in frame.itertuples()}
    assert counts[("s001", "email", "sent")] == 3 and counts[("s001", "sms", "sent")] == 1
    assert counts[("s002", "email", "skipped")] == 2


def test_real_channels_end_to_end(settings, dispatch_settings, smtp_server, fake_twilio,
                                  webhook_server):
    """Email through a real SMTP server, SMS through the Twilio SDK to the local stand-in,
    a signed webhook; a 21610 from 'Twilio' opts that subscriber out; rerun sends nothing."""
    from pipeline.channels.webhook import verify_signature

    settings.dispatch = dispatch_settings
    add_subscriber(settings.db_url, "02904", phone="+14015550101")
    add_subscriber(settings.db_url, "02905", webhook="http://127.0.0.1/hook")
    with session_scope(settings.db_url) as db:  # the webhook subscriber posts to the server
        db.scalars(select(Subscriber).where(Subscriber.webhook_url.is_not(None))).one() \
            .webhook_url = webhook_server.url + "/hook"
    fake_twilio.unsubscribe("+14015550101")
    approve(settings.db_url, "s001", "Rain from {{ rain_start }} in {{ city }}.")
    result = dispatch(settings, now=lambda: at(13, 5))
    assert result.outcomes["sent"] == 5 and result.outcomes["failed"] == 1, result.lines()
    mails = smtp_server.messages
    assert len(mails) == 3 and all("/u/tok-" in m.get_body().get_content() for m in mails)
    public = dispatch_settings.public_url.rstrip("/")
    assert all(f"Change your ZIP or times, or pause: {public}/m/tok-{m['To']}" in
               m.get_body().get_content() for m in mails)  # the manage link in the footer
    assert {m["To"] for m in mails} == {"p0@example.com", "p1@example.com", "p2@example.com"}
    assert [m["to"] for m in fake_twilio.messages] == ["+14015550100"]
    assert fake_twilio.messages[0]["body"] == "Rain from 7 am in Providence."
    hook = webhook_server.requests[0]
    assert verify_signature(dispatch_settings.webhook_secret,
                            hook.headers["X-Zipcast-Timestamp"], hook.body,
                            hook.headers["X-Zipcast-Signature"])
    assert hook.json()["zip"] == "02905"
    assert hook.json()["manage_url"] == f"{public}/m/tok-http://127.0.0.1/hook"
    assert "/m/" not in fake_twilio.messages[0]["body"]  # SMS: the text commands instead
    with Session(get_engine(settings.db_url)) as db:
        gone = db.scalars(select(Subscriber).where(Subscriber.phone == "+14015550101")).one()
    assert gone.status == "opted_out"
    again = dispatch(settings, now=lambda: at(13, 30))
    assert not again.outcomes and len(smtp_server.messages) == 3
