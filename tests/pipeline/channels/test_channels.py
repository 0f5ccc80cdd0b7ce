"""Channels against real local servers: aiosmtpd, a fake Twilio API, a webhook receiver."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from twilio.request_validator import RequestValidator

from pipeline.channels import make_channel
from pipeline.channels.base import (
    ChannelConfigError,
    Outgoing,
    PermanentError,
    TransientError,
    parse_retry_after,
)
from pipeline.channels.email import EmailChannel
from pipeline.channels.file import FileChannel, read_outbox
from pipeline.channels.sms import RebasedHttpClient, SmsChannel
from pipeline.channels.webhook import WebhookChannel, verify_signature
from pipeline.config.dispatch import DispatchSettings
from pipeline.dispatch.ratelimit import RateLimiter, backoff
from tests.pipeline.conftest import WEBHOOK_SECRET, free_port

PHONE = "+15555550100"
OTHER_PHONE = "+15555550199"
META = {"run_id": "2026-05-01T06", "window": "morning", "slot_id": "S03", "zip": "10001"}


def outgoing(key: str = "2026-05-01T06/morning/42/sms", *, channel: str = "sms",
             address: str = PHONE, body: str = "Sunny, high 71°F. Light wind.",
             unsubscribe_url: str | None = None) -> Outgoing:
    return Outgoing(key=key, delivery_id=1, channel=channel, address=address, body=body,
                    unsubscribe_url=unsubscribe_url, meta=dict(META))


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections but never says a word (for timeouts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


# email --------------------------------------------------------------------------------------

UNSUB = "https://zipcast.example/u/tok123"


@pytest.fixture
def email_channel(dispatch_settings: DispatchSettings) -> Iterator[EmailChannel]:
    channel = EmailChannel(dispatch_settings)
    yield channel
    channel.close()


def test_email_arrives_with_headers_and_unsubscribe_footer(email_channel, smtp_server,
                                                           dispatch_settings):
    """It delivers a plain-text email with the one-click unsubscribe headers and footer."""
    message = outgoing(channel="email", address="ann@example.com", unsubscribe_url=UNSUB)
    sent = email_channel.send(message)

    (received,) = smtp_server.messages
    expected_id = f"<{hashlib.sha256(message.key.encode()).hexdigest()[:32]}@zipcast>"
    assert received["Message-ID"] == expected_id == sent.provider_id
    assert received["From"] == dispatch_settings.smtp_from
    assert received["To"] == "ann@example.com"
    assert received["Subject"] == "Your forecast"
    assert received["X-Zipcast-Key"] == message.key
    assert received["List-Unsubscribe"] == f"<{UNSUB}>"
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = received.get_content()
    assert "Sunny, high 71°F." in text and f"Unsubscribe: {UNSUB}" in text
    assert smtp_server.envelopes == [("forecast@zipcast.example", ["ann@example.com"])]
    assert email_channel.already_sent([message]) == {}


def test_email_message_id_follows_the_key(email_channel, smtp_server):
    """The same delivery key gives the same Message-ID on a resend; another key another one."""
    first = outgoing("r/morning/1/email", channel="email", address="a@example.com")
    again = outgoing("r/morning/1/email", channel="email", address="a@example.com")
    other = outgoing("r/morning/2/email", channel="email", address="b@example.com")
    for message in (first, again, other):
        email_channel.send(message)
    ids = [m["Message-ID"] for m in smtp_server.messages]
    assert ids[0] == ids[1] != ids[2]
    assert "List-Unsubscribe" not in smtp_server.messages[0]
    assert smtp_server.sessions == 1  # one connection for all three


@pytest.mark.parametrize(("reply", "error"), [("550 5.1.1 no such user", PermanentError),
                                              ("450 4.2.1 mailbox busy", TransientError)])
def test_email_refused_recipient(email_channel, smtp_server, reply, error):
    """A 5xx RCPT refusal is permanent, a 4xx one transient, and the connection stays usable."""
    smtp_server.refuse("gone@example.com", reply)
    with pytest.raises(error) as caught:
        email_channel.send(outgoing(channel="email", address="gone@example.com"))
    assert caught.value.code == reply[:3]
    email_channel.send(outgoing(channel="email", address="ok@example.com"))
    assert [m["To"] for m in smtp_server.messages] == ["ok@example.com"]


@pytest.mark.parametrize(("reply", "error"), [("554 5.7.1 spam", PermanentError),
                                              ("451 4.3.0 try later", TransientError)])
def test_email_refused_data(email_channel, smtp_server, reply, error):
    """A refusal after DATA is classified by its code too."""
    smtp_server.refuse_data(reply)
    with pytest.raises(error):
        email_channel.send(outgoing(channel="email", address="a@example.com"))


def test_email_server_down_is_transient_and_it_reconnects(dispatch_settings, make_smtp_server):
    """With no relay listening the send is transient; once one is up, the next send works."""
    port = free_port()
    channel = EmailChannel(dispatch_settings.model_copy(update={"smtp_port": port}))
    with pytest.raises(TransientError):
        channel.send(outgoing(channel="email", address="a@example.com"))
    server = make_smtp_server(port=port)
    channel.send(outgoing(channel="email", address="a@example.com"))
    assert len(server.messages) == 1
    channel.close()


def test_email_checks_an_idle_connection_before_reuse(dispatch_settings, make_smtp_server):
    """A connection the relay dropped while idle is replaced before sending, not failed."""
    server = make_smtp_server()
    now = [0.0]
    settings = dispatch_settings.model_copy(update={"smtp_port": server.port})
    channel = EmailChannel(settings, clock=lambda: now[0])
    channel.send(outgoing(channel="email", address="a@example.com"))
    assert channel._smtp is not None
    channel._smtp.sock.shutdown(socket.SHUT_RDWR)  # the relay's idle timeout, as seen here
    now[0] += 60
    channel.send(outgoing(channel="email", address="b@example.com"))
    assert len(server.messages) == 2 and server.sessions == 2
    channel.close()


def test_email_timeout_is_transient(dispatch_settings, silent_port):
    """A relay that never greets times out as a transient error."""
    settings = dispatch_settings.model_copy(update={"smtp_port": silent_port,
                                                    "smtp_timeout_s": 0.2})
    with pytest.raises(TransientError):
        EmailChannel(settings).send(outgoing(channel="email", address="a@example.com"))


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_email_logs_in(dispatch_settings, make_smtp_server):
    """It authenticates when a username is set; a wrong password is transient (our fault)."""
    server = make_smtp_server(credentials=("zip", "s3cret"))
    good = dispatch_settings.model_copy(update={
        "smtp_port": server.port, "smtp_username": "zip", "smtp_password": "s3cret"})
    channel = EmailChannel(DispatchSettings.model_validate(good.model_dump()))
    channel.send(outgoing(channel="email", address="a@example.com"))
    assert len(server.messages) == 1
    channel.close()
    bad = DispatchSettings.model_validate({**good.model_dump(), "smtp_password": "nope"})
    with pytest.raises(TransientError):
        EmailChannel(bad).send(outgoing(channel="email", address="a@example.com"))


# SMS ----------------------------------------------------------------------------------------


@pytest.fixture
def sms_channel(dispatch_settings: DispatchSettings) -> Iterator[SmsChannel]:
    channel = SmsChannel(dispatch_settings)
    yield channel
    channel.close()


def test_sms_goes_through_the_messaging_service(sms_channel, fake_twilio, dispatch_settings):
    """It creates the message with the service SID, body and status callback, with basic auth."""
    sent = sms_channel.send(outgoing())
    (record,) = fake_twilio.messages
    assert re.fullmatch(r"SM[0-9a-f]{32}", sent.provider_id)
    assert sent.provider_id == record["sid"] and record["status"] == "accepted"
    assert record["to"] == PHONE and record["body"] == "Sunny, high 71°F. Light wind."
    request = fake_twilio.requests[-1]
    assert request.path == f"/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages.json"
    assert request.form["MessagingServiceSid"] == fake_twilio.messaging_service_sid
    assert request.form["StatusCallback"] == f"{dispatch_settings.public_url}/hooks/twilio/status"
    credentials = f"{fake_twilio.account_sid}:{fake_twilio.auth_token}".encode()
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(credentials).decode()


def test_sms_without_status_callbacks(dispatch_settings, fake_twilio):
    """No StatusCallback is sent when status callbacks are off."""
    channel = SmsChannel(dispatch_settings.model_copy(update={"twilio_status_callbacks": False}))
    channel.send(outgoing())
    assert "StatusCallback" not in fake_twilio.requests[-1].form


def test_sms_wrong_credentials(dispatch_settings, fake_twilio):
    """The fake checks basic auth; a 401 is transient (credentials, not the recipient)."""
    settings = DispatchSettings.model_validate(
        {**dispatch_settings.model_dump(), "twilio_auth_token": "wrong"})
    with pytest.raises(TransientError) as caught:
        SmsChannel(settings).send(outgoing())
    assert caught.value.code == "20003"
    assert fake_twilio.messages == []


def test_sms_rate_limited_is_transient_with_retry_after(sms_channel, fake_twilio):
    """A 429 is transient and carries Twilio's Retry-After; the retry goes through."""
    fake_twilio.fail_next(429, retry_after=7)
    with pytest.raises(TransientError) as caught:
        sms_channel.send(outgoing())
    assert caught.value.retry_after == 7.0 and caught.value.code == "20429"
    sms_channel.send(outgoing())
    assert len(fake_twilio.messages) == 1


