"""An editor's morning on the sheet, in Debian's Chromium, at 1440 px and on a 390 px phone.

Sign in; write three messages (one with a placeholder) saving each row without a reload, while
another row's unsaved text survives; a false claim is refused with the claim and its share;
the lead overrides it with a reason and approves the rest (asked first, reported per slot);
export the sheet and import it back with one change, reported by slot. On the phone the page
is one column no wider than the screen, with the slot's name, facts and box together.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipeline.editorial.render import _assignments as cached_assignments
from pipeline.store.db import session_scope
from pipeline.store.models import SlotMember

from .conftest import RUN_ID, _slot
from .test_browser import base_url, browser, edit_export  # noqa: F401 -- fixtures

pytestmark = pytest.mark.browser
SHEET = f"/runs/{RUN_ID}"
DRY = {"02840": ("Newport", 50.2, 38.0), "02871": ("Portsmouth", 49.6, 37.1)}


@pytest.fixture
def review_settings(review_settings):  # noqa: F811 -- the shared run plus a dry slot
    """The two-slot run plus s003: two dry, sunny Newport County ZIPs, highs near 50°F."""
    path = review_settings.runs_dir / RUN_ID / "assignments.parquet"
    frame = pd.read_parquet(path)
    extra = []
    for i, (zip_code, (_city, high, low)) in enumerate(DRY.items()):
        row = frame.iloc[0].to_dict()
        row.update({"zip": zip_code, "slot_id": "s003", "distance": float(i), "high_f": high,
                    "low_f": low, "pop_max": 5.0, "precip_total_in": 0.0, "snow_total_in": 0.0,
                    "precip": False, "precip_type": "none", "precip_start_hour": float("nan"),
                    "precip_onset_h": float("nan"), "precip_end_hour": float("nan"),
                    "precip_start_offset_h": float("nan"), "cloud_mean": 5.0, "sky": "sunny"})
        extra.append(row)
    pd.concat([frame, pd.DataFrame(extra)], ignore_index=True).to_parquet(path)
    cached_assignments.cache_clear()
    with session_scope(review_settings.db_url) as db:
        slot = _slot("s003", 3, 2, "Dry and sunny, highs near 50F.")
        slot.name, slot.headline = "Newport County, RI · Dry, sunny", "Dry, sunny, 48-52F"
        db.add(slot)
        db.flush()
        db.add_all([SlotMember(run_id=RUN_ID, zip=z, slot_id="s003", distance=0.0, fits=True,
                               automatic=False) for z in DRY])
    return review_settings


def _sign_in(browser, base_url, name, width):  # noqa: F811
    height = 844 if width < 500 else 900
    context = browser.new_context(viewport={"width": width, "height": height},
                                  accept_downloads=True)
    page = context.new_page()
    page.goto(f"{base_url}{SHEET}")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", "correct horse")
    page.click("button[type=submit]")
    page.wait_for_url(f"**{SHEET}")
    return page


def _no_reload(page):
    """A marker in the page's JS state: gone if the page reloads."""
    page.evaluate("window.__sameDocument = true")
    return lambda: page.evaluate("window.__sameDocument === true")


