"""End-to-end tests of the twice-daily flow: a small state, a rerun, the CLI, and the nation."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.twice_daily import twice_daily
from pipeline.settings import get_settings
from pipeline.store import load_run
from tests.flows.reference import check_slots_agree

ISSUE = "2026-01-15T09:00:00Z"  # 4 am in New York: a morning run


@pytest.fixture(scope="module")
def ri_run(prefect_harness):
    """One morning run for Rhode Island (90 ZIPs)."""
    return twice_daily(states=["RI"], issue_time=ISSUE, max_slots=6, seed=1)


def test_small_state_run_end_to_end(ri_run):
    """A state run clusters every ZIP into slots and writes the run folder and database rows."""
    assert ri_run["n_zips"] == 90 and ri_run["n_zips_asked"] == 90
    assert ri_run["data_quality"]["coverage"] == 1.0
    assert 1 <= ri_run["n_slots"] <= 6
    assert set(ri_run["seconds"]) >= {"ingest", "features", "cluster", "slots", "store", "total"}
    run_dir = Path(ri_run["artifacts"]["summary.json"]).parent
    assert json.loads((run_dir / "summary.json").read_text())["run_id"] == ri_run["run_id"]
    assignments = pd.read_parquet(run_dir / "assignments.parquet")
    assert len(assignments) == 90 and assignments["zip"].is_unique
    stored = load_run(get_settings().db_url, ri_run["run_id"])
    assert stored["n_slots"] == ri_run["n_slots"]
    assert all(s["draft_message"] for s in stored["slots"])


def test_slot_facts_agree_with_member_forecasts(ri_run):
    """Every slot's stated facts are recomputed from forecast.parquet and agree."""
    run_dir = Path(ri_run["artifacts"]["summary.json"]).parent
    assert check_slots_agree(run_dir) == ri_run["n_slots"]


def test_rerun_gives_the_same_run_and_slots(ri_run, prefect_harness):
    """The same parameters give the same run id and identical slots (reruns replace)."""
    again = twice_daily(states=["RI"], issue_time=ISSUE, max_slots=6, seed=1)
    assert again["run_id"] == ri_run["run_id"]
    run_dir = Path(again["artifacts"]["slots.json"]).parent
    first = json.loads((run_dir / "slots.json").read_text())
    assert [s["zips"] for s in first] and again["n_slots"] == ri_run["n_slots"]


def test_cli_json_prints_the_summary(prefect_harness):
    """`zipcast run --json` prints summary.json: run id, counts, seconds and artifact paths."""
    result = CliRunner().invoke(
        app, ["run", "--states", "DE", "--issue-time", ISSUE, "--max-slots", "5", "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["n_zips"] == 96 and summary["n_slots"] <= 5
    assert {"run_id", "seconds", "artifacts"} <= set(summary)


def test_cli_unknown_state_is_a_clear_error(prefect_harness):
    """A bad --states value fails with the state named."""
    result = CliRunner().invoke(app, ["run", "--states", "ZZ", "--json"])
    assert result.exit_code != 0
    assert "ZZ" in str(result.exception) + result.output


@pytest.mark.slow
def test_national_run(prefect_harness):
    """A national run clusters all 41,084 ZIPs, no subsampling, and every slot's facts agree."""
    summary = twice_daily(issue_time=ISSUE, seed=0)
    assert summary["n_zips"] == 41_084
    assert summary["n_slots"] == 60
    run_dir = Path(summary["artifacts"]["summary.json"]).parent
    assert check_slots_agree(run_dir) == 60
