"""Staff email: sent once per occasion, through the email channel, to the right people."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from pipeline.editorial import notify
from pipeline.editorial.models import Notice
from pipeline.review.cli import add_user
from pipeline.settings import Settings
from pipeline.store import migrate, session_scope
from tests.pipeline.conftest import make_smtp_server, smtp_server  # noqa: F401

PASSWORD = "correct horse battery"
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def staff(tmp_path, smtp_server) -> Settings:  # noqa: F811
    settings = Settings(data_dir=tmp_path)
    settings.dispatch.smtp_host, settings.dispatch.smtp_port = smtp_server.host, smtp_server.port
    settings.review.alert_emails = ["oncall@ops.example"]
    migrate(settings.db_url)
    add_user(settings.db_url, "eli", "editor", PASSWORD, email="eli@newsroom.example")
    add_user(settings.db_url, "dana", "lead", PASSWORD, email="dana@newsroom.example")
    add_user(settings.db_url, "max", "editor", PASSWORD)  # no address: not mailed
    return settings


def test_editor_and_lead_addresses(staff):
    with session_scope(staff.db_url) as db:
        assert notify.editor_addresses(db, staff) == ["dana@newsroom.example",
                                                      "eli@newsroom.example"]
        assert notify.editor_addresses(db, staff, leads_only=True) == [
            "dana@newsroom.example", "oncall@ops.example"]


def test_a_notice_is_mailed_once(staff, smtp_server):  # noqa: F811
    first = notify.send_notice(staff, key="deadline/r1", kind="deadline_missed",
                               subject="zipcast ALERT: r1", body="held", run_id="r1",
                               recipients=["dana@newsroom.example"], now=NOW)
    again = notify.send_notice(staff, key="deadline/r1", kind="deadline_missed",
                               subject="zipcast ALERT: r1", body="held", run_id="r1",
                               recipients=["dana@newsroom.example"], now=NOW)
    assert first.sent and not first.already and again.already
    assert [m["To"] for m in smtp_server.messages] == ["dana@newsroom.example"]
    assert smtp_server.messages[0]["Subject"] == "zipcast ALERT: r1"


def test_a_failed_notice_is_kept_and_retried(staff, smtp_server):  # noqa: F811
    smtp_server.refuse("dana@newsroom.example", "450 4.2.1 mailbox busy")
    failed = notify.send_notice(staff, key="k", kind="deadline_missed", subject="s", body="b",
                                recipients=["dana@newsroom.example"], now=NOW)
    assert not failed.sent and "mailbox busy" in failed.error
    smtp_server.refusals.clear()
    retried = notify.send_notice(staff, key="k", kind="deadline_missed", subject="s",
                                 body="b", recipients=["dana@newsroom.example"], now=NOW)
    assert retried.sent and len(smtp_server.messages) == 1


def test_only_the_recipients_that_failed_are_mailed_again(staff, smtp_server):  # noqa: F811
    smtp_server.refuse("eli@newsroom.example", "451 4.3.0 try later")
    first = notify.send_notice(staff, key="k2", kind="sheet_ready", subject="s", body="b",
                               recipients=["dana@newsroom.example", "eli@newsroom.example"],
                               now=NOW)
    assert not first.sent and "eli@newsroom.example" in first.error
    smtp_server.refusals.clear()
    retried = notify.retry_unsent(staff, NOW)
    assert [r.sent for r in retried] == [True]
    assert sorted(m["To"] for m in smtp_server.messages) == ["dana@newsroom.example",
                                                             "eli@newsroom.example"]
    assert notify.retry_unsent(staff, NOW) == []


def test_a_notice_being_sent_elsewhere_is_not_sent_again(staff, smtp_server):  # noqa: F811
    """A claim by another process (row in `sending`, fresh) is respected."""
    from pipeline.editorial.models import Notice

    with session_scope(staff.db_url) as db:
        db.add(Notice(key="k3", kind="deadline_missed", subject="s", body="b",
                      recipients="dana@newsroom.example", created_at=NOW,
                      error=notify.SENDING))
    got = notify.send_notice(staff, key="k3", kind="deadline_missed", subject="s", body="b",
                             recipients=["dana@newsroom.example"], now=NOW)
    assert got.already and smtp_server.messages == []


def test_nobody_to_tell_says_how_to_fix_it(tmp_path):
    settings = Settings(data_dir=tmp_path)
    got = notify.send_notice(settings, key="k", kind="sheet_ready", subject="s", body="b",
                             recipients=[], now=NOW)
    assert not got.sent and "--email" in got.error and "NOTIFY_EMAILS" in got.error
    with session_scope(settings.db_url) as db:
        assert db.scalars(select(Notice.error)).one() == got.error


def test_scheduled_runs_follow_new_york_time_across_dst(tmp_path):
    """04:30 in New York is 09:30 UTC in January and 08:30 UTC in July."""
    settings = Settings(data_dir=tmp_path)
    winter = notify.scheduled_runs(settings, datetime(2026, 1, 15, 0, tzinfo=UTC),
                                   datetime(2026, 1, 16, 0, tzinfo=UTC))
    summer = notify.scheduled_runs(settings, datetime(2026, 7, 15, 0, tzinfo=UTC),
                                   datetime(2026, 7, 16, 0, tzinfo=UTC))
    assert [(w, i.hour, d.hour) for w, _, i, d in winter] == [("morning", 9, 11),
                                                              ("evening", 20, 22)]
    assert [(w, i.hour, d.hour) for w, _, i, d in summer] == [("morning", 8, 10),
                                                              ("evening", 19, 21)]


def test_bad_editor_email_is_refused(tmp_path):
    settings = Settings(data_dir=tmp_path)
    with pytest.raises(ValueError, match="not an address"):
        add_user(settings.db_url, "eli", "editor", PASSWORD, email="eli at newsroom")


def test_flow_times_are_checked():
    from pydantic import ValidationError

    from pipeline.settings import FlowSettings

    with pytest.raises(ValidationError, match="HH:MM"):
        FlowSettings(runs={"morning": "4.30"})
