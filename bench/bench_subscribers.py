"""Benchmark subscribers: a million demo subscribers, and a 100,000-row CSV import.

Run:  .venv/bin/python bench/bench_subscribers.py [--quick] [--out bench/results/subscribers.json]

Everything goes into a fresh SQLite file in a temporary folder. Each step reports wall time
and this process's CPU time: on a shared machine the load average (recorded at the start and
the end) stretches wall time, CPU time much less. Targets: both steps well under a minute.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from pipeline.dispatch import subscribers  # noqa: E402
from pipeline.store.db import migrate  # noqa: E402

# the operator's statement of consent for the generated file (it has no consent_text column)
CONSENT = "Text me the weather for my ZIP twice a day (benchmark file)"

TARGET_S = 60.0


def machine() -> dict:
    from machine import machine_info

    return machine_info()


def timed(fn, *args, **kwargs):
    """(result, {"wall_s", "cpu_s"}) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args, **kwargs)
    return result, {"wall_s": round(time.perf_counter() - wall, 3),
                    "cpu_s": round(time.process_time() - cpu, 3)}


def write_csv(path: Path, n: int, seed: int = 0) -> dict:
    """A realistic subscriber CSV of ``n`` rows: channel mix, odd spellings, 2 % duplicate
    rows (same phone or email as an earlier row) and 1 % bad rows."""
    rng = np.random.default_rng(seed)
    zips = subscribers.common._gazetteer()["zip"].to_numpy()
    picked = zips[rng.integers(0, len(zips), n)]
    kind = rng.random(n)
    bad = rng.random(n) < 0.01
    dup = rng.random(n) < 0.02
    times = np.array(["", "", "", "7am", "06:30", "8:00", "7:30 am"])
    codes = subscribers.demo._demo_area_codes()  # valid US area codes
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["zip", "phone", "email", "webhook_url", "morning_at", "evening_at"])
        for i in range(n):
            j = int(rng.integers(0, i)) if dup[i] and i else i  # a duplicate repeats row j
            phone = f"({codes[j % len(codes)]}) 555-{j // len(codes):04d}" if kind[j] < 0.7 \
                else ""
            email = f"Person.{j}@Example.org" if 0.6 <= kind[j] < 0.95 else ""
            hook = f"https://hooks.example.net/{j}" if kind[j] >= 0.95 else ""
            zip_code = picked[i].lstrip("0") if bad[i] else picked[i]  # spreadsheet damage
            out.writerow([zip_code, phone, email, hook, times[i % len(times)], ""])
    return {"rows": n, "duplicate_share": 0.02, "bad_zip_share": 0.01}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k demo, 10k import")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "bench" / "results" / "subscribers.json")
    args = parser.parse_args(argv)
    n_demo, n_import = (100_000, 10_000) if args.quick else (1_000_000, 100_000)
    result: dict = {"mode": "quick" if args.quick else "full", "machine": machine(),
                    "target_s": TARGET_S}

    with tempfile.TemporaryDirectory(prefix="zipcast-bench-subs-") as tmp:
        _, result["gazetteer_load"] = timed(subscribers.common._gazetteer)

        url = f"sqlite:///{tmp}/demo.sqlite"
        migrate(url)
        n, t = timed(subscribers.make_demo, url, n_demo, seed=0)
        result["demo"] = {"count": n, **t, "rows_per_s": round(n / t["wall_s"])}
        _, result["subscriber_counts"] = timed(subscribers.subscriber_counts, url)
        _, result["subscriber_stats"] = timed(subscribers.subscriber_stats, url)

        path = Path(tmp) / "subscribers.csv"
        result["csv"] = write_csv(path, n_import)
        result["import"] = {}
        for name, target in (("empty_db", f"sqlite:///{tmp}/import.sqlite"),
                             (f"db_with_{n_demo}_demo", url)):
            migrate(target)
            report, t = timed(subscribers.import_csv, target, path, consent=CONSENT)
            again, t_again = timed(subscribers.import_csv, target, path, consent=CONSENT)
            result["import"][name] = {
                **t, "rows_per_s": round(n_import / t["wall_s"]),
                "added": report.added, "merged": report.merged, "skipped": report.skipped,
                "reimport": {**t_again, "added": again.added, "updated": again.updated,
                             "unchanged": again.unchanged},
            }
        result["db_size_mib"] = round(os.path.getsize(f"{tmp}/demo.sqlite") / 2**20, 1)

    result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    result["machine"]["load_avg_at_end"] = list(os.getloadavg())
    worst_import = max(v["wall_s"] for v in result["import"].values())
    result["targets"] = {
        f"demo_{n_demo}_wall_s": result["demo"]["wall_s"],
        f"import_{n_import}_worst_wall_s": worst_import,
        "met": result["demo"]["wall_s"] < TARGET_S and worst_import < TARGET_S,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
