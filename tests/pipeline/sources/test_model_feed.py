"""The model feed (nbm, hrrr, gfs via herbie-data) against a local archive of real GRIB2 bytes."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.config.sources import SourceSettings
from pipeline.sources import (
    SOURCES,
    ModelDataUnavailable,
    ModelFieldMissing,
    fetch_analyses,
    fetch_cycle,
    fetch_raw,
)
from pipeline.sources._herbie import count_messages
from pipeline.sources.gridded import gridded_forecast
from pipeline.sources.model_feed import MODELS, lead_times, prune_cache
from tests.pipeline.sources.conftest import REAL
from tests.pipeline.sources.fake_archive import ArchiveServer, build_archive, nbm_path

C11, C12 = pd.Timestamp("2004-12-08 11:00"), pd.Timestamp("2004-12-08 12:00")
STEPS = list(range(3, 73, 3))  # NBM past f036 is 3-hourly: a 72 h horizon is 24 steps
ISSUE = pd.Timestamp("2004-12-08 12:30", tz="UTC")


@pytest.fixture(scope="module")
def archive(tmp_path_factory, real_forecasts_dir):
    """Two NBM cycles (11Z, 12Z) of 24 real-GRIB2 steps with .idx files; sizes by path."""
    root = tmp_path_factory.mktemp("archive")
    sizes = build_archive(real_forecasts_dir / "eta_grid211_f24.grib1", root, [C11, C12],
                          STEPS)
    return root, sizes


@pytest.fixture(scope="module")
def real_forecasts_dir():
    """The shared real NOAA files, for a module-scoped archive; skips when absent."""
    if not REAL.is_dir():
        pytest.skip(f"real forecast files not found at {REAL}")
    return REAL


@pytest.fixture
def served(archive):
    """The archive on a local server, with its own missing/cut settings per test."""
    server = ArchiveServer(archive[0]).start()
    yield server
    server.stop()


def settings_for(server: ArchiveServer, cache: Path, **extra) -> SourceSettings:
    return SourceSettings(model_base_url=server.url, model_cache_dir=cache, http_retries=2,
                          **extra)


def test_newest_complete_cycle_and_only_the_needed_bytes(served, archive, tmp_path, clock):
    """It takes 12Z (the newest at 12:30), fetches every step by byte ranges, and gets fewer
    bytes than the whole files: exactly the wanted messages, as sliced from the served file."""
    got = fetch_cycle("nbm", ISSUE, hours=72, settings=settings_for(served, tmp_path),
                      sleep=clock.sleep)
    assert got.cycle == C12.tz_localize("UTC") and got.notes == []
    assert len(got.files) == 24 and got.n_downloaded == 24
    whole = sum(archive[1][nbm_path(C12, s)] for s in STEPS)
    assert 0 < served.bytes_sent() == got.bytes_downloaded < whole
    assert all(h.range and h.range.startswith("bytes=") for h in served.gets())
    # independent reference: the first 7 messages of the served file, by the .idx offsets
    served_file = archive[0] / nbm_path(C12, 6).lstrip("/")
    offsets = [int(line.split(":")[1]) for line in
               Path(f"{served_file}.idx").read_text().splitlines()]
    assert got.files[1].read_bytes() == served_file.read_bytes()[: offsets[7]]
    assert count_messages(got.files[1]) == 7
    assert clock.sleeps == []


def test_source_rows_come_from_the_gridded_reader(served, tmp_path):
    """``--source nbm`` gives the same rows as the gridded reader on the fetched files."""
    zips = pd.DataFrame({"zip": ["10001", "60601", "80202", "96813"],
                         "lat": [40.75, 41.88, 39.75, 21.31],
                         "lon": [-73.99, -87.61, -104.99, -157.85]})
    cfg = settings_for(served, tmp_path)
    rows = fetch_raw("nbm", zips, ISSUE, hours=72, settings=cfg)
    files = sorted((tmp_path / "nbm" / "2004120812").glob("*.grib2"))
    reference = gridded_forecast(zips, ISSUE, path=files, settings=cfg, hours=72)
    pd.testing.assert_frame_equal(rows, reference)
    assert rows["issue_time"].iloc[0] == C12.tz_localize("UTC")
    assert rows["valid_time"].nunique() == 24
    assert "96813" in rows.attrs["failures"]  # Honolulu is off this CONUS grid: reported


def test_cycle_still_being_published_falls_back_and_says_so(served, tmp_path):
    """12Z lacks its last step: the 11Z cycle is used, and the rows' notes say why."""
    served.missing.add(nbm_path(C12, 72))
    zips = pd.DataFrame({"zip": ["10001"], "lat": [40.75], "lon": [-73.99]})
    rows = SOURCES["nbm"](zips, ISSUE, settings=settings_for(served, tmp_path), hours=72)
    assert rows["issue_time"].iloc[0] == C11.tz_localize("UTC")
    assert len(rows.attrs["notes"]) == 1
    note = rows.attrs["notes"][0]
    assert "using cycle 2004-12-08 11Z" in note and note.endswith(": 2004-12-08 12Z")
    assert "f072 not published" in note
    assert not any("2004120812" in h.path or "blend.20041208/12" in h.path
                   for h in served.gets())  # nothing of 12Z downloaded