def test_sms_server_error_is_transient(sms_channel, fake_twilio):
    """A 500 is transient, without a Retry-After."""
    fake_twilio.fail_next(500)
    with pytest.raises(TransientError) as caught:
        sms_channel.send(outgoing())
    assert caught.value.retry_after is None


def test_sms_unsubscribed_recipient_opts_out(sms_channel, fake_twilio):
    """Error 21610 is permanent and flags an opt-out, scripted or from a STOP."""
    fake_twilio.fail_next(400, 21610, to=PHONE)
    sms_channel.send(outgoing(address=OTHER_PHONE))  # another number is unaffected
    with pytest.raises(PermanentError) as caught:
        sms_channel.send(outgoing())
    assert caught.value.opt_out and caught.value.code == "21610"
    fake_twilio.unsubscribe(OTHER_PHONE)
    with pytest.raises(PermanentError) as caught:
        sms_channel.send(outgoing(address=OTHER_PHONE))
    assert caught.value.opt_out


def test_sms_invalid_number_is_permanent(sms_channel, fake_twilio):
    """Error 21211 (invalid 'To') is permanent, not an opt-out."""
    fake_twilio.fail_next(400, 21211)
    with pytest.raises(PermanentError) as caught:
        sms_channel.send(outgoing())
    assert caught.value.code == "21211" and not caught.value.opt_out
    with pytest.raises(PermanentError) as caught:
        sms_channel.send(outgoing(address="555-0100"))  # the fake checks E.164 itself
    assert caught.value.code == "21211"


