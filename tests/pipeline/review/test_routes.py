"""Route behaviour of the review app through FastAPI's TestClient."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from pipeline.editorial.models import AuditEntry, Message
from pipeline.review.app import create_app
from pipeline.review.deps import ReviewSettings
from pipeline.store.db import session_scope

from .conftest import PASSWORD, RUN_ID, csrf_of, sign_in

SHEET = f"/runs/{RUN_ID}"
SAVE = f"{SHEET}/slots/s001/message"


def _save(client, text, version, action="save", slot="s001"):
    token = csrf_of(client.get(SHEET).text)
    return client.post(f"{SHEET}/slots/{slot}/message", data={
        "text": text, "version": version, "action": action, "csrf_token": token})


def test_every_route_but_login_and_static_needs_a_session(app):
    """Unauthenticated requests to any page or action are redirected to the login page."""
    with TestClient(app) as anonymous:
        for path in ["/", "/runs", SHEET, f"{SHEET}/slots/s001/map.svg"]:
            response = anonymous.get(path, follow_redirects=False)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/login?next=")
        token = csrf_of(anonymous.get("/login").text)
        for path in [SAVE, f"{SHEET}/slots/s001/preview", f"{SHEET}/approve-all"]:
            response = anonymous.post(path, data={"csrf_token": token, "text": "x",
                                                  "version": 0}, follow_redirects=False)
            assert response.status_code == 303, path
        assert anonymous.get("/static/review.css").status_code == 200


def test_login_sets_a_hardened_cookie(app):
    """The session cookie is HttpOnly and SameSite=Lax; Secure when configured."""
    with TestClient(app) as client:
        token = csrf_of(client.get("/login").text)
        response = client.post("/login", data={"name": "eli", "password": PASSWORD,
                                               "csrf_token": token}, follow_redirects=False)
        cookie = response.headers["set-cookie"].lower()
        assert response.status_code == 303 and "httponly" in cookie and "samesite=lax" in cookie
        assert "secure" not in cookie


def test_secure_flag_is_configurable(review_settings):
    """With ``secure_cookie`` the cookie carries the Secure flag."""
    app = create_app(review_settings, ReviewSettings(secret_key="k", secure_cookie=True))
    with TestClient(app, base_url="https://testserver") as client:
        token = csrf_of(client.get("/login").text)
        response = client.post("/login", data={"name": "eli", "password": PASSWORD,
                                               "csrf_token": token}, follow_redirects=False)
        assert "secure" in response.headers["set-cookie"].lower()


def test_wrong_password_is_refused(app):
    """A wrong password answers 401 and signs nobody in."""
    with TestClient(app) as client:
        response = sign_in(client, password="nope")
        assert response.status_code == 401 and "Wrong name or password" in response.text
        assert client.get("/runs", follow_redirects=False).status_code == 303


def test_login_rate_limit_then_recovery(app, clock):
    """Five failures for a name lock it for five minutes with 429, then it works again."""
    with TestClient(app) as client:
        for _ in range(5):
            assert sign_in(client, password="nope").status_code == 401
        locked = sign_in(client)  # even the right password is refused while locked
        assert locked.status_code == 429 and "Too many failed sign-ins" in locked.text
        assert "Try again in 5 minutes" in locked.text
        assert sign_in(client, "dana").status_code == 200  # other names are unaffected
        clock.t += 301
        assert sign_in(client).status_code == 200


def test_post_without_csrf_token_is_rejected(client):
    """A POST without (or with a wrong) CSRF token is refused with 403 and saves nothing."""
    for data in ({"text": "x", "version": 0}, {"text": "x", "version": 0, "csrf_token": "bad"}):
        response = client.post(SAVE, data=data)
        assert response.status_code == 403 and "Form expired" in response.text
    assert 'value="0"' in client.get(SHEET).text


def test_login_form_needs_csrf_token(app):
    """Login itself is CSRF-protected (no login CSRF)."""
    with TestClient(app) as client:
        response = client.post("/login", data={"name": "eli", "password": PASSWORD})
        assert response.status_code == 403


def test_sheet_lists_slots_largest_first_with_drafts(client):
    """The sheet shows every slot, largest first, prefilled with the pipeline draft."""
    html = client.get(SHEET).text
    assert html.index('id="slot-s001"') < html.index('id="slot-s002"')
    assert "Rain from {{ rain_start }}, high {{ high }}°F." in html
    assert "Messages go out at" in html and "11:00 UTC" in html  # 09:00 + 2 h
    assert "02903 Providence" in html and "Rain from 7 am, high 41°F." in html
    assert "°F · UCS-2" not in html
    assert f'src="{SHEET}/slots/s001/spark.svg"' in html  # pictures are images of their own
    spark = client.get(f"{SHEET}/slots/s001/spark.svg")
    assert spark.headers["content-type"].startswith("image/svg+xml")
    assert "<polyline" in spark.text and "precip chance, peak 50%" in spark.text


def test_save_bumps_version_and_audits(client, review_settings):
    """Saving stores a draft at version 1, then 2, with an audit row per save."""
    assert _save(client, "First", 0).status_code == 200
    assert _save(client, "Second", 1).status_code == 200
    with session_scope(review_settings.db_url) as db:
        message = db.get(Message, f"{RUN_ID}/s001")
        audit = db.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert (message.text, message.version, message.status) == ("Second", 2, "draft")
        assert [(a.editor, a.old_text, a.new_text) for a in audit] == [
            ("eli", None, "First"), ("eli", "First", "Second")]


def test_stale_version_is_a_conflict_showing_their_text(client, lead):
    """Saving from an old version answers 409 with the other editor's text and name."""
    assert _save(lead, "Dana's words", 0).status_code == 200
    response = _save(client, "Eli's words", 0)
    assert response.status_code == 409
    assert "Dana&#39;s words" in response.text and "dana" in response.text
    assert "Eli&#39;s words" in response.text  # mine is kept, ready to resubmit
    version = re.search(r'name="version" value="(\d+)"', response.text).group(1)
    assert _save(client, "Eli's words", int(version)).status_code == 200


