"""Editing on the sheet (issue 15): the fact check, the lead's override, never losing or
silently un-approving an edit, the SMS cost question, the facts panel, comments, history and
presence. Slot s001's members all get rain from 7–8 am with highs 40–42°F."""

from __future__ import annotations

from sqlalchemy import select

from pipeline.editorial.models import AuditEntry, Message
from pipeline.store.db import session_scope

from .conftest import RUN_ID, csrf_of

SHEET = f"/runs/{RUN_ID}"
FETCH = {"X-Requested-With": "fetch"}
FALSE = "Sunny and bone dry all day – leave the umbrella at home!"
TRUE = "Rain from {{ rain_start }} in {{ city }}, highs near 41°F. Umbrella day."


def _post(client, text, version=0, action="save", slot="s001", headers=None, **extra):
    token = csrf_of(client.get(SHEET).text)
    return client.post(f"{SHEET}/slots/{slot}/message", headers=headers, data={
        "text": text, "version": version, "action": action, "csrf_token": token, **extra})


def _message(settings, slot="s001") -> Message | None:
    with session_scope(settings.db_url) as db:
        message = db.get(Message, f"{RUN_ID}/{slot}")
        if message is not None:
            db.expunge(message)
        return message


def _audit(settings) -> list[AuditEntry]:
    with session_scope(settings.db_url) as db:
        rows = db.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        for row in rows:
            db.expunge(row)
        return list(rows)


def test_preview_fact_checks_each_claim_with_its_share(client):
    """Typing the issue's false message: each claim, its share, the false ones marked."""
    token = csrf_of(client.get(SHEET).text)
    html = client.post(f"{SHEET}/slots/s001/preview", data={"text": FALSE, "csrf_token": token},
                       headers=FETCH).text
    assert "Cannot be approved" in html
    assert "“bone dry”" in html and "false for 100 %" in html
    assert "<mark>" in html  # the false words marked in the text
    html = client.post(f"{SHEET}/slots/s001/preview", data={"text": TRUE, "csrf_token": token},
                       headers=FETCH).text
    assert "Cannot be approved" not in html and "true for 100 %" in html


def test_wit_is_not_a_claim(client):
    """Words the vocabulary does not know are fine."""
    token = csrf_of(client.get(SHEET).text)
    html = client.post(f"{SHEET}/slots/s001/preview", headers=FETCH, data={
        "text": "A real stunner of a morning for a walk with the dog.", "csrf_token": token}).text
    assert "No checkable claims" in html


def test_false_claim_refuses_approval_but_keeps_the_draft(client, review_settings):
    """Approving the issue's message: saved as a draft, not approved, claim and share shown."""
    response = _post(client, FALSE, action="approve", headers=FETCH)
    assert response.status_code == 200
    assert "saved as a draft but not approved: the fact check refused it" in response.text
    assert "bone dry" in response.text and "false for 100 %" in response.text
    assert "Approve over the fact check" not in response.text  # eli is not a lead
    assert _message(review_settings).status == "draft"


def test_lead_overrides_with_a_reason_kept_in_the_audit(lead, review_settings):
    """The lead needs a written reason; it lands in the audit log and the history."""
    response = _post(lead, FALSE, action="approve", headers=FETCH)
    assert "Approve over the fact check" in response.text
    response = _post(lead, FALSE, version=1, action="override", headers=FETCH)
    assert response.status_code == 422 and "Write why" in response.text
    assert _message(review_settings).status == "draft"
    reason = "Satire column: readers know it is a joke."
    response = _post(lead, FALSE, version=1, action="override", reason=reason, headers=FETCH)
    assert "approved over the fact check" in response.text
    assert _message(review_settings).status == "approved"
    last = _audit(review_settings)[-1]
    assert (last.action, last.reason, last.editor) == ("override", reason, "dana")
    thread = lead.get(f"{SHEET}/slots/s001/thread").text
    assert reason in thread and "override" in thread


def test_editor_cannot_override(client, review_settings):
    """Only a lead may approve over the fact check."""
    _post(client, FALSE)
    response = _post(client, FALSE, version=1, action="override", reason="because")
    assert response.status_code == 403
    assert _message(review_settings).status == "draft"


def test_saving_over_an_approved_message_asks_first(client, review_settings):
    """A draft saved over an approved text un-approves only after the editor says so."""
    _post(client, TRUE, action="approve")
    assert _message(review_settings).status == "approved"
    response = _post(client, TRUE + " Stay dry!", version=1, headers=FETCH)
    assert "Saving this text as a draft un-approves it" in response.text
    assert "Save as draft and un-approve" in response.text
    assert TRUE + " Stay dry!" in response.text  # the text stays in the box
    assert _message(review_settings).status == "approved"  # nothing written
    response = _post(client, TRUE + " Stay dry!", version=1, action="save-unapprove",
                     headers=FETCH)
    assert "saved as a draft and un-approved" in response.text
    assert _message(review_settings).status == "draft"


def test_long_message_asks_before_approval(client, review_settings):
    """Approving a message over one SMS names the segments and asks."""
    text = "Rain from {{ rain_start }}. " + "Bring a coat and a good book. " * 6
    response = _post(client, text, action="approve", headers=FETCH)
    assert "SMS segments per subscriber" in response.text and "Approve it anyway?" in response.text
    assert _message(review_settings) is None
    response = _post(client, text, action="approve-long", headers=FETCH)
    assert "s001 approved." in response.text
    assert _message(review_settings).status == "approved"


