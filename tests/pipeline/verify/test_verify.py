"""Verification on cases whose answer is known by construction, and its readers.

The run (conftest.py): slot s001 (5 ZIPs) is forecast rain from 10 am EST for six hours,
slot s002 (5 ZIPs) dry; editors approved the drafts as written.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pipeline.geo import zip_rows
from pipeline.settings import Settings
from pipeline.store.db import session_scope
from pipeline.store.models import Verification
from pipeline.verify import verify
from pipeline.verify.checks import FALSE, TRUE, UNVERIFIABLE
from pipeline.verify.job import load_run_to_verify, observe, stored_verification
from pipeline.verify.observations import (
    ObservationError,
    Observations,
    _empty_hourly,
    _empty_totals,
    read_observations,
)
from tests.pipeline.verify.conftest import (
    DRY_ZIPS,
    RUN_ID,
    WET_ZIPS,
    observed_rows,
)

AFTER = datetime(2026, 1, 16, 12, tzinfo=UTC)  # the window has ended; the gate has passed
SHARED = Path(__file__).resolve().parents[4] / "shared" / "data"


def station_table(path: Path, rows: pd.DataFrame, *, drop: pd.Series | None = None) -> Path:
    """``rows`` as a CSV station table, one station at each ZIP's own point."""
    places = zip_rows().set_index("zip")
    table = rows.copy()
    if drop is not None:
        table = table[~drop]
    table.insert(0, "station", "ST" + table["zip"])
    table.insert(1, "lat", places.loc[table["zip"], "lat"].to_numpy())
    table.insert(2, "lon", places.loc[table["zip"], "lon"].to_numpy())
    table = table.rename(columns={"valid_time": "time"}).drop(columns="zip")
    table["time"] = table["time"].dt.strftime("%Y-%m-%dT%H:%MZ")
    table.to_csv(path, index=False)
    return path


def test_observations_equal_to_the_forecast_verify_every_fact(verify_settings, tmp_path):
    obs = station_table(tmp_path / "stations.csv", observed_rows())
    summary = verify(RUN_ID, [str(obs)], verify_settings, now=AFTER)
    for kind in ("sent", "automatic", "forecast"):
        national = summary.messages[kind].national
        assert (national.true_share, national.verifiable_share) == (1.0, 1.0), kind
        assert (national.n_true, national.n_false, national.n_unverifiable) == (10, 0, 0)
    assert set(summary.coverage.to_json().values()) == {1.0}
    p = summary.precipitation
    assert (p.hits, p.misses, p.false_alarms, p.correct_negatives) == (5, 0, 0, 5)
    assert p.critical_success_index == 1.0
    assert (summary.temperature.mae_high_f, summary.temperature.mae_low_f) == (0.0, 0.0)
    assert summary.attribution.false_share == 0.0


def test_a_delayed_front_fails_the_wet_slot_on_its_onset_only(verify_settings, tmp_path):
    """Rain arrives five hours late everywhere it was forecast: every s001 message is false
    on its onset (it still rained), every s002 message is true; the miss is the forecast's."""
    late = dict.fromkeys(WET_ZIPS, 20)
    obs = station_table(tmp_path / "stations.csv", observed_rows(late))
    summary = verify(RUN_ID, [str(obs)], verify_settings, now=AFTER)
    sent = summary.messages["sent"]
    assert sent.national.true_share == 0.5
    assert (sent.national.n_true, sent.national.n_false) == (5, 5)
    assert sent.per_slot["s001"].true_share == 0.0
    assert sent.per_slot["s002"].true_share == 1.0
    assert sent.per_topic["onset"].true_share == 0.0
    assert sent.per_topic["onset"].n_false == 5
    assert sent.per_topic["precipitation"].true_share == 1.0
    assert sent.per_topic["high"].true_share == 1.0
    assert summary.attribution.false_share == 0.5
    assert summary.attribution.forecast_share == 1.0
    assert summary.attribution.grouping_share == 0.0
    p = summary.precipitation
    assert (p.hits, p.misses, p.false_alarms, p.correct_negatives) == (5, 0, 0, 5)
    # kept in the run folder and the database
    stored = stored_verification(verify_settings.runs_dir / RUN_ID)
    assert stored is not None and stored.messages["sent"].national.true_share == 0.5
    table = pd.read_parquet(verify_settings.runs_dir / RUN_ID / "verification.parquet")
    by_zip = table.set_index("zip")
    assert (by_zip.loc[WET_ZIPS, "sent_status"] == FALSE).all()
    assert (by_zip.loc[DRY_ZIPS, "sent_status"] == TRUE).all()
    with session_scope(verify_settings.db_url) as db:
        row = db.get(Verification, RUN_ID)
        assert row is not None and row.sent_true_share == 0.5