def test_a_missing_step_is_an_error_naming_model_cycle_and_step(served, tmp_path, clock):
    """A step 404 in the chosen cycle: retried, then an error naming nbm, 12Z and f036."""
    served.missing.add(nbm_path(C12, 36))
    with pytest.raises(ModelDataUnavailable) as err:
        fetch_cycle("nbm", ISSUE, hours=72, settings=settings_for(served, tmp_path),
                    sleep=clock.sleep)
    text = str(err.value)
    assert text.startswith("nbm 2004-12-08 12Z f036, every field: not fetched after 3 attempt")
    assert text.endswith("not published (no file or no .idx at the archive)")
    assert len(clock.sleeps) == 2  # http_retries
    assert not (tmp_path / "nbm" / "2004120812" / "nbm.t12z.f036.grib2").exists()


def test_a_missing_field_names_the_field(archive, tmp_path, clock):
    """An index without 2 m temperature: an error naming the model, cycle, step and field."""
    root = tmp_path / "archive"
    shutil.copytree(archive[0], root)
    idx = Path(f"{root / nbm_path(C12, 9).lstrip('/')}.idx")
    idx.write_text("".join(line + "\n" for line in idx.read_text().splitlines()
                           if ":TMP:2 m" not in line))
    server = ArchiveServer(root).start()
    try:
        with pytest.raises(ModelFieldMissing, match=r"^nbm 2004-12-08 12Z f009: no 2 m "
                                                    r"temperature in the index"):
            fetch_cycle("nbm", ISSUE, hours=72, settings=settings_for(server, tmp_path / "c"),
                        sleep=clock.sleep)
    finally:
        server.stop()
    assert clock.sleeps == []  # fetching again would not help


def test_a_cut_download_is_never_read(served, tmp_path, clock):
    """A body cut in half is retried; one cut every time fails with no file left to read."""
    served.cut[nbm_path(C12, 6)] = 1
    got = fetch_cycle("nbm", ISSUE, hours=72, settings=settings_for(served, tmp_path),
                      sleep=clock.sleep)
    assert count_messages(got.files[1]) == 7 and len(clock.sleeps) == 1
    fresh = tmp_path / "again"
    served.cut[nbm_path(C12, 9)] = 99
    with pytest.raises(ModelDataUnavailable, match=r"^nbm 2004-12-08 12Z f009, every field"):
        fetch_cycle("nbm", ISSUE, hours=72, settings=settings_for(served, fresh),
                    sleep=clock.sleep)
    cycle_dir = fresh / "nbm" / "2004120812"
    assert not (cycle_dir / "nbm.t12z.f009.grib2").exists()
    assert all(p.suffix == ".grib2" and count_messages(p) == 7 for p in cycle_dir.iterdir())


def test_a_rerun_is_served_from_the_cache(served, tmp_path):
    """The second fetch of the same cycle sends no request at all."""
    cfg = settings_for(served, tmp_path)
    first = fetch_cycle("nbm", ISSUE, hours=72, settings=cfg)
    before = len(served.hits)
    seen = []
    again = fetch_cycle("nbm", ISSUE, hours=72, settings=cfg,
                        progress=lambda done, total, what: seen.append((done, total)))
    assert len(served.hits) == before and again.n_downloaded == 0
    assert again.files == first.files and seen == [(24, 24)]


