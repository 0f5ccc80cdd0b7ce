"""The national twice-daily flow in one process and on a local Dask cluster (prefect-dask):
identical slots? how long? Writes bench/results/flows_dask.json.

Usage: .venv/bin/python bench/bench_flows_dask.py [--workers 2] [--partitions 2] [--states NY,NJ]

Both runs use a fresh data folder each and fetch their own ingest (no cache). The Dask run
fetches the ZIP partitions as tasks on the workers and plans the slots with the DTW work on
the workers; ``compare_runs`` then checks membership, fits, distances and every slot field.
On this 2-core machine Dask adds processes, not cores: the point is identity, and the same
flow running on a cluster of bigger machines.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from flows.env import quiet_prefect  # noqa: E402

quiet_prefect()
os.environ["ZIPCAST_FLOWS__INGEST_CACHE_HOURS"] = "0"


def run_once(dask_workers: int, partitions: int, states: list[str] | None,
             issue_time: str) -> tuple[dict, float]:
    from flows.runners import with_runner
    from flows.twice_daily import twice_daily
    from pipeline.settings import get_settings

    os.environ["ZIPCAST_DATA_DIR"] = tempfile.mkdtemp(prefix="zipcast-bench-dask-")
    os.environ["ZIPCAST_FLOWS__DASK_WORKERS"] = str(dask_workers)
    os.environ["ZIPCAST_FLOWS__INGEST_PARTITIONS"] = str(partitions)
    get_settings.cache_clear()
    flow = with_runner(twice_daily, get_settings().flows)
    start = time.perf_counter()
    summary = flow(issue_time=issue_time, states=states, seed=0, target_truth=0.97,
                   notify_editors=False)
    return summary, time.perf_counter() - start


def main() -> None:
    from machine import machine_info

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--states", default=None)
    parser.add_argument("--issue-time", default="2026-01-15T09:00:00Z")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "flows_dask.json")
    args = parser.parse_args()
    import dask
    import distributed
    import prefect_dask

    from pipeline.run import compare_runs

    states = args.states.split(",") if args.states else None
    single, single_wall = run_once(0, 1, states, args.issue_time)
    on_dask, dask_wall = run_once(args.workers, args.partitions, states, args.issue_time)
    same = compare_runs(Path(single["artifacts"]["summary.json"]).parent,
                        Path(on_dask["artifacts"]["summary.json"]).parent)

    def row(summary: dict, wall: float) -> dict:
        return {"wall_seconds": round(wall, 2), "flow_seconds": summary["seconds"]["total"],
                "seconds": summary["seconds"], "n_zips": summary["n_zips"],
                "n_slots": summary["n_slots"],
                "truthfulness": summary["truthfulness"]["national"]}

    result = {
        "benchmark": "national twice-daily flow, one process vs a local Dask cluster",
        "command": ".venv/bin/python bench/bench_flows_dask.py",
        "machine": machine_info(dask=dask, distributed=distributed,
                                prefect_dask=prefect_dask),
        "dask": {"workers": args.workers, "threads_per_worker": 1,
                 "ingest_partitions": args.partitions},
        "single_process": row(single, single_wall),
        "on_dask": row(on_dask, dask_wall),
        "identical": same["identical"],
        "compared": same,
        "peak_rss_mib_this_process": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
