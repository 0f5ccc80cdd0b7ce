"""The sign-up and manage pages in a real Chromium at a phone's width (390 × 844).

The confirmation code is read from ``settings.signup.outbox`` (the JSONL file a server
without Twilio writes codes to); the database is checked after every step, and no page may
scroll sideways.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.dispatch.models import Consent, SignUp, Subscriber
from pipeline.dispatch.selfservice import WEB_DISCLOSURE
from pipeline.review.app import create_app
from pipeline.settings import ReviewSettings
from pipeline.store.db import get_engine
from tests.pipeline.dispatch.test_dispatch import settings as settings  # noqa: F401

from .test_browser import browser as browser  # noqa: F401 -- the fixture
from .test_browser import served

pytestmark = pytest.mark.browser
NOW = datetime(2026, 1, 15, 15, 0, tzinfo=UTC)  # 10:00 am in Providence
PHONE = "+14015550123"
WIDTH = 390


def fits(page) -> None:
    """Nothing wider than the phone: no sideways scrolling."""
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH, page.url


def subscriber(settings) -> Subscriber | None:  # noqa: F811
    with Session(get_engine(settings.db_url)) as db:
        return db.scalars(select(Subscriber).where(Subscriber.phone == PHONE)).first()


@pytest.fixture
def site(settings, tmp_path):  # noqa: F811
    settings.signup.outbox = tmp_path / "signup-outbox.jsonl"
    app = create_app(settings, ReviewSettings(secret_key="browser-test"), now=lambda: NOW)
    with served(app) as url:
        yield url


def test_sign_up_confirm_and_manage_on_a_phone(browser, site, settings):  # noqa: F811
    context = browser.new_context(viewport={"width": WIDTH, "height": 844},
                                  is_mobile=True, has_touch=True)
    page = context.new_page()
    problems: list[str] = []  # CSP violations and script errors show up in the console
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" and not
            m.text.startswith("Failed to load resource") else None)  # e.g. our 400 on purpose
    page.on("pageerror", lambda e: problems.append(str(e)))
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url))

    page.goto(f"{site}/signup")
    fits(page)
    assert page.locator(".disclosure").inner_text() == WEB_DISCLOSURE
    # a ZIP without a forecast: the reason next to the field, what was typed kept
    page.fill("#zip", "99999")
    page.fill("#contact", "(401) 555-0123")
    page.fill("#morning", "06:30")
    page.check("#consent")
    page.click("button[type=submit]")
    assert "We have no forecast for ZIP 99999" in page.locator("#zip-error").inner_text()
    assert page.input_value("#contact") == "(401) 555-0123"
    fits(page)
    with Session(get_engine(settings.db_url)) as db:
        assert db.scalars(select(SignUp)).first() is None

    page.fill("#zip", "02903")
    page.fill("#morning", "06:30")
    if not page.is_checked("#consent"):
        page.check("#consent")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/signup/[\w-]{22}$"))
    fits(page)
    assert "number ending in 0123" in page.inner_text("main")
    assert "we send nothing before 8:00 am" in page.inner_text("main")
    [sent] = [json.loads(line) for line in settings.signup.outbox.read_text().splitlines()]
    assert sent["address"] == PHONE
    assert subscriber(settings) is None  # nothing before the code

    page.fill("#code", re.search(r"code (\d{6})", sent["body"]).group(1))
    page.click("button[type=submit]")
    page.wait_for_selector("text=You're subscribed")
    fits(page)
    assert "Your first message is due today at 6:00 pm" in page.inner_text("main")
    sub = subscriber(settings)
    assert (sub.status, sub.zip, sub.timezone, sub.morning_at, sub.evening_at) == (
        "active", "02903", "America/New_York", "06:30", "18:00")
    with Session(get_engine(settings.db_url)) as db:
        granted = db.scalars(select(Consent).where(Consent.address == PHONE)).all()
    assert [(c.event, c.method, c.source, c.text) for c in granted] == [
        ("granted", "web", "127.0.0.1", WEB_DISCLOSURE)]

    page.click("a.button")  # the manage page
    page.wait_for_url(f"{site}/m/{sub.token}")
    fits(page)
    assert "02903 (Providence, RI)" in page.inner_text("dl.facts")

    page.fill("#morning", "07:45")
    page.fill("#zip", "10001")
    page.click("button[value=save]")
    page.wait_for_selector("text=Saved: from your next message")
    fits(page)
    sub = subscriber(settings)
    assert (sub.zip, sub.timezone, sub.morning_at, sub.evening_at) == (
        "10001", "America/New_York", "07:45", "18:00")

    page.fill("#days", "3")
    page.click("button[value=pause]")
    page.wait_for_selector("text=Paused: no messages until Mon Jan 19")
    fits(page)
    assert subscriber(settings).paused_until is not None

    page.click("button[value=resume]")
    page.wait_for_selector("text=Resumed")
    fits(page)
    sub = subscriber(settings)
    assert sub.paused_until is None and sub.status == "active"
    with Session(get_engine(settings.db_url)) as db:  # changes are not consent events
        assert len(db.scalars(select(Consent).where(Consent.address == PHONE)).all()) == 1

    page.click("text=Unsubscribe from zipcast")  # STOP, on the web
    page.wait_for_url(f"{site}/u/{sub.token}")
    fits(page)
    page.click("button[type=submit]")
    page.wait_for_selector("text=You are unsubscribed")
    fits(page)
    assert subscriber(settings).status == "opted_out"

    page.click("text=Sign up again")  # START, on the web: a new code to the same number
    page.wait_for_url(f"{site}/signup")
    page.fill("#zip", "10001")
    page.fill("#contact", "401 555 0123")
    page.fill("#morning", "07:15")
    page.fill("#evening", "19:00")
    page.check("#consent")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/signup/[\w-]{22}$"))
    sent = [json.loads(line) for line in settings.signup.outbox.read_text().splitlines()]
    assert len(sent) == 2 and sent[-1]["address"] == PHONE
    page.fill("#code", re.search(r"code (\d{6})", sent[-1]["body"]).group(1))
    page.click("button[type=submit]")
    page.wait_for_selector("text=You're subscribed")
    fits(page)
    again = subscriber(settings)
    assert (again.id, again.status, again.zip, again.morning_at, again.evening_at) == (
        sub.id, "active", "10001", "07:15", "19:00")
    with Session(get_engine(settings.db_url)) as db:
        events = db.scalars(select(Consent).where(Consent.address == PHONE)
                            .order_by(Consent.id)).all()
    assert [(c.event, c.method) for c in events] == [
        ("granted", "web"), ("revoked", "link"), ("granted", "web")]
    assert problems == []
    assert all(url.startswith(site) for url in fetched), fetched  # nothing from elsewhere
    context.close()
