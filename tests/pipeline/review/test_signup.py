"""The public sign-up and manage pages through the web app (GitHub issue 20, web part).

Sign-ups go through the real channels: the SMS code through the Twilio SDK to the local
``fake_twilio``, the email link through SMTP to the local ``smtp_server``. The clock is the
app's ``now``, moved by the tests; the client's network address is TestClient's ``client``.
"""

from __future__ import annotations

import asyncio
import html
import re
from datetime import UTC, datetime, timedelta

import anyio
import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline.dispatch.models import Consent, SignUp, Subscriber
from pipeline.dispatch.selfservice import WEB_DISCLOSURE
from pipeline.review.app import create_app
from pipeline.settings import ReviewSettings
from pipeline.store.db import get_engine
from tests.pipeline.dispatch.test_dispatch import settings as settings  # noqa: F401

from .conftest import csrf_of

PUBLIC = "https://zipcast.example"
IP = "203.0.113.7"
PHONE, PHONE_E164 = "(401) 555-0123", "+14015550123"
NOW = datetime(2026, 1, 15, 15, 0, tzinfo=UTC)  # 10:00 am in Providence


class Wall:
    """The app's wall clock, moved by the tests."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def wall() -> Wall:
    return Wall()


@pytest.fixture
def app(settings, dispatch_settings, wall):  # noqa: F811
    """The app on the dispatch test database, its channels pointed at the local servers."""
    settings.dispatch = dispatch_settings.model_copy(update={"public_url": PUBLIC})
    return create_app(settings, ReviewSettings(secret_key="k"), now=wall)


@pytest.fixture
def web(app):
    with TestClient(app, client=(IP, 50000)) as client:
        yield client


def from_ip(app, ip: str) -> TestClient:
    """Another browser, at another network address."""
    return TestClient(app, client=(ip, 50000))


def form(client: TestClient, path: str = "/signup", **fields: str):
    """POST a form of ``path`` the way a browser does: GET the page first for its token."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    return client.post(path, data={"csrf_token": csrf_of(page.text), **fields},
                       follow_redirects=False)


def sign_up(client: TestClient, contact: str = PHONE, zip_code: str = "02903",
            morning: str = "06:30", evening: str = "18:00", consent: str | None = "yes"):
    fields = {"zip": zip_code, "contact": contact, "morning": morning, "evening": evening}
    if consent is not None:
        fields["consent"] = consent
    return form(client, **fields)


def code_sent(fake_twilio, to: str = PHONE_E164) -> str:
    """The code in the newest text the fake Twilio received for ``to``."""
    body = [m["body"] for m in fake_twilio.messages if m["to"] == to][-1]
    return re.search(r"code (\d{6})", body).group(1)


