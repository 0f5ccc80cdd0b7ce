"""Row "(low) `--now` with `--wait` spins for the whole wait because retries never come due on
a frozen clock." A pretended time stands still except when the dispatcher waits for a retry:
the wait moves it on, so the retry comes due at once."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from flows.cli import app
from pipeline.settings import Settings, get_settings
from tests.pipeline.dispatch.test_dispatch import add_subscriber, approve
from tests.pipeline.review.conftest import store_run


@pytest.mark.timeout(120)
def test_dispatch_now_with_wait_moves_the_pretended_clock(tmp_path, smtp_server, monkeypatch):
    """`zipcast dispatch --now … --wait 3600`: the relay refuses the first message with a
    transient 451; the retry's backoff passes on the pretended clock, so the same call sends
    it and returns, instead of waiting out the hour on a clock that never moves."""
    monkeypatch.setenv("ZIPCAST_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ZIPCAST_DISPATCH__SMTP_HOST", smtp_server.host)
    monkeypatch.setenv("ZIPCAST_DISPATCH__SMTP_PORT", str(smtp_server.port))
    monkeypatch.setenv("ZIPCAST_DISPATCH__BACKOFF_S", "2")
    get_settings.cache_clear()
    settings = Settings()
    store_run(settings)
    add_subscriber(settings.db_url, "02903", email="reader@example.com")
    approve(settings.db_url, "s001", "Rain in {{ city }}.")
    smtp_server.refuse_data("451 4.3.0 try again later")
    result = CliRunner().invoke(app, ["dispatch", "--now", "2026-01-15T13:05:00",
                                      "--wait", "3600"])
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "sent 1 retry, 1 sent" in result.output
    assert [m["To"] for m in smtp_server.messages] == ["reader@example.com"]