def test_sms_server_down_is_transient(dispatch_settings):
    """With nothing listening at the API base the send is transient."""
    settings = dispatch_settings.model_copy(
        update={"twilio_api_base": f"http://127.0.0.1:{free_port()}"})
    with pytest.raises(TransientError):
        SmsChannel(settings).send(outgoing())


@pytest.mark.parametrize("field", ["twilio_account_sid", "twilio_auth_token",
                                   "twilio_messaging_service_sid"])
def test_sms_missing_setting_names_the_variable(dispatch_settings, field):
    """A missing credential fails at construction, naming the env variable to set."""
    with pytest.raises(ChannelConfigError, match=f"ZIPCAST_DISPATCH__{field.upper()}"):
        SmsChannel(dispatch_settings.model_copy(update={field: None}))


def test_sms_already_sent_matches_body_per_number(sms_channel, fake_twilio):
    """After a crash it finds what Twilio has by number and exact body, each SID once."""
    a = outgoing("r/morning/1/sms")
    twin = outgoing("r/evening/1/sms")  # same number, same text, never sent
    b = outgoing("r/morning/2/sms", address=OTHER_PHONE, body="Rain, high 55°F.")
    changed = outgoing("r/morning/3/sms", address=OTHER_PHONE, body="Rain, high 56°F.")
    sid_a = sms_channel.send(a).provider_id
    sid_b = sms_channel.send(b).provider_id
    assert sms_channel.already_sent([a, twin, b, changed]) == {a.key: sid_a, b.key: sid_b}
    assert sms_channel.already_sent([]) == {}


def test_sms_already_sent_failure_is_transient(sms_channel, fake_twilio):
    """When Twilio cannot be asked, reconciliation raises a transient error."""
    fake_twilio.fail_next(503, on="list")
    with pytest.raises(TransientError):
        sms_channel.already_sent([outgoing()])