def text_of(response) -> str:
    """The page's text, tags dropped and entities decoded, for reading its sentences."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text)))


def db_of(settings) -> Session:  # noqa: F811
    return Session(get_engine(settings.db_url), expire_on_commit=False)


def subscriber(settings, **where) -> Subscriber | None:  # noqa: F811
    with db_of(settings) as db:
        return db.scalars(select(Subscriber).filter_by(**where)).first()


def consents(settings, address: str) -> list[Consent]:  # noqa: F811
    with db_of(settings) as db:
        return list(db.scalars(select(Consent).where(Consent.address == address)
                               .order_by(Consent.id)))


def count(settings, table) -> int:  # noqa: F811
    with db_of(settings) as db:
        return int(db.scalar(select(func.count()).select_from(table)) or 0)


# --- the form ------------------------------------------------------------------------------


def test_form_shows_the_disclosure_verbatim_and_uses_no_third_party_assets(web):
    page = web.get("/signup")
    assert page.status_code == 200
    assert html.escape(WEB_DISCLOSURE, quote=False) in page.text
    assert re.search(r'<input id="consent" name="consent" type="checkbox" value="yes" required',
                     page.text)
    assert 'value="07:00"' in page.text and 'value="18:00"' in page.text  # default times
    assert "We send messages between 8:00 am and 9:00 pm" in text_of(page)
    assert "<script" not in page.text and "style=" not in page.text
    for url in re.findall(r'(?:src|href|action)="([^"]*)"', page.text):
        assert url.startswith("/"), url  # nothing from another site
    assert "script-src 'self'" in page.headers["content-security-policy"]


# --- phone, end to end ---------------------------------------------------------------------


def test_phone_sign_up_through_the_sms_channel(web, settings, fake_twilio):  # noqa: F811
    response = sign_up(web, morning="06:30", evening="21:30")
    assert response.status_code == 303
    code_page = response.headers["location"]
    assert re.fullmatch(r"/signup/[\w-]{22}", code_page)
    assert [m["to"] for m in fake_twilio.messages] == [PHONE_E164]  # the one message
    assert subscriber(settings, phone=PHONE_E164) is None  # not before the code
    shown = web.get(code_page)
    assert "We sent a 6-digit code to the number ending in 0123" in text_of(shown)
    assert "morning message at 6:30 am: we send nothing before 8:00 am" in text_of(shown)
    assert "evening message at 9:30 pm: we send nothing after 9:00 pm" in text_of(shown)

    done = form(web, code_page, code=code_sent(fake_twilio))
    assert done.status_code == 200, done.text
    said = text_of(done)
    assert "You're subscribed" in said
    assert ("The weather for 02903 (Providence, RI), 6:30 am & 9:30 pm, by text to the "
            "number ending in 0123.") in said
    assert "Your first message is due today at 8:59 pm" in said  # 9:30 pm moved into hours
    sub = subscriber(settings, phone=PHONE_E164)
    assert sub is not None and f'href="/m/{sub.token}"' in done.text
    assert (sub.status, sub.zip, sub.timezone, sub.morning_at, sub.evening_at, sub.email) == (
        "active", "02903", "America/New_York", "06:30", "21:30", None)
    [granted] = consents(settings, PHONE_E164)
    assert (granted.event, granted.method, granted.source, granted.text, granted.channel,
            granted.subscriber_id) == ("granted", "web", IP, WEB_DISCLOSURE, "sms", sub.id)
    assert len(fake_twilio.messages) == 1  # nothing more to the number


def test_an_existing_subscriber_gets_the_same_pages(web, settings, fake_twilio):  # noqa: F811
    """Signing up a number that already subscribes looks the same; confirming updates it."""
    known = subscriber(settings, phone="+14015550100")
    new = sign_up(web, contact="(401) 555-0199", zip_code="10001")
    again = sign_up(web, contact="401-555-0100", zip_code="10001")
    assert new.status_code == again.status_code == 303
    pages = [text_of(web.get(r.headers["location"])) for r in (new, again)]
    assert pages[0].replace("0199", "0100") == pages[1]
    done = form(web, again.headers["location"], code=code_sent(fake_twilio, "+14015550100"))
    assert done.status_code == 200
    sub = subscriber(settings, phone="+14015550100")
    assert sub.id == known.id and sub.zip == "10001" and sub.token == known.token
    assert count(settings, Subscriber) == 6  # the fixture's six, no new row


# --- email, end to end ---------------------------------------------------------------------


def test_email_sign_up_through_smtp(web, settings, smtp_server):  # noqa: F811
    response = sign_up(web, contact="New.Reader@Example.com", zip_code="94110",
                       morning="07:15", evening="19:45")
    assert response.status_code == 200
    assert "Check your inbox" in response.text and "new.reader@example.com" in response.text
    [mail] = smtp_server.messages
    assert mail["To"] == "new.reader@example.com"
    body = mail.get_body(("plain",)).get_content()
    link = re.search(rf"{re.escape(PUBLIC)}(/signup/confirm/\S+)", body).group(1)
    assert "94110" in body and WEB_DISCLOSURE in body

    shown = web.get(link)  # what a link scanner does: nothing changes
    assert shown.status_code == 200 and "Yes, send me the weather" in shown.text
    assert subscriber(settings, email="new.reader@example.com") is None

    done = form(web, link)
    assert done.status_code == 200
    said = text_of(done)
    assert ("The weather for 94110 (San Francisco, CA), 7:15 am & 7:45 pm, by email to "
            "new.reader@example.com.") in said
    assert "Your first message is due today at 8:00 am" in said  # 7:00 am in San Francisco
    sub = subscriber(settings, email="new.reader@example.com")
    assert (sub.status, sub.zip, sub.timezone, sub.morning_at, sub.evening_at) == (
        "active", "94110", "America/Los_Angeles", "07:15", "19:45")
    [granted] = consents(settings, "new.reader@example.com")
    assert (granted.event, granted.method, granted.source, granted.text) == (
        "granted", "web", IP, WEB_DISCLOSURE)
    assert "Already confirmed" in web.get(link).text  # the button is gone
    again = web.post(link, data={"csrf_token": csrf_of(web.get("/signup").text)})
    assert again.status_code == 200 and "Already confirmed" in again.text  # a replay
    assert len(consents(settings, "new.reader@example.com")) == 1
    assert len(smtp_server.messages) == 1


def test_signing_up_again_after_unsubscribing(web, settings, smtp_server):  # noqa: F811
    """An unsubscribed reader signs up again on the web: the same row, active, and a new
    ``granted`` row after the ``revoked`` one."""
    assert web.post(f"/u/{TOKEN}").status_code == 200
    assert subscriber(settings, token=TOKEN).status == "opted_out"
    assert sign_up(web, contact="P0@example.com", zip_code="10001").status_code == 200
    body = smtp_server.messages[0].get_body(("plain",)).get_content()
    assert form(web, re.search(r"(/signup/confirm/\S+)", body).group(1)).status_code == 200
    sub = subscriber(settings, token=TOKEN)
    assert (sub.status, sub.zip, sub.opted_out_at) == ("active", "10001", None)
    assert [(c.event, c.method) for c in consents(settings, "p0@example.com")][-2:] == [
        ("revoked", "link"), ("granted", "web")]


def test_expired_link(web, settings, smtp_server, wall):  # noqa: F811
    sign_up(web, contact="late@example.com")
    body = smtp_server.messages[0].get_body(("plain",)).get_content()
    link = re.search(r"(/signup/confirm/\S+)", body).group(1)
    token = csrf_of(web.get(link).text)
    wall.now += timedelta(hours=settings.signup.link_ttl_hours, seconds=1)
    late = web.post(link, data={"csrf_token": token})
    assert late.status_code == 410
    assert "The link works for 24 hours and this one has expired" in text_of(late)
    assert 'href="/signup"' in late.text
    assert subscriber(settings, email="late@example.com") is None
    assert web.get("/signup/confirm/not-a-real-token").status_code == 404
    assert web.post("/signup/confirm/not-a-real-token",
                    data={"csrf_token": token}).status_code == 404


# --- the bad-input catalogue ---------------------------------------------------------------


@pytest.mark.parametrize(("field", "fields", "said"), [
    ("contact", {"contact": "555"}, "'555' is not a phone number we can text"),
    ("contact", {"contact": "+1 (000) 000-0000"}, "is not a phone number we can text"),
    ("contact", {"contact": "abc"}, "'abc' is not a phone number we can text"),
    ("contact", {"contact": "+44 20 7946 0000"}, "is not a phone number we can text"),  # abroad
    ("contact", {"contact": "(900) 555-0123"}, "is not a phone number we can text"),  # premium
    ("contact", {"contact": "(800) 555-0123"}, "is not a phone number we can text"),  # toll-free
    ("contact", {"contact": "+1 268 464 1234"}, "is not a phone number we can text"),  # Antigua
    ("contact", {"contact": "someone@localhost"}, "That email address does not work"),
    ("contact", {"contact": ""}, "is not a phone number we can text"),
    ("zip", {"zip": "00000"}, "We have no forecast for ZIP 00000"),
    ("zip", {"zip": "1234"}, "'1234' is not a ZIP code: a ZIP has 5 digits"),
    ("zip", {"zip": "99999"}, "We have no forecast for ZIP 99999"),
    ("zip", {"zip": ""}, "is not a ZIP code"),
    ("morning", {"morning": "25:00"}, "'25:00' is not a time"),
    ("morning", {"morning": "19:00"}, "The morning message comes before noon"),
    ("evening", {"evening": "7am"}, "The evening message comes from noon on"),
    ("consent", {"consent": None}, "Tick the box to agree to the messages"),
])
def test_bad_input_is_refused_with_the_reason_and_nothing_happens(
        web, settings, fake_twilio, field, fields, said):  # noqa: F811
    typed = {"contact": PHONE, "zip_code": "02903", "morning": "06:30", "evening": "18:00",
             "consent": "yes"}
    typed |= {("zip_code" if k == "zip" else k): v for k, v in fields.items()}
    response = sign_up(web, **typed)
    assert response.status_code == 400
    assert said in text_of(response)
    assert f'id="{field}-error"' in response.text
    assert text_of(response).count("Please fix this below; nothing was sent.") == 1
    for name, value in (("zip", typed["zip_code"]), ("contact", typed["contact"])):
        assert f'name="{name}" value="{html.escape(value)}"' in response.text  # kept
    assert count(settings, SignUp) == 0 and count(settings, Consent) == 0
    assert fake_twilio.messages == []


def test_every_problem_is_shown_at_once(web, settings, fake_twilio):  # noqa: F811
    response = sign_up(web, contact="abc", zip_code="1234", morning="noon", evening="09:00",
                       consent=None)
    assert response.status_code == 400
    assert "Please fix these 5 things below" in text_of(response)
    for field in ("zip", "contact", "morning", "evening", "consent"):
        assert f'id="{field}-error"' in response.text
    assert 'value="noon"' in response.text and 'value="09:00"' in response.text
    assert count(settings, SignUp) == 0 and fake_twilio.messages == []


def test_a_post_without_the_csrf_token_is_refused(web, settings, fake_twilio):  # noqa: F811
    fields = {"zip": "02903", "contact": PHONE, "morning": "07:00", "evening": "18:00",
              "consent": "yes"}
    refused = web.post("/signup", data=fields)
    assert refused.status_code == 403
    assert "This form is out of date or came from another site; nothing was changed." in \
        text_of(refused)
    assert "Back to the runs" not in refused.text and "Sign in" not in refused.text
    assert web.post("/signup", data=fields | {"csrf_token": "forged"}).status_code == 403
    other = from_ip(web.app, "198.51.100.1")  # a page of another session, its token
    assert other.post("/signup", data=fields | {
        "csrf_token": csrf_of(web.get("/signup").text)}).status_code == 403
    assert count(settings, SignUp) == 0 and fake_twilio.messages == []
    code_page = sign_up(web).headers["location"]
    assert web.post(code_page, data={"code": "000000"}, headers={"cookie": ""}).status_code \
        == 403
    with db_of(settings) as db:
        assert db.scalars(select(SignUp.attempts)).one() == 0
    assert web.post("/m/tok-p0@example.com", data={"action": "pause", "days": "3"},
                    headers={"cookie": ""}).status_code == 403
    assert subscriber(settings, email="p0@example.com").paused_until is None


def test_the_channel_not_set_up_is_a_503_and_counts_for_nothing(web, settings,  # noqa: F811
                                                                 caplog):
    """The visitor reads that it is unavailable, not how the server is set up; the log has it."""
    settings.dispatch.twilio_account_sid = None
    for _ in range(settings.signup.per_address_per_day + 1):
        response = sign_up(web)
        assert response.status_code == 503
        assert "We could not send your code: Sign-up by text is not available just now; " \
               "try again later." in text_of(response)
        assert "TWILIO" not in response.text.upper()
    assert "sign-up by text is not set up on this server" in caplog.text
    with db_of(settings) as db:
        assert not any(db.scalars(select(SignUp.sent)))


def test_a_number_twilio_refuses_says_check_it(web, settings, fake_twilio):  # noqa: F811
    """Twilio says the number cannot get texts (21211): the visitor is asked to check it,
    nothing counts toward the number's limit, and a retry after a fix goes through."""
    fake_twilio.fail_next(400, 21211)
    response = sign_up(web)
    assert response.status_code == 503
    assert "That number cannot get our texts; check it. If it ever replied STOP to zipcast, " \
           "text START to the number our texts came from first." in text_of(response)
    with db_of(settings) as db:
        assert not any(db.scalars(select(SignUp.sent)))
    assert sign_up(web).status_code == 303 and len(fake_twilio.messages) == 1


