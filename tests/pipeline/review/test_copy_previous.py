"""Copying the previous run's message into a slot whose identity carried over."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from pipeline.editorial.models import AuditEntry, Message
from pipeline.store.db import session_scope
from pipeline.store.models import Run, Slot

from .conftest import RUN_ID, csrf_of

SHEET = f"/runs/{RUN_ID}"
PREVIOUS_RUN = "20260114T2100Z-evening-synthetic-test"
PREVIOUS_TEXT = "Yesterday: <b>rain</b> from {{ rain_start }} & 40s."
COPY = f"{SHEET}/slots/s001/copy-previous"


@pytest.fixture
def carried_over(review_settings):
    """A previous run whose slot s004 has a saved message; this run's s001 carried from it."""
    with session_scope(review_settings.db_url) as db:
        db.add(Run(id=PREVIOUS_RUN, created_at=datetime(2026, 1, 14, 21, 5, tzinfo=UTC),
                   issue_time=datetime(2026, 1, 14, 21, tzinfo=UTC), source="synthetic",
                   window="evening", n_zips=3, n_slots=1, params={}, summary={},
                   run_dir=str(review_settings.runs_dir / PREVIOUS_RUN)))
        db.add(Slot(id=f"{PREVIOUS_RUN}/s004", run_id=PREVIOUS_RUN, slot_id="s004", rank=4,
                    name="Rhode Island · yesterday", headline="Rain", n_zips=3, n_fit=3,
                    states={"RI": 3}, facts={}, representative={}, medoid_zip="02903",
                    draft_message="draft"))
        db.add(Message(slot_id=f"{PREVIOUS_RUN}/s004", text=PREVIOUS_TEXT, status="approved",
                       version=3, updated_by="dana",
                       updated_at=datetime(2026, 1, 14, 22, tzinfo=UTC)))
        db.get(Slot, f"{RUN_ID}/s001").carried_from = f"{PREVIOUS_RUN}/s004"
    return review_settings


def _slot_html(html: str, slot_id: str) -> str:
    start = html.index(f'id="slot-{slot_id}"')
    return html[start:html.index("</article>", start)]


def test_carried_slot_shows_the_previous_text_and_button(client, carried_over):
    """Only the carried-over slot offers the copy, with last run's text escaped."""
    html = client.get(SHEET).text
    row = _slot_html(html, "s001")
    assert "Yesterday: &lt;b&gt;rain&lt;/b&gt; from {{ rain_start }} &amp; 40s." in row
    assert f'action="{COPY}"' in row and "Copy last run's message" in row
    assert PREVIOUS_RUN in row
    assert "copy-previous" not in _slot_html(html, "s002")


def test_copy_saves_a_draft_and_audits(client, carried_over):
    """The copy saves last run's text as a draft at version 1, audited as copy_previous."""
    token = csrf_of(client.get(SHEET).text)
    response = client.post(COPY, data={"csrf_token": token, "version": 0})
    assert response.status_code == 200
    assert ("s001: copied last run&#39;s message as a draft; the fact check finds nothing "
            "false") in response.text
    assert "The message is the same as last run's." in _slot_html(response.text, "s001")
    with session_scope(carried_over.db_url) as db:
        message = db.get(Message, f"{RUN_ID}/s001")
        assert (message.text, message.status, message.version, message.updated_by) == (
            PREVIOUS_TEXT, "draft", 1, "eli")
        audit = db.scalars(select(AuditEntry)).all()
        assert [(a.slot_id, a.action, a.old_text, a.new_text) for a in audit] == [
            (f"{RUN_ID}/s001", "copy_previous", None, PREVIOUS_TEXT)]


def test_copy_from_a_stale_page_is_a_conflict(client, lead, carried_over):
    """If someone saved since the page loaded, the copy answers 409 and writes nothing."""
    token = csrf_of(lead.get(SHEET).text)
    lead.post(f"{SHEET}/slots/s001/message", data={
        "csrf_token": token, "text": "Dana's own", "version": 0, "action": "save"})
    token = csrf_of(client.get(SHEET).text)
    response = client.post(COPY, data={"csrf_token": token, "version": 0})
    assert response.status_code == 409 and "Dana&#39;s own" in response.text
    assert "Yesterday: &lt;b&gt;rain&lt;/b&gt;" in response.text  # offered to save over
    with session_scope(carried_over.db_url) as db:
        assert db.get(Message, f"{RUN_ID}/s001").text == "Dana's own"


def test_nothing_to_copy_is_404(client, carried_over):
    """A slot without a carried-over message has nothing to copy."""
    token = csrf_of(client.get(SHEET).text)
    response = client.post(f"{SHEET}/slots/s002/copy-previous",
                           data={"csrf_token": token, "version": 0})
    assert response.status_code == 404


def test_copy_needs_the_csrf_token(client, carried_over):
    """The copy is a state change: without the token it is refused."""
    assert client.post(COPY, data={"version": 0}).status_code == 403
