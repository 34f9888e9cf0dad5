"""A shared link to a page other than the overview, opened first on a freshly started server."""

from __future__ import annotations

import pytest

from tests.conftest import CHROMIUM

pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")


def test_the_first_visit_to_a_fresh_server_can_be_a_deep_link(server, browser):
    # This module's server is its own and nobody has opened "/" on it yet.
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    # A two-word page: its path must be the page file's name, or Streamlit's front end opens it under a
    # "Page not found" dialog that blocks every click.
    page.goto(f"{server}/net_growth?region=West", wait_until="domcontentloaded")
    page.get_by_role("heading", name="Net growth").first.wait_for(timeout=90_000)
    page.get_by_text("Churn window W (days)").first.wait_for(timeout=60_000)
    page.wait_for_load_state("networkidle")
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.get_by_text("Page not found").count() == 0
    assert "region=West" in page.url and "page=net_growth" in page.url
    page.close()
