"""Row "(medium) Dispatch killed with `kill -9` 21 times (16 mid-fan-out) over 5,016 emails:
4 duplicates, 0 losses. The README says rerunning never sends twice."

Twenty kills at random points against a real SMTP server (aiosmtpd): every delivery is sent
exactly once except those reported ambiguous (in flight at a kill, which SMTP cannot be asked
about). With ``resend`` none is lost and duplicates stay within the ambiguous ones; with
``skip`` none is duplicated and losses stay within them. Twilio and webhooks: no duplicates
(Twilio is asked what it has; webhook resends carry the same Idempotency-Key)."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.pipeline.dispatch.test_crash import make_run
from tests.security.crashes import kill_repeatedly


def _email_env(server, policy: str) -> dict[str, str]:  # noqa: ANN001
    return {"ZIPCAST_DISPATCH__SMTP_HOST": server.host,
            "ZIPCAST_DISPATCH__SMTP_PORT": str(server.port),
            "ZIPCAST_DISPATCH__RATE_PER_SECOND__EMAIL": "400",
            "ZIPCAST_DISPATCH__BATCH_SIZE": "50",
            "ZIPCAST_DISPATCH__AMBIGUOUS_EMAIL": policy}


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["resend", "skip"])
def test_email_survives_twenty_kills(tmp_path, smtp_server, policy):
    """300 emails, 20 kills: nothing lost (resend) or nothing twice (skip), the rest once."""
    total = 300
    settings = make_run(tmp_path, total, "email")
    report = kill_repeatedly(settings, _email_env(smtp_server, policy),
                             lambda: Counter(m["To"] for m in smtp_server.messages), total,
                             channel="email", policy=policy, seed=1 if policy == "skip" else 2)
    assert report.kills_mid_fan_out >= 12, report
    if policy == "resend":
        assert report.losses == 0, report
        assert report.duplicates <= report.ambiguous, report
        assert report.statuses == {"sent": total}, report
    else:
        assert report.duplicates == 0, report
        assert report.losses <= report.ambiguous_rows == report.ambiguous, report
        assert report.statuses.get("sent", 0) + report.ambiguous_rows == total, report
