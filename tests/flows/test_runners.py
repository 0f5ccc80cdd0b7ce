"""A flow run started by hand sends no Prefect heartbeats (its end waited for the heartbeat
thread's one-second sleep), unless heartbeats are configured; scheduled runs keep them. And the
command leaves its objects to the process's exit, and its database whole."""

from __future__ import annotations

import gc
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from prefect import flow
from prefect.flow_engine import FlowRunEngine
from prefect.settings import (
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    get_current_settings,
    temporary_settings,
)
from typer.testing import CliRunner

import flows.cli
import flows.runners
from flows.runners import by_hand

ROOT = Path(__file__).resolve().parents[2]


@flow
def _nothing() -> None:
    return None


def _heartbeat() -> int | None:
    return FlowRunEngine(flow=_nothing).heartbeat_seconds


def test_a_run_by_hand_has_no_heartbeat_and_the_setting_comes_back():
    assert _heartbeat() == 180  # Prefect's default, for scheduled runs
    with by_hand():
        assert _heartbeat() is None
        assert get_current_settings().flows.heartbeat_frequency is None
    assert _heartbeat() == 180


def test_configured_heartbeats_are_kept():
    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: 60}), by_hand():
        assert _heartbeat() == 60


def test_zipcast_run_starts_its_flow_by_hand(monkeypatch):
    seen: list[int | None] = []

    class Summary:
        def model_dump_json(self, indent: int = 0) -> str:
            return "{}"

    def started(flow_obj: object, settings: object) -> Callable[..., Summary]:
        def call(**options: object) -> Summary:
            seen.append(_heartbeat())
            return Summary()
        return call

    monkeypatch.setattr(flows.runners, "with_runner", started)
    result = CliRunner().invoke(flows.cli.app, ["run", "--json"])
    assert result.exit_code == 0, result.output
    assert seen == [None]
    assert _heartbeat() == 180


def test_the_command_leaves_its_objects_to_the_process_exit(monkeypatch):
    """``main`` freezes the garbage collector as the command ends: the interpreter's exit
    then skips its full collections over everything a national run leaves (1.2 s)."""
    monkeypatch.setattr("sys.argv", ["zipcast", "--help"])
    try:
        with pytest.raises(SystemExit):
            flows.cli.main()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_the_command_leaves_the_database_whole(tmp_path):
    """With the collector frozen at exit, the engines are still closed (atexit): SQLite folds
    its write-ahead log back into the database file, and no ``-wal`` is left beside it."""
    env = {**os.environ, "ZIPCAST_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "flows.cli", "runs"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["zipcast.sqlite"]
    with sqlite3.connect(tmp_path / "zipcast.sqlite") as db:
        assert db.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
