"""Benchmark the review sheet on a national run with 80 slots: first-open and warm times,
page weights and thumbnail sizes (issue 15, point 6 "Fast").

Usage: .venv/bin/python bench/bench_review.py [--subscribers 100000] [--repeat 20] [--out PATH]

A national run (synthetic, morning) is asked for 80 slots (budget 80, truthfulness target
0.999 so the planner uses the whole budget), demo subscribers are added, and the app is driven
through FastAPI's TestClient as a signed-in editor. Times are server time plus the in-process
client's small overhead (so slightly pessimistic).

* **First open** is measured in a fresh Python process (a restart: new app, empty caches,
  nothing imported lazily yet), given the session cookie of an editor who signed in before
  the restart: one process opens the sheet, another the biggest slot's detail page. It is
  measured twice: for the run as the pipeline stores it (with its ``sheet/`` files) and for
  the same run without them (a run stored before them; that open writes them).
* **Warm** times are the median of ``--repeat`` renders in one app after its first.
* Page weights are the HTML bytes; thumbnails are every slot's ``map.svg``.

Targets: first open and warm ≤ 300 ms for the sheet and the detail page, a detail page
≤ 300 KB, thumbnails ≤ 15 KB, saving a message ≤ 100 ms. Writes bench/results/review.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

COOKIE = "zipcast_review"
TARGET_MS, TARGET_PAGE_BYTES, TARGET_THUMB_BYTES, TARGET_SAVE_MS = 300, 300_000, 15_000, 100


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _stats(times: list[float]) -> dict[str, float]:
    return {"median": _ms(statistics.median(times)), "max": _ms(max(times))}


def probe(data: Path, path: str, cookie: str) -> None:
    """In a fresh process: build the app and time its first GET of ``path`` (prints JSON)."""
    os.environ["ZIPCAST_DATA_DIR"] = str(data)
    started = time.perf_counter()
    from fastapi.testclient import TestClient

    from pipeline.review.app import create_app
    from pipeline.settings import ReviewSettings, Settings

    app = create_app(Settings(data_dir=data), ReviewSettings(secret_key="bench"))
    with TestClient(app, cookies={COOKIE: cookie}) as client:
        ready = time.perf_counter()
        response = client.get(path)
        elapsed = time.perf_counter() - ready
    assert response.status_code == 200, response.text[:500]
    print(json.dumps({"ms": _ms(elapsed), "bytes": len(response.content),
                      "startup_ms": _ms(ready - started)}))


def first_open(data: Path, path: str, cookie: str) -> dict:
    """Time the first GET of ``path`` in a fresh process (see :func:`probe`)."""
    out = subprocess.run([sys.executable, __file__, "--probe", path, "--data", str(data),
                          "--cookie", cookie], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def warm(client, path: str, repeat: int) -> tuple[list[float], str]:  # type: ignore[no-untyped-def]
    """``repeat`` timed GETs of ``path`` after one untimed; the times and the last page."""
    times, response = [], client.get(path)
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(path)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text[:500]
    return times, response.text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "review.json")
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cookie", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        probe(args.data, args.probe, args.cookie)
        return
    from flows.env import quiet_prefect

    quiet_prefect()
    data = Path(tempfile.mkdtemp(prefix="zipcast-bench-review-"))
    os.environ["ZIPCAST_DATA_DIR"] = str(data)

    from bench_run import machine
    from fastapi.testclient import TestClient

    from flows.twice_daily import twice_daily
    from pipeline.dispatch.subscribers import make_demo
    from pipeline.review.app import create_app
    from pipeline.review.cli import add_user
    from pipeline.review.sheet_files import FOLDER
    from pipeline.settings import ReviewSettings, Settings
    from pipeline.store import load_run

    settings = Settings(data_dir=data)
    summary = twice_daily(issue_time="2026-01-15T09:00:00Z", seed=0, max_slots=80,
                          target_truth=0.999, with_baselines=False, notify_editors=False)
    run_id = summary["run_id"]
    make_demo(settings.db_url, args.subscribers, seed=0, settings=settings)
    add_user(settings.db_url, "bench", "editor", "bench-password")
    stored = load_run(settings.db_url, run_id)
    biggest = max(stored["slots"], key=lambda s: s["n_zips"])
    sheet_path = f"/runs/{run_id}"
    detail_path = f"{sheet_path}/slots/{biggest['slot_id']}"

    app = create_app(settings, ReviewSettings(secret_key="bench"))
    with TestClient(app) as client:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)[1]
        client.post("/login", data={"name": "bench", "password": "bench-password",
                                    "csrf_token": token, "next": "/runs"})
        cookie = client.cookies[COOKIE]

        # first open after a restart: stored with sheet files, then as an old run without
        first = {"sheet": first_open(data, sheet_path, cookie),
                 "detail": first_open(data, detail_path, cookie)}
        sheet_dir = Path(stored["run_dir"]) / FOLDER
        kept = sheet_dir.with_name(".sheet.bench")
        shutil.move(sheet_dir, kept)
        old_run = {"sheet": first_open(data, sheet_path, cookie),
                   "detail": first_open(data, detail_path, cookie)}
        shutil.rmtree(sheet_dir, ignore_errors=True)
        shutil.move(kept, sheet_dir)

        # warm: this app's caches filled by a first render (not timed)
        sheet_times, html = warm(client, sheet_path, args.repeat)
        detail_times, detail_html = warm(client, detail_path, args.repeat)
        page2 = client.get(f"{detail_path}?page=2")
        area = client.get(f"{detail_path}/area.svg")
        slot_ids = re.findall(r'id="slot-(s\d+)"', html)
        thumbs = {sid: len(client.get(f"{sheet_path}/slots/{sid}/map.svg").content)
                  for sid in slot_ids}
        token = re.search(r'name="csrf_token" value="([^"]+)"', html)[1]
        save_times = []
        for i in range(args.repeat):
            started = time.perf_counter()
            response = client.post(
                f"{sheet_path}/slots/{slot_ids[0]}/message", follow_redirects=False,
                data={"text": f"Highs near {{{{ high }}}} in {{{{ city }}}} ({i})",
                      "version": i, "action": "save", "csrf_token": token})
            save_times.append(time.perf_counter() - started)
            assert response.status_code == 303, response.text[:500]

    detail_bytes = len(detail_html.encode())
    worst = {"sheet_first": first["sheet"]["ms"],
             "sheet_warm": _ms(statistics.median(sheet_times)),
             "detail_first": first["detail"]["ms"],
             "detail_warm": _ms(statistics.median(detail_times))}
    report = {
        "benchmark": f"review sheet of a national run with {len(slot_ids)} slots and "
                     f"{args.subscribers:,} subscribers",
        "command": ".venv/bin/python bench/bench_review.py",
        "machine": machine(),
        "run": {"run_id": run_id, "n_zips": summary["n_zips"], "n_slots": summary["n_slots"],
                "sheet_files_s": summary["seconds"].get("sheet")},
        "first_open_ms": {
            "sheet": first["sheet"]["ms"], "detail": first["detail"]["ms"],
            "app_startup_ms": first["sheet"]["startup_ms"],
            "note": "fresh process per page (a restart), signed-in cookie; server startup "
                    "(imports, app) not counted",
        },
        "first_open_old_run_ms": {
            "sheet": old_run["sheet"]["ms"], "detail": old_run["detail"]["ms"],
            "note": "the same run without its sheet/ files (stored before them): the first "
                    "open computes and writes the pieces it needs",
        },
        "sheet": {"bytes": len(html.encode()), "warm_ms": _stats(sheet_times)},
        "detail_biggest_slot": {
            "slot_id": biggest["slot_id"], "n_zips": biggest["n_zips"],
            "bytes": detail_bytes, "page_2_bytes": len(page2.content),
            "area_svg_bytes": len(area.content),
            "member_rows": detail_html.count("<tr") - detail_html.count("<thead"),
            "warm_ms": _stats(detail_times)},
        "national_map_page": "none: the sheet has no national map page (map.svg stays in "
                             "the run folder)",
        "thumbnails": {"n": len(thumbs), "sum_bytes": sum(thumbs.values()),
                       "max_bytes": max(thumbs.values())},
        "save_ms": _stats(save_times),
        "targets": {
            "ms_max": TARGET_MS,
            "sheet_first_met": worst["sheet_first"] <= TARGET_MS,
            "sheet_warm_met": worst["sheet_warm"] <= TARGET_MS,
            "detail_first_met": worst["detail_first"] <= TARGET_MS,
            "detail_warm_met": worst["detail_warm"] <= TARGET_MS,
            "detail_bytes_max": TARGET_PAGE_BYTES,
            "detail_bytes_met": detail_bytes <= TARGET_PAGE_BYTES,
            "thumbnail_bytes_max": TARGET_THUMB_BYTES,
            "thumbnails_met": max(thumbs.values()) <= TARGET_THUMB_BYTES,
            "save_ms_max": TARGET_SAVE_MS,
            "save_met": statistics.median(save_times) * 1000 <= TARGET_SAVE_MS,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
