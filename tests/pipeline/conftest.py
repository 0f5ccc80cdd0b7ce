"""Local stand-ins for the dispatch channels' providers, and settings pointing at them.

Fixtures:

- ``fake_twilio`` — :class:`~tests.pipeline.dispatch.fake_twilio.FakeTwilio`, started:
  ``.url``, ``.messages``, ``.fail_next(...)``, ``.unsubscribe(...)``, ``.send_status(...)``;
- ``smtp_server`` — :class:`SmtpServer`, a real aiosmtpd server: ``.host``, ``.port``,
  ``.messages`` (parsed ``EmailMessage``), ``.envelopes``, ``.refuse(address, reply)``;
- ``make_smtp_server`` — a factory for more SMTP servers (e.g. requiring AUTH);
- ``webhook_server`` — :class:`WebhookServer`: ``.url``, ``.requests``,
  ``.respond_next(status, ...)``;
- ``dispatch_settings`` — ``DispatchSettings`` pointed at the three, unlimited rates, the
  outbox in ``tmp_path / "outbox"``, ``webhook_secret="test-webhook-secret"``, and
  ``public_url`` = the webhook server (so Twilio status callbacks land there by default).
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from pipeline.config.dispatch import DispatchSettings
from tests.pipeline.dispatch.fake_twilio import FakeTwilio

WEBHOOK_SECRET = "test-webhook-secret"


def free_port() -> int:
    """A loopback TCP port nobody listens on (right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# SMTP ---------------------------------------------------------------------------------------


@dataclass
class SmtpServer:
    """A running aiosmtpd server that keeps what it receives.

    Attributes
    ----------
    messages : list of EmailMessage
        Accepted messages, parsed with ``email.policy.default``.
    envelopes : list of (str, list of str)
        (MAIL FROM, RCPT TOs) of each accepted message.
    sessions : int
        EHLO/HELO greetings seen: one per connection (two with STARTTLS).
    """

    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    sessions: int = 0
    refusals: dict[str, str] = field(default_factory=dict)
    data_replies: deque[str] = field(default_factory=deque)

    def refuse(self, address: str, reply: str = "550 5.1.1 <{address}>: no such user") -> None:
        """Answer RCPT TO:<address> with ``reply`` (e.g. ``"450 4.2.1 mailbox busy"``)."""
        self.refusals[address.lower()] = reply.format(address=address)

    def refuse_data(self, reply: str = "554 5.7.1 message rejected", times: int = 1) -> None:
        """Answer the next ``times`` DATA commands with ``reply`` instead of accepting."""
        self.data_replies.extend([reply] * times)


class _SmtpHandler:
    """aiosmtpd handler hooks feeding an :class:`SmtpServer`."""

    def __init__(self, record: SmtpServer) -> None:
        self.record = record

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,  # noqa: N802
                          responses: list[str]) -> list[str]:
        self.record.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          rcpt_options: list[str]) -> str:
        reply = self.record.refusals.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.record.data_replies:
            return self.record.data_replies.popleft()
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        self.record.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.record.messages.append(message)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


@pytest.fixture
def make_smtp_server() -> Iterator[Callable[..., SmtpServer]]:
    """A factory: ``make_smtp_server(credentials=("user", "pw"), port=None)`` starts a server.

    With ``credentials`` the server requires AUTH PLAIN/LOGIN (without TLS) and accepts only
    those. All servers stop at teardown.
    """
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    controllers: list[Controller] = []

    def make(credentials: tuple[str, str] | None = None, port: int | None = None) -> SmtpServer:
        record = SmtpServer(host="127.0.0.1", port=port or free_port())
        kwargs: dict[str, Any] = {}
        if credentials is not None:
            def authenticate(server: Any, session: Any, envelope: Any, mechanism: str,
                             auth_data: Any) -> AuthResult:
                ok = isinstance(auth_data, LoginPassword) and (
                    auth_data.login.decode(), auth_data.password.decode()) == credentials
                # handled=False: aiosmtpd then answers 535 itself (True means "already did")
                return AuthResult(success=ok, handled=False)

            kwargs = {"authenticator": authenticate, "auth_required": True,
                      "auth_require_tls": False}
        controller = Controller(_SmtpHandler(record), hostname=record.host, port=record.port,
                                ready_timeout=5.0, **kwargs)
        controller.start()
        controllers.append(controller)
        return record

    yield make
    for controller in controllers:
        controller.stop()


