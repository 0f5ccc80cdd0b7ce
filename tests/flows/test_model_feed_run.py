"""A national run through ``zipcast run --source nbm`` against a local model archive."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from flows.cli import app
from pipeline.settings import get_settings
from tests.pipeline.sources.fake_archive import ArchiveServer, build_archive, nbm_path

C11, C12 = pd.Timestamp("2004-12-08 11:00"), pd.Timestamp("2004-12-08 12:00")


def test_state_run_with_the_download_bar(prefect_harness, tmp_path, capsys):
    """A run for Rhode Island from the newest NBM cycle, with progress shown (the download
    bar's callback travels through the flow's tasks) and the cycle fallback in the summary."""
    from pipeline.config.sources import SourceSettings
    from pipeline.settings import Settings
    from tests.pipeline.sources.conftest import REAL

    if not REAL.is_dir():
        pytest.skip(f"real forecast files not found at {REAL}")
    from flows.twice_daily import twice_daily

    build_archive(REAL / "eta_grid211_f24.grib1", tmp_path / "archive", [C11, C12],
                  list(range(3, 73, 3)))
    server = ArchiveServer(tmp_path / "archive", missing={nbm_path(C12, 72)}).start()
    settings = Settings(data_dir=tmp_path / "data", sources=SourceSettings(
        model_base_url=server.url, model_cache_dir=tmp_path / "cache"))
    try:
        summary = twice_daily(source="nbm", issue_time="2004-12-08T12:30:00Z", states=["RI"],
                              max_slots=4, with_baselines=False, notify_editors=False,
                              show_progress=True, settings=settings)
    finally:
        server.stop()
    assert summary.n_zips == 90 and summary.data_quality["coverage"] == 1.0
    assert summary.snapshot.startswith("nbm/20041208T1100Z")
    assert "using cycle 2004-12-08 11Z" in summary.data_quality["source_notes"][0]
    assert "using cycle 2004-12-08 11Z" in capsys.readouterr().err


@pytest.mark.slow
def test_national_nbm_run_end_to_end(prefect_harness, tmp_path, monkeypatch):
    """The CLI fetches the newest complete NBM cycle (12Z is still being published: 11Z, said
    in the summary) and plans slots for every ZIP the grid covers.

    The served grid is real (Eta, NCEP grid 211: the lower 48 states, Puerto Rico and the
    Virgin Islands); Alaska, Hawaii and the Pacific islands are off it and reported as left
    out, 404 of 41,078 ZIPs, so coverage is 99.0 %, above the 98 % minimum.
    """
    from tests.pipeline.sources.conftest import REAL

    if not REAL.is_dir():
        pytest.skip(f"real forecast files not found at {REAL}")
    steps = list(range(3, 73, 3))
    build_archive(REAL / "eta_grid211_f24.grib1", tmp_path / "archive", [C11, C12], steps)
    server = ArchiveServer(tmp_path / "archive", missing={nbm_path(C12, 72)}).start()
    monkeypatch.setenv("ZIPCAST_SOURCES__MODEL_BASE_URL", server.url)
    monkeypatch.setenv("ZIPCAST_SOURCES__MODEL_CACHE_DIR", str(tmp_path / "cache"))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["run", "--source", "nbm", "--issue-time",
                                          "2004-12-08T12:30:00Z", "--json", "--max-slots", "20"])
    finally:
        server.stop()
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    quality = summary["data_quality"]
    assert summary["n_zips"] == 41_078 - 404 and quality["n_left_out"] == 404
    assert quality["coverage"] >= 0.98
    assert summary["snapshot"].startswith("nbm/20041208T1100Z")
    assert any("using cycle 2004-12-08 11Z" in n for n in quality["source_notes"])
    assert 1 <= summary["n_slots"] <= 20
    assert len(list((tmp_path / "cache" / "nbm" / "2004120811").glob("*.grib2"))) == 24
