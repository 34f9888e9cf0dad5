"""End to end: the real server in headless Chromium, as an executive opening a shared link would."""

from __future__ import annotations

import pytest

from customer_value.dataset import make_filters
from customer_value.formatting import format_value
from customer_value.metrics import overview_kpis
from tests.conftest import CHROMIUM, metric_value

pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")


def _metric_value(page, label: str) -> str:
    return metric_value(page, label)


def test_overview_opens_with_real_figures(server, browser, demo_db, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(server, wait_until="domcontentloaded")
    expected = {kpi.label: format_value(kpi.value, kpi.kind) for kpi in overview_kpis(demo_db, make_filters(demo_db))}
    assert _metric_value(page, "Active customers") == expected["Active customers"]
    assert _metric_value(page, "Revenue") == expected["Revenue"]
    page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)
    page.close()


def test_a_shared_link_opens_the_same_view(server, browser, demo_db):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{server}/?period=last_full_year&region=West&w=60", wait_until="domcontentloaded")
    expected = {kpi.label: format_value(kpi.value, kpi.kind)
                for kpi in overview_kpis(demo_db, make_filters(demo_db, period="last_full_year",
                                                               regions=("West",), window_days=60))}
    assert _metric_value(page, "Active customers") == expected["Active customers"]
    assert _metric_value(page, "Lost customers") == expected["Lost customers"]
    # The address bar keeps the view, so copying it shares it.
    page.wait_for_function("() => window.location.search.includes('region=West')", timeout=30_000)
    assert "w=60" in page.url
    page.close()


@pytest.mark.parametrize("address", ["/?page=team&region=West", "/team"])
def test_a_link_to_another_page_opens_it_with_the_app_around_it(server, browser, address):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{server}{address}", wait_until="domcontentloaded")
    page.get_by_text("Team performance").first.wait_for(timeout=60_000)
    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=60_000)
    # The sidebar filters (drawn by app.py) are there, so the page ran inside the app.
    page.get_by_text("Churn window W (days)").first.wait_for(timeout=60_000)
    page.wait_for_load_state("networkidle")
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()
