"""The README's long-lived setup, for real: `prefect server start` on PostgreSQL takes zipcast's
two deployments with their schedules."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_prefect_server_on_postgresql_serves_the_deployments(postgres_url, tmp_path):
    import sqlalchemy

    admin = sqlalchemy.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql("DROP DATABASE IF EXISTS prefect_server_test")
        connection.exec_driver_sql("CREATE DATABASE prefect_server_test")
    admin.dispose()
    database = postgres_url.replace("postgresql+pg8000", "postgresql+asyncpg").rsplit("/", 1)[0]
    port = _free_port()
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home"),
           "PREFECT_API_DATABASE_CONNECTION_URL": f"{database}/prefect_server_test",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
         "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "prefect server did not start in 240 s"
            time.sleep(1)
        client_env = {**env, "PREFECT_API_URL": api, "ZIPCAST_DATA_DIR": str(tmp_path / "d")}
        applied = subprocess.run(
            [sys.executable, "-c", "from flows.serve import deployments\n"
             "from pipeline.settings import get_settings\n"
             "for d in deployments(get_settings()):\n    print(d.apply())"],
            env=client_env, cwd=REPO, capture_output=True, text=True, timeout=300)
        assert applied.returncode == 0, applied.stderr[-3000:]
        found = httpx.post(f"{api}/deployments/filter", json={}, timeout=30).json()
        by_name = {d["name"]: d for d in found}
        assert set(by_name) == {"twice-daily", "dispatch", "verify-due"}
        crons = sorted((s["schedule"]["cron"], s["schedule"]["timezone"])
                       for s in by_name["twice-daily"]["schedules"])
        assert crons == [("30 15 * * *", "America/New_York"), ("30 4 * * *", "America/New_York")]
        assert [s["schedule"]["interval"] for s in by_name["dispatch"]["schedules"]] == [300.0]
        assert [s["schedule"]["interval"] for s in by_name["verify-due"]["schedules"]] == [3600.0]
        health = httpx.get(f"{api}/admin/version", timeout=10)
        assert health.status_code == 200, json.dumps(health.json())
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