def test_approve_blocked_by_unknown_placeholder(client, review_settings):
    """An unknown placeholder blocks approval, names it, and keeps the text as a draft."""
    html = _save(client, "Hi {{ temp }}", 0, action="approve").text
    assert "not approved" in html and "unknown placeholder {{ temp }}" in html
    with session_scope(review_settings.db_url) as db:
        assert db.get(Message, f"{RUN_ID}/s001").status == "draft"


def test_approve_blocked_when_a_zip_has_no_value(client):
    """{{ snow_start }} in a rainy slot blocks approval and names a ZIP."""
    html = _save(client, "Snow from {{ snow_start }}", 0, action="approve").text
    assert "not approved" in html and "ZIP 02903" in html


def test_python_objects_blocked_on_approval(client):
    """``{{ ''.__class__ }}`` cannot be approved."""
    html = _save(client, "{{ ''.__class__ }}", 0, action="approve").text
    assert "not approved" in html and "__class__" in html


def test_approve_marks_approved(client):
    """A text that fills for every member is approved, with the editor's name."""
    html = _save(client, "Rain from {{ rain_start }} in {{ city }}.", 0, "approve").text
    assert "s001 approved." in html and 'badge approved' in html and "last saved by eli" in html


def test_user_text_is_escaped(client):
    """Markup in a message shows as text, never as HTML."""
    html = _save(client, "<script>alert(1)</script>", 0).text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_preview_fragment(client):
    """The preview fragment fills members and reports problems, via the CSRF header."""
    token = csrf_of(client.get(SHEET).text)
    response = client.post(f"{SHEET}/slots/s002/preview", data={"text": "{{ city }} ’"},
                           headers={"X-CSRF-Token": token})
    assert response.status_code == 200 and "Barrington" in response.text
    bad = client.post(f"{SHEET}/slots/s002/preview", data={"text": "{{ rain_start }}"},
                      headers={"X-CSRF-Token": token})
    assert "ZIP 02806" in bad.text


def test_approve_all_is_for_leads_only(client, lead):
    """An editor gets 403; a lead is first asked (nothing changes), then approves every
    remaining slot that fills, and the report names them."""
    token = csrf_of(client.get(SHEET).text)
    assert client.post(f"{SHEET}/approve-all", data={"csrf_token": token}).status_code == 403
    token = csrf_of(lead.get(SHEET).text)
    ask = lead.post(f"{SHEET}/approve-all", data={"csrf_token": token}).text
    assert "Approve all remaining slots" in ask and "2 slots will be approved" in ask
    assert "0 approved, 2 remaining" in lead.get(SHEET).text  # asking changed nothing
    html = _confirm_all(lead, token, ask)
    assert "Approved 2 slots: s001, s002." in html
    assert "2 approved, 0 remaining" in lead.get(SHEET).text


def _confirm_all(client, token, ask):
    seen = re.search(r'name="seen" value="([^"]*)"', ask).group(1)
    return client.post(f"{SHEET}/approve-all",
                       data={"csrf_token": token, "confirm": "yes", "seen": seen}).text


def test_approve_all_leaves_out_what_changed_after_the_lead_looked(lead, client):
    """A slot saved after the lead opened the confirmation is not approved, and named."""
    token = csrf_of(lead.get(SHEET).text)
    ask = lead.post(f"{SHEET}/approve-all", data={"csrf_token": token}).text
    _save(client, "A late edit: rain from {{ rain_start }}.", 0)
    html = _confirm_all(lead, token, ask)
    assert "Approved 1 slot: s002." in html
    assert "s001 not approved: someone saved it after you looked" in html


def test_approve_all_skips_what_cannot_fill(lead):
    """A slot whose saved draft fails for some ZIP is skipped and named."""
    _save(lead, "{{ snow_start }}", 0)
    token = csrf_of(lead.get(SHEET).text)
    ask = lead.post(f"{SHEET}/approve-all", data={"csrf_token": token}).text
    assert "1 slot will be skipped" in ask and "cannot fill the message" in ask
    html = _confirm_all(lead, token, ask)
    assert "Approved 1 slot: s002." in html and "s001 not approved" in html


def test_approve_all_skips_a_false_draft(lead):
    """A saved draft with a claim false for the slot's ZIPs is skipped, with the claim."""
    _save(lead, "Sunny and bone dry all day, leave the umbrella at home.", 0)
    token = csrf_of(lead.get(SHEET).text)
    ask = lead.post(f"{SHEET}/approve-all", data={"csrf_token": token}).text
    html = _confirm_all(lead, token, ask)
    assert "Approved 1 slot: s002." in html and "s001 not approved" in html
    assert "bone dry" in html and "false for 100 %" in html


def test_logout(client):
    """Signing out ends the session."""
    token = csrf_of(client.get("/runs").text)
    assert client.post("/logout", data={"csrf_token": token}).url.path == "/login"
    assert client.get("/runs", follow_redirects=False).status_code == 303


def test_run_list_and_map(client):
    """The run list links the run; the slot map is an SVG."""
    assert RUN_ID in client.get("/runs").text
    response = client.get(f"{SHEET}/slots/s001/map.svg")
    assert response.status_code == 200 and response.text.startswith("<svg")
