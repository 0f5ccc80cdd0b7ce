"""Orchestration in Prefect: one full cycle (run → approve on the sheet → dispatch), the gate and
the deadline alert, ingest caching and fallback, replay by run id, and the deployments.

All of it shares the session's one Prefect harness (tests/conftest.py).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select
from typer.testing import CliRunner

from pipeline.dispatch.models import Delivery, Subscriber
from pipeline.editorial.models import Notice
from pipeline.review.cli import add_user
from pipeline.settings import Settings, get_settings
from pipeline.store import session_scope
from tests.pipeline.conftest import make_smtp_server, smtp_server  # noqa: F401

ISSUE = "2026-01-15T09:00:00Z"  # 4 am in New York: a morning run; send time 11:00 UTC
AFTER_SEND = "2026-01-15T13:30:00Z"  # 8:30 am in RI: 07:00 is moved to 08:00 (quiet hours)
PASSWORD = "correct horse battery"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def world(tmp_path, monkeypatch, smtp_server):  # noqa: F811
    """Settings on a fresh data folder with mail going to a real local SMTP server; an editor
    and a lead with addresses; 12 Rhode Island subscribers by email."""
    monkeypatch.setenv("ZIPCAST_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ZIPCAST_DISPATCH__SMTP_HOST", smtp_server.host)
    monkeypatch.setenv("ZIPCAST_DISPATCH__SMTP_PORT", str(smtp_server.port))
    monkeypatch.setenv("ZIPCAST_DISPATCH__PUBLIC_URL", "https://sheet.zipcast.example")
    get_settings.cache_clear()
    settings = get_settings()
    add_user(settings.db_url, "eli", "editor", PASSWORD, email="eli@newsroom.example")
    add_user(settings.db_url, "dana", "lead", PASSWORD, email="dana@newsroom.example")
    zips = ["02903", "02904", "02905", "02906", "02806", "02809", "02840", "02860", "02882",
            "02891", "02814", "02818"]
    now = datetime(2026, 1, 14, tzinfo=UTC)
    with session_scope(settings.db_url) as db:
        for i, zip_code in enumerate(zips):
            db.add(Subscriber(zip=zip_code, timezone="America/New_York",
                              email=f"reader{i}@example.com", morning_at="07:00",
                              evening_at="18:00", status="active", token=f"tok-{i}",
                              created_at=now, updated_at=now))
    yield settings
    get_settings.cache_clear()


def _mail_to(server, address: str) -> list:
    return [m for m in server.messages if m["To"] == address]


def _approve_all_on_the_sheet(settings: Settings, run_id: str) -> str:
    """The lead signs in to the review sheet and approves every slot."""
    from fastapi.testclient import TestClient

    from pipeline.review.app import create_app
    from pipeline.settings import ReviewSettings

    app = create_app(settings, ReviewSettings(secret_key="test-secret"),
                     now=lambda: datetime(2026, 1, 15, 10, 0, tzinfo=UTC))
    with TestClient(app) as client:
        token = re.search(r'name="csrf_token" value="([^"]+)"',
                          client.get("/login").text).group(1)
        client.post("/login", data={"name": "dana", "password": PASSWORD,
                                    "csrf_token": token, "next": "/runs"})
        sheet = client.get(f"/runs/{run_id}")
        assert sheet.status_code == 200
        token = re.search(r'name="csrf_token" value="([^"]+)"', sheet.text).group(1)
        ask = client.post(f"/runs/{run_id}/approve-all", data={"csrf_token": token})
        assert "Approve all remaining slots" in ask.text  # asks first, changes nothing
        seen = re.search(r'name="seen" value="([^"]*)"', ask.text).group(1)
        done = client.post(f"/runs/{run_id}/approve-all",
                           data={"csrf_token": token, "confirm": "yes", "seen": seen})
        assert done.status_code == 200, done.text[:500]
        return done.text


def _artifact(key: str):
    """The latest artifact with this key, from the Prefect API."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterKey,
        FlowRunFilter,
        TaskRunFilter,
    )
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            flow_run_filter=FlowRunFilter(), task_run_filter=TaskRunFilter(),
            sort=ArtifactSort.CREATED_DESC, limit=1, offset=0)
    return found[0] if found else None


