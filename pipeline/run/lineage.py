"""What code made a run: the git commit (and whether the tree had local changes), the
zipcast version and the versions of the packages that shape its numbers."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from pipeline.settings import REPO_ROOT

LINEAGE_PACKAGES = ("numpy", "pandas", "numba", "scikit-learn", "scipy", "tslearn", "pyarrow",
                    "geopandas", "shapely", "pyproj", "zipcodes", "xarray", "cfgrib", "eccodes",
                    "pandera", "sqlalchemy", "prefect", "jinja2")


def code_version(root: Path = REPO_ROOT) -> dict[str, Any]:
    """What code made the run: the git commit (and whether the tree had local changes), the
    zipcast version and the versions of the packages that shape its numbers."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                                  timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    status = git("status", "--porcelain", "--untracked-files=no")
    packages: dict[str, str | None] = {}
    for name in LINEAGE_PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    try:
        zipcast = metadata.version("zipcast")
    except metadata.PackageNotFoundError:
        zipcast = None
    return {"git_commit": git("rev-parse", "HEAD"),
            "git_dirty": None if status is None else bool(status),
            "zipcast": zipcast, "python": platform.python_version(), "packages": packages}
