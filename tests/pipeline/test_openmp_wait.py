"""OpenMP threads sleep while they wait (``pipeline/__init__.py``): set before any OpenMP
runtime loads on the CLI's import path, and the environment's own choice wins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Reports whether an OpenMP runtime was already mapped when ``pipeline`` was first imported
# (libgomp reads OMP_WAIT_POLICY once, when it loads), then the policy the run uses.
PROBE = """
import sys

class Probe:
    def find_spec(self, name, path=None, target=None):
        if name == "pipeline":
            with open("/proc/self/maps") as maps:
                print("loaded-before" if "libgomp" in maps.read() else "not-loaded-before")
        return None

sys.meta_path.insert(0, Probe())
import flows.cli, os
import numba, numpy as np
from pipeline.cluster.kmeans import DTWKMeans
DTWKMeans(2, window=1, max_iter=1).fit(np.random.default_rng(0).random((64, 6, 2)))
print(numba.threading_layer(), os.environ["OMP_WAIT_POLICY"])
"""


def _probe(**env: str) -> list[str]:
    environ = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | env
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=environ, text=True,
                          capture_output=True, timeout=120, check=True)
    return done.stdout.split()


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc (Linux)")
def test_openmp_threads_sleep_while_waiting():
    assert _probe() == ["not-loaded-before", "omp", "PASSIVE"]


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc (Linux)")
def test_the_environment_wins():
    assert _probe(OMP_WAIT_POLICY="ACTIVE")[-1] == "ACTIVE"