def test_a_front_late_at_two_zips_fails_those_two(verify_settings, tmp_path):
    late = {"02903": 20, "02904": 20}
    obs = station_table(tmp_path / "stations.csv", observed_rows(late))
    summary = verify(RUN_ID, [str(obs)], verify_settings, now=AFTER)
    sent = summary.messages["sent"]
    assert sent.per_slot["s001"].true_share == 0.6
    assert sent.national.true_share == 0.8
    with session_scope(verify_settings.db_url) as db:  # verified again: one row, replaced
        assert db.query(Verification).count() == 1


def test_rain_where_it_was_forecast_dry_is_a_miss_and_a_false_alarm_counts(verify_settings,
                                                                           tmp_path):
    rows = observed_rows()
    rows.loc[rows["zip"] == WET_ZIPS[0], "precip_in"] = 0.0  # a forecast rain that never came
    dry_wet = (rows["zip"] == DRY_ZIPS[0]) & (rows["valid_time"].dt.hour == 16)
    rows.loc[dry_wet, "precip_in"] = 0.2  # rain nobody forecast
    summary = verify(RUN_ID, [str(station_table(tmp_path / "s.csv", rows))], verify_settings,
                     now=AFTER)
    p = summary.precipitation
    assert (p.hits, p.misses, p.false_alarms, p.correct_negatives) == (4, 1, 1, 4)
    assert p.hit_rate == 0.8 and p.false_alarm_ratio == 0.2
    assert p.critical_success_index == round(4 / 6, 4)
    assert summary.messages["sent"].per_topic["precipitation"].true_share == 0.8


def test_missing_hours_make_facts_not_verifiable_never_guessed(verify_settings, tmp_path):
    """Half of one ZIP's hours are missing: its high and low are not known, so a message
    about them is not verifiable there (not true, not false); one ZIP without any
    observation is not verifiable at all."""
    rows = observed_rows()
    gaps = (rows["zip"] == DRY_ZIPS[1]) & (rows["valid_time"].dt.hour % 2 == 0)
    gone = rows["zip"] == DRY_ZIPS[2]
    obs = station_table(tmp_path / "s.csv", rows, drop=gaps | gone)
    summary = verify(RUN_ID, [str(obs)], verify_settings, now=AFTER)
    sent = summary.messages["sent"]
    assert (sent.national.n_true, sent.national.n_false, sent.national.n_unverifiable) == \
        (8, 0, 2)
    assert sent.national.verifiable_share == 0.8
    assert sent.national.true_share == 1.0
    assert summary.coverage.high == 0.8
    assert summary.coverage.precipitation == 0.8  # a step without its hour is not known
    table = pd.read_parquet(verify_settings.runs_dir / RUN_ID / "verification.parquet")
    by_zip = table.set_index("zip")
    assert by_zip.loc[DRY_ZIPS[2], "sent_status"] == UNVERIFIABLE
    assert not by_zip.loc[DRY_ZIPS[1], "known_high"]


def test_a_partial_record_still_proves_a_broken_claim(verify_settings, tmp_path):
    """Even with most hours missing, an observed 60 F breaks "highs near 44F"."""
    rows = observed_rows()
    target = rows["zip"] == DRY_ZIPS[1]
    keep = target & (rows["valid_time"].dt.hour == 19)
    rows.loc[keep, "temperature_f"] = 60.0
    obs = station_table(tmp_path / "s.csv", rows, drop=target & ~keep)
    summary = verify(RUN_ID, [str(obs)], verify_settings, now=AFTER)
    table = pd.read_parquet(verify_settings.runs_dir / RUN_ID / "verification.parquet")
    by_zip = table.set_index("zip")
    assert by_zip.loc[DRY_ZIPS[1], "sent_high"] == FALSE
    assert by_zip.loc[DRY_ZIPS[1], "sent_status"] == FALSE
    assert by_zip.loc[DRY_ZIPS[1], "sent_low"] == UNVERIFIABLE
    assert summary.messages["sent"].national.n_false == 1