def test_full_cycle_run_approve_dispatch(world, smtp_server, prefect_harness):  # noqa: F811
    """Run → the editors are mailed the sheet → the lead approves on the sheet → the dispatch
    flow sends each subscriber one message, in two partitions; a second dispatch sends none."""
    from flows.dispatch import dispatch_flow
    from flows.twice_daily import twice_daily

    summary = twice_daily(states=["RI"], issue_time=ISSUE, max_slots=6, seed=1)
    run_id = summary["run_id"]
    ready = _mail_to(smtp_server, "eli@newsroom.example")
    assert len(ready) == 1 and f"https://sheet.zipcast.example/runs/{run_id}" in \
        ready[0].get_content()
    assert "slots to write" in ready[0]["Subject"]
    assert len(_mail_to(smtp_server, "dana@newsroom.example")) == 1
    # Prefect artifacts: the slots table with truthfulness, the summary linking to the sheet
    table = _artifact("slots-morning")
    assert table is not None and "truthfulness" in table.data
    markdown = _artifact("run-morning")
    assert f"https://sheet.zipcast.example/runs/{run_id}" in markdown.data

    # before approval: the gate is open and nothing goes out
    early = dispatch_flow(now="2026-01-15T10:30:00Z", partitions=2)
    assert early["runs"][run_id]["gate"]["state"] == "open"
    assert early["runs"][run_id]["outcomes"] == {}
    assert "open" in _artifact("gate-morning").data.lower()

    page = _approve_all_on_the_sheet(world, run_id)
    assert f"Approved {summary['n_slots']} slot" in page

    sent = dispatch_flow(now=AFTER_SEND, partitions=2)
    report = sent["runs"][run_id]
    assert report["gate"]["state"] == "complete"
    assert report["outcomes"] == {"sent": 12}, report
    readers = [m for m in smtp_server.messages if m["To"].startswith("reader")]
    assert sorted(m["To"] for m in readers) == sorted(f"reader{i}@example.com"
                                                      for i in range(12))
    assert "complete" in _artifact("gate-morning").data.lower()

    again = dispatch_flow(now=AFTER_SEND, partitions=2)
    assert again["runs"][run_id]["outcomes"] == {}
    assert len([m for m in smtp_server.messages if m["To"].startswith("reader")]) == 12
    with session_scope(world.db_url) as db:
        assert db.scalar(select(func.count()).select_from(Delivery)
                         .where(Delivery.status == "sent")) == 12
    assert sent["missed_deadlines"] == []

    # the window ends; the scheduled verification scores what was sent against what happened
    # every email carries a "wrong?" link to its delivery
    assert "Wrong where you are? Tell us: https://sheet.zipcast.example/w/" in \
        readers[0].get_content()
    from flows.verify import verify_due_flow

    assert verify_due_flow(now="2026-01-15T20:00:00Z") == {}  # the window has not ended
    checked = verify_due_flow(now="2026-01-16T08:00:00Z")
    assert list(checked) == [run_id] and isinstance(checked[run_id], float), checked
    verified = _artifact("verify-morning")
    assert verified is not None and f"How did we do? {run_id}" in verified.data
    from pipeline.store import load_run
    from pipeline.store.verification import read_verification

    stored = read_verification(load_run(world.db_url, run_id)["run_dir"])
    assert stored is not None and stored.n_sent == summary["n_zips"]
    assert stored.messages["sent"].national.verifiable_share == 1.0  # synthetic: every ZIP
    assert verify_due_flow(now="2026-01-16T09:00:00Z") == {}  # verified once


def test_missed_deadline_alerts_once_by_log_and_mail(world, smtp_server, prefect_harness,  # noqa: F811
                                                     caplog):
    """Nobody approves; at the send time (policy hold) the dispatch flow logs an error and
    mails the lead once; a scheduled run that never came is reported too."""
    from flows.dispatch import dispatch_flow
    from flows.twice_daily import twice_daily

    summary = twice_daily(states=["RI"], issue_time=ISSUE, max_slots=6, seed=1,
                          notify_editors=False)
    run_id = summary["run_id"]
    assert smtp_server.messages == []  # notify_editors=False
    first = dispatch_flow(run_id=run_id, now=AFTER_SEND)
    assert first["runs"][run_id]["gate"]["state"] == "closed"
    assert first["runs"][run_id]["outcomes"] == {}  # held: nothing goes out
    missed = [m for m in first["missed_deadlines"] if run_id in m]
    assert missed and "not approved" in missed[0]
    alerts = _mail_to(smtp_server, "dana@newsroom.example")
    assert len(alerts) == 1 and "ALERT" in alerts[0]["Subject"]
    assert _mail_to(smtp_server, "eli@newsroom.example") == []  # editors are not paged
    dispatch_flow(run_id=run_id, now=AFTER_SEND)
    assert len(_mail_to(smtp_server, "dana@newsroom.example")) == 1  # once
    # the evening run of the 15th never came: by its send time (17:30 ET) it is missed
    later = dispatch_flow(run_id=run_id, now="2026-01-15T23:00:00Z")
    assert any("no evening run" in m for m in later["missed_deadlines"])
    with session_scope(world.db_url) as db:
        kinds = sorted(db.scalars(select(Notice.key)))
    assert f"deadline/{run_id}" in kinds and any(k.startswith("missing/evening/") for k in kinds)


