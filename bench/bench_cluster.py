"""Benchmark pipeline.cluster.DTWKMeans against tslearn and dtaidistance.

Run:  .venv/bin/python bench/bench_cluster.py [--quick] [--out bench/results/cluster.json]
      .venv/bin/python bench/bench_cluster.py --hard [--no-compare]   (adds the "hard" section)

Every method's result is scored by ONE function (:func:`score`): exact
``cdist_dtw`` of the data to the returned centers, labels = argmin, mean of
the squared distances (tslearn's inertia definition).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine import machine_info as _machine_info  # noqa: E402

from pipeline.cluster import DTWKMeans, cdist_dtw  # noqa: E402
from pipeline.cluster._lloyd import dedup_rows, kmeans_plusplus  # noqa: E402

TSLEARN_BUDGET_S = 600.0


# --- synthetic weather-like data -------------------------------------------
# Smooth random spatial fields over pseudo-locations in the unit square, a
# diurnal cycle whose phase follows longitude and a rain band sweeping east.
# Locations are snapped to forecast grid cells, so several "ZIPs" share one
# cell and get exactly identical rows, as in production.

VARIABLES = ("temperature", "dewpoint", "wind_speed", "precip_prob", "cloud_cover")


def _smooth_field(rng, pts, n_modes=12, max_freq=3.0):
    """Random low-frequency Fourier field evaluated at ``pts`` (n, 2), shape (n,)."""
    freqs = rng.uniform(-max_freq, max_freq, size=(n_modes, 2)) * 2 * np.pi
    phases = rng.uniform(0, 2 * np.pi, size=n_modes)
    amps = rng.normal(size=n_modes) / np.sqrt(n_modes)
    return np.cos(pts @ freqs.T + phases) @ amps


def _locations(rng, n_locations, unique_frac):
    """Grid-cell centers (n_cells, 2) and the cell of each location (n_locations,)."""
    n_cells = int(round(n_locations * unique_frac))
    cells = rng.uniform(0, 1, size=(n_cells, 2))
    extra = rng.integers(0, n_cells, size=n_locations - n_cells)
    cell_of = np.concatenate([np.arange(n_cells), extra])
    return cells, rng.permutation(cell_of)


def weather_series(n_locations, n_steps=48, unique_frac=0.85, seed=0):
    """Standardized synthetic forecasts.

    Parameters
    ----------
    n_locations : int
    n_steps : int
        Hourly steps.
    unique_frac : float
        Fraction of distinct grid cells; the remaining locations duplicate
        a random cell's series exactly.
    seed : int

    Returns
    -------
    X : ndarray of shape (n_locations, n_steps, 5), float64, each variable
        z-scored over the whole array.
    """
    rng = np.random.default_rng(seed)
    cells, cell_of = _locations(rng, n_locations, unique_frac)
    X = _cell_series(rng, cells, n_steps)[cell_of]
    mu = X.mean(axis=(0, 1))
    sd = X.std(axis=(0, 1))
    return np.ascontiguousarray((X - mu) / sd)


def _cell_series(rng, pts, n_steps):
    """Raw (unstandardized) series of each grid cell, shape (n_cells, n_steps, 5)."""
    n = pts.shape[0]
    t = np.arange(n_steps)[None, :]
    lon = pts[:, :1]
    base = 15 + 8 * _smooth_field(rng, pts)[:, None]
    amp = 5 + 2 * _smooth_field(rng, pts)[:, None]
    diurnal = np.cos(2 * np.pi * (t - 15 - 4 * lon) / 24)
    trend = 3 * _smooth_field(rng, pts)[:, None] * t / n_steps
    # rain band: a front moving east, its position wobbling in latitude
    front = (
        0.1 + 0.8 * t / n_steps + 0.15 * np.sin(3 * pts[:, 1:2] + _smooth_field(rng, pts)[:, None])
    )
    rain = np.exp(-(((lon - front) / 0.08) ** 2)) * (0.6 + 0.4 * _smooth_field(rng, pts)[:, None])
    rain = np.clip(rain, 0, 1)
    temp = base + amp * diurnal + trend - 4 * rain
    dew = temp - 4 - 3 * np.abs(_smooth_field(rng, pts))[:, None] * (1 - rain)
    wind = 4 + 2 * _smooth_field(rng, pts)[:, None] + 6 * rain + 1.5 * np.sin(2 * np.pi * t / 24)
    cloud = np.clip(0.4 + 0.3 * _smooth_field(rng, pts)[:, None] + 0.6 * rain, 0, 1)
    X = np.stack([temp, dew, wind, rain, cloud], axis=-1)
    X += 0.05 * rng.normal(size=(n, n_steps, 5)) * np.array([1.0, 1.0, 0.5, 0.02, 0.02])
    return X


def random_walks(n_locations, n_steps=48, n_variables=5, seed=0):
    """The engine's hard case: independent Gaussian random walks, no duplicates.

    Each variable is z-scored over the whole array, as :func:`weather_series`
    is.  Unlike weather, random walks have no shared structure, so clusters
    are loose, many centers are nearly as close as the best one and lower
    bounds prune less.

    Returns
    -------
    X : ndarray of shape (n_locations, n_steps, n_variables), float64
    """
    X = np.random.default_rng(seed).normal(size=(n_locations, n_steps, n_variables))
    X = X.cumsum(axis=1)
    return np.ascontiguousarray((X - X.mean(axis=(0, 1))) / X.std(axis=(0, 1)))


# --- benchmark ----------------------------------------------------------------


def score(X, centers, window):
    """Mean over series of squared DTW to the closest center."""
    return float((cdist_dtw(X, np.asarray(centers), window=window).min(axis=1) ** 2).mean())


def machine_info():
    """CPU, memory and library versions."""
    import dtaidistance
    import sklearn
    import tslearn

    return _machine_info(scikit_learn=sklearn, tslearn=tslearn, dtaidistance=dtaidistance)


_COMPILE_SNIPPET = """
import time, json, numpy as np
t0 = time.perf_counter()
from pipeline.cluster import DTWKMeans
t1 = time.perf_counter()
X = np.random.default_rng(0).normal(size=(60, 12, 2)).cumsum(axis=1)
DTWKMeans(3, window=2, random_state=0).fit(X).predict(X)
t2 = time.perf_counter()
DTWKMeans(3, window=2, random_state=0).fit(X).predict(X)
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "first_tiny_fit_s": t2 - t1, "second_tiny_fit_s": t3 - t2}))
"""


def compile_times(cold=True):
    """Tiny fit in fresh processes: cold numba compile vs. loading the cache."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        runs = [("cold_compile", {"NUMBA_CACHE_DIR": tmp})] if cold else []
        for name, env in runs + [("cached", {})]:
            res = subprocess.run(
                [sys.executable, "-c", _COMPILE_SNIPPET],
                cwd=ROOT,
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                check=True,
            )
            out[name] = json.loads(res.stdout.strip().splitlines()[-1])
    out["note"] = (
        "cold_compile uses an empty NUMBA_CACHE_DIR; 'cached' loads the on-disk cache "
        "(cache=True); first minus second tiny fit is the one-off JIT/cache-load cost"
    )
    return out