def test_daily_totals_decide_dry_but_not_a_wet_window(verify_settings, tmp_path):
    """Gauges' 24 h totals (06 UTC to 06 UTC) cover the whole window: a zero
    total proves the dry slot's "dry"; a wet total cannot say the rain fell inside the
    window, so the wet slot's precipitation claims are not verifiable (and onset never is)."""
    places = zip_rows().set_index("zip")
    zips = WET_ZIPS + DRY_ZIPS
    lines = []
    for z in zips:
        value = 15.2 if z in WET_ZIPS else 0.0
        lines.append(f"ADPSFC ST{z} 20260116_060000 {places.loc[z, 'lat']:.4f} "
                     f"{places.loc[z, 'lon']:.4f} -9999.00 61 24 -9999.00 NA {value:.2f}")
    met = tmp_path / "precip24.ascii"
    met.write_text("\n".join(lines) + "\n")
    summary = verify(RUN_ID, [str(met)], verify_settings, now=AFTER)
    assert summary.observations[0]["kind"] == "met"
    assert summary.coverage.precipitation == 0.5
    assert summary.coverage.high == 0.0
    table = pd.read_parquet(verify_settings.runs_dir / RUN_ID / "verification.parquet")
    by_zip = table.set_index("zip")
    assert (by_zip.loc[DRY_ZIPS, "sent_precipitation"] == TRUE).all()
    assert (by_zip.loc[WET_ZIPS, "sent_precipitation"] == UNVERIFIABLE).all()
    assert (by_zip.loc[WET_ZIPS, "sent_onset"] == UNVERIFIABLE).all()
    assert summary.messages["sent"].per_topic["precipitation"].true_share == 1.0
    assert summary.messages["sent"].national.true_share is None  # temperatures unknown


def test_stations_too_far_from_a_zip_do_not_stand_for_it(verify_settings, tmp_path):
    rows = observed_rows()
    table = station_table(tmp_path / "s.csv", rows)
    frame = pd.read_csv(table)
    frame["lat"] += 0.5  # every station 55 km north, into Massachusetts
    frame.to_csv(table, index=False)
    run = load_run_to_verify(RUN_ID, verify_settings, now=AFTER)
    obs = read_observations([table], run.zips, verify_settings.verify)
    assert obs.hourly.empty and obs.sources[0].n_zips == 0
    assert "0 ZIPs within 10 km of one" in obs.sources[0].note
    summary = verify(RUN_ID, [str(table)], verify_settings, now=AFTER)
    assert summary.messages["sent"].national.verifiable_share == 0.0
    assert summary.messages["sent"].national.true_share is None


def test_bad_observation_files_say_what_is_wrong(verify_settings, tmp_path):
    junk = tmp_path / "junk.txt"
    junk.write_text("hello world\n")
    run = load_run_to_verify(RUN_ID, verify_settings, now=AFTER)
    with pytest.raises(ObservationError, match="not an observation file"):
        read_observations([junk], run.zips, verify_settings.verify)
    no_time = tmp_path / "no_time.csv"
    no_time.write_text("station,lat,lon,temperature_f\nA,41.8,-71.4,40\n")
    with pytest.raises(ObservationError, match="missing time"):
        read_observations([no_time], run.zips, verify_settings.verify)
    bad_time = tmp_path / "bad_time.csv"
    bad_time.write_text("station,lat,lon,time,temperature_f\nA,41.8,-71.4,yesterday,40\n")
    with pytest.raises(ObservationError, match="'yesterday' is not a date"):
        read_observations([bad_time], run.zips, verify_settings.verify)
    with pytest.raises(ObservationError, match="observations: no files at .*nowhere"):
        read_observations([tmp_path / "nowhere"], run.zips, verify_settings.verify)


def test_the_cli_prints_the_scores_and_errors_last(verify_settings, tmp_path, monkeypatch):
    from flows.cli import app
    from pipeline.settings import get_settings

    obs = station_table(tmp_path / "stations.csv", observed_rows(dict.fromkeys(WET_ZIPS, 20)))
    monkeypatch.setenv("ZIPCAST_DATA_DIR", str(verify_settings.data_dir))
    get_settings.cache_clear()
    try:
        done = CliRunner().invoke(app, ["verify", RUN_ID, "--obs", str(obs)])
        assert done.exit_code == 0, done.output
        assert "sent: true for 50.0 % of ZIPs" in done.output
        assert "onset 0.0 %" in done.output
        bad = CliRunner().invoke(app, ["verify", "no-such-run", "--obs", str(obs)])
        assert bad.exit_code == 1
        assert bad.output.strip().splitlines()[-1].startswith("error: no run 'no-such-run'")
    finally:
        get_settings.cache_clear()