def _counting_fetch(monkeypatch, fn=None) -> dict:
    """Replace the flow's fetch task by one that counts its calls (and maybe fails)."""
    from prefect import task
    from prefect.cache_policies import NONE

    from flows import twice_daily as module
    from pipeline import sources

    calls = {"n": 0}

    def fetch(source, zips, issue_time, seed, hours, path, settings):
        calls["n"] += 1
        return (fn or sources.fetch_raw)(source, zips, issue_time, seed=seed, hours=hours,
                                         path=path, settings=settings)

    monkeypatch.setattr(module, "fetch", task(fetch, name="fetch", cache_policy=NONE))
    return calls


def test_ingest_is_cached_by_source_and_issue_time(world, prefect_harness, monkeypatch):
    """A second run of the same source and issue time reuses the ingest (no new fetch, in
    ingest partitions); another issue time fetches."""
    from flows.twice_daily import twice_daily

    monkeypatch.setenv("ZIPCAST_FLOWS__INGEST_PARTITIONS", "3")
    get_settings.cache_clear()
    calls = _counting_fetch(monkeypatch)
    first = twice_daily(states=["DE"], issue_time=ISSUE, max_slots=4, seed=1,
                        with_baselines=False, notify_editors=False)
    assert calls["n"] == 3  # three partitions
    again = twice_daily(states=["DE"], issue_time=ISSUE, max_slots=5, seed=1,
                        with_baselines=False, notify_editors=False)
    assert calls["n"] == 3 and again["snapshot"] == first["snapshot"]
    assert again["run_id"] != first["run_id"] and again["n_zips"] == first["n_zips"] == 96
    twice_daily(states=["DE"], issue_time="2026-01-15T10:00:00Z", max_slots=4, seed=1,
                with_baselines=False, notify_editors=False)
    assert calls["n"] == 6


def test_failed_ingest_is_retried_then_falls_back(world, prefect_harness, monkeypatch):
    """Every fetch fails: the task is retried, then the run falls back to the last good
    forecast (the earlier snapshot) and says so; the incomplete ingest is not reused."""
    from flows import twice_daily as module
    from pipeline import sources

    good = module.twice_daily(states=["DE"], issue_time=ISSUE, max_slots=4, seed=1,
                              with_baselines=False, notify_editors=False)

    def broken(*args, **kwargs):  # noqa: ARG001
        raise sources.ForecastUnavailable("the forecast API answered 503 three times")

    calls = _counting_fetch(monkeypatch, broken)
    monkeypatch.setenv("ZIPCAST_FLOWS__INGEST_RETRY_DELAYS_S", "[0, 0]")
    get_settings.cache_clear()
    later = "2026-01-15T12:00:00Z"
    fell_back = module.twice_daily(states=["DE"], issue_time=later, max_slots=4, seed=1,
                                   with_baselines=False, notify_editors=False)
    assert calls["n"] == 3  # one try and two retries
    quality = fell_back["data_quality"]
    assert quality["n_stale"] == 96 and quality["n_good"] == 0, quality
    assert fell_back["snapshot"] != good["snapshot"]
    module.twice_daily(states=["DE"], issue_time=later, max_slots=4, seed=1,
                       with_baselines=False, notify_editors=False)
    assert calls["n"] == 6  # incomplete: fetched again, not taken from the cache


def test_an_ingest_with_stale_zips_is_incomplete():
    """Sources that fail per ZIP do not raise; stale or left-out ZIPs still mean "fetch again"."""
    from pipeline.ingest import IngestRef

    assert IngestRef("s/1", "t", {"n_stale": 0, "n_left_out": 0}).complete
    assert not IngestRef("s/1", "t", {"n_stale": 3, "n_left_out": 0}).complete
    assert not IngestRef("s/1", "t", {"n_stale": 0, "n_left_out": 1}).complete
    assert not IngestRef("s/1", "t", {}, failed_partitions=["ZIPs 1–2"]).complete


