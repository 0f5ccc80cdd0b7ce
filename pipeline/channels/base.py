"""What every channel is: send one message, say what already went out, close.

The dispatcher owns the outbox and retries; a channel only talks to its provider and turns
the provider's answers into one of three outcomes:

- :class:`Sent` — accepted (with the provider's id when it has one);
- :class:`TransientError` — try again later (timeouts, connection errors, 429, 5xx);
  :class:`AmbiguousSend` when it may have gone out already;
- :class:`PermanentError` — never retry (bad address, 4xx); ``opt_out`` is set when the
  provider says the recipient unsubscribed (Twilio 21610), so the subscriber is opted out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pipeline.http_retry import parse_retry_after

__all__ = ["parse_retry_after"]  # re-exported for the channels


@dataclass(frozen=True)
class Outgoing:
    """One rendered message for one subscriber on one channel.

    ``key`` is the delivery's unique key ``"<run>/<window>/<subscriber>/<channel>"``; channels
    pass it to the provider where the provider keeps it (email Message-ID, webhook
    Idempotency-Key header, file outbox line) so a resend after a crash can be recognised.
    """

    key: str
    delivery_id: int
    channel: str  # sms, email, webhook (the subscriber's channel, also on a dry run)
    address: str  # E.164 phone, email address, or webhook URL
    body: str
    subject: str = "Your forecast"
    unsubscribe_url: str | None = None
    wrong_url: str | None = None  # "was this wrong where you are?" (email footer)
    manage_url: str | None = None  # change ZIP, times, pause (email footer, webhook JSON)
    meta: dict[str, str] = field(default_factory=dict)  # run_id, window, slot_id, zip


@dataclass(frozen=True)
class Sent:
    """The provider accepted the message."""

    provider_id: str | None = None
    status: str = "sent"


class ChannelError(Exception):
    """A send that did not go through; ``code`` is the provider's error code, if any."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class TransientError(ChannelError):
    """Worth retrying later; ``retry_after`` (seconds) when the provider said so."""

    def __init__(self, message: str, *, code: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class AmbiguousSend(TransientError):
    """The message may or may not have reached the provider: the connection dropped after the
    whole message was handed over and before the provider answered (SMTP's final reply).
    Resending may duplicate it, not resending may lose it; the dispatcher records it as
    ambiguous and follows ``ZIPCAST_DISPATCH__AMBIGUOUS_EMAIL``."""


class PermanentError(ChannelError):
    """Never worth retrying; ``opt_out`` when the recipient has unsubscribed at the provider."""

    def __init__(self, message: str, *, code: str | None = None, opt_out: bool = False) -> None:
        super().__init__(message, code=code)
        self.opt_out = opt_out


class ChannelConfigError(ValueError):
    """A channel cannot be built from the settings (missing credential, bad base URL).

    Raised at construction, never from ``send``; the message names the
    ``ZIPCAST_DISPATCH__...`` variable to set.
    """


class Channel(Protocol):
    """A way to send. Implementations: sms (Twilio), email (SMTP), webhook, file (dry run)."""

    name: str

    def send(self, message: Outgoing) -> Sent:
        """Send one message, or raise TransientError / PermanentError."""
        ...

    def already_sent(self, messages: Sequence[Outgoing]) -> dict[str, str | None]:
        """Of ``messages`` (claimed before a crash, outcome unknown), those the provider
        already has: key -> provider id. Channels that cannot tell return {} (then the
        dispatcher resends, and the provider's own idempotency must catch it)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