def test_observed_facts_are_the_forecast_facts_code_on_observed_values(verify_settings):
    """Observations equal to the forecast give exactly the forecast's facts, column by
    column (the forecast's precipitation chance aside: nothing observes a chance)."""
    run = load_run_to_verify(RUN_ID, verify_settings, now=AFTER)
    rows = observed_rows()
    rows["valid_time"] = rows["valid_time"].dt.as_unit("ns")
    observed = observe(run, Observations(rows, _empty_totals(), []), verify_settings)
    for column in ("high_f", "low_f", "precip_type", "precip_onset_h", "wind_category", "sky",
                   "hazards", "precip_total_in"):
        left = run.assignments[column].to_numpy()
        right = observed.frame[column].to_numpy()
        same = (left == right) | (pd.isna(left) & pd.isna(right))
        assert same.all(), column
    assert observed.known_high.all() and observed.known_onset.all()
    assert (observed.known_hazards == 15).all()


@pytest.mark.skipif(not (SHARED / "real-verification").exists(),
                    reason="../shared/data/real-verification is absent")
def test_real_stage_iv_and_gauges_agree_on_where_it_was_dry(settings: Settings):
    """The real 24 h case (2010-01-01 12Z, western US): Stage IV sampled at ZIPs and the
    gauges' MET ASCII totals matched to ZIPs within 10 km give the same wet/dry answer at
    most ZIPs both cover, and both are stored as 24 h totals (never as hourly amounts)."""
    case = SHARED / "real-verification"
    zips = zip_rows()
    west = zips[zips["state"].isin(["CA", "NV", "OR"])].reset_index(drop=True)
    stage4 = read_observations([case / "ST4.2010010112.24h.grib"], west, settings.verify)
    gauges = read_observations([case / "precip24_2010010112.ascii"], west, settings.verify)
    for obs in (stage4, gauges):
        assert obs.hourly.empty or "precip_in" not in obs.hourly
        assert set(obs.totals["end"]) == {pd.Timestamp("2010-01-01T12:00Z")}
        assert set(obs.totals["start"]) == {pd.Timestamp("2009-12-31T12:00Z")}
    assert stage4.sources[0].n_zips > 0.9 * len(west)  # the grid covers CA, NV and OR
    assert 200 < gauges.sources[0].n_zips < len(west)
    both = stage4.totals.merge(gauges.totals, on="zip", suffixes=("_st4", "_gauge"))
    wet_st4 = both["precip_in_st4"] >= 0.01
    wet_gauge = both["precip_in_gauge"] >= 0.01
    agree = float((wet_st4 == wet_gauge).mean())
    assert agree > 0.8, agree
    # amounts in inches: the gauges' largest total is a few inches, not hundreds (mm)
    assert 1 < both["precip_in_gauge"].max() < 20
    assert np.corrcoef(both["precip_in_st4"], both["precip_in_gauge"])[0, 1] > 0.6


def test_observations_from_a_url_are_fetched_once_and_a_404_is_named(verify_settings,
                                                                      tmp_path):
    """The scheduled verification may read a URL pattern: a real HTTP client against a local
    server; the file is downloaded once into the cache (a rerun reads it from there)."""
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    served = tmp_path / "served"
    served.mkdir()
    station_table(served / "stations.csv", observed_rows(dict.fromkeys(WET_ZIPS, 20)))
    hits: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(served), **kwargs)

        def log_message(self, *args):
            hits.append(self.path)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        summary = verify(RUN_ID, [f"{base}/stations.csv"], verify_settings, now=AFTER)
        assert summary.messages["sent"].national.true_share == 0.5
        verify(RUN_ID, [f"{base}/stations.csv"], verify_settings, now=AFTER)
        assert len([h for h in hits if "stations.csv" in h]) == 1  # the rerun used the cache
        verify_settings.sources.http_retries = 0
        with pytest.raises(ObservationError, match="HTTP 404"):
            verify(RUN_ID, [f"{base}/missing.csv"], verify_settings, now=AFTER)
    finally:
        server.shutdown()