def test_a_replay_follows_only_the_run_its_original_followed(world, prefect_harness):
    """The first run of its kind carries no slot ids over; a run with an earlier issue time
    stored after it must not give its replay one to follow (the slots would be numbered
    differently and reported as different)."""
    import json

    from flows.cli import app
    from flows.twice_daily import twice_daily

    original = twice_daily(states=["RI"], issue_time=ISSUE, max_slots=6, seed=3,
                           notify_editors=False)
    twice_daily(states=["RI"], issue_time="2026-01-14T09:00:00Z", max_slots=6, seed=3,
                notify_editors=False)  # the day before, stored after
    result = CliRunner().invoke(app, ["run", "--replay", original["run_id"], "--json"])
    assert result.exit_code == 0, result.output
    replayed = json.loads(result.stdout)
    assert replayed["replay_of"]["identical"] is True, replayed["replay_of"]
    assert replayed["previous_run_id"] is None


def test_replay_by_run_id_reproduces_identical_slots(world, prefect_harness):
    """`zipcast run --replay RUN_ID` recomputes a stored run from its snapshot with the run's
    own parameters — even after the settings changed — and reports identical slots."""
    from flows.cli import app
    from flows.twice_daily import twice_daily

    original = twice_daily(states=["RI"], issue_time=ISSUE, max_slots=6, seed=3,
                           notify_editors=False)
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["run", "--replay", original["run_id"], "--json"],
                                env={"ZIPCAST_MAX_SLOTS": "9", "ZIPCAST_SEED": "7"})
    assert result.exit_code == 0, result.output
    import json

    replayed = json.loads(result.stdout)
    assert replayed["replay_of"]["run_id"] == original["run_id"]
    assert replayed["replay_of"]["identical"] is True, replayed["replay_of"]
    assert replayed["params"]["max_slots"] == 6 and replayed["params"]["seed"] == 3
    assert replayed["snapshot_sha256"] == original["snapshot_sha256"]
    for key in ("source", "issue_time", "snapshot", "params", "code"):
        assert original[key] is not None and replayed[key] is not None
    assert replayed["params"]["rules"]["truth"] == original["params"]["rules"]["truth"]
    # the replay is kept for comparison only: dispatch and deadlines still see the original
    from sqlalchemy.orm import Session

    from pipeline.store import get_engine, open_runs, pick_run

    settings = get_settings()
    with Session(get_engine(settings.db_url)) as db:
        assert [r.id for r in open_runs(db, datetime(2026, 1, 15, 12, tzinfo=UTC))] == [
            original["run_id"]]
        assert pick_run(db, None).id == original["run_id"]


def test_serve_shows_both_deployments_with_schedules(prefect_harness, monkeypatch):
    """`zipcast serve --show` lists both; the deployments it serves carry the schedules
    (registered with the Prefect API here and read back)."""
    from flows.cli import app
    from flows.serve import deployments

    monkeypatch.setenv("ZIPCAST_FLOWS__RUNS", '{"morning": "05:15", "evening": "16:00"}')
    get_settings.cache_clear()
    try:
        shown = CliRunner().invoke(app, ["serve", "--show"])
        assert shown.exit_code == 0, shown.output
        assert "twice-daily/twice-daily" in shown.output and "dispatch/dispatch" in shown.output
        assert "'15 5 * * *'" in shown.output and "every 5 minutes" in shown.output
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            for deployment in deployments(get_settings()):
                deployment.apply()
            twice = client.read_deployment_by_name("twice-daily/twice-daily")
            dispatch = client.read_deployment_by_name("dispatch/dispatch")
        crons = sorted((s.schedule.cron, s.schedule.timezone, s.parameters["window"])
                       for s in twice.schedules)
        assert crons == [("0 16 * * *", "America/New_York", "evening"),
                         ("15 5 * * *", "America/New_York", "morning")]
        assert [s.schedule.interval.total_seconds() for s in dispatch.schedules] == [300]
        assert "verify-due/verify-due" in shown.output
        with get_client(sync_client=True) as client:
            verify = client.read_deployment_by_name("verify-due/verify-due")
        assert [s.schedule.interval.total_seconds() for s in verify.schedules] == [3600]
    finally:
        get_settings.cache_clear()


