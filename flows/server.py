"""Which Prefect server a zipcast command talks to, and a local one shared by every command.

Prefect needs an API server for a flow run. Without one configured, each command starts a
temporary server of its own (Prefect's ephemeral mode): 15-30 s on a 2-core machine, every
time. zipcast picks, in order:

1. ``PREFECT_API_URL`` when set (a team's server, Prefect Cloud): always used as is;
2. the local server on ``127.0.0.1:<ZIPCAST_FLOWS__PREFECT_PORT>`` (4200) when one answers —
   started by ``zipcast server start`` (or ``prefect server start``), shared by ``zipcast
   run``, ``zipcast dispatch`` and ``zipcast serve``, so runs, retries, artifacts and the UI
   are in one place and no command waits for a server to start;
3. otherwise Prefect's temporary server for this command (``ZIPCAST_FLOWS__PREFECT_SERVER=
   ephemeral`` forces this, as the tests do).

Nothing here imports Prefect: the choice is made before Prefect reads its settings.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from pipeline.settings import Settings

HOST = "127.0.0.1"
START_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class ServerChoice:
    """The API a command uses: ``url`` (None: a temporary server) and why, in words."""

    url: str | None
    how: str


def local_url(settings: Settings) -> str:
    return f"http://{HOST}:{settings.flows.prefect_port}/api"


def answers(url: str, timeout: float = 0.5) -> bool:
    """Whether a Prefect API answers its health check at ``url``."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as response:  # noqa: S310
            return response.status == 200 and json.loads(response.read() or b"false") is True
    except (OSError, ValueError):
        return False


def attach(settings: Settings) -> ServerChoice:
    """Choose the server (see the module docstring) and set ``PREFECT_API_URL`` for it."""
    configured = os.environ.get("PREFECT_API_URL")
    if configured:
        return ServerChoice(configured, f"Prefect server at {configured} (PREFECT_API_URL)")
    url = local_url(settings)
    if settings.flows.prefect_server == "auto" and answers(url):
        os.environ["PREFECT_API_URL"] = url
        return ServerChoice(url, f"Prefect's local server at {url} (shared; "
                            "`zipcast server stop` stops it)")
    return ServerChoice(None, "a temporary Prefect server for this command (15-30 s to "
                        "start; `zipcast server start` keeps one up for every command)")


def _files(settings: Settings) -> tuple[Path, Path]:
    return settings.data_dir / "prefect-server.pid", settings.data_dir / "prefect-server.log"


def start(settings: Settings, *, say=print) -> str:  # type: ignore[no-untyped-def]
    """Start the shared local server in the background (if none answers) and wait for it.

    Raises ``RuntimeError`` naming the log when it does not answer in time.
    """
    url = local_url(settings)
    if answers(url):
        say(f"Prefect's local server already answers at {url}")
        return url
    pid_file, log_file = _files(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    with log_file.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 -- our interpreter, fixed arguments
            [sys.executable, "-m", "prefect", "server", "start", "--host", HOST,
             "--port", str(settings.flows.prefect_port)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True)
    pid_file.write_text(str(process.pid))
    say(f"starting Prefect's local server at {url} (pid {process.pid}, log {log_file})…")
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Prefect's server exited with code {process.returncode}; "
                               f"see {log_file}")
        if answers(url):
            say(f"Prefect's local server answers at {url}; every zipcast command uses it "
                f"now (UI: {url[:-4]})")
            return url
        time.sleep(0.5)
    raise RuntimeError(f"Prefect's server did not answer at {url} within "
                       f"{START_TIMEOUT_S:.0f} s; see {log_file}")


def stop(settings: Settings) -> bool:
    """Stop the server :func:`start` started (by its pid file); False when there is none."""
    pid_file, _ = _files(settings)
    try:
        pid = int(pid_file.read_text())
    except (FileNotFoundError, ValueError):
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    pid_file.unlink(missing_ok=True)
    return True
