"""Benchmark the review sheet on a national run with 80 slots: render and save times.

Usage: .venv/bin/python bench/bench_review.py [--subscribers 100000] [--repeat 20] [--out PATH]

A national run (synthetic, morning) is asked for 80 slots (budget 80, truthfulness target
0.999 so the planner uses the whole budget), demo subscribers are added, and the app is driven
in-process through FastAPI's TestClient as a signed-in editor. Times are server time plus the
in-process client's small overhead (so slightly pessimistic). The first sheet render of a run
computes its sparkline bands and maps once (reported separately); targets are about the
renders after it: sheet ≤ 300 ms, saving a message ≤ 100 ms. Writes bench/results/review.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from flows.env import quiet_prefect  # noqa: E402

quiet_prefect()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "review.json")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="zipcast-bench-review-"))
    os.environ["ZIPCAST_DATA_DIR"] = str(data)

    from bench_run import machine
    from fastapi.testclient import TestClient

    from flows.twice_daily import twice_daily
    from pipeline.dispatch.subscribers import make_demo
    from pipeline.review.app import create_app
    from pipeline.review.cli import add_user
    from pipeline.settings import ReviewSettings, Settings

    settings = Settings(data_dir=data)
    summary = twice_daily(issue_time="2026-01-15T09:00:00Z", seed=0, max_slots=80,
                          target_truth=0.999, with_baselines=False)
    run_id = summary["run_id"]
    make_demo(settings.db_url, args.subscribers, seed=0, settings=settings)
    add_user(settings.db_url, "bench", "editor", "bench-password")
    app = create_app(settings, ReviewSettings(secret_key="bench"))
    sheet_times, save_times, first = [], [], None
    with TestClient(app) as client:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)[1]
        client.post("/login", data={"name": "bench", "password": "bench-password",
                                    "csrf_token": token, "next": "/runs"})
        for i in range(args.repeat + 1):
            started = time.perf_counter()
            response = client.get(f"/runs/{run_id}")
            elapsed = time.perf_counter() - started
            assert response.status_code == 200, response.text[:500]
            if i == 0:
                first = elapsed
            else:
                sheet_times.append(elapsed)
        html = response.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', html)[1]
        slot_ids = re.findall(r'id="slot-(s\d+)"', html)
        version = 0
        for i in range(args.repeat):
            started = time.perf_counter()
            response = client.post(
                f"/runs/{run_id}/slots/{slot_ids[0]}/message", follow_redirects=False,
                data={"text": f"Highs near {{{{ high }}}} in {{{{ city }}}} ({i})",
                      "version": version, "action": "save", "csrf_token": token})
            save_times.append(time.perf_counter() - started)
            assert response.status_code == 303, response.text[:500]
            version += 1
    sheet_ms = statistics.median(sheet_times) * 1000
    save_ms = statistics.median(save_times) * 1000
    report = {
        "benchmark": f"review sheet of a national run with {len(slot_ids)} slots and "
                     f"{args.subscribers:,} subscribers",
        "command": ".venv/bin/python bench/bench_review.py",
        "machine": machine(),
        "run": {"run_id": run_id, "n_zips": summary["n_zips"], "n_slots": summary["n_slots"]},
        "sheet_bytes": len(html),
        "first_render_ms": round(first * 1000, 1),
        "sheet_render_ms": {"median": round(sheet_ms, 1),
                            "max": round(max(sheet_times) * 1000, 1)},
        "save_ms": {"median": round(save_ms, 1), "max": round(max(save_times) * 1000, 1)},
        "targets": {"sheet_render_ms_max": 300, "sheet_met": sheet_ms <= 300,
                    "save_ms_max": 100, "save_met": save_ms <= 100},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
