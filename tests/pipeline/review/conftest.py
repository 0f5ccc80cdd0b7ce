"""A small stored run (real Rhode Island ZIPs), editors, and a signed-in test client."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pandas as pd
import pytest

from pipeline.review.app import create_app
from pipeline.review.cli import add_user
from pipeline.review.deps import ReviewSettings
from pipeline.settings import Settings
from pipeline.store.db import migrate, session_scope
from pipeline.store.models import Run, Slot, SlotMember

RUN_ID = "20260115T0900Z-morning-synthetic-test"
PASSWORD = "correct horse"
MEMBERS = {  # zip -> (slot, high, low, precip type, start hour)
    "02903": ("s001", 41.2, 30.6, "rain", 7.0),
    "02904": ("s001", 40.4, 29.9, "rain", 8.0),
    "02905": ("s001", 42.0, 31.1, "rain", 7.0),
    "02806": ("s002", 33.0, 22.2, "snow", 11.0),
    "02809": ("s002", 32.1, 21.8, "snow", 12.0),
}


def pytest_configure(config):
    """Register the browser marker here until pyproject.toml lists it."""
    config.addinivalue_line("markers", "browser: drives a real Chromium (skipped without it)")


def _assignments() -> pd.DataFrame:
    rows = []
    for i, (zip_code, (slot, high, low, kind, start)) in enumerate(MEMBERS.items()):
        rows.append({"zip": zip_code, "slot_id": slot, "distance": float(i), "state": "RI",
                     "fits": True, "automatic": False, "automatic_message": None,
                     "high_f": high, "low_f": low, "pop_max": 90.0, "precip_total_in": 0.3,
                     "snow_total_in": 2.5 if kind == "snow" else 0.0, "precip": True,
                     "precip_type": kind, "precip_start_hour": start, "precip_onset_h": start,
                     "precip_end_hour": 20.0, "precip_start_offset_h": 1.0,
                     "wind_max_mph": 12.0, "gust_max_mph": 24.6, "wind_category": "breezy",
                     "cloud_mean": 90.0, "sky": "overcast", "hazards": "",
                     "step_hours": 1, "window_hours": 18})
    return pd.DataFrame(rows)


def _slot(slot_id: str, rank: int, n: int, draft: str) -> Slot:
    hours = [float(h) for h in range(6, 24)]
    return Slot(id=f"{RUN_ID}/{slot_id}", run_id=RUN_ID, slot_id=slot_id, rank=rank,
                name=f"Rhode Island · test {slot_id}", headline="Rain from 7 am, 40–45°F",
                n_zips=n, n_fit=n, states={"RI": n}, facts={"stated": {}},
                representative={"local_hour": hours,
                                 "barycenter": {"temperature_f": [30 + h for h in hours],
                                                "precip_probability": [50.0] * 18}},
                medoid_zip="02903", draft_message=draft)


def store_run(settings: Settings) -> None:
    """Write a two-slot run (3 + 2 ZIPs) and its assignments.parquet."""
    run_dir = settings.runs_dir / RUN_ID
    run_dir.mkdir(parents=True, exist_ok=True)
    _assignments().to_parquet(run_dir / "assignments.parquet")
    migrate(settings.db_url)
    with session_scope(settings.db_url) as db:
        db.add(Run(id=RUN_ID, created_at=datetime(2026, 1, 15, 9, 5, tzinfo=UTC),
                   issue_time=datetime(2026, 1, 15, 9, tzinfo=UTC), source="synthetic",
                   window="morning", n_zips=5, n_slots=2, params={}, summary={},
                   run_dir=str(run_dir)))
        db.add_all([_slot("s001", 1, 3, "Rain from {{ rain_start }}, high {{ high }}°F."),
                    _slot("s002", 2, 2, "Snow from {{ snow_start }} in {{ city }}.")])
        db.flush()
        db.add_all([SlotMember(run_id=RUN_ID, zip=z, slot_id=v[0], distance=0.0, fits=True,
                               automatic=False) for z, v in MEMBERS.items()])


class FakeClock:
    """Monotonic seconds that only move when a test says so."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def review_settings(tmp_path) -> Settings:
    """Settings with a private data folder holding the stored run and two editors."""
    settings = Settings(data_dir=tmp_path)
    store_run(settings)
    add_user(settings.db_url, "dana", "lead", PASSWORD)
    add_user(settings.db_url, "eli", "editor", PASSWORD)
    return settings


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(review_settings, clock):
    """The review app on the temp database, with a fixed wall clock and a fake monotonic one."""
    return create_app(review_settings, ReviewSettings(secret_key="test-secret"), clock=clock,
                      now=lambda: datetime(2026, 1, 15, 10, 0, tzinfo=UTC))


def csrf_of(html: str) -> str:
    """The CSRF token in a page's first form."""
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client, name: str = "eli", password: str = PASSWORD):
    """Sign in through the form; returns the response after redirects."""
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"name": name, "password": password,
                                       "csrf_token": token, "next": "/runs"})


@pytest.fixture
def client(app):
    """A TestClient signed in as the editor ``eli``."""
    from fastapi.testclient import TestClient

    with TestClient(app) as test_client:
        assert sign_in(test_client).status_code == 200
        yield test_client


@pytest.fixture
def lead(app):
    """A TestClient signed in as the lead ``dana``."""
    from fastapi.testclient import TestClient

    with TestClient(app) as test_client:
        assert sign_in(test_client, "dana").status_code == 200
        yield test_client


HOSTILE_NAME = "<script>alert('name')</script> Providence"
HOSTILE_AUTOMATIC = "<script>alert('auto')</script> Rain from 8 am, high 40°F."


@pytest.fixture
def misfit_run(review_settings) -> Settings:
    """The stored run with ZIP 02904 a misfit of s001 (automatic message) and s001 renamed
    to hostile markup; the slot's fit count drops to 2 of 3."""
    from pipeline.editorial.render import _assignments as cached_assignments

    path = review_settings.runs_dir / RUN_ID / "assignments.parquet"
    frame = pd.read_parquet(path)
    misfit = frame["zip"] == "02904"
    frame.loc[misfit, ["fits", "automatic"]] = [False, True]
    frame["automatic_message"] = frame["automatic_message"].astype(object)
    frame.loc[misfit, "automatic_message"] = HOSTILE_AUTOMATIC
    frame.to_parquet(path)
    cached_assignments.cache_clear()  # keyed by (path, mtime); do not trust mtime resolution
    with session_scope(review_settings.db_url) as db:
        slot = db.get(Slot, f"{RUN_ID}/s001")
        slot.name, slot.n_fit = HOSTILE_NAME, 2
        member = db.get(SlotMember, (RUN_ID, "02904"))
        member.fits, member.automatic = False, True
    return review_settings
