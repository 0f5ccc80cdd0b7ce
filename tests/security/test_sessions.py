"""Issue 16, row 1 (medium): a session cookie outlived logout and a password reset.

Sessions now end server-side: the cookie carries the editor's ``session_version``; logout, a
password reset (``zipcast users add`` of an existing name, ``zipcast users reset``) and
``zipcast users disable`` bump it, and a cookie of another version (or of a disabled editor)
signs nobody in.
"""

from __future__ import annotations

import base64
import json

from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner
from typer.testing import CliRunner

from flows.cli import app as cli
from pipeline.review import cli as users
from tests.pipeline.review.conftest import (  # noqa: F401 -- fixtures
    PASSWORD,
    app,
    clock,
    csrf_of,
    review_settings,
    sign_in,
)

COOKIE = "zipcast_review"
NEW_PASSWORD = "battery staple"


def _signed_in(app, name: str = "eli") -> str:  # noqa: F811
    """The session cookie of a fresh sign-in as ``name``."""
    with TestClient(app) as browser:
        assert sign_in(browser, name).status_code == 200
        return browser.cookies[COOKIE]


def _works(app, cookie: str) -> bool:  # noqa: F811
    """True when the cookie still opens the run list."""
    with TestClient(app, cookies={COOKIE: cookie}) as replay:
        return replay.get("/runs", follow_redirects=False).status_code == 200


def _log_out(app, cookie: str) -> None:  # noqa: F811
    with TestClient(app, cookies={COOKIE: cookie}) as browser:
        token = csrf_of(browser.get("/runs").text)
        assert browser.post("/logout", data={"csrf_token": token}).url.path == "/login"


def test_a_copied_cookie_stops_working_after_logout(app):  # noqa: F811
    """A cookie copied before logout no longer signs anyone in afterwards."""
    cookie = _signed_in(app)
    assert _works(app, cookie)
    _log_out(app, cookie)
    assert not _works(app, cookie)


def test_logout_ends_every_session_of_that_editor_only(app):  # noqa: F811
    """Logout ends all of the editor's sessions (other browsers too) but nobody else's."""
    laptop, phone, lead = _signed_in(app), _signed_in(app), _signed_in(app, "dana")
    _log_out(app, laptop)
    assert not _works(app, phone)
    assert _works(app, lead)


def test_users_add_of_an_existing_name_ends_its_sessions(app, review_settings):  # noqa: F811
    """Re-adding an editor (a password reset) ends the sessions opened with the old one."""
    cookie = _signed_in(app)
    users.add_user(review_settings.db_url, "eli", "editor", NEW_PASSWORD)
    assert not _works(app, cookie)
    with TestClient(app) as browser:
        assert sign_in(browser, password=PASSWORD).status_code == 401
        assert sign_in(browser, password=NEW_PASSWORD).status_code == 200


def test_reset_sets_a_new_password_and_ends_sessions(app, review_settings):  # noqa: F811
    """``reset_password`` keeps the role, changes the password and ends old sessions."""
    cookie = _signed_in(app, "dana")
    users.reset_password(review_settings.db_url, "dana", NEW_PASSWORD)
    assert not _works(app, cookie)
    assert {u.name: u.role for u in users.list_users(review_settings.db_url)}["dana"] == "lead"
    with TestClient(app) as browser:
        assert sign_in(browser, "dana", NEW_PASSWORD).status_code == 200


def test_a_disabled_editor_is_signed_out_and_cannot_sign_in(app, review_settings):  # noqa: F811
    """Disabling ends the editor's sessions and refuses sign-in; enabling does not revive
    old cookies."""
    cookie = _signed_in(app)
    users.set_disabled(review_settings.db_url, "eli", True)
    assert not _works(app, cookie)
    with TestClient(app) as browser:
        refused = sign_in(browser)
        assert refused.status_code == 403 and "disabled" in refused.text
        assert browser.get("/runs", follow_redirects=False).status_code == 303
    users.set_disabled(review_settings.db_url, "eli", False)
    assert not _works(app, cookie)
    assert _works(app, _signed_in(app))


def test_a_cookie_without_a_session_version_is_refused(app):  # noqa: F811
    """A validly signed cookie that only names the editor (the old format) signs nobody in."""
    payload = base64.b64encode(json.dumps({"editor_id": 1, "csrf": "x"}).encode())
    forged = TimestampSigner("test-secret").sign(payload).decode()
    assert not _works(app, forged)


def test_an_error_page_does_not_greet_an_ended_session(app):  # noqa: F811
    """The page header of an error page names nobody for a cookie that was logged out."""
    cookie = _signed_in(app)
    with TestClient(app, cookies={COOKIE: cookie}) as browser:
        assert "eli (editor)" in browser.get("/static/no-such-file.css").text
    _log_out(app, cookie)
    with TestClient(app, cookies={COOKIE: cookie}) as browser:
        assert "eli (editor)" not in browser.get("/static/no-such-file.css").text


def test_users_commands_list_disable_enable_reset(app, review_settings):  # noqa: F811
    """``zipcast users list|disable|enable|reset`` work on the configured database and
    ``list`` shows no password hashes."""
    env = {"ZIPCAST_DATA_DIR": str(review_settings.data_dir)}
    runner = CliRunner()
    listed = runner.invoke(cli, ["users", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "dana" in listed.output and "lead" in listed.output and "eli" in listed.output
    assert "argon2" not in listed.output
    cookie = _signed_in(app)
    assert runner.invoke(cli, ["users", "disable", "eli"], env=env).exit_code == 0
    assert "yes" in runner.invoke(cli, ["users", "list"], env=env).output.split("eli")[1]
    assert runner.invoke(cli, ["users", "enable", "eli"], env=env).exit_code == 0
    assert not _works(app, cookie)
    reset = runner.invoke(cli, ["users", "reset", "eli"], input=NEW_PASSWORD + "\n", env=env)
    assert reset.exit_code == 0, reset.output
    with TestClient(app) as browser:
        assert sign_in(browser, password=NEW_PASSWORD).status_code == 200
    unknown = runner.invoke(cli, ["users", "disable", "nobody"], env=env)
    assert unknown.exit_code == 2 and "no editor named 'nobody'" in unknown.output
