"""A small stored run whose answer is known by construction: ten real Rhode Island ZIPs in
two slots, an hourly forecast written by hand (slot ``s001`` wet from 10 am EST, ``s002``
dry), its facts, statements and drafts made by the product's own code."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from pipeline.features import build_series, zip_facts
from pipeline.geo import zip_rows
from pipeline.settings import Settings
from pipeline.store.db import migrate, session_scope
from pipeline.store.models import Run, Slot, SlotMember
from pipeline.truth.claims import fits
from pipeline.truth.rule import FactArrays
from pipeline.truth.search import best_statement
from pipeline.truth.wording import message

RUN_ID = "20260115T0900Z-morning-synthetic-verify"
ISSUE = pd.Timestamp("2026-01-15T09:00Z")
WET_ZIPS = ["02903", "02904", "02905", "02906", "02907"]
DRY_ZIPS = ["02806", "02809", "02814", "02815", "02816"]
RAIN_FROM_UTC = 15  # 10 am EST: the first wet hour ends at 15:00 UTC
RAIN_HOURS = 6


def forecast_rows(rain_from_utc: dict[str, int] | None = None) -> pd.DataFrame:
    """48 hourly contract rows per ZIP; ``rain_from_utc`` moves a wet ZIP's rain."""
    valid = pd.date_range(ISSUE + pd.Timedelta(hours=1), periods=48, freq="h")
    rows = []
    for zip_code in WET_ZIPS + DRY_ZIPS:
        hour = np.arange(48)
        temp = 38.0 + 6.0 * np.sin((valid.hour.to_numpy() - 12) / 24 * 2 * np.pi)
        amount = np.zeros(48)
        if zip_code in WET_ZIPS:
            start = (rain_from_utc or {}).get(zip_code, RAIN_FROM_UTC)
            first = int((pd.Timestamp(ISSUE.normalize() + pd.Timedelta(hours=start)) - valid[0])
                        / pd.Timedelta(hours=1))
            amount[first:first + RAIN_HOURS] = 0.1
        rows.append(pd.DataFrame({
            "zip": zip_code, "valid_time": valid, "issue_time": ISSUE,
            "temperature_f": np.round(temp + 0.1 * (hour % 3), 1),
            "precip_probability": np.where(amount > 0, 90.0, 5.0), "precip_in": amount,
            "snow_in": 0.0, "wind_mph": 12.0, "gust_mph": 20.0, "cloud_cover": 90.0,
            "relative_humidity": 80.0}))
    return pd.concat(rows, ignore_index=True)


def observed_rows(rain_from_utc: dict[str, int] | None = None) -> pd.DataFrame:
    """Observations as a station table would give them: the forecast's values, hourly."""
    rows = forecast_rows(rain_from_utc)
    return rows[["zip", "valid_time", "temperature_f", "precip_in", "snow_in", "wind_mph",
                 "gust_mph", "cloud_cover"]]


def store_verifiable_run(settings: Settings, approved: bool = True) -> dict[str, str]:
    """Store the run (folder, database rows, approved drafts); returns slot id -> draft."""
    run_dir = settings.runs_dir / RUN_ID
    run_dir.mkdir(parents=True, exist_ok=True)
    forecast = forecast_rows()
    forecast.to_parquet(run_dir / "forecast.parquet")
    gazetteer = zip_rows()
    zips = gazetteer[gazetteer["zip"].isin(WET_ZIPS + DRY_ZIPS)].reset_index(drop=True)
    series = build_series(forecast, zips, window="morning", settings=settings,
                          issue_time=ISSUE)
    facts = zip_facts(series, settings.facts)
    slot_of = np.where(np.isin(facts["zip"], WET_ZIPS), "s001", "s002")
    drafts: dict[str, str] = {}
    fit = np.zeros(len(facts), dtype=bool)
    slots_json = []
    for slot in ("s001", "s002"):
        rows = slot_of == slot
        statement, _ = best_statement(FactArrays.from_frame(facts[rows]), None, settings.truth)
        fit[rows] = fits(facts[rows], statement, settings.truth)
        drafts[slot] = message(statement)
        slots_json.append({"slot_id": slot, "facts": {"stated": statement.to_json()}})
    assert fit.all(), "the hand-made slots are uniform: every ZIP fits its slot"
    assignments = facts.assign(slot_id=slot_of, distance=0.0, state="RI", fits=fit,
                               automatic=False, automatic_message=None)
    assignments.to_parquet(run_dir / "assignments.parquet")
    (run_dir / "slots.json").write_text(json.dumps(slots_json))
    migrate(settings.db_url)
    from pipeline.editorial.models import Message

    with session_scope(settings.db_url) as db:
        db.add(Run(id=RUN_ID, created_at=datetime(2026, 1, 15, 9, 5, tzinfo=UTC),
                   issue_time=ISSUE.to_pydatetime(), source="synthetic", window="morning",
                   n_zips=len(facts), n_slots=2, params={"seed": 0}, summary={},
                   run_dir=str(run_dir)))
        for rank, slot in enumerate(("s001", "s002"), start=1):
            n = int((slot_of == slot).sum())
            db.add(Slot(id=f"{RUN_ID}/{slot}", run_id=RUN_ID, slot_id=slot, rank=rank,
                        name=f"Rhode Island {slot}", headline="", n_zips=n, n_fit=n,
                        states={"RI": n}, facts=slots_json[rank - 1]["facts"],
                        representative={}, medoid_zip=WET_ZIPS[0] if rank == 1 else
                        DRY_ZIPS[0], draft_message=drafts[slot]))
            if approved:
                db.add(Message(slot_id=f"{RUN_ID}/{slot}", text=drafts[slot],
                               status="approved", version=1, updated_by="dana",
                               updated_at=datetime(2026, 1, 15, 10, tzinfo=UTC)))
        db.flush()
        db.add_all([SlotMember(run_id=RUN_ID, zip=z, slot_id=s, distance=0.0, fits=True,
                               automatic=False) for z, s in zip(facts["zip"], slot_of,
                                                                strict=True)])
    return drafts


@pytest.fixture
def verify_settings(tmp_path) -> Settings:
    settings = Settings(data_dir=tmp_path)
    store_verifiable_run(settings)
    return settings
