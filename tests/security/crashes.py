"""Kill a real dispatcher process at random points, again and again, then let it finish; and
count what each recipient got. Shared by tests/security/test_crash_kills.py and
bench/bench_crash.py."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline.dispatch.models import Delivery, DeliveryEvent
from pipeline.settings import Settings
from pipeline.store.db import get_engine

REPO = Path(__file__).resolve().parents[2]
NOW = "2026-01-15T13:05:00"  # the stored test run's Rhode Island subscribers are due


@dataclass
class CrashReport:
    """What the recipients got after ``kills`` kills and a final, uninterrupted dispatch."""

    channel: str
    policy: str
    deliveries: int
    kills: int
    kills_mid_fan_out: int
    received: int
    duplicates: int  # copies beyond the first
    losses: int  # recipients with no copy
    ambiguous: int  # deliveries reported ambiguous (events), each resent or not
    ambiguous_rows: int  # left ``ambiguous`` (not resent)
    statuses: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def start(data_dir: Path, env: dict[str, str]) -> subprocess.Popen:
    args = [sys.executable, "-m", "flows.cli", "dispatch", "--now", NOW, "--wait", "30"]
    return subprocess.Popen(args, cwd=REPO, env={**os.environ, "ZIPCAST_DATA_DIR":
                                                 str(data_dir), **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def kill_repeatedly(settings: Settings, env: dict[str, str], received: Callable[[], Counter],
                    total: int, *, channel: str, policy: str, kills: int = 20,
                    seed: int = 0) -> CrashReport:
    """Kill the dispatcher ``kills`` times at random numbers of messages received (a few
    while it starts and plans), then run it to the end; count per recipient."""
    rng = random.Random(seed)
    started = time.perf_counter()
    targets = sorted(rng.sample(range(1, total), kills - 2)) + [0, 0]
    rng.shuffle(targets[-4:])
    mid = 0
    for target in targets:
        process = start(settings.data_dir, env)
        if target == 0:  # during start-up, planning or queueing
            time.sleep(rng.uniform(1.0, 3.0))
        else:
            deadline = time.monotonic() + 120
            while (process.poll() is None and time.monotonic() < deadline
                   and received().total() < target):
                time.sleep(0.002)
            mid += 0 < received().total() < total
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    process = start(settings.data_dir, env)
    output = process.communicate(timeout=600)[0].decode()
    assert process.returncode == 0, output
    got = received()
    with Session(get_engine(settings.db_url)) as db:
        statuses = Counter(dict(db.execute(select(Delivery.status, func.count())
                                           .group_by(Delivery.status)).all()))
        ambiguous = db.scalar(select(func.count()).select_from(DeliveryEvent)
                              .where(DeliveryEvent.status == "ambiguous")) or 0
    return CrashReport(
        channel=channel, policy=policy, deliveries=total, kills=kills, kills_mid_fan_out=mid,
        received=got.total(), duplicates=sum(n - 1 for n in got.values() if n > 1),
        losses=total - len(got), ambiguous=int(ambiguous),
        ambiguous_rows=int(statuses.get("ambiguous", 0)), statuses=dict(statuses),
        seconds=round(time.perf_counter() - started, 1))