# --- confirmations: replayed, expired, guessed ---------------------------------------------


def test_a_replayed_code_changes_nothing(web, settings, fake_twilio, wall):  # noqa: F811
    code_page = sign_up(web).headers["location"]
    code = code_sent(fake_twilio)
    token = csrf_of(web.get(code_page).text)
    assert web.post(code_page, data={"csrf_token": token, "code": code}).status_code == 200
    first = subscriber(settings, phone=PHONE_E164)
    wall.now += timedelta(minutes=1)
    replay = web.post(code_page, data={"csrf_token": token, "code": code})
    assert replay.status_code == 200 and "Already confirmed" in replay.text
    assert "nothing changed" in text_of(replay)
    assert f"/m/{first.token}" not in replay.text  # the page URL alone is no proof
    assert len(consents(settings, PHONE_E164)) == 1
    assert subscriber(settings, phone=PHONE_E164).updated_at == first.updated_at
    assert "Already confirmed" in web.get(code_page).text


def test_an_expired_code(web, settings, fake_twilio, wall):  # noqa: F811
    code_page = sign_up(web).headers["location"]
    token = csrf_of(web.get(code_page).text)
    wall.now += timedelta(minutes=settings.signup.code_ttl_minutes, seconds=1)
    late = web.post(code_page, data={"csrf_token": token, "code": code_sent(fake_twilio)})
    assert late.status_code == 410
    said = text_of(late)
    assert "The code expired" in said and "works for 15 minutes" in said
    assert 'href="/signup"' in late.text
    assert subscriber(settings, phone=PHONE_E164) is None and consents(settings, PHONE_E164) \
        == []
    assert web.get(code_page).status_code == 410