def test_prefect_yaml_matches_serve():
    """prefect.yaml (work-pool deployments) has the same flows and default schedules."""
    from flows.serve import cron_of

    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    by_name = {d["name"]: d for d in spec["deployments"]}
    assert by_name["twice-daily"]["entrypoint"] == "flows/deployed.py:twice_daily"
    assert by_name["dispatch"]["entrypoint"] == "flows/deployed.py:dispatch_flow"
    assert by_name["verify-due"]["entrypoint"] == "flows/deployed.py:verify_due_flow"
    assert [s["interval"] for s in by_name["verify-due"]["schedules"]] == [3600]
    defaults = Settings().flows
    assert sorted((s["cron"], s["timezone"], s["parameters"]["window"])
                  for s in by_name["twice-daily"]["schedules"]) == sorted(
        (cron_of(at), defaults.timezone, w) for w, at in defaults.runs.items())
    assert by_name["dispatch"]["schedules"][0]["interval"] == defaults.dispatch_every_minutes * 60
    from prefect.flows import load_flow_from_entrypoint

    for deployment in spec["deployments"]:
        loaded = load_flow_from_entrypoint(str(REPO / deployment["entrypoint"]))
        assert loaded.name == deployment["name"]
        assert deployment["work_pool"]["name"] == "zipcast"


@pytest.mark.slow
def test_flows_on_dask_match_single_process(world, smtp_server, prefect_harness,  # noqa: F811
                                            monkeypatch):
    """The same flows on a local Dask cluster of 2 workers (prefect-dask): ingest in 2
    partitions and send in 2 partitions as tasks on the workers, the DTW work on the workers —
    the slots are identical to the single-process run and every subscriber gets one message."""
    from flows.dispatch import dispatch_flow
    from flows.runners import with_runner
    from flows.twice_daily import twice_daily
    from pipeline import run as run_lib

    single = twice_daily(states=["RI"], issue_time=ISSUE, max_slots=6, seed=2,
                         notify_editors=False)
    monkeypatch.setenv("ZIPCAST_FLOWS__DASK_WORKERS", "2")
    monkeypatch.setenv("ZIPCAST_FLOWS__INGEST_PARTITIONS", "2")
    monkeypatch.setenv("ZIPCAST_FLOWS__DISPATCH_PARTITIONS", "2")
    monkeypatch.setenv("ZIPCAST_FLOWS__INGEST_CACHE_HOURS", "0")  # fetch again, on the workers
    get_settings.cache_clear()
    settings = get_settings()
    on_dask = with_runner(twice_daily, settings.flows)
    assert type(on_dask.task_runner).__name__ == "DaskTaskRunner"
    import flows.twice_daily as flow_module

    addresses: list = []  # what the planner was given: the run's Dask scheduler
    find_address = flow_module.dask_address

    def recorded_address():  # type: ignore[no-untyped-def]
        addresses.append(find_address())
        return addresses[-1]

    monkeypatch.setattr(flow_module, "dask_address", recorded_address)
    dasked = on_dask(states=["RI"], issue_time=ISSUE, max_slots=7, seed=2,
                     notify_editors=False)
    # max_slots differs only to get a second run id; RI plans fewer slots than either budget
    assert dasked["n_slots"] == single["n_slots"] < 6
    same = run_lib.compare_runs(Path(single["artifacts"]["summary.json"]).parent,
                                Path(dasked["artifacts"]["summary.json"]).parent)
    assert same["identical"], same
    assert len(addresses) == 1 and str(addresses[0]).startswith("tcp://"), addresses
    _approve_all_on_the_sheet(settings, dasked["run_id"])
    report = with_runner(dispatch_flow, settings.flows)(run_id=dasked["run_id"], now=AFTER_SEND)
    assert report["runs"][dasked["run_id"]]["outcomes"] == {"sent": 12}
    readers = sorted(m["To"] for m in smtp_server.messages if m["To"].startswith("reader"))
    assert readers == sorted(f"reader{i}@example.com" for i in range(12))


def test_run_artifact_rows_are_the_summary(world, prefect_harness):
    """The ``slots-<window>`` table's rows are the run's slots with their truthfulness, and
    the ``run-<window>`` summary names the states under the floor (not "none")."""
    import json

    from flows.twice_daily import twice_daily

    summary = twice_daily(states=["RI", "AK"], issue_time=ISSUE, max_slots=2, seed=1,
                          notify_editors=False, with_baselines=False)
    slots = json.loads(Path(summary.artifacts["slots.json"]).read_text())
    rows = json.loads(_artifact("slots-morning").data)
    assert [r["slot"] for r in rows] == [s["slot_id"] for s in slots]
    assert [r["truthfulness"] for r in rows] == [
        f"{summary.truthfulness.per_slot[s['slot_id']]:.1%}" for s in slots]
    under = summary.truthfulness.states_below_floor
    assert under, "two slots for Rhode Island and Alaska leave a state under the floor"
    assert f"| states under the floor | {', '.join(under)} |" in _artifact("run-morning").data
