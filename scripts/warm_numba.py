"""Compile numba's kernels into their on-disk cache once, at ``make setup``.

Without this, the first ``zipcast run`` on a fresh clone compiles every kernel it meets (about
20 s on a 2-core machine, one kernel at a time: numba compiles under one lock per process).
Here two processes compile side by side -- the synthetic source's, the statement search's and
the membership's kernels in one, DTW k-means' in the other -- on small inputs of the types a
national run passes, so a run then loads every kernel from the cache.

Usage::

    .venv/bin/python scripts/warm_numba.py            # both parts, side by side
    .venv/bin/python scripts/warm_numba.py dtw_kmeans  # one part (what each process runs)

A part that fails is reported and does not fail setup: the run compiles what it needs then.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def synthetic_and_search() -> None:
    """The synthetic source's kernels (systems grid and points, storm cells), the statement
    search's box sums and best box, and the DTW from rows to given centers (all and nearest allowed)."""
    import numpy as np

    from pipeline.cluster.rowblocks import nearest_allowed, own_center_dtw
    from pipeline.geo import load_zips
    from pipeline.settings import get_settings
    from pipeline.sources import fetch_raw
    from pipeline.settings import TruthRules
    from pipeline.truth.search import best_box, box_sums

    fetch_raw("synthetic", load_zips(["RI"]), "2026-01-15T09:00Z", seed=0, hours=72,
              path=None, settings=get_settings())
    box_sums(np.ones((4, 4, 3)), (3, 3, 1))
    best_box(np.array([50.0, 52.0]), np.array([40.0, 41.0]), np.array([3.0, 4.0]), np.ones(2),
             TruthRules(), 2.0)
    rng = np.random.default_rng(0)
    X, centers = rng.standard_normal((50, 18, 5)), rng.standard_normal((4, 18, 5))
    nearest_allowed(X, centers, rng.random((50, 4)) < 0.5, window=3)
    own_center_dtw(X, centers, rng.integers(0, 4, 50), window=3)


def dtw_kmeans() -> None:
    """DTW k-means' kernels: k-means++, the pruned assignment, DBA (as the planner's DTW-only
    baseline and each slot's barycenter fit it)."""
    import numpy as np

    from pipeline.cluster import DTWKMeans

    X = np.random.default_rng(0).standard_normal((400, 18, 5))
    DTWKMeans(8, window=3, max_iter=3, random_state=0).fit(X)
    DTWKMeans(1, window=3, init=X[:50].mean(axis=0, keepdims=True), max_iter=3, tol=0.0,
              random_state=0).fit(X[:50])


PARTS = {"synthetic_and_search": synthetic_and_search, "dtw_kmeans": dtw_kmeans}


def main() -> int:
    if len(sys.argv) > 1:
        PARTS[sys.argv[1]]()
        return 0
    start = time.perf_counter()
    running = {name: subprocess.Popen([sys.executable, __file__, name], cwd=ROOT,  # noqa: S603
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
               for name in PARTS}
    failed = []
    for name, process in running.items():
        _, err = process.communicate()
        if process.returncode:
            last = (err.decode(errors="replace").strip().splitlines() or ["(no message)"])[-1]
            failed.append(f"{name}: {last}")
    took = time.perf_counter() - start
    if failed:
        print(f"numba warm-up: {'; '.join(failed)} -- not fatal: the first run compiles what "
              "it needs instead (about 20 s)", file=sys.stderr)
    else:
        print(f"numba kernels compiled into their cache in {took:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
