"""Subscriber self-service settings (``settings.signup``, env ``ZIPCAST_SIGNUP__*``).

- ``code_ttl_minutes``: an SMS code typed on the sign-up page works this long (15 min: long
  enough for a slow text, short enough that a guessed or leaked code is soon worthless).
- ``code_attempts``: wrong codes a sign-up survives; then it is void (a 6-digit code guessed
  in 5 tries has a 1-in-200,000 chance).
- ``link_ttl_hours``: an email confirmation link works this long (mail can sit in a queue).
- ``keyword_ttl_hours``: a texted ZIP waits this long for its YES.
- ``per_ip_per_hour``: web sign-ups one network (an IPv4 address, an IPv6 /64) may start
  in an hour.
- ``per_address_per_day``: confirmation messages one phone number or inbox may be sent in 24
  hours, counted apart for the web (codes, links) and for texts (YES prompts): a stranger
  cannot flood a number, nor stop it signing itself up by text.
- ``web_texts_per_hour``: codes texted for web sign-ups in an hour, all networks together.
- ``max_pause_days``: the longest ``PAUSE`` (a longer pause is what STOP is for).
- ``help_contact``: where HELP replies and the pages send people.
- ``outbox``: write the confirmation codes and links of web sign-ups to this JSONL file
  instead of texting or emailing them (a demo or staging server without Twilio or SMTP).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class SignupSettings(BaseModel):
    """Limits and lifetimes of sign-ups and confirmations."""

    code_ttl_minutes: int = Field(default=15, gt=0, le=24 * 60)
    code_attempts: int = Field(default=5, gt=0, le=20)
    link_ttl_hours: int = Field(default=24, gt=0, le=24 * 7)
    keyword_ttl_hours: int = Field(default=24, gt=0, le=24 * 7)
    per_ip_per_hour: int = Field(default=5, ge=0)
    per_address_per_day: int = Field(default=3, ge=0)
    # codes texted for web sign-ups in the last hour, all networks together: what someone
    # rotating addresses can make us text (SMS pumping); 0: no cap
    web_texts_per_hour: int = Field(default=200, ge=0)
    max_pause_days: int = Field(default=30, gt=0, le=365)
    help_contact: str = "help@zipcast.example"
    outbox: Path | None = None