def test_a_save_from_the_script_answers_with_the_row_alone(client):
    """The script swaps one row: the answer is that row, not the page."""
    response = _post(client, TRUE, headers=FETCH)
    assert response.text.lstrip().startswith("<article") and 'id="slot-s001"' in response.text
    assert "<html" not in response.text and "s001 saved as a draft." in response.text


def test_a_conflict_keeps_my_text_in_the_box(client, lead, review_settings):
    """Someone else saved first: their text is named, mine stays in the box, and the
    version moves to theirs, so saving again replaces theirs knowingly."""
    _post(lead, "Dana's text.")
    response = _post(client, "Eli's text.", version=0, headers=FETCH)
    assert response.status_code == 409
    assert "Dana&#39;s text." in response.text and ">Eli&#39;s text.</textarea>" in response.text
    assert 'name="version" value="1"' in response.text
    _post(client, "Eli's text.", version=1)
    assert _message(review_settings).text == "Eli's text."


def test_facts_panel_shows_what_the_draft_states_and_the_spread(client):
    """Every stated fact beside its members' spread stays visible next to the box."""
    html = client.get(SHEET).text
    assert 'class="facts-panel"' in html
    for topic in ("High", "Low", "Precipitation", "Wind", "Sky", "Hazards"):
        assert f'<th scope="row">{topic}</th>' in html


def test_cost_banner_counts_segments_times_subscribers(client):
    """The banner shows the SMS segments this run sends."""
    assert "SMS segments to" in client.get(SHEET).text


def test_comments_and_presence(client, lead):
    """A comment thread per slot; who is on which slot."""
    token = csrf_of(client.get(SHEET).text)
    html = client.post(f"{SHEET}/slots/s001/comments", headers=FETCH,
                       data={"text": "Is 7 am right for Newport?", "csrf_token": token}).text
    assert "Is 7 am right for Newport?" in html and "eli" in html
    empty = client.post(f"{SHEET}/slots/s001/comments", headers=FETCH,
                        data={"text": "  ", "csrf_token": token})
    assert empty.status_code == 422
    assert lead.get(f"{SHEET}/slots/s001/thread").text.count("Is 7 am right") == 1
    here = client.post(f"{SHEET}/presence", data={"slot": "s001", "csrf_token": token}).json()
    assert here == {}
    lead_token = csrf_of(lead.get(SHEET).text)
    assert lead.post(f"{SHEET}/presence",
                     data={"slot": "s002", "csrf_token": lead_token}).json() == {"s001": ["eli"]}


def test_a_blank_message_is_never_saved_or_approved(client, review_settings):
    """Spaces or newlines only: refused with the reason, nothing written."""
    for action in ("save", "approve"):
        response = _post(client, "  \n ", action=action, headers=FETCH)
        assert response.status_code == 422 and "the message is empty" in response.text
    assert _message(review_settings) is None


def test_approving_a_refused_text_over_an_approved_one_asks_first(client, review_settings):
    """Approve with a false text on an approved slot: nothing changes until the editor
    chooses to save it as a draft (which un-approves)."""
    _post(client, TRUE, action="approve")
    response = _post(client, FALSE, version=1, action="approve", headers=FETCH)
    assert "is approved, and this text cannot be approved as it is" in response.text
    assert "bone dry" in response.text and "Save as draft and un-approve" in response.text
    message = _message(review_settings)
    assert (message.status, message.text) == ("approved", TRUE)


def test_misfits_do_not_count_against_the_editors_text(client, misfit_run):
    """ZIP 02904 is a misfit of s001 (it gets the automatic message), so a claim false
    only there is true for everyone who reads the slot's message."""
    import pandas as pd

    path = misfit_run.runs_dir / RUN_ID / "assignments.parquet"
    frame = pd.read_parquet(path)
    frame.loc[frame["zip"] == "02904", "high_f"] = 70.0  # the misfit is warm
    frame.to_parquet(path)
    token = csrf_of(client.get(SHEET).text)
    html = client.post(f"{SHEET}/slots/s001/preview", headers=FETCH, data={
        "text": "Highs near 41F.", "csrf_token": token}).text
    assert "true for 100 %" in html


def test_approving_the_approved_text_again_changes_nothing(client, review_settings):
    """A second Approve on the same approved text is a no-op, never an un-approval."""
    _post(client, TRUE, action="approve")
    response = _post(client, TRUE, version=1, action="approve", headers=FETCH)
    assert "s001 is already approved." in response.text
    assert _message(review_settings).version == 1


def test_presence_takes_only_the_runs_slot_ids(client):
    token = csrf_of(client.get(SHEET).text)
    assert client.post(f"{SHEET}/presence",
                       data={"slot": "x" * 5000, "csrf_token": token}).status_code == 422


def test_comments_work_without_javascript(client):
    """The thread is a page of its own for a browser without the script."""
    page = client.get(f"{SHEET}/slots/s001/thread")
    assert "<html" in page.text and "back to the sheet" in page.text
    token = csrf_of(page.text)
    after = client.post(f"{SHEET}/slots/s001/comments",
                        data={"text": "No script here.", "csrf_token": token})
    assert after.url.path.endswith("/thread") and "No script here." in after.text