def run_ours(X, init, window, iters, barycenter_iter):
    t0 = time.perf_counter()
    km = DTWKMeans(
        init.shape[0],
        window=window,
        init=init,
        max_iter=iters,
        tol=0.0,
        barycenter_iter=barycenter_iter,
    ).fit(X)
    return time.perf_counter() - t0, km.cluster_centers_, km.n_iter_


def run_tslearn(X, init, window, iters, barycenter_iter):
    """tslearn TimeSeriesKMeans(metric='dtw'); returns (time, centers, iters, note)."""
    from tslearn.clustering import TimeSeriesKMeans

    def fit(n_iter, data):
        km = TimeSeriesKMeans(
            init.shape[0],
            metric="dtw",
            init=init.copy(),
            max_iter=n_iter,
            tol=0.0,
            max_iter_barycenter=barycenter_iter,
            n_jobs=-1,
            metric_params={"global_constraint": "sakoe_chiba", "sakoe_chiba_radius": window},
        )
        t0 = time.perf_counter()
        km.fit(data)
        return time.perf_counter() - t0, km

    fit(1, X[: 4 * init.shape[0]])  # numba warm-up, not timed
    t1, km = fit(1, X)
    n_iter = iters if t1 * iters <= TSLEARN_BUDGET_S else max(1, int(TSLEARN_BUDGET_S // t1))
    t, km = (t1, km) if n_iter == 1 else fit(n_iter, X)
    return t, km.cluster_centers_, n_iter


def run_dtaidistance(X, init, window, iters, barycenter_iter):
    """dtaidistance KMeans (C + multiprocessing path) from the same centers."""
    from dtaidistance.clustering.kmeans import KMeans

    class FixedInit(KMeans):
        def kmeansplusplus_centers(self, series):
            return [c.copy() for c in init]

    km = FixedInit(
        k=init.shape[0],
        max_it=iters,
        max_dba_it=barycenter_iter,
        thr=0.0,
        dists_options={"window": window + 1, "use_c": True},
        show_progress=False,
    )
    t0 = time.perf_counter()
    _, performed = km.fit(X, use_parallel=True)  # == fit_fast, which breaks on dict options
    return time.perf_counter() - t0, np.array(km.means), performed - 1


def comparison(n, k, window, iters, barycenter_iter, data=None):
    """Same data, same initial centers, same iteration count for all three.

    ``data(n)`` makes the series (default: :func:`weather_series` with seed 1).
    """
    X = weather_series(n, seed=1) if data is None else data(n)
    Xu, wu, _ = dedup_rows(X)
    init = kmeans_plusplus(Xu, wu, k, window, np.random.RandomState(0))
    run_ours(X[:200], init[:5], window, 1, 1)  # warm-up
    res = {
        "n_series": n,
        "n_unique": int(len(Xu)),
        "n_steps": X.shape[1],
        "n_variables": X.shape[2],
        "k": k,
        "window": window,
        "iterations": iters,
        "barycenter_iter": barycenter_iter,
        "initial_inertia": score(X, init, window),
    }
    for name, fn in [
        ("ours", run_ours),
        ("tslearn", run_tslearn),
        ("dtaidistance", run_dtaidistance),
    ]:
        t, centers, n_iter = fn(X, init, window, iters, barycenter_iter)
        res[name] = {
            "fit_s": t,
            "iterations_run": int(n_iter),
            "inertia": score(X, centers, window),
        }
        if name == "ours":  # cheap: repeat, keep every time (the machine is shared)
            more = [run_ours(X, init, window, iters, barycenter_iter)[0] for _ in range(2)]
            res[name]["fit_s_repeats"] = [t, *more]
            t = res[name]["fit_s"] = float(np.median(res[name]["fit_s_repeats"]))
        res[name]["fit_s_scaled_to_iterations"] = t * iters / max(1, n_iter)
        print(f"  {name}: {t:.2f}s, {n_iter} it, inertia {res[name]['inertia']:.5g}", flush=True)
    ours_t = res["ours"]["fit_s"]
    res["speedup_vs_tslearn"] = res["tslearn"]["fit_s_scaled_to_iterations"] / ours_t
    res["speedup_vs_dtaidistance"] = res["dtaidistance"]["fit_s_scaled_to_iterations"] / ours_t
    res["inertia_ratio_vs_tslearn"] = res["ours"]["inertia"] / res["tslearn"]["inertia"]
    res["inertia_ratio_vs_dtaidistance"] = res["ours"]["inertia"] / res["dtaidistance"]["inertia"]
    res["notes"] = [
        "tslearn 0.10 TimeSeriesKMeans(metric='dtw') ignores max_iter_barycenter: its DBA "
        "runs up to 30 Petitjean passes per cluster (stopping when the cost changes by "
        "< 1e-5); ours uses the same stopping rule but at most barycenter_iter passes.",
        "ours: fit_s is the median of 3 identical runs (all listed); tslearn and "
        "dtaidistance ran once. The 2-core machine was shared with other jobs "
        "(see machine.load_avg_*), which inflates every time.",
        "tslearn n_jobs=-1 (threads). If 1 iteration x iterations exceeded "
        f"{TSLEARN_BUDGET_S:.0f}s it ran fewer iterations; fit_s_scaled_to_iterations "
        "scales linearly and speedups use the scaled time.",
        "dtaidistance is multivariate (dtw_ndim C path, window = radius + 1 in its "
        "convention); its KMeans uses multiprocessing (fit_fast), starts each DBA from "
        "the cluster medoid instead of the previous center, runs DBA unconstrained "
        "(no window), stops early when assignments do not change, and computes a "
        "final assignment; iterations_run is its count.",
    ]
    return res


class PeakRSS:
    """Sample this process's RSS every 10 ms in a background thread."""

    def __enter__(self):
        self.proc = psutil.Process()
        self.base = self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.01)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def national(n, k, window):
    """Default-parameter fit of the national-size problem."""
    X = weather_series(n, seed=0)
    DTWKMeans(3, window=window, random_state=0).fit(X[:300])  # warm-up: JIT/cache load
    trace, load_before = [], os.getloadavg()
    t0, c0 = time.perf_counter(), time.process_time()
    with PeakRSS() as mem:
        km = DTWKMeans(k, window=window, random_state=0)
        km.fit(
            X,
            callback=lambda it, inertia: trace.append(
                (it, round(inertia, 6), round(time.perf_counter() - t0, 3))
            ),
        )
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "n_series": n,
        "n_unique": km.n_unique_,
        "n_steps": X.shape[1],
        "n_variables": X.shape[2],
        "variables": list(VARIABLES),
        "k": k,
        "window": window,
        "params": {
            "max_iter": km.max_iter,
            "tol": km.tol,
            "barycenter_iter": km.barycenter_iter,
            "init": km.init,
            "n_init": km.n_init,
            "random_state": 0,
        },
        "fit_wall_s": wall,
        "fit_cpu_s": cpu,
        "cpu_s_per_wall_s": cpu / wall,
        "load_avg_before_fit": load_before,
        "n_iter": km.n_iter_,
        "inertia": km.inertia_,
        "exact_dtw_fraction_of_pairs": km.n_dtw_ / (km.n_unique_ * k * (km.n_iter_ + 1)),
        "peak_rss_gib": mem.peak / 2**30,
        "rss_before_fit_gib": mem.base / 2**30,
        "peak_rss_increase_gib": (mem.peak - mem.base) / 2**30,
        "input_gib": X.nbytes / 2**30,
        "iteration_trace": trace,
    }