def test_five_wrong_codes_void_the_sign_up(web, settings, fake_twilio):  # noqa: F811
    code_page = sign_up(web).headers["location"]
    right = code_sent(fake_twilio)
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    token = csrf_of(web.get(code_page).text)
    empty = web.post(code_page, data={"csrf_token": token, "code": " "})
    assert empty.status_code == 400 and "Type the 6-digit code" in empty.text  # no try used
    for left in (4, 3, 2, 1):
        response = web.post(code_page, data={"csrf_token": token, "code": wrong})
        assert response.status_code == 400
        assert f"That code is wrong: {left} {'try' if left == 1 else 'tries'} left." in \
            text_of(response)
    void = web.post(code_page, data={"csrf_token": token, "code": wrong})
    assert void.status_code == 410 and "too many wrong codes" in text_of(void)
    late = web.post(code_page, data={"csrf_token": token, "code": right})
    assert late.status_code == 410 and subscriber(settings, phone=PHONE_E164) is None
    assert consents(settings, PHONE_E164) == []


def test_a_newer_sign_up_replaces_the_older_one(web, settings, fake_twilio):  # noqa: F811
    first = sign_up(web).headers["location"]
    first_code = code_sent(fake_twilio)
    second = sign_up(web, zip_code="10001").headers["location"]
    assert web.get(first).status_code == 410
    stale = web.post(first, data={"csrf_token": csrf_of(web.get(second).text),
                                  "code": first_code})
    assert stale.status_code == 410 and "a newer sign-up" in text_of(stale)
    assert form(web, second, code=code_sent(fake_twilio)).status_code == 200
    assert subscriber(settings, phone=PHONE_E164).zip == "10001"


def test_unknown_sign_up_pages_are_404(web):
    assert web.get("/signup/no-such-sign-up").status_code == 404
    token = csrf_of(web.get("/signup").text)
    response = web.post("/signup/no-such-sign-up", data={"csrf_token": token, "code": "1"})
    assert response.status_code == 404 and "Sign up again" in response.text


# --- limits --------------------------------------------------------------------------------


