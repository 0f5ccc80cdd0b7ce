"""Tests for the store: migrations, all-or-nothing saves, reruns, SQLite and PostgreSQL."""

import json

import pandas as pd
import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import IntegrityError

from pipeline.slots import Slot
from pipeline.store import (
    Run,
    RunNotFound,
    SlotMember,
    StagedForecast,
    get_engine,
    load_run,
    migrate,
    save_run,
    session_scope,
    write_run_folder,
)
from pipeline.store.summary import RunSummary, Truthfulness

ISSUE = pd.Timestamp("2026-01-10 09:00", tz="UTC")


def summary_of(run_id: str = "r1", n_slots: int = 2) -> RunSummary:
    """A minimal run summary (the store keeps it whole; these tests read a few fields)."""
    truth = Truthfulness(national=1.0, weighting="zip", per_state={}, states_below_floor=[],
                         state_floor=0.85, per_slot={})
    return RunSummary(run_id=run_id, source="synthetic", issue_time=ISSUE.isoformat(),
                      window="morning", n_zips=4, n_steps=18, step_hours=1, n_slots=n_slots,
                      slot_sizes={"largest": 2, "smallest": 2}, truthfulness=truth)


def _slots() -> list[Slot]:
    return [
        Slot(slot_id=f"s00{i}", name=f"slot {i}", region="Rhode Island", headline="Dry",
             n_zips=2, n_fit=2, states={"RI": 2}, zips=[f"0290{2 * i}", f"0290{2 * i + 1}"],
             facts={"high_f": {"min": 40.0, "max": 42.0, "median": 41.0}},
             representative={"medoid_zip": f"0290{2 * i}"}, draft_message="Highs 40–42°F.",
             medoid_zip=f"0290{2 * i}", carried_over=False)
        for i in (1, 2)
    ]


def _assignments() -> pd.DataFrame:
    return pd.DataFrame({"zip": ["02902", "02903", "02904", "02905"],
                         "slot_id": ["s001", "s001", "s002", "s002"],
                         "distance": [0.5, 0.7, 0.1, 0.2],
                         "fits": [True, True, True, False],
                         "automatic": [False, False, False, True]})


def _save(url, run_dir, run_id="r1", slots=None):
    save_run(url, run_id=run_id, issue_time=ISSUE, source="synthetic", window="morning",
             params={"seed": 0}, summary=summary_of(run_id), run_dir=run_dir,
             slots=slots or _slots(), assignments=_assignments())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'zipcast.sqlite'}"
    url = request.getfixturevalue("postgres_url")
    engine = get_engine(url)
    with engine.begin() as conn:  # a clean schema per test
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    return url


def test_migrate_creates_tables_idempotently(db_url):
    """Migrations create runs, slots and slot_members, and running them twice is harmless."""
    migrate(db_url)
    migrate(db_url)
    tables = set(inspect(get_engine(db_url)).get_table_names())
    assert {"runs", "slots", "slot_members", "alembic_version", "slot_comments"} <= tables
    audit = {c["name"] for c in inspect(get_engine(db_url)).get_columns("message_audit")}
    assert "reason" in audit  # migration 0008: a lead's override reason


def test_save_and_load_run(db_url, tmp_path):
    """A saved run loads back with its slots in rank order and one member row per ZIP."""
    migrate(db_url)
    _save(db_url, tmp_path)
    stored = load_run(db_url)
    assert stored["id"] == "r1" and stored["n_zips"] == 4 and stored["n_slots"] == 2
    assert [s["slot_id"] for s in stored["slots"]] == ["s001", "s002"]
    assert stored["slots"][0]["facts"]["high_f"]["max"] == 42.0
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(SlotMember)) == 4
        members = session.scalars(select(SlotMember).order_by(SlotMember.zip)).all()
        assert [(m.run_id, m.zip, m.slot_id, m.distance, m.fits, m.automatic)
                for m in members] == [
            ("r1", "02902", "s001", 0.5, True, False), ("r1", "02903", "s001", 0.7, True, False),
            ("r1", "02904", "s002", 0.1, True, False), ("r1", "02905", "s002", 0.2, False, True)]
        assert all(type(m.fits) is bool and type(m.distance) is float for m in members)