def hard(n, k, window, iters, repeats=3):
    """The hard case: DTWKMeans on random walks (k-means++, ``iters`` iterations, tol 0).

    Reports the wall time of ``repeats`` identical fits (min is the headline:
    the machine is shared), the k-means++ share, the load average, exact DTW
    evaluations and how many (row, center) pairs the lower bounds pruned.
    """
    X = random_walks(n, seed=0)
    DTWKMeans(3, window=window, random_state=0).fit(X[:300])  # warm-up: JIT/cache load
    params = {"window": window, "max_iter": iters, "tol": 0.0, "random_state": 0}
    walls, loads = [], []
    for _ in range(repeats):
        loads.append(os.getloadavg())
        t0 = time.perf_counter()
        km = DTWKMeans(k, **params).fit(X)
        walls.append(time.perf_counter() - t0)
        print(f"  hard fit {walls[-1]:.2f}s (load {loads[-1][0]:.2f})", flush=True)
    Xu, wu, _ = dedup_rows(X)
    t0 = time.perf_counter()
    kmeans_plusplus(Xu, wu, k, window, np.random.RandomState(0))
    kpp_s = time.perf_counter() - t0
    pairs = km.n_unique_ * k * (km.n_iter_ + 1)
    return {
        "data": "Gaussian random walks, each variable z-scored over the array, seed 0",
        "n_series": n,
        "n_unique": km.n_unique_,
        "n_steps": X.shape[1],
        "n_variables": X.shape[2],
        "k": k,
        "params": {**params, "init": km.init, "barycenter_iter": km.barycenter_iter},
        "fit_wall_s": min(walls),
        "fit_wall_s_repeats": walls,
        "load_avg_before_each_fit": loads,
        "kmeans_plusplus_s": kpp_s,
        "n_iter": km.n_iter_,
        "inertia": km.inertia_,
        "assignment_pairs": pairs,
        "exact_dtw": km.n_dtw_,
        "exact_dtw_per_row_per_assignment": km.n_dtw_ / (km.n_unique_ * (km.n_iter_ + 1)),
        "pruned_fraction_of_pairs": 1 - km.n_dtw_ / pairs,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (< 1 min)")
    parser.add_argument(
        "--hard",
        action="store_true",
        help="only the hard case (random walks); adds/updates the 'hard' section of --out",
    )
    parser.add_argument(
        "--no-compare",
        action="store_true",
        help="with --hard: skip the tslearn/dtaidistance comparison on random walks",
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "cluster.json"))
    args = parser.parse_args(argv)
    if args.hard:
        return main_hard(args)
    if args.quick:
        cmp_cfg, nat_cfg = (
            {"n": 200, "k": 8, "window": 3, "iters": 3, "barycenter_iter": 5},
            {"n": 3000, "k": 20},
        )
    else:
        cmp_cfg, nat_cfg = (
            {"n": 2000, "k": 60, "window": 3, "iters": 10, "barycenter_iter": 5},
            {"n": 41_084, "k": 60},
        )
    result = {"mode": "quick" if args.quick else "full", "machine": machine_info()}
    print("compile times ...", flush=True)
    result["compile"] = compile_times(cold=not args.quick)
    print("national ...", flush=True)
    result["national"] = national(window=3, **nat_cfg)
    print(f"  {result['national']['fit_wall_s']:.2f}s", flush=True)
    print("comparison ...", flush=True)
    result["comparison"] = comparison(**cmp_cfg)
    result["targets"] = targets(result)
    result["machine"]["load_avg_at_end"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2, default=float))
    print(json.dumps(result["targets"], indent=2))