def test_overlapping_totals_are_never_added_up(verify_settings):
    """A 24 h gauge total of 0.6 in and two 6 h analyses of the same rain (0.3 in each,
    inside the window) say "no heavy rain" (under an inch fell), not heavy rain (1.2 in)."""
    run = load_run_to_verify(RUN_ID, verify_settings, now=AFTER)
    z = WET_ZIPS[0]
    totals = pd.DataFrame({
        "zip": [z, z, z],
        "start": pd.to_datetime(["2026-01-15T06:00Z", "2026-01-15T12:00Z",
                                 "2026-01-15T18:00Z"]),
        "end": pd.to_datetime(["2026-01-16T06:00Z", "2026-01-15T18:00Z",
                               "2026-01-16T00:00Z"]),
        "precip_in": [0.6, 0.3, 0.3]})
    observed = observe(run, Observations(_empty_hourly(), totals, []), verify_settings)
    row = list(observed.zips).index(z)
    heavy = 1 << 2  # HAZARDS: heat, freeze, heavy rain, strong gusts
    assert observed.known_hazards[row] & heavy  # known ...
    assert not observed.arrays.hazards[row] & heavy  # ... to be absent
    assert observed.known_precip[row] and observed.arrays.kind[row] > 0  # wet inside
    assert not observed.known_onset[row]


def test_one_observed_wet_hour_breaks_dry_whatever_is_missing(verify_settings, tmp_path):
    rows = observed_rows()
    target = rows["zip"] == DRY_ZIPS[0]
    wet_hour = target & (rows["valid_time"] == pd.Timestamp("2026-01-15T18:00Z"))
    rows.loc[wet_hour, "precip_in"] = 0.2
    obs = station_table(tmp_path / "s.csv", rows, drop=target & ~wet_hour)
    verify(RUN_ID, [str(obs)], verify_settings, now=AFTER)
    table = pd.read_parquet(verify_settings.runs_dir / RUN_ID / "verification.parquet")
    by_zip = table.set_index("zip")
    assert by_zip.loc[DRY_ZIPS[0], "sent_precipitation"] == FALSE
    assert by_zip.loc[DRY_ZIPS[0], "sent_status"] == FALSE
    assert by_zip.loc[DRY_ZIPS[0], "sent_high"] == UNVERIFIABLE  # one hour of temperature


def test_a_text_that_claims_nothing_is_not_verifiable(verify_settings, tmp_path):
    from pipeline.editorial.models import Message

    with session_scope(verify_settings.db_url) as db:
        db.get(Message, f"{RUN_ID}/s002").text = "Enjoy the day, {{ city }}!"
    obs = station_table(tmp_path / "s.csv", observed_rows())
    summary = verify(RUN_ID, [str(obs)], verify_settings, now=AFTER)
    sent = summary.messages["sent"]
    assert sent.per_slot["s002"].true_share is None
    assert sent.per_slot["s002"].n_unverifiable == 5
    assert sent.per_slot["s001"].true_share == 1.0


def test_each_variable_comes_from_the_nearest_station_reporting_it(verify_settings,
                                                                   tmp_path):
    """A gauge at the ZIP (precipitation only) and a weather station 5 km away (temperature
    only), in two files: the ZIP takes its rain from the gauge, its temperature from the
    station — not the gauge's missing temperature, and not a farther station's rain."""
    from pipeline.geo import zip_rows as rows_of

    place = rows_of().set_index("zip").loc[DRY_ZIPS[0]]
    times = pd.date_range("2026-01-15T11:00Z", periods=3, freq="h")
    gauge = tmp_path / "gauge.csv"
    pd.DataFrame({"station": "G", "lat": place["lat"], "lon": place["lon"],
                  "time": times.strftime("%Y-%m-%dT%H:%MZ"), "precip_in": 0.0}).to_csv(
        gauge, index=False)
    station = tmp_path / "station.csv"
    pd.DataFrame({"station": "S", "lat": place["lat"] + 0.045, "lon": place["lon"],
                  "time": times.strftime("%Y-%m-%dT%H:%MZ"), "temperature_f": 41.0,
                  "precip_in": 0.5}).to_csv(station, index=False)
    run = load_run_to_verify(RUN_ID, verify_settings, now=AFTER)
    obs = read_observations([gauge, station], run.zips, verify_settings.verify)
    mine = obs.hourly[obs.hourly["zip"] == DRY_ZIPS[0]]
    assert (mine["precip_in"] == 0.0).all() and (mine["temperature_f"] == 41.0).all()


@pytest.mark.skipif(not (SHARED / "real-forecasts").exists(),
                    reason="../shared/data/real-forecasts is absent")
