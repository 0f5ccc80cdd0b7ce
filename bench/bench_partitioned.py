"""Benchmark the partitioned (Dask) DTW k-means fit against the single-process fit.

Run:  .venv/bin/python bench/bench_partitioned.py [--quick] [--out bench/results/partitioned.json]

Data: ``bench_cluster.weather_series`` -- smooth synthetic weather fields (5
variables) over pseudo-locations snapped to grid cells, so ~15 % of the rows are
exact duplicates as in production -- at 400,000 locations and 18 steps (three
days at 4-hourly steps).  Both fits use the same parameters and seed; the
single-process one runs first with numba on all cores, the partitioned one on a
``LocalCluster`` of 2 single-threaded worker processes (one numba thread per
task).  Memory is the peak RSS summed over this process and its children (the
Dask nanny and worker processes), sampled every 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numba
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_cluster import VARIABLES, weather_series  # noqa: E402
from machine import machine_info as _machine_info  # noqa: E402

from pipeline.cluster import DTWKMeans  # noqa: E402
from pipeline.cluster.partitioned import fit_partitioned  # noqa: E402


class PeakTreeRSS:
    """Peak RSS of this process plus its children, sampled in a background thread.

    The children (Dask nanny and workers) are listed once on entry: listing
    them scans every process on the machine, too costly to repeat each sample.
    """

    def __init__(self, interval: float = 0.05):
        self.interval = interval

    def _rss(self) -> int:
        total = 0
        for p in self.procs:
            try:
                total += p.memory_info().rss
            except psutil.Error:  # a child exited between listing and reading
                pass
        return total

    def __enter__(self) -> PeakTreeRSS:
        me = psutil.Process()
        self.procs = [me, *me.children(recursive=True)]
        self.base = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(self.interval)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def machine_info() -> dict[str, Any]:
    """CPU, memory and library versions."""
    import dask
    import distributed

    return _machine_info(dask=dask, distributed=distributed)


def timed_fit(fit, label: str) -> tuple[DTWKMeans, dict[str, Any]]:
    """Run ``fit(callback)``; wall and CPU seconds, peak tree RSS, iteration trace."""
    trace: list[tuple[int, float, float]] = []
    load_before = os.getloadavg()
    t0, c0 = time.perf_counter(), time.process_time()

    def callback(it: int, inertia: float) -> None:
        trace.append((it, round(inertia, 6), round(time.perf_counter() - t0, 3)))

    with PeakTreeRSS() as mem:
        km = fit(callback)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"  {label}: {wall:.1f}s, {km.n_iter_} iterations, peak {mem.peak / 2**30:.2f} GiB")
    return km, {
        "fit_wall_s": wall,
        "client_cpu_s": cpu,
        "load_avg_before_fit": load_before,
        "n_iter": km.n_iter_,
        "inertia": km.inertia_,
        "n_dtw": km.n_dtw_,
        "n_reseeded": km.n_reseeded_,
        "peak_rss_gib": mem.peak / 2**30,
        "rss_before_fit_gib": mem.base / 2**30,
        "peak_rss_increase_gib": (mem.peak - mem.base) / 2**30,
        "iteration_trace": trace,
    }


def run(n: int, n_steps: int, k: int, window: int, max_iter: int, n_workers: int) -> dict:
    from distributed import Client, LocalCluster

    print(f"data: {n:,} x {n_steps} x {len(VARIABLES)} ...", flush=True)
    X = weather_series(n, n_steps=n_steps, seed=0)
    params = {"n_clusters": k, "window": window, "random_state": 0, "max_iter": max_iter}

    DTWKMeans(3, window=window, random_state=0).fit(X[:300])  # warm-up: numba cache load
    print("single process ...", flush=True)
    ref, single = timed_fit(lambda cb: DTWKMeans(**params).fit(X, callback=cb), "single")

    print(f"dask: LocalCluster({n_workers} workers x 1 thread) ...", flush=True)
    t0 = time.perf_counter()
    cluster = LocalCluster(
        n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = Client(cluster)
    startup = time.perf_counter() - t0
    try:
        # warm-up: every worker loads the numba cache once (not timed)
        fit_partitioned(DTWKMeans(3, window=window, random_state=0), X[:300], client=client)
        got, dask = timed_fit(
            lambda cb: fit_partitioned(DTWKMeans(**params), X, client=client, callback=cb),
            "dask",
        )
        dask["cluster_startup_s"] = startup
        dask["n_workers"] = n_workers
        dask["threads_per_worker"] = 1
        dask["n_partitions"] = n_workers
    finally:
        client.close()
        cluster.close()

    identical = {
        "labels": bool(np.array_equal(ref.labels_, got.labels_)),
        "centers": bool(np.array_equal(ref.cluster_centers_, got.cluster_centers_)),
        "inertia": ref.inertia_ == got.inertia_,
        "n_iter": ref.n_iter_ == got.n_iter_,
        "n_dtw": ref.n_dtw_ == got.n_dtw_,
    }
    print(f"  identical: {identical}", flush=True)
    return {
        "n_series": n,
        "n_unique": ref.n_unique_,
        "n_steps": n_steps,
        "n_variables": X.shape[2],
        "variables": list(VARIABLES),
        "input_gib": X.nbytes / 2**30,
        "params": {**params, "tol": ref.tol, "barycenter_iter": ref.barycenter_iter},
        "single_process": single,
        "dask": dask,
        "identical": identical,
        "dask_over_single_wall": dask["fit_wall_s"] / single["fit_wall_s"],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (< 1 min)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "partitioned.json"))
    args = parser.parse_args(argv)
    cfg = {"n": 400_000, "n_steps": 18, "k": 60, "window": 3, "max_iter": 50, "n_workers": 2}
    if args.quick:
        cfg.update(n=20_000, k=20, max_iter=10)
    result: dict[str, Any] = {"mode": "quick" if args.quick else "full"}
    result["machine"] = machine_info()
    result["partitioned"] = run(**cfg)
    result["machine"]["load_avg_at_end"] = os.getloadavg()
    result["machine"]["numba_threading_layer"] = numba.threading_layer()
    result["notes"] = [
        "Same data, parameters and seed for both fits; 'identical' compares them with "
        "np.array_equal / == (no tolerance).",
        "single_process: DTWKMeans.fit with numba on all cores. dask: fit_partitioned on a "
        "LocalCluster of 2 worker processes x 1 thread, 2 row partitions, 1 numba thread per "
        "task; fit_wall_s includes scattering the partitions, not the cluster start-up.",
        "peak_rss_gib sums the RSS of this process and its children (Dask nanny and "
        "workers); the dask fit's workers hold a copy of the rows the client also holds.",
        "The 2-core machine is shared with other jobs (see load_avg_*), which inflates times.",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2, default=float))
    print(json.dumps({k: v for k, v in result["partitioned"].items() if k in ("identical",)}))


if __name__ == "__main__":
    main()
