"""SMS through Twilio's Programmable Messaging REST API, with the official SDK.

Messages go out through a messaging service (``MessagingServiceSid``), which picks the sender
number and handles STOP/HELP. When ``settings.twilio_api_base`` is set, every request meant for
``*.twilio.com`` goes to that base instead (a local stand-in in tests and staging), path kept:
``https://api.twilio.com/2010-04-01/...`` → ``<base>/2010-04-01/...`` and
``https://messaging.twilio.com/v1/...`` → ``<base>/v1/...``.

Outcomes: 429 and 5xx → :class:`TransientError` (with Retry-After); error 21610 (the recipient
texted STOP) → :class:`PermanentError` with ``opt_out``; other 4xx (21211 invalid 'To', ...) →
:class:`PermanentError`; 401/403 (bad credentials: our fault, not the recipient's) and
connection errors or timeouts → :class:`TransientError`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from pipeline.channels.base import (
    ChannelConfigError,
    ChannelError,
    Outgoing,
    PermanentError,
    Sent,
    TransientError,
    parse_retry_after,
)
from pipeline.config.dispatch import DispatchSettings

OPT_OUT_CODE = 21610  # "Attempt to send to unsubscribed recipient"
_RECONCILE_LIMIT = 20  # recent messages per number looked at after a crash (10 days at 2/day)


class RebasedHttpClient(TwilioHttpClient):
    """The SDK's HTTP client, sending ``*.twilio.com`` requests to ``api_base`` instead.

    It also keeps each thread's last response, so the channel can read headers such as
    Retry-After that :class:`TwilioRestException` does not carry.

    Parameters
    ----------
    api_base : str, optional
        e.g. ``"http://127.0.0.1:8765"``; None sends to Twilio itself.
    **kwargs
        Passed to :class:`TwilioHttpClient` (``timeout``, ``proxy``, ...).
    """

    def __init__(self, api_base: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_base = api_base.rstrip("/") if api_base else None
        self._local = threading.local()

    def rebase(self, url: str) -> str:
        """``url`` with a Twilio host swapped for ``api_base`` (others left alone)."""
        if not self.api_base:
            return url
        parts = urlsplit(url)
        host = parts.hostname or ""
        if host != "twilio.com" and not host.endswith(".twilio.com"):
            return url
        base = urlsplit(self.api_base)
        return urlunsplit((base.scheme, base.netloc, base.path.rstrip("/") + parts.path,
                           parts.query, parts.fragment))

    @property
    def last_response(self) -> Response | None:
        """This thread's last response (None before any, or after a connection error)."""
        return getattr(self._local, "response", None)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        """Send as the SDK would, to the rebased URL, and remember the response."""
        self._local.response = None
        response = super().request(method, self.rebase(url), *args, **kwargs)
        self._local.response = response
        return response


def _require(value: object, field: str) -> None:
    if not value:
        raise ChannelConfigError(
            f"the SMS channel needs settings.dispatch.{field}: set "
            f"ZIPCAST_DISPATCH__{field.upper()}")


def _status_callback(settings: DispatchSettings) -> str | None:
    if not settings.twilio_status_callbacks:
        return None
    return f"{settings.public_url.rstrip('/')}/hooks/twilio/status"


