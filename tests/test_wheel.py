"""The built wheel serves the sheet on its own: templates, static files and the gazetteer
fixes travel inside the package, not in the checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UV = ROOT / ".tools" / "bin" / "uv"

SERVE = r"""
import sys
from pathlib import Path
import pipeline
assert str(Path(pipeline.__file__).resolve()).startswith(sys.argv[1]), pipeline.__file__
from fastapi.testclient import TestClient
from pipeline.geo import FIXES
from pipeline.review.app import create_app
from pipeline.review.deps import TEMPLATES_DIR
from pipeline.settings import Settings
assert str(TEMPLATES_DIR).startswith(sys.argv[1]) and FIXES.exists(), (TEMPLATES_DIR, FIXES)
client = TestClient(create_app(Settings(data_dir=Path(sys.argv[2]))))
page = client.get("/login")
assert page.status_code == 200 and "<form" in page.text, page.status_code
assert client.get("/static/review.css").status_code == 200
print("served from", TEMPLATES_DIR)
"""


@pytest.mark.skipif(not UV.exists(), reason="needs the pinned uv in .tools (make setup)")
def test_installed_wheel_serves_the_sheet(tmp_path):
    """Build the wheel, install it (without dependencies) into an empty folder, and render
    the sign-in page and a static file from that copy, in a folder with no checkout."""
    built = subprocess.run([str(UV), "build", "--wheel", "--out-dir", str(tmp_path / "dist"),
                            str(ROOT)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    wheel = next((tmp_path / "dist").glob("zipcast-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "pipeline/_shipped/templates/review/sheet.html" in names
    assert "pipeline/_shipped/data/gazetteer_fixes.csv" in names
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)  # what pip puts in site-packages
    away = tmp_path / "elsewhere"
    away.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("ZIPCAST_DATA_DIR", None)
    served = subprocess.run([sys.executable, "-c", SERVE, str(target), str(away / "data")],
                            cwd=away, env=env, capture_output=True, text=True, timeout=300)
    assert served.returncode == 0, served.stderr[-2000:]
    assert "served from" in served.stdout
    shutil.rmtree(target)
