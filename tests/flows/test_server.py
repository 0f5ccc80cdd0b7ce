"""Which Prefect server a command uses (flows/server.py): configured, shared local, or a
temporary one. A stand-in health endpoint plays the shared server (no Prefect started)."""

from __future__ import annotations

import http.server
import threading

import pytest

from flows.server import answers, attach
from pipeline.settings import Settings


@pytest.fixture
def health_server():
    """A local HTTP server answering Prefect's health check with ``true``."""
    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            ok = self.path == "/api/health"
            self.send_response(200 if ok else 404)
            self.end_headers()
            self.wfile.write(b"true" if ok else b"")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def test_a_configured_url_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("PREFECT_API_URL", "http://prefect.example:4200/api")
    choice = attach(Settings(data_dir=tmp_path))
    assert choice.url == "http://prefect.example:4200/api" and "PREFECT_API_URL" in choice.how


def test_the_shared_local_server_is_used_when_it_answers(monkeypatch, tmp_path, health_server):
    monkeypatch.setenv("PREFECT_API_URL", "")  # restored (removed) after the test
    monkeypatch.delenv("PREFECT_API_URL")
    monkeypatch.setenv("ZIPCAST_FLOWS__PREFECT_SERVER", "auto")
    settings = Settings(data_dir=tmp_path, flows={"prefect_port": health_server,
                                                  "prefect_server": "auto"})
    url = f"http://127.0.0.1:{health_server}/api"
    assert answers(url)
    choice = attach(settings)
    assert choice.url == url and "shared" in choice.how
    import os
    assert os.environ["PREFECT_API_URL"] == url


def test_a_temporary_server_otherwise(monkeypatch, tmp_path, health_server):
    monkeypatch.setenv("PREFECT_API_URL", "")  # restored (removed) after the test
    monkeypatch.delenv("PREFECT_API_URL")
    nobody = Settings(data_dir=tmp_path, flows={"prefect_port": 1, "prefect_server": "auto"})
    assert attach(nobody).url is None  # nothing answers on port 1
    forced = Settings(data_dir=tmp_path, flows={"prefect_port": health_server,
                                                "prefect_server": "ephemeral"})
    choice = attach(forced)
    assert choice.url is None and "zipcast server start" in choice.how
