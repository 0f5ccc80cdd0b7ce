"""Benchmark dispatch at national scale: 1,000,000 demo subscribers, dry-run channel.

Usage: .venv/bin/python bench/bench_dispatch.py [--subscribers 1000000] [--out PATH]

Steps, in a private data folder (SQLite): a national run (synthetic, morning window, through
the Prefect flow), every slot's pipeline draft approved, ``--subscribers`` demo subscribers,
then ``dispatch --dry-run`` at 19:00 UTC on the window date, when every continental
subscriber's morning delivery is due. Reported: plan + render + enqueue throughput (target
5,000 messages/s) and the whole fan-out time (target: well inside a delivery window, i.e.
minutes, not hours). Writes bench/results/dispatch.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from flows.env import quiet_prefect  # noqa: E402

quiet_prefect()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--issue-time", default="2026-01-15T09:00:00Z")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "dispatch.json")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="zipcast-bench-dispatch-"))
    os.environ["ZIPCAST_DATA_DIR"] = str(data)

    from bench_run import machine
    from sqlalchemy import select

    from flows.twice_daily import twice_daily
    from pipeline.channels.file import read_outbox
    from pipeline.dispatch.job import dispatch
    from pipeline.dispatch.subscribers import make_demo
    from pipeline.editorial.models import Message
    from pipeline.settings import Settings
    from pipeline.store.db import session_scope
    from pipeline.store.models import Slot

    settings = Settings(data_dir=data)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    summary = twice_daily(issue_time=args.issue_time, seed=0, with_baselines=False)
    timings["national_run_s"] = round(time.perf_counter() - started, 2)
    with session_scope(settings.db_url) as db:
        slots = db.scalars(select(Slot).where(Slot.run_id == summary["run_id"])).all()
        stamp = datetime.now(UTC)
        db.add_all([Message(slot_id=s.id, text=s.draft_message, status="approved", version=1,
                            updated_by="bench", updated_at=stamp) for s in slots])
    started = time.perf_counter()
    make_demo(settings.db_url, args.subscribers, seed=0, settings=settings)
    timings["demo_subscribers_s"] = round(time.perf_counter() - started, 2)

    moment = datetime.fromisoformat(args.issue_time.replace("Z", "+00:00")).replace(hour=19)
    started = time.perf_counter()
    result = dispatch(settings, summary["run_id"], dry_run=True, now=lambda: moment)
    timings["dispatch_wall_s"] = round(time.perf_counter() - started, 2)
    queued = result.enqueued
    render_enqueue_s = result.seconds["plan"] + result.seconds["enqueue"]
    lines = len(read_outbox(result.outbox))
    report = {
        "benchmark": f"dispatch of a national run to {args.subscribers:,} demo subscribers "
                     "(dry-run file channel, SQLite)",
        "command": ".venv/bin/python bench/bench_dispatch.py",
        "machine": machine(),
        "run": {"run_id": summary["run_id"], "n_zips": summary["n_zips"],
                "n_slots": summary["n_slots"]},
        "subscribers": args.subscribers,
        "timings": timings,
        "dispatch_seconds": result.seconds,
        "planned": result.planned,
        "enqueued": queued,
        "sent": result.outcomes.get("sent", 0),
        "outbox_lines": lines,
        "render_enqueue_messages_per_s": round(queued / render_enqueue_s) if queued else None,
        "fanout_messages_per_s": round(result.outcomes.get("sent", 0)
                                       / timings["dispatch_wall_s"]),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "targets": {"render_enqueue_messages_per_s_min": 5000,
                    "render_enqueue_met": bool(queued) and queued / render_enqueue_s >= 5000,
                    "fanout_within_minutes": timings["dispatch_wall_s"] <= 15 * 60},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str))
    print(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
