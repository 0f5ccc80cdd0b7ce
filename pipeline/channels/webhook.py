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

Where a webhook may go: only to public addresses. Before each POST the host is resolved and
the message is refused if any address it resolves to is loopback, private (RFC 1918, IPv6
unique-local), link-local, a cloud metadata address, unspecified, multicast or otherwise not
global (:func:`check_webhook_host`); plain http is only for allow-listed hosts. Hosts (names
or literal addresses) in ``DispatchSettings.webhook_allow_hosts`` are allowed anyway. The
subscriber import applies the same rules to what a URL says literally, without DNS.

Outcomes: 2xx → :class:`Sent`; 408, 429, 5xx, connection errors, timeouts and a name that
does not resolve → :class:`TransientError` (Retry-After honoured); other 4xx, 3xx (redirects
are not followed), non-http(s) URLs, plain http to a host not allow-listed and refused
addresses → :class:`PermanentError`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import socket
import time
from collections.abc import Callable, Collection, Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from typing import Any
from urllib.parse import SplitResult, urlsplit

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
ALLOW_HOSTS_VARIABLE = "ZIPCAST_DISPATCH__WEBHOOK_ALLOW_HOSTS"

#: called like ``socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)``; returns its tuples
Resolver = Callable[..., Sequence[tuple[Any, ...]]]
Address = IPv4Address | IPv6Address

# the instance metadata services of AWS, GCP, Azure and others (IPv4), and AWS's IPv6 one
_METADATA = frozenset({ip_address("169.254.169.254"), ip_address("fd00:ec2::254")})
_PRIVATE = tuple(ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",  # RFC 1918
    "100.64.0.0/10",  # carrier-grade NAT (RFC 6598): inside someone's network
    "fc00::/7",  # IPv6 unique-local (RFC 4193)
))
# Python 3.11 calls 192.0.0.0/24 (IETF protocol assignments) global; IANA does not
_NOT_GLOBAL = (ip_network("192.0.0.0/24"),)
_NAT64 = ip_network("64:ff9b::/96")  # DNS64 answers: an IPv4 address inside IPv6
# the numeric IPv4 spellings inet_aton and URL parsers accept: 127.1, 0x7f000001, 2130706433
_NUMERIC_IPV4 = re.compile(r"(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}")


class WebhookAddressRefused(ValueError):
    """A webhook host that is, or resolves to, an address webhooks may not go to."""


