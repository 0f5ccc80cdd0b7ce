"""Settings of the dispatch job and its channels, nested in Settings as ``dispatch``.

Read from ``ZIPCAST_DISPATCH__<FIELD>`` environment variables, e.g.
``ZIPCAST_DISPATCH__TWILIO_AUTH_TOKEN=...`` or ``ZIPCAST_DISPATCH__QUIET_START=07:30``.
"""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr


def _default_times() -> dict[str, time]:
    return {"morning": time(7, 0), "evening": time(18, 0)}


def _default_rates() -> dict[str, float]:
    # messages per second per channel; 0 = unlimited. One SMS a second is a US long code's
    # limit; a messaging service with several numbers or a toll-free number sends faster.
    return {"sms": 1.0, "email": 20.0, "webhook": 20.0, "file": 0.0}


class DispatchSettings(BaseModel):
    """When and how messages go out. Channels receive this object; they never read the env."""

    # when: each subscriber's local delivery time per window, inside quiet hours
    default_times: dict[str, time] = Field(default_factory=_default_times)
    quiet_start: time = time(8, 0)  # no message before this local time ...
    quiet_end: time = time(21, 0)  # ... or at/after this one
    # how many deliveries are rendered, written to the outbox and sent per transaction
    batch_size: int = Field(default=5000, gt=0)

    # retries: transient errors (timeouts, 429, 5xx) back off 2, 4, 8 … s up to the cap
    max_attempts: int = Field(default=5, gt=0)
    backoff_s: float = Field(default=2.0, ge=0)
    max_backoff_s: float = Field(default=300.0, ge=0)
    rate_per_second: dict[str, float] = Field(default_factory=_default_rates)

    # links in messages and provider callbacks point here (the review server's public URL)
    public_url: str = "http://localhost:8000"
    outbox_dir: Path | None = None  # file channel; default: <data_dir>/outbox

    # email (SMTP)
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "zipcast <forecast@zipcast.example>"
    smtp_timeout_s: float = Field(default=10.0, gt=0)

    # SMS (Twilio REST API through the official SDK)
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_api_base: str | None = None  # e.g. http://127.0.0.1:8765 for a local stand-in
    twilio_status_callbacks: bool = True  # ask Twilio to POST status to <public_url>/hooks/...
    twilio_timeout_s: float = Field(default=10.0, gt=0)

    # webhook: JSON POST with an X-Zipcast-Signature: sha256=<hex HMAC of the body>
    webhook_secret: SecretStr | None = None
    # subscriber webhooks to loopback, private, link-local or metadata addresses are refused;
    # hosts (names or addresses) listed here are allowed anyway, e.g. an internal receiver
    webhook_allow_hosts: list[str] = Field(default_factory=list)
    # an email in flight when the dispatcher died may or may not have gone out (SMTP gives no
    # way to ask). "skip": record it as ambiguous and never send it again (no duplicates, a
    # possible loss, both reported); "resend": send it again (no loss, a possible duplicate)
    ambiguous_email: Literal["skip", "resend"] = "skip"
    webhook_timeout_s: float = Field(default=10.0, gt=0)