class SmsChannel:
    """Send each message as an SMS through a Twilio messaging service.

    Parameters
    ----------
    settings : DispatchSettings
        ``twilio_account_sid``, ``twilio_auth_token`` and ``twilio_messaging_service_sid``
        are required (the first two only when no ``client`` is given);
        ``twilio_api_base`` redirects the API; ``twilio_status_callbacks`` asks Twilio to post
        delivery status to ``<public_url>/hooks/twilio/status``.
    client : twilio.rest.Client, optional
        A ready client (tests, or a shared one); default: built from ``settings``.

    Raises
    ------
    ChannelConfigError
        A required setting is missing.
    """

    name = "sms"

    def __init__(self, settings: DispatchSettings, client: Client | None = None) -> None:
        _require(settings.twilio_messaging_service_sid, "twilio_messaging_service_sid")
        self.settings = settings
        self._owns_client = client is None
        if client is None:
            _require(settings.twilio_account_sid, "twilio_account_sid")
            _require(settings.twilio_auth_token, "twilio_auth_token")
            token = settings.twilio_auth_token
            base = settings.twilio_api_base
            if base and urlsplit(base).scheme not in ("http", "https"):
                raise ChannelConfigError(
                    f"ZIPCAST_DISPATCH__TWILIO_API_BASE must be an http(s) URL, got {base!r}")
            http = RebasedHttpClient(base, timeout=settings.twilio_timeout_s)
            client = Client(settings.twilio_account_sid,
                            token.get_secret_value() if token else None,
                            account_sid=settings.twilio_account_sid, http_client=http)
        self.client = client

    def send(self, message: Outgoing) -> Sent:
        """Create the message at Twilio; raise TransientError / PermanentError on failure."""
        kwargs: dict[str, Any] = {
            "to": message.address,
            "body": message.body,
            "messaging_service_sid": self.settings.twilio_messaging_service_sid,
        }
        callback = _status_callback(self.settings)
        if callback:
            kwargs["status_callback"] = callback
        try:
            created = self.client.messages.create(**kwargs)
        except (TwilioException, requests.RequestException) as err:
            raise self._classify(err, f"sending to {message.address}") from err
        return Sent(provider_id=created.sid)  # Twilio's own status comes by status callback

    def already_sent(self, messages: Sequence[Outgoing]) -> dict[str, str | None]:
        """Of ``messages``, those Twilio already has: key -> message SID.

        For each number, the last 20 messages sent to it are matched on the exact body; each
        Twilio message vouches for one key at most, so two identical texts to one number are
        only both found when both went out.
        """
        by_address: dict[str, list[Outgoing]] = {}
        for message in messages:
            by_address.setdefault(message.address, []).append(message)
        found: dict[str, str | None] = {}
        for address, pending in by_address.items():
            try:
                records = self.client.messages.list(to=address, limit=_RECONCILE_LIMIT)
            except (TwilioException, requests.RequestException) as err:
                raise self._classify(err, f"listing messages to {address}") from err
            unused = [(r.sid, r.body) for r in records
                      if not (r.direction or "outbound").startswith("inbound")]
            for message in pending:
                for i, (sid, body) in enumerate(unused):
                    if body == message.body:
                        found[message.key] = sid
                        del unused[i]
                        break
        return found

    def close(self) -> None:
        """Close the HTTP session of a client this channel built."""
        session = getattr(self.client.http_client, "session", None)
        if self._owns_client and session is not None:
            session.close()

    def _classify(self, err: Exception, doing: str) -> ChannelError:
        """Twilio's answer (or the lack of one) as a transient or permanent error."""
        if isinstance(err, requests.RequestException):
            return TransientError(f"Twilio unreachable {doing}: {err!r}")
        status = getattr(err, "status", None)
        code = getattr(err, "code", None)
        code_s = None if code is None else str(code)
        text = f"Twilio error {doing}: HTTP {status}, code {code_s}: " \
               f"{getattr(err, 'msg', None) or getattr(err, 'detail', None) or err}"
        if not isinstance(status, int) or status >= 500 or status == 429:
            return TransientError(text, code=code_s, retry_after=self._retry_after())
        if code == OPT_OUT_CODE:
            return PermanentError(text, code=code_s, opt_out=True)
        if status in (401, 403):  # credentials or account: every message would fail alike
            return TransientError(text + " (check ZIPCAST_DISPATCH__TWILIO_ACCOUNT_SID and "
                                         "ZIPCAST_DISPATCH__TWILIO_AUTH_TOKEN)", code=code_s)
        return PermanentError(text, code=code_s)

    def _retry_after(self) -> float | None:
        response = getattr(self.client.http_client, "last_response", None)
        headers = getattr(response, "headers", None) or {}
        return parse_retry_after(headers.get("Retry-After"))