@pytest.mark.parametrize("width", [1440, 390])
def test_an_editors_morning(browser, base_url, width, tmp_path):  # noqa: F811
    expect = pytest.importorskip("playwright.sync_api").expect
    eli = _sign_in(browser, base_url, "eli", width)
    same_document = _no_reload(eli)
    wide = eli.evaluate("document.documentElement.scrollWidth")
    assert wide <= width, f"page is {wide} px wide on a {width} px screen"

    # 1. s001 with a placeholder, saved with Ctrl+Enter; s002 typed but not saved
    eli.fill("#slot-s002 textarea", "Snow from {{ snow_start }}: bundle up, Scituate!")
    expect(eli.locator("#slot-s002.dirty")).to_have_count(1)
    eli.fill("#slot-s001 textarea", "Rain from {{ rain_start }} in {{ city }}, highs near 41F.")
    expect(eli.locator("#slot-s001 .factcheck")).to_contain_text("true for 100 %")
    eli.press("#slot-s001 textarea", "Control+Enter")
    expect(eli.locator("#slot-s001 .flash.ok")).to_contain_text("s001 saved as a draft.")
    expect(eli.locator("#slot-s001 .badge.draft")).to_have_count(1)
    assert same_document(), "saving reloaded the page"
    # the other row's unsaved text survived the save, still marked unsaved
    assert eli.input_value("#slot-s002 textarea") == (
        "Snow from {{ snow_start }}: bundle up, Scituate!")
    expect(eli.locator("#slot-s002.dirty .unsaved-badge")).to_be_visible()

    # 2. s003: a true message approved
    eli.fill("#slot-s003 textarea", "Sunny and dry. Highs near 50F: a real stunner.")
    eli.click("#slot-s003 button[value=approve]")
    expect(eli.locator("#slot-s003 .badge.approved")).to_have_count(1)

    # 3. a false claim on the snow slot is refused, with the claim and its share
    eli.fill("#slot-s002 textarea", "Sunny and bone dry all day – leave the umbrella at home")
    expect(eli.locator("#slot-s002 .factcheck.refused")).to_contain_text("bone dry")
    eli.click("#slot-s002 button[value=approve]")
    flash = eli.locator("#slot-s002 .flash.error")
    expect(flash).to_contain_text("the fact check refused it")
    expect(flash).to_contain_text("false for 100 %")
    expect(eli.locator("#slot-s002 .badge.draft")).to_have_count(1)
    expect(eli.locator("#slot-s002 mark")).to_contain_text(["Sunny", "bone dry"])
    assert eli.locator("#slot-s002 button[value=override]").count() == 0  # not a lead
    assert same_document()
    if width < 500:  # the phone: one column, the name and facts right above the box
        box = eli.locator("#slot-s002 textarea").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width
        title = eli.locator("#slot-s002 .slot-title").bounding_box()
        panel = eli.locator("#slot-s002 .facts-panel").bounding_box()
        assert title["y"] < panel["y"] < box["y"]
        assert panel["x"] + panel["width"] <= width
        eli.screenshot(path=f"/tmp/morning-{width}.png", full_page=False)
    assert eli.evaluate("document.documentElement.scrollWidth") <= width

    # 4. the lead overrides s002 with a reason, then approves the rest, asked first
    dana = _sign_in(browser, base_url, "dana", width)
    dana.click("#slot-s002 button[value=approve]")
    expect(dana.locator("#slot-s002 .flash.error")).to_contain_text("the fact check refused")
    dana.fill("#slot-s002 .flash textarea[name=reason]", "April fools' column, signed off.")
    dana.click("#slot-s002 button[value=override]")
    expect(dana.locator("#slot-s002 .flash.ok")).to_contain_text("approved over the fact check")
    dana.click("#slot-s002 details.thread summary")
    expect(dana.locator("#slot-s002 .history")).to_contain_text("April fools' column")
    dana.click(".approve-all button")
    expect(dana.locator("h1")).to_contain_text("Approve all remaining slots")
    expect(dana.locator("ul.will")).to_contain_text("s001")
    dana.click("text=Approve these 1")
    expect(dana.locator(".flash.ok")).to_contain_text("Approved 1 slot: s001.")
    dana.click("text=Back to the sheet")
    expect(dana.locator(".deadline .counts")).to_contain_text("3 approved, 0 remaining")

    # 5. export, change s003 in the file, import: the report names what it did
    with dana.expect_download() as download:
        dana.click("text=Export CSV")
    edited, _ids = edit_export(Path(download.value.path()), tmp_path, {
        "s003": "Sunny and dry, highs near 50F. Sunglasses on."})
    dana.set_input_files("#import-file", str(edited))
    dana.click("form.import button[type=submit]")
    report = dana.locator(".flash").first
    expect(report).to_contain_text("1 message saved")
    expect(report).to_contain_text("Saved: s003.")
    dana.screenshot(path=f"/tmp/morning-lead-{width}.png", full_page=True)