def test_progress_is_reported_per_step(served, tmp_path):
    """The callback hears every step, ending at total/total; the library prints nothing."""
    seen = []
    fetch_cycle("nbm", ISSUE, hours=72, settings=settings_for(served, tmp_path),
                progress=lambda done, total, what: seen.append((done, total, what)))
    assert [d for d, _, _ in seen] == list(range(1, 25)) and seen[-1][1] == 24
    assert all(w.startswith("nbm 2004-12-08 12Z f0") for _, _, w in seen)


def test_old_cycles_are_pruned(tmp_path):
    """Cycle folders untouched for model_cache_days are deleted; fresh ones stay."""
    old, new = tmp_path / "2004120800", tmp_path / "2004120812"
    for folder in (old, new):
        folder.mkdir()
        (folder / "nbm.t00z.f003.grib2").write_bytes(b"GRIB")
    stamp = time.time() - 4 * 86_400
    os.utime(old / "nbm.t00z.f003.grib2", (stamp, stamp))
    prune_cache(tmp_path, 3.0)
    assert not old.exists() and new.exists()


def test_lead_times_are_regular():
    """Hourly while the model is hourly that far, else 3-hourly; too long is refused."""
    assert lead_times(MODELS["nbm"], 18) == list(range(1, 19))
    assert lead_times(MODELS["nbm"], 72) == STEPS
    assert lead_times(MODELS["gfs"], 72) == list(range(1, 73))
    with pytest.raises(ValueError, match="hrrr reaches 48 h at most"):
        lead_times(MODELS["hrrr"], 72)


def test_urma_analyses_for_verification(real_forecasts_dir, tmp_path):
    """fetch_analyses fetches each hour's URMA analysis into the cache and returns the paths."""
    hours = [pd.Timestamp("2004-12-08 10:00") + pd.Timedelta(hours=k) for k in range(3)]

    def urma_path(cycle, step):
        return f"/urma2p5.{cycle:%Y%m%d}/urma2p5.t{cycle:%H}z.2dvaranl_ndfd.grb2_wexp"

    build_archive(real_forecasts_dir / "eta_grid211_f24.grib1", tmp_path / "a", hours, [1],
                  path_of=urma_path)
    server = ArchiveServer(tmp_path / "a").start()
    try:
        paths = fetch_analyses("2004-12-08T09:30Z", "2004-12-08T12:00Z",
                               settings=settings_for(server, tmp_path / "c"))
    finally:
        server.stop()
    assert [p.name for p in paths] == ["urma.t10z.anl.grib2", "urma.t11z.anl.grib2",
                                       "urma.t12z.anl.grib2"]
    assert all(count_messages(p) == 7 for p in paths)


def test_settings_from_the_environment(monkeypatch, tmp_path):
    """Archive order, mirror URL and cache days come from ZIPCAST_SOURCES__MODEL_*; the cache
    sits under the data folder unless set."""
    from pipeline.settings import Settings

    monkeypatch.setenv("ZIPCAST_SOURCES__MODEL_PRIORITY", '["nomads", "aws"]')
    monkeypatch.setenv("ZIPCAST_SOURCES__MODEL_BASE_URL", "https://mirror.example/nbm")
    monkeypatch.setenv("ZIPCAST_SOURCES__MODEL_CACHE_DAYS", "1.5")
    settings = Settings(data_dir=tmp_path)
    assert settings.sources.model_priority == ["nomads", "aws"]
    assert settings.sources.model_base_url == "https://mirror.example/nbm"
    assert settings.sources.model_cache_days == 1.5
    assert settings.sources.model_cache_dir == tmp_path / "cache" / "models"


def test_values_survive_the_round_trip(served, tmp_path):
    """Temperatures read from the fetched subset equal those read from the whole served file."""
    zips = pd.DataFrame({"zip": ["10001", "80202"], "lat": [40.75, 39.75],
                         "lon": [-73.99, -104.99]})
    cfg = settings_for(served, tmp_path)
    rows = fetch_raw("nbm", zips, ISSUE, hours=72, settings=cfg)
    whole = served.root / nbm_path(C12, 3).lstrip("/")
    reference = gridded_forecast(zips, ISSUE, path=whole, settings=cfg, hours=72)
    first = rows[rows["valid_time"] == reference["valid_time"].iloc[0]]
    np.testing.assert_allclose(first["temperature_f"].to_numpy(),
                               reference["temperature_f"].to_numpy())