def test_fake_twilio_pages_like_twilio(sms_channel, fake_twilio):
    """The SDK follows the fake's next_page_uri (rebased) through every page, newest first."""
    for i in range(5):
        sms_channel.send(outgoing(f"k{i}", body=f"text {i}"))
    records = sms_channel.client.messages.list(to=PHONE, page_size=2)
    assert [r.body for r in records] == [f"text {i}" for i in reversed(range(5))]
    assert len([r for r in fake_twilio.requests if r.method == "GET"]) == 3


def test_rebase_swaps_only_twilio_hosts():
    """Twilio's API and messaging hosts go to the base, path kept; other hosts are untouched."""
    http = RebasedHttpClient("http://127.0.0.1:9/twilio/")
    assert (http.rebase("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?To=1")
            == "http://127.0.0.1:9/twilio/2010-04-01/Accounts/AC1/Messages.json?To=1")
    assert (http.rebase("https://messaging.twilio.com/v1/Services")
            == "http://127.0.0.1:9/twilio/v1/Services")
    assert http.rebase("https://example.com/x") == "https://example.com/x"
    assert RebasedHttpClient().rebase("https://api.twilio.com/x") == "https://api.twilio.com/x"


def test_fake_twilio_status_callback_is_signed(sms_channel, fake_twilio, webhook_server,
                                               dispatch_settings):
    """send_status posts Twilio's form to the StatusCallback, signed as Twilio signs it."""
    sid = sms_channel.send(outgoing()).provider_id
    response = fake_twilio.send_status(sid, "delivered")
    assert response.status_code == 200
    request = webhook_server.requests[-1]
    assert request.path == "/hooks/twilio/status"
    form = {k: v[0] for k, v in parse_qs(request.body.decode(),
                                                   keep_blank_values=True).items()}
    assert form["MessageSid"] == sid and form["MessageStatus"] == "delivered"
    url = f"{dispatch_settings.public_url}/hooks/twilio/status"
    validator = RequestValidator(fake_twilio.auth_token)
    assert validator.validate(url, form, request.headers["X-Twilio-Signature"])
    assert fake_twilio.messages[0]["status"] == "delivered"


# webhook ------------------------------------------------------------------------------------

NOW = 1_777_600_000


@pytest.fixture
def webhook_channel(dispatch_settings: DispatchSettings) -> Iterator[WebhookChannel]:
    channel = WebhookChannel(dispatch_settings, clock=lambda: NOW + 0.7)
    yield channel
    channel.close()


def hook(webhook_server, path: str = "/hook") -> Outgoing:
    return outgoing("r/morning/7/webhook", channel="webhook", address=webhook_server.url + path)


def test_webhook_posts_signed_json(webhook_channel, webhook_server):
    """It posts the message as JSON with an idempotency key and a verifiable signature."""
    message = hook(webhook_server)
    webhook_channel.send(message)
    (request,) = webhook_server.requests
    assert request.method == "POST" and request.path == "/hook"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Idempotency-Key"] == message.key
    assert request.json() == {"key": message.key, **META, "message": message.body,
                              "manage_url": None}
    timestamp = request.headers["X-Zipcast-Timestamp"]
    signature = request.headers["X-Zipcast-Signature"]
    assert timestamp == str(NOW)
    expected = hmac.new(WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + request.body,
                        hashlib.sha256).hexdigest()
    assert signature == f"sha256={expected}"
    assert verify_signature(WEBHOOK_SECRET, timestamp, request.body, signature, now=NOW + 10)
    assert webhook_channel.already_sent([message]) == {}


def test_webhook_signature_rejects_tampering(webhook_channel, webhook_server):
    """A changed body, another secret, a stale or garbled timestamp all fail verification."""
    webhook_channel.send(hook(webhook_server))
    request = webhook_server.requests[0]
    ts, sig = request.headers["X-Zipcast-Timestamp"], request.headers["X-Zipcast-Signature"]
    tampered = request.body.replace(b"71", b"91")
    assert not verify_signature(WEBHOOK_SECRET, ts, tampered, sig, now=NOW)
    assert not verify_signature("another-secret", ts, request.body, sig, now=NOW)
    assert not verify_signature(WEBHOOK_SECRET, ts, request.body, sig, now=NOW + 301)
    assert not verify_signature(WEBHOOK_SECRET, "soon", request.body, sig, now=NOW)
    assert not verify_signature(WEBHOOK_SECRET, str(NOW + 1), request.body, sig, now=NOW)


