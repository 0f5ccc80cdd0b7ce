""""How did we do?" in a real Chromium on a phone's width: readable without sideways
scrolling, the map drawn, and the three messages one tap apart."""

from __future__ import annotations

import pytest

from pipeline.review.app import create_app
from pipeline.review.cli import add_user
from pipeline.review.deps import ReviewSettings
from tests.pipeline.review.test_browser import browser as browser  # noqa: F401 -- fixture
from tests.pipeline.review.test_browser import served
from tests.pipeline.verify.conftest import RUN_ID
from tests.pipeline.verify.test_page import late_front
from tests.pipeline.verify.test_verify import AFTER

pytestmark = pytest.mark.browser
PASSWORD = "correct horse"


@pytest.fixture
def base_url(verify_settings, tmp_path):
    late_front(verify_settings, tmp_path)
    add_user(verify_settings.db_url, "eli", "editor", PASSWORD)
    with served(create_app(verify_settings, ReviewSettings(secret_key="browser-test"),
                           now=lambda: AFTER)) as url:
        yield url


def test_the_page_reads_on_a_phone(browser, base_url):  # noqa: F811
    page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    page.goto(f"{base_url}/runs/{RUN_ID}/verification")
    page.fill("input[name=name]", "eli")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**/runs/{RUN_ID}/verification")
    assert page.locator(".card.main .big").inner_text() == "50.0 %"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone: {width} px wide"
    page.locator("img.map").scroll_into_view_if_needed()
    page.wait_for_function("document.querySelector('img.map').complete")
    assert page.evaluate("document.querySelector('img.map').naturalWidth") > 0
    page.click("text=each ZIP's own forecast, exactly")
    page.wait_for_url("**kind=forecast")
    assert "By claim · each ZIP's own forecast, exactly" in page.content()
