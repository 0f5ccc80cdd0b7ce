"""The consent record: imports need one, every way in and out writes to it, nothing erases it,
and ``zipcast subscribers consent ADDRESS`` prints it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.dispatch.consent import history
from pipeline.dispatch.models import Consent, Subscriber
from pipeline.dispatch.subscribers import SubscriberFileError, import_csv, make_demo, opt_out
from pipeline.store.db import get_engine, session_scope

from .test_subscribers import cli as cli  # noqa: F401 -- the fixture
from .test_subscribers import url as url  # noqa: F401 -- the fixture
from .test_subscribers import write

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
WORDS = "Text me the weather for my ZIP, 2 msgs/day. Msg & data rates may apply."
PLAIN = "zip,phone,email\n"
WITH_CONSENT = "zip,phone,email,consent_text,consent_at,consent_source\n"


def rows(url):  # noqa: F811
    with Session(get_engine(url)) as db:
        return db.scalars(select(Consent).order_by(Consent.id)).all()


def test_an_import_without_a_record_of_consent_imports_nothing(url, tmp_path):  # noqa: F811
    with pytest.raises(SubscriberFileError, match="no record of consent: add a consent_text"):
        import_csv(url, write(tmp_path, "02903,(401) 555-0123,\n", header=PLAIN))
    with Session(get_engine(url)) as db:
        assert db.scalars(select(Subscriber)).all() == []
    assert rows(url) == []


def test_the_operators_statement_is_recorded_per_address(url, tmp_path):  # noqa: F811
    path = write(tmp_path, "02903,(401) 555-0123,ann@example.com\n02904,,bob@example.com\n",
                 header=PLAIN)
    report = import_csv(url, path, consent=WORDS, now=NOW)
    assert report.added == 2
    got = [(r.event, r.method, r.channel, r.address, r.text, r.source, r.detail)
           for r in rows(url)]
    note = "no consent_at in the file: the import time"
    assert got == [
        ("granted", "import", "sms", "+14015550123", WORDS, "import subs.csv line 2", note),
        ("granted", "import", "email", "ann@example.com", WORDS, "import subs.csv line 2", note),
        ("granted", "import", "email", "bob@example.com", WORDS, "import subs.csv line 3", note),
    ]
    assert all(r.subscriber_id is not None for r in rows(url))
    # the same file again changes nothing, and records nothing twice
    again = import_csv(url, path, consent=WORDS, now=NOW)
    assert again.unchanged == 2 and len(rows(url)) == 3


def test_consent_columns_are_per_row_and_checked(url, tmp_path):  # noqa: F811
    body = (f'02903,(401) 555-0123,,"{WORDS}",2026-11-30T14:05Z,paper form at the fair\n'
            "02904,(401) 555-0124,,,2026-11-30,\n"  # no words: refused
            f'02905,(401) 555-0125,,"{WORDS}",yesterday,\n'
            f'02905,(401) 555-0126,,"{WORDS}",2027-01-01,\n')
    report = import_csv(url, write(tmp_path, body, header=WITH_CONSENT), now=NOW)
    assert report.added == 1
    assert [line for line, _ in report.errors] == [3, 4, 5]
    assert "no consent_text" in report.errors[0][1]
    assert "'yesterday' is not a date" in report.errors[1][1]
    assert "is in the future" in report.errors[2][1]
    (row,) = rows(url)
    assert (row.text, row.source, row.detail) == (WORDS, "paper form at the fair", None)
    assert row.at.replace(tzinfo=UTC) == datetime(2026, 11, 30, 14, 5, tzinfo=UTC)


def test_opt_outs_add_revoked_rows_and_keep_the_history(url, tmp_path):  # noqa: F811
    import_csv(url, write(tmp_path, "02903,(401) 555-0123,ann@example.com\n", header=PLAIN),
               consent=WORDS, now=NOW)
    with session_scope(url) as db:
        sub = db.scalars(select(Subscriber)).one()
        assert opt_out(db, sub.id, via="sms STOP", at=NOW, source="+14015550123")
        assert not opt_out(db, sub.id, via="sms STOP", at=NOW)  # once
    with Session(get_engine(url)) as db:
        events = history(db, ["ann@example.com"])
    assert [(e.event, e.channel, e.method) for e in events] == [
        ("granted", "sms", "import"), ("granted", "email", "import"),
        ("revoked", "sms", "keyword"), ("revoked", "email", "keyword")]
    # an import that opts someone out records it too
    import_csv(url, write(tmp_path, "02904,,bob@example.com\n", header=PLAIN), consent=WORDS,
               now=NOW)
    import_csv(url, write(tmp_path, "02904,,bob@example.com,opted_out\n",
                          header="zip,phone,email,status\n"), consent=WORDS, now=NOW)
    with Session(get_engine(url)) as db:
        assert [(e.event, e.method) for e in history(db, ["bob@example.com"])] == [
            ("granted", "import"), ("revoked", "import")]


def test_cli_consent_prints_the_history_and_import_needs_consent(tmp_path, cli):  # noqa: F811
    path = write(tmp_path, "02903,(401) 555-0123,\n", header=PLAIN)
    refused = cli("import", str(path))
    assert refused.exit_code == 1 and "no record of consent" in refused.output
    assert "nothing was imported" in refused.output
    assert cli("import", str(path), "--consent", WORDS).exit_code == 0
    shown = cli("consent", "(401) 555-0123")
    assert shown.exit_code == 0, shown.output
    assert "granted  sms     +14015550123  import from import subs.csv line 2" in shown.output
    assert f"words: {WORDS}" in shown.output
    missing = cli("consent", "nobody@example.com")
    assert missing.exit_code == 1 and "no consent on record for nobody@example.com" in (
        missing.output)


def test_demo_subscribers_have_no_consent_record(url):  # noqa: F811
    make_demo(url, 20, seed=1)
    assert rows(url) == []
