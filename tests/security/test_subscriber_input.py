"""Issue 16, two rows about what a subscriber file may carry in:

- (low) "Subscriber webhooks to https://169.254.169.254/… and http://127.0.0.1:6379/ are
  accepted": webhook URLs to non-public addresses are refused at import (by line) and again
  at send time, after resolving the host, unless the host is in ``webhook_allow_hosts``;
- (low) "A 1,000,000-character field or one non-UTF-8 byte rejects the whole subscriber file
  without a line number": such rows are reported by line and the rest of the file imports.

No test touches DNS: hosts are literal addresses or ``localhost``, and the webhook channel gets
an injected resolver and an ``httpx.MockTransport`` client.
"""

from __future__ import annotations

import io
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from pipeline.channels.base import Outgoing, PermanentError, TransientError
from pipeline.channels.webhook import WebhookChannel
from pipeline.config.dispatch import DispatchSettings
from pipeline.dispatch.models import Subscriber
from pipeline.dispatch.subscribers import ImportReport, SubscriberFileError
from pipeline.dispatch.subscribers import import_csv as _import_csv
from pipeline.store.db import migrate, session_scope

HEADER = "zip,phone,email,webhook_url,morning_at,evening_at,status\n"


CONSENT = "Text me the weather for my ZIP twice a day (test file)"


def import_csv(*args, **kwargs):
    """The import with the operator's statement of consent (the files here have no
    consent_text column)."""
    return _import_csv(*args, **{"consent": CONSENT, **kwargs})


@pytest.fixture
def url(settings) -> str:
    migrate(settings.db_url)
    return settings.db_url


def write(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "subs.csv"
    path.write_text(header + body, encoding="utf-8")
    return path


def stored_hooks(url: str) -> list[str | None]:
    with session_scope(url) as session:
        return list(session.scalars(select(Subscriber.webhook_url).order_by(Subscriber.id)))


def stored_emails(url: str) -> list[str | None]:
    with session_scope(url) as session:
        return list(session.scalars(select(Subscriber.email).order_by(Subscriber.id)))


def errors_by_line(report: ImportReport) -> dict[int, str]:
    return dict(report.errors)


# --- webhooks to non-public addresses, at import -------------------------------------------

REFUSED = [  # (URL, what the reason must say)
    ("https://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://127.0.0.1:6379/", "loopback"),
    ("https://10.0.0.5/hook", "private"),
    ("https://192.168.1.20/hook", "private"),
    ("https://172.16.0.1/hook", "private"),
    ("https://169.254.10.10/hook", "link-local"),
    ("https://[::1]/hook", "loopback"),
    ("https://[fd12:3456::1]/hook", "private"),
    ("https://[fd00:ec2::254]/latest", "metadata"),
    ("https://[fe80::1]/hook", "link-local"),
    ("https://localhost/hook", "loopback"),
    ("https://0.0.0.0/hook", "unspecified"),
    ("https://224.0.0.1/hook", "multicast"),
    ("https://127.1/hook", "loopback"),  # inet_aton's short form of 127.0.0.1
    ("https://[::ffff:127.0.0.1]/hook", "loopback"),
]


def test_non_public_webhook_urls_are_refused_at_import_by_line(tmp_path, url):
    """Metadata, loopback, private, link-local and other non-public hosts are reported by line
    with the reason, and the good rows around them still import."""
    body = "02903,,ann@example.com,,,,\n"  # line 2
    body += "".join(f"10001,,,{hook},,,\n" for hook, _ in REFUSED)  # lines 3 …
    body += "10001,,,https://hooks.example.com/a,,,\n"
    report = import_csv(url, write(tmp_path, body))

    errors = errors_by_line(report)
    assert sorted(errors) == list(range(3, 3 + len(REFUSED)))
    for line, (hook, says) in enumerate(REFUSED, start=3):
        assert says in errors[line], (hook, errors[line])
        assert "WEBHOOK_ALLOW_HOSTS" in errors[line]
    assert report.added == 2
    assert stored_hooks(url) == [None, "https://hooks.example.com/a"]


def test_an_allow_listed_host_is_let_through_and_may_use_plain_http(tmp_path, url):
    """A host named in webhook_allow_hosts is accepted (plain http too); others stay refused."""
    settings = DispatchSettings(webhook_allow_hosts=["10.0.0.5", "Hooks.Internal"])
    report = import_csv(url, write(tmp_path, (
        "10001,,,https://10.0.0.5/hook,,,\n"
        "10001,,,http://hooks.internal:8080/hook,,,\n"
        "10001,,,https://10.0.0.6/hook,,,\n"
        "10001,,,http://hooks.example.com/hook,,,\n"
    )), settings=settings)
    errors = errors_by_line(report)
    assert sorted(errors) == [4, 5]
    assert "private" in errors[4]
    assert "https://" in errors[5]
    assert stored_hooks(url) == ["https://10.0.0.5/hook", "http://hooks.internal:8080/hook"]


# --- webhooks to non-public addresses, at send time ----------------------------------------


def fake_resolver(*answers: str, calls: list[str] | None = None) -> Callable[..., list[Any]]:
    """A getaddrinfo stand-in answering every name with ``answers``."""

    def resolve(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if calls is not None:
            calls.append(host)
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (a, port or 443)) for a in answers]

    return resolve


