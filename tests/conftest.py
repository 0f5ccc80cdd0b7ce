"""Shared fixtures: a throwaway data folder for every session, one Prefect harness, the nation."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from flows.env import quiet_prefect

# Tests never write into the repo's data/: every session gets its own data folder, removed
# when the session ends (a national session leaves about 240 MB in it).
_DATA = Path(tempfile.mkdtemp(prefix="zipcast-test-data-"))
os.environ.setdefault("ZIPCAST_DATA_DIR", str(_DATA))
# never attach to a developer's running Prefect server: each test process uses the harness
# or a temporary server (flows/server.py)
os.environ["ZIPCAST_FLOWS__PREFECT_SERVER"] = "ephemeral"
quiet_prefect()

SHARED = Path(__file__).resolve().parents[2] / "shared"
REAL_FORECASTS = SHARED / "data" / "real-forecasts"


def pytest_sessionfinish(session, exitstatus):
    """Remove the session's own data folder (not one the environment chose)."""
    shutil.rmtree(_DATA, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    """Tests on the Prefect test server are marked ``prefect`` (``make test-fast`` skips them)."""
    for item in items:
        if "prefect_harness" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.prefect)


@pytest.fixture(scope="session")
def prefect_harness():
    """One Prefect test server for the whole session (it takes ~30 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def nation():
    """The national gazetteer (41,084 ZIPs), loaded once."""
    from pipeline.geo import load_zips

    return load_zips()


@pytest.fixture
def settings(tmp_path):
    """Settings with a private data folder."""
    from pipeline.settings import Settings

    return Settings(data_dir=tmp_path)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server on loopback for the session; skips when none can be started.

    Uses the Debian server binaries (``make test`` installs the ``postgresql`` package when it
    can). As root the server runs as the ``postgres`` user, since initdb refuses root.
    """
    import glob
    import shutil
    import subprocess

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.skip("no PostgreSQL server binaries (apt-get install postgresql)")
    pytest.importorskip("pg8000")
    bindir = Path(found[-1]).parent
    # not under pytest's tmp folder: that is private to root, and the server runs as postgres
    root = Path(tempfile.mkdtemp(prefix="zipcast-pg-"))
    datadir = root / "data"
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser to drop to the postgres user")
        prefix = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
        root.chmod(0o755)
    port = _free_port()
    run = lambda *cmd: subprocess.run(  # noqa: E731
        [*prefix, *cmd], check=True, capture_output=True, text=True, timeout=120
    )
    try:
        run(str(bindir / "initdb"), "-D", str(datadir), "-A", "trust", "-U", "zipcast")
        run(str(bindir / "pg_ctl"), "-D", str(datadir), "-w", "-l", str(root / "log"),
            "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "start")
    except (subprocess.CalledProcessError, OSError) as err:
        pytest.skip(f"could not start PostgreSQL: {getattr(err, 'stderr', err)}")
    # pg8000 is pure Python: psycopg-binary's bundled Kerberos clashes with the libraries that
    # eccodes bundles and crashes the process at exit once both are loaded
    yield f"postgresql+pg8000://zipcast@127.0.0.1:{port}/postgres"
    subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "fast", "stop"],
                   capture_output=True, timeout=60)
    shutil.rmtree(root, ignore_errors=True)
