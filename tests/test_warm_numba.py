"""``scripts/warm_numba.py`` (run by ``make setup``) still calls the kernels a run calls."""

import importlib.util
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "warm_numba.py"


def test_each_part_runs():
    spec = importlib.util.spec_from_file_location("warm_numba", SCRIPT)
    assert spec is not None and spec.loader is not None
    warm = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(warm)
    assert set(warm.PARTS) == {"synthetic_and_search", "dtw_kmeans"}
    for part in warm.PARTS.values():
        part()  # from the cache setup filled: seconds


def test_a_failing_part_does_not_fail_setup(tmp_path):
    """A part that raises is named on stderr, and the script still exits 0."""
    bad = tmp_path / "warm_numba.py"
    bad.write_text(SCRIPT.read_text().replace(
        "def dtw_kmeans() -> None:", "def dtw_kmeans() -> None:\n    raise RuntimeError('boom')"))
    done = subprocess.run([sys.executable, str(bad)], capture_output=True, text=True,
                          check=False, timeout=600)
    assert done.returncode == 0
    assert "dtw_kmeans: RuntimeError: boom" in done.stderr
    assert "not fatal" in done.stderr
