"""Email through an SMTP relay (stdlib smtplib), one connection reused across messages.

Outcomes:

- the relay refuses the recipient or the message with a 5xx → :class:`PermanentError`;
- a 4xx (greylisting, mailbox full, 421 closing) → :class:`TransientError`;
- connection refused or dropped, timeouts → :class:`TransientError` (the next send reconnects);
- a failure while connecting, in STARTTLS or login, or a refused sender (MAIL FROM) →
  :class:`TransientError` whatever the code: these are faults of our configuration, not of the
  recipient, and failing every delivery for good would hide that.

SMTP cannot be asked what it already accepted, so :meth:`EmailChannel.already_sent` returns
{}; the Message-ID is derived from the delivery key so a resend is recognisable downstream.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
import time
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from pipeline.channels.base import (
    AmbiguousSend,
    Outgoing,
    PermanentError,
    Sent,
    TransientError,
)
from pipeline.config.dispatch import DispatchSettings

# a reused connection idle longer than this is checked with NOOP first: relays drop idle
# clients (Postfix smtpd_timeout is 300 s, some hosted relays 30 s or less)
_IDLE_CHECK_S = 5.0


def message_id(key: str) -> str:
    """The Message-ID header of the delivery with this key: the same key, the same id."""
    return f"<{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}@zipcast>"


def build_email(message: Outgoing, sender: str) -> EmailMessage:
    """The email for one outgoing message: body, unsubscribe footer and headers.

    Parameters
    ----------
    message : Outgoing
        ``address`` is the recipient; ``unsubscribe_url`` adds a footer and the RFC 8058
        one-click ``List-Unsubscribe`` headers.
    sender : str
        The From header, e.g. ``"zipcast <forecast@zipcast.example>"``.
    """
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.address
    email["Subject"] = message.subject
    email["Date"] = formatdate(localtime=False, usegmt=True)
    email["Message-ID"] = message_id(message.key)
    email["X-Zipcast-Key"] = message.key
    body = message.body.rstrip("\n") + "\n"
    if message.unsubscribe_url:
        email["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        body += "\n-- \n"
        if message.wrong_url:
            body += f"Wrong where you are? Tell us: {message.wrong_url}\n"
        if message.manage_url:
            body += f"Change your ZIP or times, or pause: {message.manage_url}\n"
        body += f"Unsubscribe: {message.unsubscribe_url}\n"
    email.set_content(body)
    return email


def _by_code(code: int, text: str, *, opt_out: bool = False) -> TransientError | PermanentError:
    """4xx → transient, anything else the relay refused with (5xx) → permanent."""
    if 400 <= code < 500:
        return TransientError(text, code=str(code))
    return PermanentError(text, code=str(code), opt_out=opt_out)


def _reply_text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


class EmailChannel:
    """Send each message as a plain-text email through ``settings.smtp_host``.

    Parameters
    ----------
    settings : DispatchSettings
        ``smtp_*`` fields: host, port, STARTTLS, username/password, From, timeout.
    clock : callable returning float, default time.monotonic
        Used to decide when an idle connection is checked before reuse.

    Notes
    -----
    Not thread-safe: one channel holds one SMTP connection; use one channel per worker.
    """

    name = "email"

    def __init__(self, settings: DispatchSettings, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        self._smtp: smtplib.SMTP | None = None
        self._last_used = 0.0

    # connection -------------------------------------------------------------------------

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        smtp = _TrackedSMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s)
        try:
            smtp.ehlo()
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if s.smtp_username:
                password = s.smtp_password.get_secret_value() if s.smtp_password else ""
                smtp.login(s.smtp_username, password)
        except BaseException:
            _quietly_close(smtp)
            raise
        return smtp

    def _connection(self) -> smtplib.SMTP:
        """The open connection, checked with NOOP when it idled; a new one otherwise."""
        if self._smtp is not None and self._clock() - self._last_used > _IDLE_CHECK_S:
            try:
                alive = self._smtp.noop()[0] == 250
            except (smtplib.SMTPException, OSError):
                alive = False
            if not alive:
                self._drop()
        if self._smtp is None:
            where = f"{self.settings.smtp_host}:{self.settings.smtp_port}"
            try:
                self._smtp = self._connect()
            except smtplib.SMTPResponseException as err:
                raise TransientError(
                    f"SMTP relay {where} refused the session: {err.smtp_code} "
                    f"{_reply_text(err.smtp_error)}", code=str(err.smtp_code)) from err
            except (smtplib.SMTPException, OSError) as err:
                raise TransientError(f"cannot connect to SMTP relay {where}: {err!r}") from err
            self._last_used = self._clock()
        return self._smtp

    def _drop(self) -> None:
        if self._smtp is not None:
            _quietly_close(self._smtp)
            self._smtp = None

    # Channel ----------------------------------------------------------------------------

    #: the dispatcher may pass ``before_handover``: called once MAIL, RCPT and DATA were
    #: accepted, right before the message's data and final "." go out — the point after which
    #: a lost connection leaves the delivery ambiguous (before it, the relay discards a partial
    #: message, RFC 5321 §4.1.1.4, so a resend cannot duplicate it)
    supports_handover = True

    def send(self, message: Outgoing, before_handover: Callable[[], None] | None = None
             ) -> Sent:
        """Send one email; raise TransientError / PermanentError as the module says."""
        try:
            email = build_email(message, self.settings.smtp_from)
        except ValueError as err:  # a line break in the address or subject, say
            raise PermanentError(f"cannot build an email to {message.address!r}: {err}",
                                 code="bad_message") from err
        envelope_from = parseaddr(self.settings.smtp_from)[1] or self.settings.smtp_from
        smtp = self._connection()
        if isinstance(smtp, _TrackedSMTP):
            smtp.handed_over = False
            smtp.before_handover = before_handover
        try:
            smtp.send_message(email, from_addr=envelope_from, to_addrs=[message.address])
        except smtplib.SMTPRecipientsRefused as err:
            code, reply = err.recipients.get(message.address, (550, b"recipient refused"))
            raise _by_code(code, f"{message.address} refused: {code} {_reply_text(reply)}") \
                from err
        except smtplib.SMTPSenderRefused as err:
            raise TransientError(
                f"relay refused sender {envelope_from}: {err.smtp_code} "
                f"{_reply_text(err.smtp_error)}; check ZIPCAST_DISPATCH__SMTP_FROM",
                code=str(err.smtp_code)) from err
        except smtplib.SMTPResponseException as err:  # DATA refused, or 421 mid-session
            if err.smtp_code == 421:
                self._drop()
            raise _by_code(err.smtp_code, f"relay refused the message to {message.address}: "
                                          f"{err.smtp_code} {_reply_text(err.smtp_error)}") \
                from err
        except smtplib.SMTPNotSupportedError as err:  # e.g. a non-ASCII address, no SMTPUTF8
            raise PermanentError(f"relay cannot take {message.address}: {err}") from err
        except (smtplib.SMTPException, OSError) as err:  # disconnected, timeout, reset
            handed_over = getattr(smtp, "handed_over", False)
            self._drop()
            if handed_over:  # the whole message and its final dot went out; no answer came
                raise AmbiguousSend(f"SMTP connection lost after the message to "
                                    f"{message.address} was handed over, before the relay "
                                    f"answered: it may have been accepted ({err!r})") from err
            raise TransientError(f"SMTP connection failed sending to {message.address}: "
                                 f"{err!r}") from err
        self._last_used = self._clock()
        return Sent(provider_id=email["Message-ID"])

    def already_sent(self, messages: Sequence[Outgoing]) -> dict[str, str | None]:
        """SMTP cannot say what a relay already accepted: always {}."""
        return {}

    def close(self) -> None:
        """QUIT and close the connection, if open."""
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._drop()


def _quietly_close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.close()
    except OSError:
        pass


class _TrackedSMTP(smtplib.SMTP):
    """``smtplib.SMTP`` that records when a message's data (with its final ".") has been
    handed to the relay. A connection lost after that and before the final reply leaves the
    delivery ambiguous: the relay may have accepted it. Lost before it, the relay discards the
    partial message (RFC 5321 §4.1.1.4), so a resend cannot duplicate it."""

    handed_over = False
    before_handover: Callable[[], None] | None = None

    def data(self, msg):  # type: ignore[no-untyped-def]
        # smtplib.SMTP.data (3.11), with the hand-over hook and ``self.handed_over = True``
        self.putcmd("data")
        (code, repl) = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, repl)
        if self.before_handover is not None:
            self.before_handover()
        if isinstance(msg, str):
            msg = smtplib._fix_eols(msg).encode("ascii")  # type: ignore[attr-defined]
        q = smtplib._quote_periods(msg)  # type: ignore[attr-defined]
        if q[-2:] != smtplib.bCRLF:
            q = q + smtplib.bCRLF
        q = q + b"." + smtplib.bCRLF
        self.send(q)
        self.handed_over = True
        return self.getreply()