def failing_resolver(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
    raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")


def channel(posted: list[httpx.Request], resolve: Callable[..., list[Any]],
            allow: list[str] | None = None) -> WebhookChannel:
    """A webhook channel whose client records requests instead of sending them."""

    def answer(request: httpx.Request) -> httpx.Response:
        posted.append(request)
        return httpx.Response(200)

    settings = DispatchSettings(webhook_secret="s", webhook_allow_hosts=allow or [])
    return WebhookChannel(settings, httpx.Client(transport=httpx.MockTransport(answer)),
                          resolve=resolve)


def hook(address: str) -> Outgoing:
    return Outgoing(key="r/morning/7/webhook", delivery_id=1, channel="webhook",
                    address=address, body="Sunny.")


@pytest.mark.parametrize("answers", [("10.1.2.3",), ("93.184.215.14", "127.0.0.1"),
                                     ("169.254.169.254",), ("fd00::5",)])
def test_the_channel_refuses_a_name_that_resolves_to_a_non_public_address(answers):
    """A name resolving to any non-public address is a permanent error and nothing is posted."""
    posted: list[httpx.Request] = []
    with pytest.raises(PermanentError) as caught:
        channel(posted, fake_resolver(*answers)).send(hook("https://hooks.example.com/h"))
    assert caught.value.code == "refused_address"
    assert posted == []


def test_the_channel_refuses_a_literal_metadata_address_without_resolving():
    """A literal non-public address is refused before any lookup or request."""
    posted: list[httpx.Request] = []
    calls: list[str] = []
    with pytest.raises(PermanentError, match="metadata"):
        channel(posted, fake_resolver("93.184.215.14", calls=calls)).send(
            hook("https://169.254.169.254/latest/meta-data/"))
    assert posted == [] and calls == []


def test_a_name_that_does_not_resolve_is_transient():
    """A failed lookup is retried later, not given up on."""
    posted: list[httpx.Request] = []
    with pytest.raises(TransientError):
        channel(posted, failing_resolver).send(hook("https://hooks.example.com/h"))
    assert posted == []


def test_the_channel_posts_to_public_and_allow_listed_addresses():
    """A public resolution is posted to; an allow-listed private address or name is too."""
    posted: list[httpx.Request] = []
    channel(posted, fake_resolver("93.184.215.14")).send(hook("https://hooks.example.com/h"))
    channel(posted, fake_resolver("10.1.2.3"), allow=["10.1.2.3"]).send(
        hook("https://hooks.internal/h"))
    channel(posted, fake_resolver("10.1.2.3"), allow=["hooks.internal"]).send(
        hook("http://hooks.internal/h"))
    assert [str(r.url) for r in posted] == ["https://hooks.example.com/h",
                                           "https://hooks.internal/h", "http://hooks.internal/h"]


def test_the_channel_refuses_plain_http_to_a_host_not_allow_listed():
    """Plain http is only for allow-listed hosts at send time as well."""
    posted: list[httpx.Request] = []
    with pytest.raises(PermanentError, match="https://"):
        channel(posted, fake_resolver("93.184.215.14")).send(hook("http://hooks.example.com/h"))
    assert posted == []


# --- over-long fields and bytes that are not UTF-8 ------------------------------------------


def test_a_million_character_field_is_reported_by_line_and_the_rest_imports(tmp_path, url):
    """Fields over their column's limit (even past csv's own limit) are reported by line."""
    email = "a" * 999_988 + "@example.com"  # 1,000,000 characters
    webhook = "https://hooks.example.com/" + "b" * 199_974  # 200,000 characters
    report = import_csv(url, write(tmp_path, (
        "02903,,ann@example.com,,,,\n"                              # 2 good
        f"02903,,{email},,,,\n"                                     # 3 email, unquoted
        f'02903,,,"{webhook}",,,\n'                                 # 4 webhook, quoted
        f"02903,{'1' * 40},,,,,\n"                                  # 5 phone
        "02903,,bob@example.com,,,,\n"                              # 6 good
    )))
    errors = errors_by_line(report)
    assert sorted(errors) == [3, 4, 5]
    assert errors[3] == "email is 1,000,000 characters; at most 254"
    assert errors[4] == "webhook_url is 200,000 characters; at most 2,048"
    assert errors[5] == "phone is 40 characters; at most 32"
    assert "line 3: email is 1,000,000 characters; at most 254" in str(report)
    assert stored_emails(url) == ["ann@example.com", "bob@example.com"]


def test_a_field_past_csvs_own_limit_costs_only_its_record(tmp_path, url):
    """A quoted field that outgrows csv's 131,072-character limit across many lines is one
    bad record; the lines after it are read as the records they are."""
    lines_of_x = ("x" * 4000 + "\n") * 50  # 200,000 characters in short lines
    report = import_csv(url, write(tmp_path, (
        f'02903,,ann@example.com,,,,\n02903,,"{lines_of_x}",,,,\n02903,,bob@example.com,,,,\n')))
    (line, reason), = report.errors
    assert line == 3 and "at most 4,096 characters" in reason
    assert stored_emails(url) == ["ann@example.com", "bob@example.com"]


def test_an_over_long_unknown_column_hits_the_hard_cap(tmp_path, url):
    """Even an ignored column may not exceed the hard cap on any field."""
    report = import_csv(url, write(tmp_path, (
        f"02903,ann@example.com,{'n' * 5000}\n02903,bob@example.com,short\n"),
        header="zip,email,notes\n"))
    assert report.errors == [(2, "notes is 5,000 characters; at most 4,096")]
    assert stored_emails(url) == ["bob@example.com"]


@pytest.mark.parametrize("as_stream", [False, True])
def test_a_non_utf8_byte_is_reported_by_line_and_column(tmp_path, url, as_stream):
    """A row with a byte that is not UTF-8 is reported with line, byte and column."""
    raw = (HEADER.encode() + b"02903,,ann@example.com,,,,\n"
           b"02903,,caf\xff@example.com,,,,\n"
           b"02903,,bob@example.com,,,,\n")
    path = tmp_path / "subs.csv"
    path.write_bytes(raw)
    report = import_csv(url, io.BytesIO(raw) if as_stream else path)
    (line, reason), = report.errors
    assert line == 3
    assert reason.startswith("not UTF-8 text (byte 0xff at column 11)")
    assert stored_emails(url) == ["ann@example.com", "bob@example.com"]


def test_a_header_that_is_not_utf8_still_fails_the_whole_file(tmp_path, url):
    """Without a readable header nothing can be imported: SubscriberFileError on line 1."""
    path = tmp_path / "subs.csv"
    path.write_bytes(b"zip,e\xe9mail\n02903,ann@example.com\n")
    with pytest.raises(SubscriberFileError, match="UTF-8") as caught:
        import_csv(url, path)
    assert caught.value.line == 1
    assert stored_emails(url) == []
