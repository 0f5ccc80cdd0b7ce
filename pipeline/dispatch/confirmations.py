"""Sending the one confirmation message of a web sign-up: the code by SMS, the link by email.

It goes straight through the channel (not the dispatch outbox): it is one message, asked for
a moment ago by the person waiting on the page, and it is the only message an unconfirmed
address ever gets. ``ZIPCAST_SIGNUP__OUTBOX`` writes it to a JSONL file instead (a demo or
staging server without Twilio or SMTP).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from pipeline.channels import (
    ChannelConfigError,
    ChannelError,
    Outgoing,
    PermanentError,
    make_channel,
)
from pipeline.dispatch.selfservice import (
    Started,
    code_message,
    link_message,
    mark_sent,
    mark_unsent,
)
from pipeline.settings import Settings

SUBJECT = "Confirm your zipcast weather"


class ConfirmationNotSent(RuntimeError):
    """The code or link could not be sent. The message is for the person signing up (it says
    whether to retry and never shows the server's set-up); ``detail`` is for the server log."""

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(message)
        self.detail = detail


def confirmation(started: Started, link: str | None, settings: Settings) -> Outgoing:
    """The message for a started web sign-up (``link``: the email's confirmation URL)."""
    signup = started.signup
    if signup.channel == "sms":
        body = code_message(started.secret, signup.zip)
    else:
        if link is None:
            raise ValueError("an email confirmation needs its link")
        body = link_message(link, signup.zip, settings.signup)
    return Outgoing(key=f"signup/{signup.public_id}", delivery_id=0, channel=signup.channel,
                    address=signup.address, body=body, subject=SUBJECT,
                    meta={"signup": signup.public_id, "zip": signup.zip})


def send_confirmation(db: Session, started: Started, settings: Settings,
                      link: str | None = None) -> None:
    """Send the code or link, and mark the sign-up as sent (commits).

    Raises
    ------
    ConfirmationNotSent
        The channel is not set up, or refused or failed to take the message; the sign-up
        is marked unsent (it does not count toward the address's daily limit).
    """
    message = confirmation(started, link, settings)
    outbox = settings.signup.outbox
    try:
        channel = make_channel("file" if outbox else message.channel, settings.dispatch,
                               outbox_path=outbox)
    except ChannelConfigError as err:
        mark_unsent(db, started.signup)
        how = "text" if message.channel == "sms" else "email"
        raise ConfirmationNotSent(
            f"sign-up by {how} is not available just now; try again later",
            f"sign-up by {how} is not set up on this server: {err}") from None
    try:
        channel.send(message)
    except ChannelError as err:
        mark_unsent(db, started.signup)
        if isinstance(err, PermanentError):
            # one answer for every refusal (a wrong number, a landline, one that texted STOP
            # to us), so the page does not tell a stranger which it was
            raise ConfirmationNotSent(
                "that number cannot get our texts; check it. If it ever replied STOP to "
                "zipcast, text START to the number our texts came from first"
                if message.channel == "sms" else
                "that address does not take our email; check it, or use another",
                f"{message.channel} confirmation refused: {err}") from None
        raise ConfirmationNotSent("we could not send it just now; try again in a few minutes",
                                  f"{message.channel} confirmation failed: {err}") from None
    finally:
        channel.close()
    mark_sent(db, started.signup)