@pytest.fixture
def smtp_server(make_smtp_server: Callable[..., SmtpServer]) -> SmtpServer:
    """A real SMTP server (aiosmtpd) on a free loopback port, no auth."""
    return make_smtp_server()


# Twilio -------------------------------------------------------------------------------------


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    """A started :class:`FakeTwilio` with the module's default credentials."""
    with FakeTwilio() as server:
        yield server


# webhooks -----------------------------------------------------------------------------------


@dataclass
class WebhookRequest:
    """One request the webhook server received."""

    method: str
    path: str
    headers: httpx.Headers
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


class WebhookServer:
    """A local HTTP server recording every request and answering as scripted (default 200).

    Attributes
    ----------
    url : str
        ``http://127.0.0.1:<port>``; any path is accepted.
    requests : list of WebhookRequest
        Every request, in arrival order.
    """

    def __init__(self) -> None:
        self.requests: list[WebhookRequest] = []
        self._answers: deque[tuple[int, dict[str, str], bytes]] = deque()
        self._lock = threading.Lock()
        handler = type("Handler", (_WebhookHandler,), {"recorder": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.01}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def respond_next(self, status: int, *, body: str | bytes = b"",
                     headers: dict[str, str] | None = None, times: int = 1) -> None:
        """Answer the next ``times`` requests with ``status`` (and a Retry-After, say)."""
        raw = body.encode() if isinstance(body, str) else body
        with self._lock:
            self._answers.extend([(status, dict(headers or {}), raw)] * times)

    def answer(self, request: WebhookRequest) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.requests.append(request)
            return self._answers.popleft() if self._answers else (200, {}, b"ok")

    def start(self) -> WebhookServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _WebhookHandler(BaseHTTPRequestHandler):
    recorder: WebhookServer
    protocol_version = "HTTP/1.1"
    # buffer the reply so headers and body leave in one segment: written apart, Nagle and
    # delayed ACKs cost ~40 ms a request on loopback
    wbufsize = 64 * 1024

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = WebhookRequest(self.command, self.path,
                                 httpx.Headers(list(self.headers.items())), body)
        status, headers, payload = self.recorder.answer(request)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_POST = do_GET = do_PUT = _serve  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def webhook_server() -> Iterator[WebhookServer]:
    """A started :class:`WebhookServer`."""
    server = WebhookServer().start()
    yield server
    server.stop()


# settings -----------------------------------------------------------------------------------


@pytest.fixture
def dispatch_settings(fake_twilio: FakeTwilio, smtp_server: SmtpServer,
                      webhook_server: WebhookServer, tmp_path: Any) -> DispatchSettings:
    """DispatchSettings pointed at the local servers; rates unlimited so tests never wait."""
    return DispatchSettings(
        public_url=webhook_server.url,
        outbox_dir=tmp_path / "outbox",
        rate_per_second={"sms": 0.0, "email": 0.0, "webhook": 0.0, "file": 0.0},
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_timeout_s=5.0,
        twilio_account_sid=fake_twilio.account_sid,
        twilio_auth_token=fake_twilio.auth_token,
        twilio_messaging_service_sid=fake_twilio.messaging_service_sid,
        twilio_api_base=fake_twilio.url,
        twilio_timeout_s=5.0,
        webhook_secret=WEBHOOK_SECRET,
        # the webhook server listens on loopback, which webhooks may not reach by default
        webhook_allow_hosts=["127.0.0.1"],
        webhook_timeout_s=5.0,
    )
