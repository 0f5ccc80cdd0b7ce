"""Channels: how a message leaves — SMS (Twilio), email (SMTP), webhook, or a file on a dry run.

Every channel implements :class:`~pipeline.channels.base.Channel`; build one with
:func:`make_channel`.
"""

from __future__ import annotations

import os

from pipeline.channels.base import (
    Channel,
    ChannelConfigError,
    ChannelError,
    Outgoing,
    PermanentError,
    Sent,
    TransientError,
)
from pipeline.config.dispatch import DispatchSettings

CHANNEL_NAMES = ("sms", "email", "webhook", "file")

__all__ = ["CHANNEL_NAMES", "Channel", "ChannelConfigError", "ChannelError", "Outgoing",
           "PermanentError", "Sent", "TransientError", "make_channel"]


def make_channel(name: str, settings: DispatchSettings, *, dry_run: bool = False,
                 outbox_path: str | os.PathLike[str] | None = None) -> Channel:
    """The channel that sends a subscriber's messages on channel ``name``.

    Parameters
    ----------
    name : {"sms", "email", "webhook", "file"}
        The subscriber's channel.
    settings : DispatchSettings
        Credentials and endpoints of the real channels.
    dry_run : bool, default False
        Write every message to the file outbox instead, whatever ``name`` is.
    outbox_path : path-like, optional
        The outbox file (e.g. ``<outbox_dir>/<run_id>.jsonl``); required for a dry run and
        for ``"file"``.

    Raises
    ------
    ChannelConfigError
        Unknown name, no outbox path for a file channel, or a missing credential.
    """
    if name not in CHANNEL_NAMES:
        raise ChannelConfigError(f"unknown channel {name!r}; expected one of "
                                 f"{', '.join(CHANNEL_NAMES)}")
    if dry_run or name == "file":
        if outbox_path is None:
            raise ChannelConfigError("a dry run (or the file channel) writes to an outbox file: "
                                     "pass outbox_path, e.g. <outbox_dir>/<run_id>.jsonl")
        from pipeline.channels.file import FileChannel

        return FileChannel(outbox_path)
    # imported here so a dry run needs neither the Twilio SDK nor httpx
    if name == "sms":
        from pipeline.channels.sms import SmsChannel

        return SmsChannel(settings)
    if name == "email":
        from pipeline.channels.email import EmailChannel

        return EmailChannel(settings)
    from pipeline.channels.webhook import WebhookChannel

    return WebhookChannel(settings)