def main_hard(args):
    """Run the hard case and merge it into ``args.out``, keeping every other section."""
    out = Path(args.out)
    result = json.loads(out.read_text()) if out.exists() else {}
    section = result.get("hard", {})
    cfg = {"n": 41_084, "k": 60, "window": 3, "iters": 20}
    if args.quick:
        cfg = {"n": 3000, "k": 20, "window": 3, "iters": 5}
    print("hard case ...", flush=True)
    section["machine"] = machine_info()
    section["fit"] = hard(**cfg)
    wall = section["fit"]["fit_wall_s"]
    section["target_fit_le_20s"] = [wall <= 20, wall]
    if not args.no_compare:
        print("hard comparison ...", flush=True)
        n_cmp = 200 if args.quick else 2000
        section["comparison"] = comparison(
            n_cmp,
            8 if args.quick else 60,
            3,
            3 if args.quick else 10,
            5,
            data=lambda n: random_walks(n, seed=1),
        )
    section["machine"]["load_avg_at_end"] = os.getloadavg()
    result["hard"] = section
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=float))
    print(json.dumps(section["fit"], indent=2, default=float))


def targets(result):
    nat, cmp_ = result["national"], result["comparison"]
    return {
        "national_fit_le_20s": [nat["fit_wall_s"] <= 20, nat["fit_wall_s"]],
        "national_peak_rss_le_2gib": [nat["peak_rss_gib"] <= 2, nat["peak_rss_gib"]],
        "speedup_vs_tslearn_ge_100x": [
            cmp_["speedup_vs_tslearn"] >= 100,
            cmp_["speedup_vs_tslearn"],
        ],
        "speedup_vs_dtaidistance_ge_5x": [
            cmp_["speedup_vs_dtaidistance"] >= 5,
            cmp_["speedup_vs_dtaidistance"],
        ],
        "inertia_le_1.01x_tslearn": [
            cmp_["inertia_ratio_vs_tslearn"] <= 1.01,
            cmp_["inertia_ratio_vs_tslearn"],
        ],
        "note": "quick mode uses small sizes; targets are only meaningful in full mode"
        if result["mode"] == "quick"
        else "full mode",
    }


if __name__ == "__main__":
    main()