def test_500_sign_ups_from_one_address(web, settings, fake_twilio, wall):  # noqa: F811
    """Only ``per_ip_per_hour`` go through; the rest get a 429 saying why, and nothing is sent.

    The 500 POSTs go straight to the app over ASGI (TestClient's thread hop per request
    would double the time), from the same address and session as ``web``.
    """
    limit = settings.signup.per_ip_per_hour
    token = csrf_of(web.get("/signup").text)
    statuses: list[int] = []

    async def post_500() -> None:
        transport = httpx.ASGITransport(app=web.app, client=(IP, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                     cookies=web.cookies) as client:
            for i in range(500):
                response = await client.post("/signup", data={
                    "csrf_token": token, "zip": "02903", "contact": f"401-555-{1000 + i}",
                    "morning": "07:00", "evening": "18:00", "consent": "yes"})
                statuses.append(response.status_code)
                if response.status_code == 429:
                    assert "Too many sign-ups from your network in the last hour (5 at " \
                           "most)" in text_of(response)
                    assert response.headers["retry-after"] == "3600"
                    assert f'value="401-555-{1000 + i}"' in response.text  # kept

    anyio.run(post_500)
    assert statuses == [303] * limit + [429] * (500 - limit)
    assert len(fake_twilio.messages) == limit and count(settings, SignUp) == limit
    other = from_ip(web.app, "198.51.100.2")  # another network is not held up
    assert sign_up(other, contact="401-555-2000").status_code == 303
    wall.now += timedelta(hours=1, seconds=1)  # nor this one an hour later
    assert sign_up(web, contact="401-555-2001").status_code == 303
    assert len(fake_twilio.messages) == limit + 2


def test_limits_hold_for_sign_ups_at_the_same_moment(web, settings, fake_twilio):  # noqa: F811
    """60 sign-ups at once from one network, then 60 at once for one number from 60
    networks: no more pass than the limits allow (each limit is checked and the sign-up
    written as one step)."""
    async def burst(ips: list[str], contacts: list[str]) -> list[int]:
        clients = []
        for ip in ips:
            client = httpx.AsyncClient(base_url="http://testserver",
                                       transport=httpx.ASGITransport(app=web.app,
                                                                     client=(ip, 50000)))
            clients.append((client, csrf_of((await client.get("/signup")).text)))
        try:
            responses = await asyncio.gather(*[client.post("/signup", data={
                "csrf_token": token, "zip": "02903", "contact": contact,
                "morning": "07:00", "evening": "18:00", "consent": "yes"})
                for (client, token), contact in zip(clients, contacts, strict=True)])
        finally:
            for client, _ in clients:
                await client.aclose()
        return sorted(r.status_code for r in responses)

    per_ip, per_day = settings.signup.per_ip_per_hour, settings.signup.per_address_per_day
    one_network = anyio.run(burst, [IP] * 60, [f"401-555-{3000 + i}" for i in range(60)])
    assert one_network == [303] * per_ip + [429] * (60 - per_ip)
    one_number = anyio.run(burst, [f"198.51.100.{i + 1}" for i in range(60)],
                           ["401-555-0199"] * 60)
    assert one_number == [303] * per_day + [429] * (60 - per_day)
    to_number = [m for m in fake_twilio.messages if m["to"] == "+14015550199"]
    assert len(to_number) == per_day and len(fake_twilio.messages) == per_ip + per_day


def test_behind_a_trusted_proxy_each_visitor_has_its_own_limit(app, settings,  # noqa: F811
                                                                fake_twilio):
    """With ``trusted_proxies`` the limit counts the X-Forwarded-For address (uvicorn's proxy
    middleware, as ``zipcast review`` runs it); from anyone else the header is ignored."""
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    from pipeline.config.review import ReviewSettings
    from pipeline.review.cli import proxy_options

    assert proxy_options(ReviewSettings()) == {"proxy_headers": False}
    options = proxy_options(ReviewSettings(trusted_proxies=["10.0.0.2"]))
    assert options == {"proxy_headers": True, "forwarded_allow_ips": "10.0.0.2"}
    proxied = ProxyHeadersMiddleware(app, trusted_hosts=options["forwarded_allow_ips"])
    per_ip, n = settings.signup.per_ip_per_hour, settings.signup.per_ip_per_hour + 3

    def visitors(peer: str, first: int) -> list[int]:
        statuses = []
        with TestClient(proxied, client=(peer, 50000)) as client:
            for i in range(first, first + n):
                forwarded = {"x-forwarded-for": f"198.51.100.{i + 1}"}
                token = csrf_of(client.get("/signup", headers=forwarded).text)
                statuses.append(client.post("/signup", headers=forwarded, data={
                    "csrf_token": token, "zip": "02903", "contact": f"401-555-{4000 + i}",
                    "morning": "07:00", "evening": "18:00", "consent": "yes"},
                    follow_redirects=False).status_code)
        return statuses

    assert visitors("10.0.0.2", 0) == [303] * n  # each visitor counted at its own address
    assert visitors("10.0.0.9", n) == [303] * per_ip + [429] * 3  # the header is not believed
    with db_of(settings) as db:
        sources = db.scalars(select(SignUp.source).order_by(SignUp.id)).all()
    assert sources == [f"198.51.100.{i + 1}" for i in range(n)] + ["10.0.0.9"] * per_ip


def test_ipv6_visitors_are_counted_per_64(app, settings, fake_twilio):  # noqa: F811
    """Rotating addresses inside one IPv6 /64 (what one phone or household gets) is one
    network; another /64 is another."""
    per_ip = settings.signup.per_ip_per_hour

    def from_v6(address: str, i: int) -> int:
        client = from_ip(app, address)
        return form(client, zip="02903", contact=f"401-555-{5000 + i}", morning="07:00",
                    evening="18:00", consent="yes").status_code

    same_64 = [from_v6(f"2001:db8:1:2::{i + 1:x}", i) for i in range(per_ip + 2)]
    assert same_64 == [303] * per_ip + [429] * 2
    assert from_v6("2001:db8:1:3::1", 50) == 303


def test_one_inbox_under_many_spellings_is_one_address(web, settings, smtp_server):  # noqa: F811
    """Gmail ignores dots and everyone ignores a +tag: one inbox gets at most three links a
    day however its address is written."""
    spellings = ["jo.ann+1@gmail.com", "joann+2@gmail.com", "J.O.Ann@Gmail.com",
                 "jo.ann@googlemail.com"]
    statuses = [form(from_ip(web.app, f"198.51.100.{i + 1}"), zip="02903", contact=spelling,
                     morning="07:00", evening="18:00", consent="yes").status_code
                for i, spelling in enumerate(spellings)]
    assert statuses == [200, 200, 200, 429]
    assert len(smtp_server.messages) == 3


def test_all_web_codes_together_are_capped_per_hour(web, settings, fake_twilio):  # noqa: F811
    """Someone rotating networks still cannot make us text without end: past
    ``web_texts_per_hour`` codes an hour, phone sign-ups wait (email still works)."""
    settings.signup.web_texts_per_hour = 3
    statuses = [form(from_ip(web.app, f"198.51.100.{i + 1}"), zip="02903",
                     contact=f"401-555-{6000 + i}", morning="07:00", evening="18:00",
                     consent="yes") for i in range(4)]
    assert [r.status_code for r in statuses] == [303, 303, 303, 429]
    assert "Sign-up by text is busy just now; try again in an hour, or sign up with your " \
           "email." in text_of(statuses[-1])
    assert len(fake_twilio.messages) == 3
    assert sign_up(from_ip(web.app, "198.51.100.9"), contact="late@example.com"
                   ).status_code == 200


def test_strangers_on_the_web_cannot_stop_a_number_signing_up_by_text(
        web, settings, fake_twilio):  # noqa: F811
    """Three web sign-ups for a number (from three networks) use up its web confirmations
    for the day; the number texting its ZIP itself still gets its YES prompt."""
    from tests.pipeline.dispatch.test_selfservice_sms import text

    for i in range(settings.signup.per_address_per_day):
        assert sign_up(from_ip(web.app, f"198.51.100.{i + 1}")).status_code == 303
    assert sign_up(from_ip(web.app, "198.51.100.99")).status_code == 429
    assert "reply YES" in text(settings, "02904", sender=PHONE_E164)


def test_a_strangers_web_sign_up_does_not_end_the_numbers_texted_one(
        web, settings, fake_twilio):  # noqa: F811
    """The number texts its ZIP; someone types the same number on the web (a code goes out);
    the number's YES still confirms its own texted sign-up."""
    from tests.pipeline.dispatch.test_selfservice_sms import text

    token = settings.dispatch.twilio_auth_token
    assert "reply YES" in text(settings, "02904", sender=PHONE_E164)
    settings.dispatch.twilio_auth_token = token  # the webhook test signs with its own
    assert sign_up(from_ip(web.app, "198.51.100.50"), zip_code="02903").status_code == 303
    assert "you're subscribed" in text(settings, "YES", sender=PHONE_E164)
    sub = subscriber(settings, phone=PHONE_E164)
    assert (sub.status, sub.zip) == ("active", "02904")


def test_a_failed_send_leaves_the_earlier_code_working(web, settings, fake_twilio):  # noqa: F811
    """A second sign-up whose code cannot be sent does not void the first one's code."""
    first = sign_up(web).headers["location"]
    code = code_sent(fake_twilio)
    fake_twilio.fail_next(500, times=10)
    assert sign_up(web).status_code == 503
    done = form(web, first, code=code)
    assert done.status_code == 200 and "You're subscribed" in text_of(done)


def test_guesses_at_the_same_moment_are_all_counted(web, settings, fake_twilio):  # noqa: F811
    """30 wrong codes at once: no more than ``code_attempts`` are compared, the sign-up is
    void, and the right code afterwards does nothing."""
    code_page = sign_up(web).headers["location"]
    right = code_sent(fake_twilio)
    token = csrf_of(web.get(code_page).text)
    wrong = f"{(int(right) + 1) % 10**6:06d}"

    async def guesses() -> list[int]:
        transport = httpx.ASGITransport(app=web.app, client=(IP, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                     cookies=web.cookies) as client:
            responses = await asyncio.gather(*[client.post(code_page, data={
                "csrf_token": token, "code": wrong}) for _ in range(30)])
        return [r.status_code for r in responses]

    anyio.run(guesses)
    with db_of(settings) as db:
        signup = db.scalars(select(SignUp)).one()
    assert (signup.attempts, signup.status) == (settings.signup.code_attempts, "void")
    late = web.post(code_page, data={"csrf_token": token, "code": right})
    assert late.status_code == 410 and subscriber(settings, phone=PHONE_E164) is None


def test_coming_back_by_email_does_not_switch_texts_back_on(web, settings, smtp_server,
                                                           fake_twilio):  # noqa: F811
    """A subscriber with a phone and an email texts STOP (both revoked), then confirms an
    email sign-up on the web: the email is back, the phone is detached (its history stays),
    and the next dispatch sends no text."""
    from tests.pipeline.dispatch.test_dispatch import add_subscriber
    from tests.pipeline.dispatch.test_selfservice_sms import text

    add_subscriber(settings.db_url, "02904", email="both@example.com", phone="+14015550111",
                   token="tok-both")
    assert "unsubscribed" in text(settings, "STOP", sender="+14015550111").lower()
    assert sign_up(web, contact="both@example.com").status_code == 200
    body = smtp_server.messages[-1].get_body(("plain",)).get_content()
    assert form(web, re.search(r"(/signup/confirm/\S+)", body).group(1)).status_code == 200
    sub = subscriber(settings, token="tok-both")
    assert (sub.status, sub.email, sub.phone) == ("active", "both@example.com", None)
    assert [(c.event, c.channel) for c in consents(settings, "+14015550111")] == [
        ("revoked", "sms")]
    assert [(c.event, c.channel) for c in consents(settings, "both@example.com")] == [
        ("revoked", "email"), ("granted", "email")]


def test_a_number_gets_three_confirmations_a_day(web, settings, fake_twilio, wall):  # noqa: F811
    per_day = settings.signup.per_address_per_day
    for i in range(per_day):
        wall.now += timedelta(minutes=10)
        assert sign_up(from_ip(web.app, f"198.51.100.{i + 1}")).status_code == 303
    refused = sign_up(from_ip(web.app, "192.0.2.99"))
    assert refused.status_code == 429
    assert f"We already sent {per_day} confirmations to this address today" in \
        text_of(refused)
    assert len(fake_twilio.messages) == per_day
    assert count(settings, SignUp) == per_day
    wall.now += timedelta(days=1)
    assert sign_up(from_ip(web.app, "192.0.2.99")).status_code == 303


# --- manage --------------------------------------------------------------------------------

TOKEN = "tok-p0@example.com"  # the fixture's subscriber p0@example.com, ZIP 02903


def test_manage_page_changes_zip_and_times(web, settings):  # noqa: F811
    before = len(consents(settings, "p0@example.com"))
    shown = web.get(f"/m/{TOKEN}")
    assert shown.status_code == 200
    said = text_of(shown)
    assert "ZIP 02903 (Providence, RI)" in said and "7:00 am & 6:00 pm" in said
    assert f'href="/u/{TOKEN}"' in shown.text and "Active" in said
    saved = form(web, f"/m/{TOKEN}", action="save", zip="94110", morning="6:45am",
                 evening="19:15")
    assert saved.status_code == 200
    said = text_of(saved)
    assert ("Saved: from your next message, the weather for 94110 (San Francisco, CA), "
            "6:45 am & 7:15 pm.") in said
    assert "Your morning message at 6:45 am: we send nothing before 8:00 am" in said
    sub = subscriber(settings, token=TOKEN)
    assert (sub.zip, sub.timezone, sub.morning_at, sub.evening_at, sub.status) == (
        "94110", "America/Los_Angeles", "06:45", "19:15", "active")
    assert len(consents(settings, "p0@example.com")) == before  # consent is not a setting
    same = form(web, f"/m/{TOKEN}", action="save", zip="94110", morning="06:45",
                evening="19:15")
    assert "Nothing to change" in same.text


def test_manage_bad_input_changes_nothing(web, settings):  # noqa: F811
    response = form(web, f"/m/{TOKEN}", action="save", zip="99999", morning="6:30",
                    evening="25:00")
    assert response.status_code == 400
    said = text_of(response)
    assert "Nothing changed" in said and "We have no forecast for ZIP 99999" in said
    assert "'6:30' is not a time" not in said  # 6:30 is fine (6:30 am)
    assert "'25:00' is not a time" in said
    assert 'value="99999"' in response.text and 'value="25:00"' in response.text
    for days in ("0", "31", "x", ""):
        refused = form(web, f"/m/{TOKEN}", action="pause", days=days)
        assert refused.status_code == 400, days
        assert "Nothing changed" in text_of(refused)
    assert form(web, f"/m/{TOKEN}", action="explode").status_code == 400
    sub = subscriber(settings, token=TOKEN)
    assert (sub.zip, sub.morning_at, sub.evening_at, sub.paused_until) == (
        "02903", "07:00", "18:00", None)


def test_pause_and_resume(web, settings, wall):  # noqa: F811
    paused = form(web, f"/m/{TOKEN}", action="pause", days="3")
    assert paused.status_code == 200
    assert "Paused: no messages until Mon Jan 19." in text_of(paused)
    assert "Paused until Mon Jan 19" in text_of(web.get(f"/m/{TOKEN}"))
    sub = subscriber(settings, token=TOKEN)
    # the rest of Thu Jan 15 and 3 more days: midnight Jan 19 in Providence (05:00 UTC)
    assert sub.paused_until.replace(tzinfo=UTC) == datetime(2026, 1, 19, 5, tzinfo=UTC)
    assert sub.status == "active"
    resumed = form(web, f"/m/{TOKEN}", action="resume")
    assert resumed.status_code == 200
    assert "Resumed: the weather for 02903 (Providence, RI), 7:00 am & 6:00 pm" in \
        text_of(resumed)
    assert subscriber(settings, token=TOKEN).paused_until is None
    again = form(web, f"/m/{TOKEN}", action="resume")
    assert "You were not paused" in text_of(again)


def test_unknown_manage_link_is_404(web):
    assert web.get("/m/no-such-token").status_code == 404
    token = csrf_of(web.get("/signup").text)
    assert web.post("/m/no-such-token", data={"csrf_token": token, "action": "resume"}
                    ).status_code == 404
    assert web.get("/m/" + "x" * 300).status_code == 404


def test_an_unsubscribed_subscribers_manage_page(web, settings):  # noqa: F811
    assert web.post(f"/u/{TOKEN}").status_code == 200  # the unsubscribe button
    shown = web.get(f"/m/{TOKEN}")
    assert shown.status_code == 200
    said = text_of(shown)
    assert "You are unsubscribed" in said and "sign up again" in said
    assert 'name="action"' not in shown.text  # nothing to change
    token = csrf_of(web.get("/signup").text)
    refused = web.post(f"/m/{TOKEN}", data={"csrf_token": token, "action": "save",
                                             "zip": "10001", "morning": "07:00",
                                             "evening": "18:00"})
    assert refused.status_code == 409
    sub = subscriber(settings, token=TOKEN)
    assert (sub.status, sub.zip) == ("opted_out", "02903")
    phone_sub = subscriber(settings, phone="+14015550100")
    web.post(f"/u/{phone_sub.token}")
    assert "text START from the number ending in 0100" in text_of(
        web.get(f"/m/{phone_sub.token}"))


# --- the whole life on the web, and what the next dispatch does with it --------------------


def test_whole_life_on_the_web_and_dispatch_honours_it(web, settings, fake_twilio,  # noqa: F811
                                                       wall):
    """Sign up, confirm, change time and ZIP, pause, resume; and a second number that
    unsubscribes (STOP) and signs up again (START): the rows and consent records after each,
    and what the morning window's dispatch (the stored run's) sends them."""
    from pipeline.dispatch.job import dispatch
    from tests.pipeline.dispatch.test_dispatch import approve, at, deliveries

    approve(settings.db_url, "s001", "Rain, high {{ high }}.")
    approve(settings.db_url, "s002", "Snow in {{ city }}.")
    other, other_e164 = "(401) 555-0177", "+14015550177"

    def planned(when: datetime) -> dict[str, list[tuple[str, str]]]:
        """(zip, body) per new number, after a dry dispatch at ``when``."""
        dispatch(settings, dry_run=True, now=lambda: when)
        rows = deliveries(settings.db_url, dry=True)
        out = {}
        for phone in (PHONE_E164, other_e164):
            sub = subscriber(settings, phone=phone)
            mine = rows[rows["subscriber_id"] == (sub.id if sub else -1)]
            out[phone] = list(zip(mine["zip"], mine["body"], strict=True))
        return out

    def confirm(contact: str, to: str, zip_code: str) -> Subscriber:
        code_page = sign_up(web, contact=contact, zip_code=zip_code, morning="06:30"
                            ).headers["location"]
        assert subscriber(settings, phone=to) is None or \
            subscriber(settings, phone=to).status == "opted_out"  # nothing before the code
        assert form(web, code_page, code=code_sent(fake_twilio, to)).status_code == 200
        return subscriber(settings, phone=to)

    wall.now = at(10)  # 5 am in Providence, before the morning window
    sub = confirm(PHONE, PHONE_E164, "02904")
    assert (sub.status, sub.zip, sub.morning_at) == ("active", "02904", "06:30")
    saved = form(web, f"/m/{sub.token}", action="save", zip="02806", morning="07:45",
                 evening="18:00")
    assert saved.status_code == 200
    sub = subscriber(settings, phone=PHONE_E164)
    assert (sub.zip, sub.timezone, sub.morning_at) == ("02806", "America/New_York", "07:45")
    assert form(web, f"/m/{sub.token}", action="pause", days="3").status_code == 200
    assert subscriber(settings, phone=PHONE_E164).paused_until is not None

    gone = confirm(other, other_e164, "02904")
    wall.now = at(11)
    assert web.post(f"/u/{gone.token}").status_code == 200  # the unsubscribe link (STOP)
    assert subscriber(settings, phone=other_e164).status == "opted_out"

    assert planned(at(13, 5)) == {PHONE_E164: [], other_e164: []}  # paused; unsubscribed
    wall.now = at(13, 10)
    assert form(web, f"/m/{sub.token}", action="resume").status_code == 200
    back = confirm(other, other_e164, "02904")  # signs up again (START)
    assert (back.id, back.status, back.opted_out_at) == (gone.id, "active", None)
    assert planned(at(13, 15)) == {PHONE_E164: [("02806", "Snow in Barrington.")],
                                   other_e164: [("02904", "Rain, high 40.")]}
    assert planned(at(13, 20)) == {PHONE_E164: [("02806", "Snow in Barrington.")],
                                   other_e164: [("02904", "Rain, high 40.")]}  # not twice
    assert [(c.event, c.method) for c in consents(settings, PHONE_E164)] == [
        ("granted", "web")]  # a change of ZIP, time or pause is not a consent event
    assert [(c.event, c.method) for c in consents(settings, other_e164)] == [
        ("granted", "web"), ("revoked", "link"), ("granted", "web")]
    assert sorted(m["to"] for m in fake_twilio.messages) == [
        PHONE_E164] + [other_e164] * 2  # the codes, nothing else
