"""The review sheet in a real Chromium: sign in, live count, conflict, approve."""

from __future__ import annotations

import csv
import io
import socket
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.editorial.sms import count
from pipeline.review.app import create_app
from pipeline.review.deps import ReviewSettings

from .conftest import PASSWORD, RUN_ID

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
pytestmark = pytest.mark.browser


@contextmanager
def served(app):
    """``app`` under uvicorn on a free loopback port, in a thread; yields its base URL."""
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:  # startup handshake
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def base_url(review_settings):
    """The app under uvicorn on a free loopback port, in a thread, for this test."""
    with served(create_app(review_settings, ReviewSettings(secret_key="browser-test"),
                           now=lambda: datetime(2026, 1, 15, 10, 0, tzinfo=UTC))) as url:
        yield url


@pytest.fixture
def browser():
    """Debian's Chromium through Playwright; skipped when it is not installed."""
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


def _signed_in(browser, base_url, name):
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{base_url}/runs/{RUN_ID}")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**/runs/{RUN_ID}")
    return page


def edit_export(exported: Path, folder: Path, messages: dict[str, str]) -> tuple[Path, list]:
    """Change some slots' messages in an exported CSV as an editor would in a spreadsheet;
    the edited file and the slot ids it holds."""
    text = exported.read_bytes().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    for row in rows:
        row["message"] = messages.get(row["id"], row["message"])
    edited = folder / "edited.csv"
    with edited.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return edited, [row["id"] for row in rows]


def test_edit_conflict_approve(browser, base_url):
    """Two editors edit one slot: live counts, a 409 naming the other, then approval."""
    eli = _signed_in(browser, base_url, "eli")
    dana = _signed_in(browser, base_url, "dana")
    slot = "#slot-s001"

    eli.fill(f"{slot} textarea", "It’s raining in {{ city }}")
    count_line = eli.locator(f"{slot} [data-count]")
    assert "’ (U+2019) forces UCS-2" in count_line.inner_text()
    expect = pytest.importorskip("playwright.sync_api").expect
    expect(eli.locator(f"{slot} .previews")).to_contain_text("raining in Providence")
    eli.fill(f"{slot} textarea", "a" * 161)
    assert "161 characters · GSM-7 · 2 SMS" in count_line.inner_text()

    for text in ["a" * 159 + "€", "{}[]" * 40, "ж" * 71, "☔🌧 x", "a" * 152 + "€" + "a" * 152]:
        js = eli.evaluate("t => window.zipcastSmsCount(t)", text)
        py = count(text)
        assert (js["encoding"], js["units"], js["segments"]) == (py.encoding, py.units,
                                                                 py.segments), text

    dana.fill(f"{slot} textarea", "Dana got here first.")
    dana.click(f"{slot} button[value=save]")
    dana.wait_for_selector(f"{slot} .badge.draft")

    eli.fill(f"{slot} textarea", "Rain from {{ rain_start }} in {{ city }}.")
    eli.click(f"{slot} button[value=save]")
    eli.wait_for_selector(f"{slot} .flash.error")  # the conflict, in the row, text kept
    conflict = eli.inner_text(f"{slot} .flash.error")
    assert "Dana got here first." in conflict and "dana" in conflict
    assert eli.input_value(f"{slot} textarea") == "Rain from {{ rain_start }} in {{ city }}."
    eli.click(f"{slot} button[value=save]")  # save mine over theirs
    eli.wait_for_selector(f"{slot} .flash.ok")
    assert "last saved by eli" in eli.inner_text(f"{slot} .status")

    eli.click(f"{slot} button[value=approve]")
    eli.wait_for_selector(f"{slot} .badge.approved")
    assert "last saved by eli" in eli.inner_text(f"{slot} .status")
    eli.screenshot(path="/tmp/review-sheet.png", full_page=True)


def test_spreadsheet_export_edit_import(browser, base_url, tmp_path):
    """Export CSV, change a message in the file, import it through the form, see it saved;
    the XLSX export downloads too."""
    from openpyxl import load_workbook

    eli = _signed_in(browser, base_url, "eli")
    with eli.expect_download() as csv_download:
        eli.click("text=Export CSV")
    assert csv_download.value.suggested_filename == f"zipcast-{RUN_ID}.csv"
    edited, ids = edit_export(Path(csv_download.value.path()), tmp_path, {
        "s001": "-Imported: rain from {{ rain_start }} in {{ city }}."})
    assert ids == ["s001", "s002"]

    eli.set_input_files("#import-file", str(edited))
    eli.click("form.import button[type=submit]")
    eli.wait_for_selector(".flash.ok")
    assert "Imported edited.csv: 1 message saved, 1 unchanged." in eli.inner_text(".flash.ok")
    assert eli.input_value("#slot-s001 textarea") == (
        "-Imported: rain from {{ rain_start }} in {{ city }}.")
    assert eli.locator("#slot-s001 .badge.draft").count() == 1

    with eli.expect_download() as xlsx_download:
        eli.click("text=Export XLSX")
    assert xlsx_download.value.suggested_filename == f"zipcast-{RUN_ID}.xlsx"
    sheet = load_workbook(io.BytesIO(Path(xlsx_download.value.path()).read_bytes())).active
    assert sheet["A2"].value == "s001" and sheet["G2"].value == 1
    assert sheet["H2"].value == RUN_ID
    assert sheet["E2"].value == "'-Imported: rain from {{ rain_start }} in {{ city }}."