def test_chance_of_precipitation_is_not_read_as_an_amount(served, tmp_path):
    """NBM's probability messages share the amount's short name (tp): the amount is the
    accumulation's, the chance is its own column, both checked against eccodes directly."""
    import eccodes

    zips = pd.DataFrame({"zip": ["10001", "98101"], "lat": [40.75, 47.61],
                         "lon": [-73.99, -122.33]})
    cfg = settings_for(served, tmp_path)
    rows = fetch_raw("nbm", zips, ISSUE, hours=72, settings=cfg)
    assert rows["precip_probability"].between(0, 100).all()
    step6 = (tmp_path / "nbm" / "2004120812" / "nbm.t12z.f006.grib2")
    found = {}
    with open(step6, "rb") as handle:
        while (gid := eccodes.codes_grib_new_from_file(handle)) is not None:
            key = (eccodes.codes_get(gid, "shortName"),
                   eccodes.codes_get(gid, "productDefinitionTemplateNumber"))
            found[key] = eccodes.codes_get_values(gid)
            eccodes.codes_release(gid)
    # the chance was made from the 0-6 h amount: where it is 0 the chance is 0, and back
    chance, amount = found[("tp", 9)], found[("tp", 8)]
    assert chance.max() > 0 and np.array_equal(chance == 0, amount.round(3) == 0)
    # the amounts equal those read from the same files with the probabilities taken out
    stripped = tmp_path / "stripped"
    stripped.mkdir()
    for step_file in sorted(step6.parent.glob("*.grib2")):
        with open(step_file, "rb") as handle, open(stripped / step_file.name, "wb") as out:
            while (gid := eccodes.codes_grib_new_from_file(handle)) is not None:
                if eccodes.codes_get(gid, "productDefinitionTemplateNumber") != 9:
                    out.write(eccodes.codes_get_message(gid))
                eccodes.codes_release(gid)
    reference = gridded_forecast(zips, ISSUE, path=stripped, settings=cfg, hours=72)
    assert "precip_probability" not in reference
    np.testing.assert_array_equal(rows["precip_in"].to_numpy(),
                                  reference["precip_in"].to_numpy())


@pytest.mark.parametrize(("line", "field"), [
    (":TMP:2 m above ground:3 hour fcst:nan:nan:", "2 m temperature"),
    (":TMP:2 m above ground:3 hour fcst:ens std dev:", None),
    (":TMP:500 mb:3 hour fcst:", None),
    (":WIND:10 m above ground:1 hour fcst:", "10 m wind"),
    (":APCP:surface:0-6 hour acc fcst:nan:", "precipitation amount"),
    (":APCP:surface:5-6 hour acc fcst:prob >0.254:prob fcst 255/255:",
     "precipitation probability"),
    (":APCP:surface:5-6 hour acc fcst:prob >2.54:prob fcst 255/255:", None),
    (":TCDC:entire atmosphere:3 hour fcst:", "cloud cover"),
    (":GUST:10 m above ground:3 hour fcst:", "gust"),
    (":TMP:2 m above ground:anl:", "2 m temperature"),  # URMA
])
def test_index_lines_chosen(line, field):
    """Each wanted .idx line matches exactly its field; spreads and other thresholds none."""
    import re

    from pipeline.sources.model_feed import FIELDS, SEARCH

    assert [f.name for f in FIELDS if re.search(f.pattern, line)] == ([field] if field else [])
    assert bool(re.search(SEARCH, line)) == (field is not None)


def test_a_hung_archive_times_out_instead_of_holding_the_run(tmp_path):
    """An archive that accepts the connection and never answers: herbie's own requests carry
    no timeout, the feed gives them the sources' one, so the run fails in seconds with the
    cause named instead of waiting for the flow's task timeout (30 min)."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []

    def accept_and_say_nothing() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            held.append(connection)

    threading.Thread(target=accept_and_say_nothing, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    settings = SourceSettings(model_base_url=url, model_cache_dir=tmp_path / "c",
                              http_retries=0, http_timeout_s=0.5)
    started = time.monotonic()
    try:
        with pytest.raises(ModelDataUnavailable, match="(?i)timeout|timed out"):
            fetch_cycle("nbm", "2004-12-08T12:00Z", hours=3, settings=settings,
                        sleep=lambda s: None)
    finally:
        listener.close()
        for connection in held:
            connection.close()
    assert time.monotonic() - started < 30
