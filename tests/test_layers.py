"""The layers contract (import-linter, in pyproject.toml) holds for the tree, and fails the
moment a lower module imports a higher one."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = ROOT / ".venv" / "bin" / "lint-imports"


def _lint(tree: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(LINT), "--no-cache"], cwd=tree, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.skipif(not LINT.exists(), reason="import-linter is installed by make setup")
def test_the_tree_keeps_its_layers():
    done = _lint(ROOT)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "0 broken" in done.stdout


@pytest.mark.skipif(not LINT.exists(), reason="import-linter is installed by make setup")
def test_an_upward_import_breaks_the_contract(tmp_path):
    """A copy of the tree where the truth model imports the web sheet fails, naming both."""
    for folder in ("pipeline", "flows"):
        shutil.copytree(ROOT / folder, tmp_path / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    rule = tmp_path / "pipeline" / "truth" / "rule.py"
    rule.write_text(rule.read_text() + "\nimport pipeline.review.deps  # noqa\n")
    done = _lint(tmp_path)
    assert done.returncode != 0
    assert "pipeline.truth is not allowed to import pipeline.review" in done.stdout
