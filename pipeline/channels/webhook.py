"""Webhooks: a signed JSON POST to the subscriber's URL.

The request::

    POST <subscriber's URL>
    Content-Type: application/json
    Idempotency-Key: <delivery key>
    X-Zipcast-Timestamp: <unix seconds>
    X-Zipcast-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>

    {"key": ..., "run_id": ..., "window": ..., "slot_id": ..., "zip": ..., "message": ...}

Signing the timestamp with the body lets a receiver refuse replays (:func:`verify_signature`
allows five minutes of skew); receivers dedupe on Idempotency-Key, so a resend after a crash is
harmless and :meth:`WebhookChannel.already_sent` returns {}.

Outcomes: 2xx → :class:`Sent`; 408, 429, 5xx, connection errors and timeouts →
:class:`TransientError` (Retry-After honoured); other 4xx, 3xx (redirects are not followed)
and non-http(s) URLs → :class:`PermanentError`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from pipeline.channels.base import (
    ChannelConfigError,
    Outgoing,
    PermanentError,
    Sent,
    TransientError,
    parse_retry_after,
)
from pipeline.config.dispatch import DispatchSettings

SIGNATURE_HEADER = "X-Zipcast-Signature"
TIMESTAMP_HEADER = "X-Zipcast-Timestamp"
_RETRYABLE = {408, 425, 429}  # request timeout, too early, too many requests (plus all 5xx)


def _as_bytes(value: str | bytes | SecretStr) -> bytes:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value.encode("utf-8") if isinstance(value, str) else value


def sign(secret: str | bytes | SecretStr, timestamp: int | str, body: str | bytes) -> str:
    """The X-Zipcast-Signature value: ``"sha256=" + hex HMAC-SHA256(secret, f"{ts}.{body}")``."""
    signed = str(timestamp).encode("ascii") + b"." + _as_bytes(body)
    return "sha256=" + hmac.new(_as_bytes(secret), signed, hashlib.sha256).hexdigest()


def verify_signature(secret: str | bytes | SecretStr, timestamp: int | str, body: str | bytes,
                     signature: str, tolerance_s: float = 300, now: float | None = None) -> bool:
    """Whether a webhook request is genuine and fresh — for receivers of zipcast webhooks.

    Parameters
    ----------
    secret : str or bytes
        The shared secret (``ZIPCAST_DISPATCH__WEBHOOK_SECRET`` on the sending side).
    timestamp : int or str
        The X-Zipcast-Timestamp header, unix seconds.
    body : str or bytes
        The raw request body, exactly as received (not re-serialised JSON).
    signature : str
        The X-Zipcast-Signature header, ``"sha256=<hex>"``.
    tolerance_s : float, default 300
        Largest accepted difference between ``timestamp`` and ``now``, against replays.
    now : float, optional
        Unix seconds; default: ``time.time()``.

    Returns
    -------
    bool
        True when the signature matches (constant-time compare) and the timestamp is fresh.
    """
    try:
        sent_at = int(str(timestamp).strip())
    except ValueError:
        return False
    now = time.time() if now is None else now
    if abs(now - sent_at) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, sent_at, body), signature.strip())


def payload(message: Outgoing) -> dict[str, str | None]:
    """The JSON object posted for one message."""
    meta = message.meta
    return {"key": message.key, "run_id": meta.get("run_id"), "window": meta.get("window"),
            "slot_id": meta.get("slot_id"), "zip": meta.get("zip"), "message": message.body}


class WebhookChannel:
    """POST each message as signed JSON to the subscriber's webhook URL.

    Parameters
    ----------
    settings : DispatchSettings
        ``webhook_secret`` (required) and ``webhook_timeout_s``.
    client : httpx.Client, optional
        The HTTP client; default: one built here (and closed by :meth:`close`).
    clock : callable returning float, default time.time
        Unix seconds for X-Zipcast-Timestamp.

    Raises
    ------
    ChannelConfigError
        No webhook secret is set.
    """

    name = "webhook"

    def __init__(self, settings: DispatchSettings, client: httpx.Client | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        if not settings.webhook_secret:
            raise ChannelConfigError(
                "the webhook channel signs every request and needs a secret: set "
                "ZIPCAST_DISPATCH__WEBHOOK_SECRET")
        self.settings = settings
        self._secret = _as_bytes(settings.webhook_secret)
        self._owns_client = client is None
        self.client = client or httpx.Client(timeout=settings.webhook_timeout_s,
                                             follow_redirects=False)
        self._clock = clock

    def request_for(self, message: Outgoing) -> tuple[bytes, dict[str, str]]:
        """The body and headers the message is posted with."""
        body = json.dumps(payload(message), separators=(",", ":")).encode("utf-8")
        timestamp = int(self._clock())
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": message.key,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
            "User-Agent": "zipcast-dispatch",
        }
        return body, headers

    def send(self, message: Outgoing) -> Sent:
        """POST the message; raise TransientError / PermanentError as the module says."""
        url = message.address
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PermanentError(f"not an http(s) webhook URL: {url!r}", code="bad_url")
        body, headers = self.request_for(message)
        try:
            response = self.client.post(url, content=body, headers=headers)
        except httpx.UnsupportedProtocol as err:
            raise PermanentError(f"cannot post to {url!r}: {err}", code="bad_url") from err
        except httpx.TransportError as err:  # connect/read errors and timeouts
            raise TransientError(f"webhook {url} unreachable: {err!r}") from err
        except httpx.InvalidURL as err:
            raise PermanentError(f"invalid webhook URL {url!r}: {err}", code="bad_url") from err
        status = response.status_code
        if 200 <= status < 300:
            return Sent()
        text = f"webhook {url} answered HTTP {status}: {response.text[:200]!r}"
        if status >= 500 or status in _RETRYABLE:
            raise TransientError(text, code=str(status),
                                 retry_after=parse_retry_after(response.headers.get("Retry-After")))
        raise PermanentError(text, code=str(status))

    def already_sent(self, messages: Sequence[Outgoing]) -> dict[str, str | None]:
        """Receivers dedupe on Idempotency-Key, so nothing needs finding: always {}."""
        return {}

    def close(self) -> None:
        """Close the HTTP client if this channel built it."""
        if self._owns_client:
            self.client.close()
