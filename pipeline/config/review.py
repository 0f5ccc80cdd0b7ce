"""The review sheet's settings (``settings.review``, env ``ZIPCAST_REVIEW__*``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ReviewSettings(BaseModel):
    """The review sheet's server: cookie, sign-in rate limit, deadline.

    Read from ``ZIPCAST_REVIEW__<FIELD>``, e.g. ``ZIPCAST_REVIEW__SECURE_COOKIE=true``.
    """

    secret_key: str | None = None  # default: generated once into <data_dir>/review-secret.key
    secure_cookie: bool = False  # True behind HTTPS: the session cookie gets the Secure flag
    session_max_age_s: int = 12 * 3600
    # addresses of reverse proxies (nginx, a load balancer) whose X-Forwarded-For is believed:
    # behind one, every visitor otherwise has the proxy's address and shares its limits
    # (sign-in failures, web sign-ups an hour). Empty: the connection's own address counts
    trusted_proxies: list[str] = Field(default_factory=list)
    login_max_failures: int = 5  # per (name, address) in the window
    login_max_failures_per_ip: int = 30  # per address, whatever the names tried
    login_window_s: float = 300.0
    # the run's send time (deadline banner, editor gate): issue time plus this many hours
    send_after_hours: float = 2.0
    # what happens at the deadline to slots nobody approved: hold them, or send the
    # automatic factual message; the lead can change it per run on the sheet
    unapproved_policy: Literal["hold", "automatic"] = "hold"
    # approval is refused when a claim of the text is false for more than this share of the
    # slot's subscribers (pipeline.editorial.factcheck); a lead may override with a reason
    max_false_share: float = Field(default=0.05, ge=0, le=1)
    # who hears that a run's sheet is ready: editors with an email (``zipcast users add
    # --email``) plus these; deadline alerts go to leads with an email plus ``alert_emails``
    notify_emails: list[str] = Field(default_factory=list)
    alert_emails: list[str] = Field(default_factory=list)
