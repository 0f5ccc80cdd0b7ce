"""The editor gate on the sheet and in the library: policy, approvals, deadline."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.dispatch.models import Subscriber
from pipeline.editorial.gate import gate_of, set_policy
from pipeline.editorial.models import AuditEntry
from pipeline.settings import ReviewSettings
from pipeline.store.db import get_engine, session_scope
from pipeline.store.models import Run

from .conftest import RUN_ID, csrf_of, sign_in

SHEET = f"/runs/{RUN_ID}"


@pytest.fixture
def lead(app):
    with TestClient(app) as lead:
        sign_in(lead, "dana")
        yield lead


@pytest.fixture
def client(app):
    with TestClient(app) as client:
        sign_in(client, "eli")
        yield client


def _gate(settings, now, review=None):
    with Session(get_engine(settings.db_url)) as db:
        return gate_of(db, db.get(Run, RUN_ID), review or ReviewSettings(), now)


def test_gate_before_and_after_the_deadline(review_settings, lead):
    """Before the send time nothing unapproved moves; after it the policy decides."""
    before, after = datetime(2026, 1, 15, 10, tzinfo=UTC), datetime(2026, 1, 15, 11, tzinfo=UTC)
    gate = _gate(review_settings, before)
    assert gate.state == "open" and gate.send_at == datetime(2026, 1, 15, 11, tzinfo=UTC)
    assert gate.pending == {"s001", "s002"} and not gate.held and not gate.automatic
    gate = _gate(review_settings, after)
    assert gate.state == "closed" and gate.held == {"s001", "s002"} and not gate.automatic
    with Session(get_engine(review_settings.db_url)) as db:
        set_policy(db, RUN_ID, "automatic", "dana", after)
    gate = _gate(review_settings, after)
    assert gate.automatic == {"s001", "s002"} and gate.policy_set_by == "dana"
    assert "automatic factual message" in gate.describe()
    with Session(get_engine(review_settings.db_url)) as db, pytest.raises(ValueError):
        set_policy(db, RUN_ID, "send-anything", "dana", after)


def test_default_policy_comes_from_settings(review_settings):
    gate = _gate(review_settings, datetime(2026, 1, 15, 12, tzinfo=UTC),
                 ReviewSettings(unapproved_policy="automatic"))
    assert gate.policy == "automatic" and gate.policy_set_by is None


def test_sheet_shows_gate_and_only_a_lead_sets_policy(client, lead, review_settings):
    html = client.get(SHEET).text
    assert "Gate open." in html and "will be held" in html
    assert 'action="/runs/' + RUN_ID + '/gate"' not in html  # editors see, leads set
    token = csrf_of(html)
    denied = client.post(f"{SHEET}/gate", data={"policy": "automatic", "csrf_token": token})
    assert denied.status_code == 403 and "only a lead" in denied.text
    assert "<html" in denied.text  # an HTML page, not JSON
    token = csrf_of(lead.get(SHEET).text)
    html = lead.post(f"{SHEET}/gate", data={"policy": "automatic", "csrf_token": token}).text
    assert "automatic factual message" in html and "Policy set by dana" in html
    with session_scope(review_settings.db_url) as db:
        audit = db.scalars(select(AuditEntry).where(AuditEntry.action == "policy")).one()
        assert (audit.old_text, audit.new_text, audit.editor) == (None, "automatic", "dana")
    bad = lead.post(f"{SHEET}/gate", data={"policy": "bogus", "csrf_token": token})
    assert bad.status_code == 422


def test_unknown_run_is_an_html_404(client):
    response = client.get("/runs/no-such-run")
    assert response.status_code == 404 and "Not found" in response.text
    assert "no run" in response.text and "<html" in response.text


def test_rows_ordered_by_subscribers_reached(client, review_settings, clock):
    """s002 (2 ZIPs) gets more subscribers than s001 (3 ZIPs): it moves to the top once the
    subscribers are recounted (counted at start, then at most once a minute)."""
    now = datetime(2026, 1, 15, tzinfo=UTC)
    with session_scope(review_settings.db_url) as db:
        for i, zip_code in enumerate(["02806", "02806", "02809", "02903"]):
            db.add(Subscriber(zip=zip_code, timezone="America/New_York",
                              email=f"s{i}@example.com", status="active", token=f"t{i}",
                              morning_at="07:00", evening_at="18:00", created_at=now,
                              updated_at=now))
        db.add(Subscriber(zip="02903", timezone="America/New_York", email="gone@example.com",
                          status="opted_out", token="tx", morning_at="07:00",
                          evening_at="18:00", created_at=now, updated_at=now))
    clock.t += 61  # the counts taken when the app started are now a minute old
    client.get(SHEET)  # still the old counts, and a recount in the background
    client.app.state.subscriber_counts.join(timeout=30)
    html = client.get(SHEET).text
    assert html.index('id="slot-s002"') < html.index('id="slot-s001"')
    assert "3 subscribers · 2 ZIPs" in html and "1 subscribers · 3 ZIPs" in html
    assert "4 subscribers" in html