def test_rerun_replaces_instead_of_duplicating(db_url, tmp_path):
    """Saving the same run id again replaces its rows."""
    migrate(db_url)
    _save(db_url, tmp_path)
    _save(db_url, tmp_path)
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(Run)) == 1
        assert session.scalar(select(func.count()).select_from(SlotMember)) == 4


def test_failed_save_leaves_nothing_half_written(db_url, tmp_path):
    """A save that fails part-way (duplicate slot ids) rolls back, keeping the old run."""
    migrate(db_url)
    _save(db_url, tmp_path)
    broken = _slots()
    broken[1].slot_id = broken[0].slot_id
    with pytest.raises(IntegrityError):
        _save(db_url, tmp_path, run_id="r1", slots=broken)
    stored = load_run(db_url, "r1")
    assert [s["slot_id"] for s in stored["slots"]] == ["s001", "s002"]


def test_unknown_run_is_a_clear_error(tmp_path):
    """Loading a run that does not exist says so."""
    url = f"sqlite:///{tmp_path / 'z.sqlite'}"
    migrate(url)
    with pytest.raises(RunNotFound, match="zipcast run"):
        load_run(url)


def test_run_folder_has_the_four_files(tmp_path):
    """The run folder holds forecast, assignments, slots and summary, and no staging leftovers."""
    forecast = pd.DataFrame({"zip": ["02902"], "temperature_f": [40.0]})
    summary = summary_of("r1")
    folder = write_run_folder(tmp_path, "r1", forecast, _assignments(), _slots(), summary)
    assert sorted(p.name for p in folder.iterdir()) == [
        "assignments.parquet", "forecast.parquet", "slots.json", "summary.json",
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["r1"]
    saved = json.loads((folder / "summary.json").read_text())
    assert len(saved["forecast_sha256"]) == 64
    assert saved["artifacts"]["slots.json"] == str(folder / "slots.json")
    assert pd.read_parquet(folder / "assignments.parquet")["slot_id"].tolist()[:2] == ["s001"] * 2


def test_a_forecast_written_early_is_the_same_file(tmp_path):
    """The flow starts the forecast file after the ingest (StagedForecast): the folder gets
    the very bytes and hash a late write gives, and nothing is left beside it."""
    forecast = pd.DataFrame({"zip": ["02902", "02903"], "temperature_f": [40.0, 41.5]})
    late = write_run_folder(tmp_path / "late", "r1", forecast, _assignments(), _slots(),
                            summary_of("r1"))
    early = write_run_folder(tmp_path / "early", "r1",
                             StagedForecast(tmp_path / "early", "r1", forecast),
                             _assignments(), _slots(), summary_of("r1"))
    assert (early / "forecast.parquet").read_bytes() == (late / "forecast.parquet").read_bytes()
    hashes = [json.loads((f / "summary.json").read_text())["forecast_sha256"]
              for f in (early, late)]
    assert hashes[0] == hashes[1] and len(hashes[0]) == 64
    assert [p.name for p in (tmp_path / "early").iterdir()] == ["r1"]


def test_an_early_forecast_that_failed_fails_the_store_step(tmp_path):
    """A forecast the thread could not write raises where the folder is written, and
    neither the folder nor the early file is left."""
    bad = pd.DataFrame({"zip": ["02902"], "when": [object()]})  # Parquet cannot hold it
    with pytest.raises(Exception, match="object"):
        write_run_folder(tmp_path, "r1", StagedForecast(tmp_path, "r1", bad), _assignments(),
                         _slots(), summary_of("r1"))
    assert not (tmp_path / "r1").exists()
    assert not list(tmp_path.glob(".r1.forecast.*"))


def test_two_runs_of_one_id_write_their_early_forecasts_apart(tmp_path):
    """Two runs with the same parameters (the same id) at once never share the early file."""
    forecast = pd.DataFrame({"zip": ["02902"], "temperature_f": [40.0]})
    first, second = (StagedForecast(tmp_path, "r1", forecast) for _ in range(2))
    assert first.path != second.path
    for staged, where in ((first, tmp_path / "a.parquet"), (second, tmp_path / "b.parquet")):
        assert len(staged.move_to(where)) == 64
    with pytest.raises(RuntimeError, match="moved already"):
        first.move_to(tmp_path / "c.parquet")