def test_a_real_gridded_analysis_gives_temperature_wind_and_totals(settings: Settings):
    """A model field read as an analysis (the Eta run's 24 h fields, GRIB1): 2 m temperature
    and 10 m wind at its valid time in contract units, and its 0-24 h precipitation as a
    total — the gridded source's own readers and sampling."""
    zips = zip_rows()
    some = zips[zips["state"].isin(["KS", "NE"])].reset_index(drop=True)
    obs = read_observations([SHARED / "real-forecasts" / "eta_grid211_f24.grib1"], some,
                            settings.verify)
    assert {"temperature_f", "wind_mph"} <= set(obs.hourly.columns)
    assert obs.hourly["zip"].nunique() == len(some)
    assert obs.hourly["temperature_f"].between(-40, 110).all()
    assert obs.hourly["wind_mph"].between(0, 120).all()
    assert len(obs.totals) == len(some)
    hours = (obs.totals["end"] - obs.totals["start"]).dt.total_seconds() / 3600
    assert (hours > 1).all()


@pytest.mark.skipif(not (SHARED / "real-forecasts").exists(),
                    reason="../shared/data/real-forecasts is absent")
def test_obs_urma_fetches_the_windows_hourly_analyses(verify_settings, tmp_path):
    """`--obs urma`: the model feed fetches each hour of the run's window from the archive (a
    local server playing it, with real GRIB bytes) and verification reads them as analyses.
    The fake archive's analyses are real messages re-stamped as 1 h forecasts, so each is
    valid an hour after its name: 17 of the window's 18 hours are observed, and the test
    accepts that gap (min_coverage 0.9)."""
    from pipeline.config.sources import SourceSettings
    from tests.pipeline.sources.fake_archive import ArchiveServer, build_archive

    hours = list(pd.date_range("2026-01-15T10:00", "2026-01-16T04:00", freq="h"))

    def urma_path(cycle, step):
        return f"/urma2p5.{cycle:%Y%m%d}/urma2p5.t{cycle:%H}z.2dvaranl_ndfd.grb2_wexp"

    build_archive(SHARED / "real-forecasts" / "eta_grid211_f24.grib1", tmp_path / "a", hours,
                  [1], path_of=urma_path)
    server = ArchiveServer(tmp_path / "a").start()
    try:
        verify_settings.verify.min_coverage = 0.9
        verify_settings.sources = SourceSettings(model_base_url=server.url,
                                                 model_cache_dir=tmp_path / "c",
                                                 http_retries=1)
        summary = verify(RUN_ID, ["urma"], verify_settings, now=AFTER)
    finally:
        server.stop()
    assert len(summary.observations) == 18  # the window's valid times, 11Z to 04Z
    assert {o["kind"] for o in summary.observations} == {"gridded"}
    assert summary.coverage.high == 1.0 and summary.coverage.wind == 1.0
    assert summary.messages["forecast"].national.verifiable_share > 0


def test_each_zips_own_forecast_is_checked_as_its_automatic_message_says_it(settings):
    """own_claims (one pass per wording, numbers per ZIP) claims exactly what each ZIP's
    automatic message claims: checked ZIP by ZIP against claims_of(own_statement(row)), on
    the synthetic observed weather's facts, for Rhode Island and Connecticut."""
    from pipeline.features import build_series, zip_facts
    from pipeline.sources.synthetic import synthetic_forecast, synthetic_observed
    from pipeline.truth.claims import claims_of
    from pipeline.truth.rule import FactArrays
    from pipeline.truth.wording import own_statement
    from pipeline.verify.scores import own_claims

    zips = zip_rows()
    some = zips[zips["state"].isin(["RI", "CT"])].reset_index(drop=True)

    def facts_of(make) -> pd.DataFrame:
        rows = make(some, "2026-01-15T09:00Z", hours=48)
        series = build_series(rows, some, window="morning", settings=settings,
                              issue_time=pd.Timestamp("2026-01-15T09:00Z"))
        return zip_facts(series, settings.facts)

    forecast = facts_of(synthetic_forecast)
    other = FactArrays.from_frame(facts_of(synthetic_observed))
    vectorised = np.zeros(len(forecast), dtype=bool)
    for rows, claims in own_claims(forecast):
        ok = np.ones(len(rows), dtype=bool)
        for claim in claims:
            ok &= claim.holds(other.take(rows), settings.truth)
        vectorised[rows] = ok
    one_by_one = np.array([
        all(c.holds(other.take(np.array([i])), settings.truth)[0]
            for c in claims_of(own_statement(row)))
        for i, row in enumerate(forecast.to_dict("records"))])
    assert len(forecast) > 400
    assert 0 < one_by_one.sum() < len(forecast)  # a real mix of true and false
    assert (vectorised == one_by_one).all()