@pytest.mark.parametrize(("status", "error"), [(500, TransientError), (503, TransientError),
                                               (429, TransientError), (408, TransientError),
                                               (410, PermanentError), (400, PermanentError),
                                               (301, PermanentError)])
def test_webhook_status_codes(webhook_channel, webhook_server, status, error):
    """408, 429 and 5xx are transient; other 4xx and redirects are permanent."""
    webhook_server.respond_next(status)
    with pytest.raises(error) as caught:
        webhook_channel.send(hook(webhook_server))
    assert caught.value.code == str(status)


def test_webhook_retry_after(webhook_channel, webhook_server):
    """A Retry-After on a 503 is passed on."""
    webhook_server.respond_next(503, headers={"Retry-After": "30"})
    with pytest.raises(TransientError) as caught:
        webhook_channel.send(hook(webhook_server))
    assert caught.value.retry_after == 30.0


@pytest.mark.parametrize("address", ["ftp://example.com/x", "javascript:alert(1)",
                                     "file:///etc/passwd", "http://"])
def test_webhook_refuses_non_http_urls(webhook_channel, webhook_server, address):
    """Only http(s) URLs are posted to; anything else is permanent and sends nothing."""
    with pytest.raises(PermanentError):
        webhook_channel.send(outgoing(channel="webhook", address=address))
    assert webhook_server.requests == []


def test_webhook_unreachable_and_timeout_are_transient(dispatch_settings, silent_port):
    """Connection refused and a receiver that never answers are both transient."""
    settings = dispatch_settings.model_copy(update={"webhook_timeout_s": 0.2})
    channel = WebhookChannel(settings)
    for port in (free_port(), silent_port):
        with pytest.raises(TransientError):
            channel.send(outgoing(channel="webhook", address=f"http://127.0.0.1:{port}/h"))
    channel.close()


def test_webhook_needs_a_secret(dispatch_settings):
    """Without a secret the channel refuses to start, naming the variable."""
    with pytest.raises(ChannelConfigError, match="ZIPCAST_DISPATCH__WEBHOOK_SECRET"):
        WebhookChannel(dispatch_settings.model_copy(update={"webhook_secret": None}))


# file outbox --------------------------------------------------------------------------------


def test_file_channel_appends_json_lines(tmp_path):
    """Each message becomes one line with key, channel, address, body and the meta."""
    path = tmp_path / "outbox" / "run.jsonl"
    channel = FileChannel(path)
    channel.send(outgoing("a", channel="email", address="a@example.com", unsubscribe_url=UNSUB))
    sent = channel.send_many([outgoing("b"), outgoing("c", body="line one\nline two")])
    channel.close()
    assert len(sent) == 2
    records = read_outbox(path)
    assert [r["key"] for r in records] == ["a", "b", "c"]
    assert records[0] == {"key": "a", "channel": "email", "address": "a@example.com",
                          "body": "Sunny, high 71°F. Light wind.", "subject": "Your forecast",
                          "unsubscribe_url": UNSUB, **META}
    assert records[2]["body"] == "line one\nline two"
    assert path.read_bytes().count(b"\n") == 3


def test_file_channel_ignores_a_partial_last_line(tmp_path):
    """A line cut short by a kill is never counted, and the next write starts a fresh line."""
    path = tmp_path / "run.jsonl"
    FileChannel(path).send_many([outgoing("a"), outgoing("b")])
    with open(path, "ab") as handle:
        handle.write(b'{"key":"c","channel":"sms","addr')
    assert [r["key"] for r in read_outbox(path)] == ["a", "b"]
    channel = FileChannel(path)
    wanted = [outgoing(k) for k in "abcd"]
    assert set(channel.already_sent(wanted)) == {"a", "b"}
    channel.send(outgoing("d"))
    assert [r["key"] for r in read_outbox(path)] == ["a", "b", "d"]
    assert set(channel.already_sent(wanted)) == {"a", "b", "d"}  # re-read incrementally
    assert set(FileChannel(path).already_sent(wanted)) == {"a", "b", "d"}


