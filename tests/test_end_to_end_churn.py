"""End to end: the churn and net-growth pages in the real server and headless Chromium, figures against the package."""

from __future__ import annotations

import pytest

from customer_value import movements as mv
from customer_value.dataset import make_filters
from customer_value.formatting import format_value
from tests.conftest import CHROMIUM, metric_value, wait_until_idle

pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")

TIMEOUT = 90_000


def _metric_value(page, label: str) -> str:
    return metric_value(page, label, TIMEOUT)


def _wait_until_idle(page) -> None:
    wait_until_idle(page, TIMEOUT)


def _open_from_sidebar(page, title: str) -> None:
    """Click the page's entry in the sidebar navigation until its title shows.

    A click that lands while the previous page's script is still running is sometimes dropped by the
    front end (seen once in three runs), so a second click is allowed; the figures are checked after.
    """
    for _ in range(3):
        _wait_until_idle(page)
        page.locator('[data-testid="stSidebarNav"]').get_by_text(title).click()
        try:
            page.get_by_role("heading", name=title).first.wait_for(timeout=TIMEOUT // 2)
            return
        except Exception:  # noqa: BLE001 - playwright's TimeoutError; try the click again
            continue
    raise AssertionError(f"the sidebar did not open {title}")


def _expected_churn_figures(demo_db, filters) -> dict[str, str]:
    totals = mv.movement_totals(mv.monthly_movements(demo_db, filters))
    return {
        "Active at start": format_value(totals["active_start"], "count"),
        "New": format_value(totals["new_customers"], "count"),
        "Reactivated": format_value(totals["reactivated"], "count"),
        "Lost": format_value(totals["lost"], "count"),
        "Active at end": format_value(totals["active_end"], "count"),
        "Churn rate (monthly average)": format_value(totals["churn_rate"], "share"),
        "Loss-to-gain ratio (period)": format_value(totals["loss_to_gain_ratio"], "ratio"),
        "Customer quick ratio (period)": format_value(totals["customer_quick_ratio"], "ratio"),
    }


def _check_churn_page(page, demo_db, filters) -> None:
    page.get_by_role("heading", name="Churn and acquisition").first.wait_for(timeout=TIMEOUT)
    # The last element of the tab open first: the whole script has run once this caption is there.
    page.get_by_text("The trailing 3-month figure pools the counts").first.wait_for(timeout=TIMEOUT)
    for label, value in _expected_churn_figures(demo_db, filters).items():
        # "New" is also part of other labels, so the metric's own label is matched; waiting for the expected
        # value rides out the rerun a link triggers (its elements are replaced once more).
        metric = page.locator('[data-testid="stMetric"]').filter(
            has=page.locator('[data-testid="stMetricLabel"]', has_text=label))
        try:
            metric.filter(has=page.locator('[data-testid="stMetricValue"]', has_text=value)).first.wait_for(
                timeout=TIMEOUT // 3)
        except Exception as error:  # noqa: BLE001 - playwright's TimeoutError: report what was on screen
            shown = metric.locator('[data-testid="stMetricValue"]').all_inner_texts()
            raise AssertionError(f"{label}: expected {value}, the page shows {shown}") from error
    rule = mv.churn_rule(demo_db, filters)
    assert page.get_by_text(rule["description"]).count() == 1
    months = len(mv.monthly_movements(demo_db, filters))
    page.get_by_text(f"= active at end in all {months} months").first.wait_for(timeout=TIMEOUT)
    page.wait_for_load_state("networkidle")
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.get_by_text("nan", exact=True).count() == 0


def test_churn_and_net_growth_pages_from_the_sidebar(server, browser, demo_db, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(server, wait_until="domcontentloaded")
    _open_from_sidebar(page, "Churn and acquisition")
    filters = make_filters(demo_db)
    _check_churn_page(page, demo_db, filters)
    assert "churn" in page.url
    page.screenshot(path=str(tmp_path / "churn.png"))
    # A closed tab computes when clicked.
    assert page.get_by_text("First-order value of each monthly cohort").count() == 0
    page.get_by_role("tab", name="Acquisition").click()
    page.get_by_text("First-order value of each monthly cohort").first.wait_for(timeout=TIMEOUT)

    _open_from_sidebar(page, "Net growth")
    reading = mv.executive_reading(mv.monthly_movements(demo_db, filters), mv.revenue_retention(demo_db, filters))
    page.get_by_text(reading).first.wait_for(timeout=TIMEOUT)
    retention = mv.revenue_retention(demo_db, filters)
    latest = retention.iloc[-1]
    assert _metric_value(page, "Net revenue retention") == format_value(float(latest["nrr"]), "share")
    assert _metric_value(page, "Gross revenue retention") == format_value(float(latest["grr"]), "share")
    totals = mv.revenue_totals(mv.revenue_movements(demo_db, filters))
    assert _metric_value(page, "Revenue quick ratio") == format_value(totals["revenue_quick_ratio"], "ratio")
    page.wait_for_load_state("networkidle")
    assert page.locator('[data-testid="stException"]').count() == 0
    page.screenshot(path=str(tmp_path / "net_growth.png"))
    page.close()


def test_a_shared_link_opens_the_churn_page_with_its_window(server, browser, demo_db):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{server}/?page=churn&w=60", wait_until="domcontentloaded")
    filters = make_filters(demo_db, window_days=60)
    _check_churn_page(page, demo_db, filters)
    assert page.get_by_text("lapse rule, W = 60").count() == 1
    # The link's window is what the figures above used: the default W = 90 gives other ones.
    assert mv.movement_totals(mv.monthly_movements(demo_db, make_filters(demo_db)))["lost"] != \
        mv.movement_totals(mv.monthly_movements(demo_db, filters))["lost"]
    page.wait_for_function("() => window.location.search.includes('w=60')", timeout=30_000)
    page.close()
