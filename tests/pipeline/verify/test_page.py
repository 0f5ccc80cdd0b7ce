""""How did we do?" in the review app, the next sheet's score beside carried-over slots, the
persistence baseline and the scheduled verification's choice of runs."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from pipeline.review.app import create_app
from pipeline.review.cli import add_user
from pipeline.settings import ReviewSettings
from pipeline.store.db import session_scope
from pipeline.store.models import Run, Slot, SlotMember
from pipeline.verify import verify
from pipeline.verify.job import due_runs
from tests.pipeline.review.conftest import sign_in
from tests.pipeline.verify.conftest import ISSUE, RUN_ID, WET_ZIPS, observed_rows
from tests.pipeline.verify.test_verify import AFTER, station_table

NEXT_ID = "20260116T0900Z-morning-synthetic-verify"


@pytest.fixture
def client(verify_settings):
    add_user(verify_settings.db_url, "eli", "editor", "correct horse")
    app = create_app(verify_settings, ReviewSettings(secret_key="k"), now=lambda: AFTER)
    with TestClient(app) as test_client:
        assert sign_in(test_client, "eli", "correct horse").status_code == 200
        yield test_client


def late_front(verify_settings, tmp_path):
    obs = station_table(tmp_path / "stations.csv", observed_rows(dict.fromkeys(WET_ZIPS, 20)))
    return verify(RUN_ID, [str(obs)], verify_settings, now=AFTER)


def test_before_verification_the_page_says_how(client):
    page = client.get(f"/runs/{RUN_ID}/verification")
    assert page.status_code == 200
    assert f"zipcast verify {RUN_ID} --obs PATH" in page.text


def test_the_page_shows_the_scores_the_map_and_the_worst_slot(client, verify_settings,
                                                               tmp_path):
    late_front(verify_settings, tmp_path)
    page = client.get(f"/runs/{RUN_ID}/verification")
    assert page.status_code == 200
    text = page.text
    assert "What subscribers read" in text and "50.0 %" in text
    assert 'aria-current="page" class="current">what subscribers read' in text  # approved
    assert "onset 0.0 %" in text  # the worst slot's failing claim
    assert "Rhode Island s001" in text
    assert "Whose miss?" in text and "100.0 % of those the" in text
    for kind in ("sent", "automatic", "forecast"):
        svg = client.get(f"/runs/{RUN_ID}/verification-{kind}.svg")
        assert svg.status_code == 200 and svg.text.startswith("<svg")
        assert client.get(f"/runs/{RUN_ID}/verification?kind={kind}").status_code == 200
    assert client.get(f"/runs/{RUN_ID}/verification-nonsense.svg").status_code == 404
    runs = client.get("/runs").text
    assert "50 % true" in runs


def _store_next_day(settings) -> None:
    """The same run a day later, its slots carried over from the verified one."""
    src = settings.runs_dir / RUN_ID
    dst = settings.runs_dir / NEXT_ID
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("verification*"))
    forecast = pd.read_parquet(dst / "forecast.parquet")
    for column in ("valid_time", "issue_time"):
        forecast[column] = forecast[column] + pd.Timedelta(days=1)
    forecast.to_parquet(dst / "forecast.parquet")
    with session_scope(settings.db_url) as db:
        db.add(Run(id=NEXT_ID, created_at=datetime(2026, 1, 16, 9, 5, tzinfo=UTC),
                   issue_time=(ISSUE + pd.Timedelta(days=1)).to_pydatetime(),
                   source="synthetic", window="morning", n_zips=10, n_slots=2,
                   params={"seed": 0}, summary={}, run_dir=str(dst)))
        for slot in db.query(Slot).filter(Slot.run_id == RUN_ID).all():
            db.add(Slot(id=f"{NEXT_ID}/{slot.slot_id}", run_id=NEXT_ID, slot_id=slot.slot_id,
                        rank=slot.rank, name=slot.name, headline=slot.headline,
                        n_zips=slot.n_zips, n_fit=slot.n_fit, states=slot.states,
                        facts=slot.facts, representative=slot.representative,
                        medoid_zip=slot.medoid_zip, draft_message=slot.draft_message,
                        carried_from=f"{RUN_ID}/{slot.slot_id}"))
        db.flush()
        for member in db.query(SlotMember).filter(SlotMember.run_id == RUN_ID).all():
            db.add(SlotMember(run_id=NEXT_ID, zip=member.zip, slot_id=member.slot_id,
                              distance=0.0, fits=True, automatic=False))


def test_the_next_sheet_shows_yesterdays_observed_score(client, verify_settings, tmp_path):
    late_front(verify_settings, tmp_path)
    _store_next_day(verify_settings)
    sheet = client.get(f"/runs/{NEXT_ID}").text
    assert "last run: 0 % true as it happened" in sheet  # s001: the front came late
    assert "last run: 100 % true as it happened" in sheet  # s002
    assert f'href="/runs/{RUN_ID}/verification"' in sheet


def test_persistence_uses_yesterdays_observations(verify_settings, tmp_path):
    """Day 1 observed rain late in s001 and dry in s002; day 2's observations are the same
    weather a day later, so persistence (day 1's observed facts as day 2's forecast) is
    perfect on precipitation yes/no and highs."""
    late_front(verify_settings, tmp_path)
    _store_next_day(verify_settings)
    rows = observed_rows(dict.fromkeys(WET_ZIPS, 20))
    rows["valid_time"] = rows["valid_time"] + pd.Timedelta(days=1)
    obs = station_table(tmp_path / "day2.csv", rows)
    summary = verify(NEXT_ID, [str(obs)], verify_settings, now=AFTER + timedelta(days=1))
    persistence = next(b for b in summary.baselines if b.name == "persistence")
    assert persistence.available and RUN_ID in persistence.why
    assert persistence.precipitation.critical_success_index == 1.0
    assert persistence.temperature.mae_high_f == 0.0
    climatology = next(b for b in summary.baselines if b.name == "climatology")
    assert not climatology.available


def test_the_schedule_picks_ended_unverified_windows(verify_settings, tmp_path):
    verify_settings.verify.obs_path = str(tmp_path / "obs-{date}-{window}.csv")
    window_end = datetime(2026, 1, 16, 5, tzinfo=UTC)  # midnight EST: the morning window ends
    assert due_runs(verify_settings, window_end) == []  # not yet: the delay has not passed
    due = due_runs(verify_settings, window_end + timedelta(hours=3))
    assert due == [(RUN_ID, str(tmp_path / "obs-20260115-morning.csv"))]
    late_front(verify_settings, tmp_path)
    assert due_runs(verify_settings, window_end + timedelta(hours=3)) == []  # verified
    assert due_runs(verify_settings, window_end + timedelta(days=5)) == []  # too old


def test_the_verification_json_is_the_typed_summary(verify_settings, tmp_path):
    summary = late_front(verify_settings, tmp_path)
    stored = json.loads((verify_settings.runs_dir / RUN_ID / "verification.json").read_text())
    assert stored["messages"]["sent"]["national"]["true_share"] == 0.5
    assert stored["run_id"] == summary.run_id