def test_file_channel_is_fast(tmp_path):
    """A batch of 20,000 goes out and is found again far faster than 5,000 messages a second."""
    path = tmp_path / "run.jsonl"
    messages = [outgoing(f"2026-05-01T06/morning/{i}/sms", address=f"+1555{i:07d}")
                for i in range(20_000)]
    start = time.perf_counter()
    channel = FileChannel(path)
    for i in range(0, len(messages), 5_000):
        channel.send_many(messages[i:i + 5_000])
    found = FileChannel(path).already_sent(messages)
    elapsed = time.perf_counter() - start
    assert len(found) == 20_000
    assert elapsed < 2.0, f"{elapsed:.2f} s for 20,000 messages"


def test_read_outbox_of_a_missing_file(tmp_path):
    """A missing outbox reads as empty."""
    assert read_outbox(tmp_path / "none.jsonl") == []
    assert FileChannel(tmp_path / "none.jsonl").already_sent([outgoing()]) == {}


# factory ------------------------------------------------------------------------------------


def test_make_channel(dispatch_settings, tmp_path):
    """It builds each channel by name, and the file channel for everything on a dry run."""
    outbox = tmp_path / "run.jsonl"
    kinds = {name: type(make_channel(name, dispatch_settings)).__name__
             for name in ("sms", "email", "webhook")}
    assert kinds == {"sms": "SmsChannel", "email": "EmailChannel", "webhook": "WebhookChannel"}
    for name in ("sms", "email", "webhook", "file"):
        channel = make_channel(name, dispatch_settings, dry_run=True, outbox_path=outbox)
        assert isinstance(channel, FileChannel) and channel.path == outbox
    with pytest.raises(ChannelConfigError):
        make_channel("sms", dispatch_settings, dry_run=True)
    with pytest.raises(ChannelConfigError, match="unknown channel"):
        make_channel("pigeon", dispatch_settings)


# rate limiting and backoff ------------------------------------------------------------------


class FakeClock:
    """A clock whose sleep advances it, recording each wait."""

    def __init__(self) -> None:
        self.now = 100.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def test_rate_limiter_paces_to_the_rate():
    """At 2/s with no burst, calls after the first wait half a second each."""
    clock = FakeClock()
    limiter = RateLimiter(2.0, clock=clock, sleep=clock.sleep)
    waited = [limiter.acquire() for _ in range(5)]
    assert waited == pytest.approx([0.0, 0.5, 0.5, 0.5, 0.5])
    assert clock.now == pytest.approx(102.0)
    clock.now += 10  # idle time refills only up to the burst
    assert [limiter.acquire() for _ in range(2)] == pytest.approx([0.0, 0.5])


def test_rate_limiter_burst_and_try_acquire():
    """A burst of 3 goes out at once; try_acquire never waits."""
    clock = FakeClock()
    limiter = RateLimiter(1.0, burst=3, clock=clock, sleep=clock.sleep)
    assert [limiter.try_acquire() for _ in range(4)] == [True, True, True, False]
    clock.now += 1.0
    assert limiter.try_acquire() and not limiter.try_acquire()
    assert limiter.acquire() == pytest.approx(1.0)


def test_rate_limiter_zero_is_unlimited():
    """A rate of 0 never sleeps."""
    clock = FakeClock()
    limiter = RateLimiter(0, clock=clock, sleep=clock.sleep)
    assert sum(limiter.acquire() for _ in range(1000)) == 0 and clock.waits == []


def test_backoff():
    """Waits double from the base up to the cap; a provider's Retry-After wins, capped."""
    assert [backoff(n, 2, 300) for n in range(1, 6)] == [2, 4, 8, 16, 32]
    assert backoff(20, 2, 300) == 300 and backoff(10_000, 2, 300) == 300
    assert backoff(1, 2, 300, retry_after=7) == 7
    assert backoff(1, 2, 300, retry_after=3600) == 300
    with pytest.raises(ValueError):
        backoff(0, 2, 300)


def test_parse_retry_after():
    """Retry-After is read as seconds or as an HTTP date."""
    now = datetime(2015, 10, 21, 7, 27, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 60.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_outbox_lines_are_ascii_json(tmp_path):
    """Non-ASCII text is escaped, so every line is one ASCII JSON object."""
    path = Path(tmp_path) / "o.jsonl"
    FileChannel(path).send(outgoing(body="Snow ❄ \u2028 tonight"))
    raw = path.read_bytes()
    assert raw.isascii() and json.loads(raw)["body"] == "Snow ❄ \u2028 tonight"