def address_refusal(address: Address) -> str | None:
    """Why a webhook may not be posted to ``address``; None for a public (global) address.

    IPv4 addresses inside IPv6 (``::ffff:127.0.0.1``, 6to4, NAT64) are judged by the IPv4
    address, since that is where the connection ends up.
    """
    if address in _METADATA:
        return "a cloud metadata address"
    if isinstance(address, IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour
        if inner is None and address in _NAT64:
            inner = IPv4Address(int(address) & 0xFFFF_FFFF)
        if inner is not None:
            return address_refusal(inner)
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if any(address in network for network in _PRIVATE):
        return "a private address"
    if isinstance(address, IPv6Address) and address.is_site_local:
        return "a site-local address"
    if not address.is_global or any(address in network for network in _NOT_GLOBAL):
        return "a reserved, non-public address"
    return None


def _normal_host(host: str) -> str:
    """Lower case, without a trailing root dot or IPv6 brackets: how hosts are compared."""
    return host.strip().strip("[]").lower().rstrip(".")


def literal_address(host: str) -> Address | None:
    """The address ``host`` spells literally (``127.1`` and ``0x7f000001`` too), else None."""
    host = _normal_host(host)
    try:
        return ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_IPV4.fullmatch(host):
        try:
            return IPv4Address(socket.inet_aton(host))  # parses only; no lookup
        except OSError:
            return None
    return None


def is_allowed_host(host: str, allow_hosts: Collection[str]) -> bool:
    """Whether ``host`` is in the allow-list, by name or as the same literal address."""
    host = _normal_host(host)
    allowed = {_normal_host(h) for h in allow_hosts}
    if host in allowed:
        return True
    address = literal_address(host)
    return address is not None and address in _allowed_addresses(allowed)


def _allowed_addresses(allow_hosts: Collection[str]) -> set[Address]:
    return {a for a in map(literal_address, allow_hosts) if a is not None}


def check_webhook_host(host: str, allow_hosts: Collection[str] = (), *,
                       resolve: Resolver | None = None) -> None:
    """Refuse a webhook host that is, or resolves to, a non-public address.

    Parameters
    ----------
    host : str
        The URL's host, as ``urlsplit(url).hostname`` gives it.
    allow_hosts : collection of str
        Names or literal addresses allowed anyway (``webhook_allow_hosts``). A listed name is
        not resolved; a listed address is allowed wherever a name resolves to it.
    resolve : callable, optional
        ``socket.getaddrinfo`` or a stand-in. None checks only what the host says literally
        (an address, or ``localhost``), without DNS: the subscriber import's check.

    Raises
    ------
    WebhookAddressRefused
        The host, or any address it resolves to, is not public and not allow-listed.
    OSError
        From ``resolve`` (``socket.gaierror``) when the name does not resolve.
    """
    name = _normal_host(host)
    if is_allowed_host(name, allow_hosts):
        return
    address = literal_address(name)
    if address is not None:
        reason = address_refusal(address)
        if reason:
            raise WebhookAddressRefused(f"{host} is {reason}")
        return
    if name == "localhost" or name.endswith(".localhost"):  # RFC 6761: always loopback
        raise WebhookAddressRefused(f"{host} is a loopback address")
    if resolve is None:
        return
    allowed = _allowed_addresses({_normal_host(h) for h in allow_hosts})
    answers = resolve(name, None, type=socket.SOCK_STREAM)
    if not answers:
        raise socket.gaierror(socket.EAI_NONAME, f"no address for {host}")
    for *_, sockaddr in answers:
        try:
            resolved = ip_address(sockaddr[0])
        except ValueError:
            raise WebhookAddressRefused(f"{host} resolves to {sockaddr[0]!r}, not an IP "
                                        "address") from None
        reason = None if resolved in allowed else address_refusal(resolved)
        if reason:  # any one: a client may connect to any of the addresses
            raise WebhookAddressRefused(f"{host} resolves to {resolved}, {reason}")


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
    """The JSON object posted for one message (``manage_url``: the subscriber's own page, to
    change ZIP or times, pause or unsubscribe; null when the server has none)."""
    meta = message.meta
    return {"key": message.key, "run_id": meta.get("run_id"), "window": meta.get("window"),
            "slot_id": meta.get("slot_id"), "zip": meta.get("zip"), "message": message.body,
            "manage_url": message.manage_url}


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
    resolve : callable, default socket.getaddrinfo
        Resolves each webhook host before the POST (see :func:`check_webhook_host`).

    Raises
    ------
    ChannelConfigError
        No webhook secret is set.
    """

    name = "webhook"

    def __init__(self, settings: DispatchSettings, client: httpx.Client | None = None, *,
                 clock: Callable[[], float] = time.time,
                 resolve: Resolver = socket.getaddrinfo) -> None:
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
        self._resolve = resolve

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
        self._check_host(url, parts)
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

    def _check_host(self, url: str, parts: SplitResult) -> None:
        """Refuse plain http and non-public addresses unless allow-listed (again at send time:
        a name that was public at import may resolve to a private address now)."""
        host, allow = parts.hostname or "", self.settings.webhook_allow_hosts
        if parts.scheme == "http" and not is_allowed_host(host, allow):
            raise PermanentError(f"webhook {url} must use https:// (plain http is allowed only "
                                 f"for hosts in {ALLOW_HOSTS_VARIABLE})", code="insecure_url")
        try:
            check_webhook_host(host, allow, resolve=self._resolve)
        except WebhookAddressRefused as err:
            raise PermanentError(f"webhook {url} refused: {err}; webhooks go to public "
                                 f"addresses only (allow a host with {ALLOW_HOSTS_VARIABLE})",
                                 code="refused_address") from None
        except UnicodeError as err:  # an international name that cannot be encoded for DNS
            raise PermanentError(f"invalid webhook host in {url!r}: {err}",
                                 code="bad_url") from None
        except OSError as err:  # gaierror: DNS may be down or the name not published yet
            raise TransientError(f"webhook {url}: cannot resolve {host}: {err}",
                                 code="dns") from err

    def already_sent(self, messages: Sequence[Outgoing]) -> dict[str, str | None]:
        """Receivers dedupe on Idempotency-Key, so nothing needs finding: always {}."""
        return {}

    def close(self) -> None:
        """Close the HTTP client if this channel built it."""
        if self._owns_client:
            self.client.close()
