"""End to end: the Lifetime value page in headless Chromium, its figures checked against the package's."""

from __future__ import annotations

import pytest

from customer_value import clv, risk, whatif
from customer_value.dataset import data_range, make_filters
from customer_value.formatting import format_value
from tests.conftest import CHROMIUM, metric_value

pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")

# Fits run on a cold cache in the server: allow them time.
SLOW = 240_000


def _metric_value(page, label: str) -> str:
    return metric_value(page, label, SLOW)


def _open_tab(page, name: str) -> None:
    # While a run is in progress (and, under a file watcher, whenever other sources change) Streamlit marks the
    # page "inert", and Playwright's pointer click waits on that or is swallowed; the element's own click()
    # selects the tab as a keyboard user's Enter does.
    tab = page.get_by_role("tab", name=name)
    tab.wait_for(timeout=SLOW)
    tab.evaluate("element => element.click()")


def _alerts(page) -> str:
    # Alerts of the other tabs stay in the page, hidden: read every alert's text without waiting for it to show.
    return " ".join(page.locator('[data-testid="stAlert"]').all_text_contents())


def _no_exception(page) -> None:
    page.wait_for_load_state("networkidle")
    assert page.locator('[data-testid="stException"]').count() == 0


def test_lifetime_value_and_its_track_record_on_screen(server, browser, demo_db, tmp_path):
    filters = make_filters(demo_db)
    table, result = clv.clv_table(demo_db, filters, unit="weeks", observation_end=filters.end)
    span = data_range(demo_db)
    check = clv.holdout_report(demo_db, filters, clv.default_cut_date(span.start, span.end), unit="weeks",
                               observation_end=span.end, time_step="weeks").check

    page = browser.new_page(viewport={"width": 1400, "height": 2400})
    page.goto(f"{server}/lifetime_value", wait_until="domcontentloaded")
    assert _metric_value(page, "Lifetime value, next 12 months") == format_value(result.totals["clv"], "money")
    assert _metric_value(page, "Expected purchases, next 365 days") == format_value(
        result.totals["expected_purchases_365"], "count")
    assert _metric_value(page, "Expected spend per purchase") == format_value(
        result.totals["mean_expected_spend"], "money")
    # The caveats are on screen, above the figures' tables: the per-type spend models and their means.
    page.get_by_text("Read these figures with care.").first.wait_for(timeout=SLOW)
    alerts = _alerts(page)
    assert all(warning in alerts for warning in result.warnings)
    for row in result.spend_models:
        assert f"{row['spend_model']} {row['mean_spend_per_purchase']:,.0f}" in alerts
    _no_exception(page)
    page.screenshot(path=str(tmp_path / "lifetime_value.png"), full_page=True)

    _open_tab(page, "Model check")
    assert _metric_value(page, "Predicted purchases after the cut") == format_value(check.total_predicted, "count")
    assert _metric_value(page, "Actual purchases after the cut") == format_value(check.total_actual, "count")
    assert _metric_value(page, "Total error") == format_value(check.total_error_share, "share")
    _no_exception(page)
    page.close()


def test_early_warning_and_what_if_on_screen(server, browser, demo_db):
    filters = make_filters(demo_db)
    warning = risk.early_warning(demo_db, filters)
    scenario = whatif.what_if(whatif.current_rates(demo_db, filters), 5.0, 0.0)
    customers_after_a_year = scenario.comparison.set_index(["months", "figure"]).loc[
        (12, "Customers at the end"), "scenario"]

    page = browser.new_page(viewport={"width": 1400, "height": 2400})
    page.goto(f"{server}/lifetime_value", wait_until="domcontentloaded")
    _metric_value(page, "Lifetime value, next 12 months")
    _open_tab(page, "Early warning")
    assert _metric_value(page, "ROC AUC") == format_value(warning.model_figures["roc_auc"], "ratio")
    assert _metric_value(page, "Precision in the top 10%") == format_value(
        warning.model_figures["precision_top_decile"], "share")
    once = int(warning.at_risk["value_basis"].str.startswith("one purchase").sum())
    page.get_by_text(f"{once:,} customers on the list have bought only once").first.wait_for(timeout=SLOW)
    assert "does not beat recency alone" not in _alerts(page)
    _no_exception(page)

    _open_tab(page, "What-if")
    assert _metric_value(page, "Customers at the end after 12 months") == format_value(
        customers_after_a_year, "count")
    _no_exception(page)
    page.close()


def test_the_page_says_when_the_model_does_not_beat_recency_alone(server, browser, demo_db):
    # Region West with W = 180 days: on the demo the model ranks no better than the days since the last purchase.
    filters = make_filters(demo_db, regions=("West",), window_days=180)
    verdict = risk.baseline_verdict(*(lambda result: (result.model_figures, result.baseline_figures))(
        risk.early_warning(demo_db, filters)))
    assert verdict is not None

    page = browser.new_page(viewport={"width": 1400, "height": 2400})
    page.goto(f"{server}/lifetime_value?region=West&w=180", wait_until="domcontentloaded")
    _metric_value(page, "Lifetime value, next 12 months")
    _open_tab(page, "Early warning")
    page.get_by_text("The model does not beat recency alone here.").first.wait_for(timeout=SLOW)
    assert verdict in _alerts(page)
    _no_exception(page)
    page.close()
