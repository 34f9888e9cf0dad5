"""End to end: the Satisfaction and Team performance pages in the real server and headless Chromium.

Values are read off the screen (metrics, and the data grid's accessible table, which holds the raw cell
values) and compared with the package functions on the same demo database.
"""

from __future__ import annotations

import pytest

from customer_value import satisfaction as sat
from customer_value import team
from customer_value.dataset import make_filters
from customer_value.formatting import format_value
from tests.conftest import CHROMIUM, metric_value

PlaywrightTimeout = pytest.importorskip("playwright.sync_api").TimeoutError
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")

WAIT_MS = 90_000


def _open_from_the_menu(browser, server, title: str):
    """Open the app at its front page, as a shared link would, then go to ``title`` through the sidebar menu."""
    page = browser.new_page(viewport={"width": 1500, "height": 1400})
    page.goto(server, wait_until="domcontentloaded")
    page.locator('[data-testid="stMetric"]', has_text="Active customers").first.wait_for(timeout=WAIT_MS)
    page.get_by_role("link", name=title).click()
    page.get_by_role("heading", name=title).first.wait_for(timeout=WAIT_MS)
    _wait_until_idle(page)
    return page


def _wait_until_idle(page) -> None:
    """Until the script run is over: meanwhile the previous page's elements are still on screen (stale)."""
    page.wait_for_timeout(500)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=WAIT_MS)
    page.wait_for_function("() => document.querySelectorAll('[data-stale=\"true\"]').length === 0",
                           timeout=WAIT_MS)


def _metric_value(page, label: str) -> str:
    """The first metric of the open tab labelled exactly ``label``."""
    return metric_value(page, label, WAIT_MS, within=page.get_by_role("tabpanel").filter(visible=True).first)


def _grid_rows(grid) -> list[list[str]]:
    """Rows of a data grid's accessible table (header first), raw values as text."""
    grid.locator("table tr").nth(1).wait_for(state="attached", timeout=WAIT_MS)
    return [[cell.inner_text().strip() for cell in row.locator("th, td").all()]
            for row in grid.locator("table tr").all()]


def _no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0


def test_satisfaction_page_shows_the_package_figures(server, browser, demo_db, tmp_path):
    filters = make_filters(demo_db)
    summary = sat.headline(demo_db, filters)
    page = _open_from_the_menu(browser, server, "Satisfaction")
    service = {kpi.key: format_value(kpi.value, kpi.kind) for kpi in summary["service"]["kpis"]}
    # The after-service questionnaire comes first: its NPS, CSAT, answers and response rate.
    assert _metric_value(page, "NPS") == service["nps"]
    assert _metric_value(page, "CSAT") == service["csat"]
    assert _metric_value(page, "Answers") == service["answers"]
    assert _metric_value(page, "Response rate") == service["response_rate"]
    figures = summary["service"]["figures"]
    margin = (f"± {format_value(figures['nps_margin'], 'ratio')} points over "
              f"{format_value(figures['nps_answers'], 'count')}")
    page.get_by_text(margin).first.wait_for(timeout=WAIT_MS)
    page.get_by_text("orders stand in for 'customers asked'").first.wait_for(timeout=WAIT_MS)

    page.get_by_role("tab", name="Satisfaction and churn").click()
    _wait_until_idle(page)
    gap = sat.churn_gap(sat.band_churn(demo_db, filters))
    assert _metric_value(page, "Detractor churn") == format_value(gap["detractor_churn_rate"], "share")
    assert _metric_value(page, "Promoter churn") == format_value(gap["promoter_churn_rate"], "share")
    assert _metric_value(page, "Gap, detractors vs promoters") == format_value(gap["nps_gap_points"], "points") + " pts"
    follow_up = sat.follow_up_list(sat.latest_answers(demo_db, filters))
    page.get_by_text(f"{len(follow_up):,} customers whose latest answer").first.wait_for(timeout=WAIT_MS)
    # The first rows of the follow-up grid are the most valuable unhappy customers, as the package ranks them.
    grid = page.locator('[data-testid="stDataFrame"]').filter(has_text=follow_up["customer_id"].iloc[0]).first
    rows = _grid_rows(grid)
    customer_column = rows[0].index("Customer")
    assert [row[customer_column] for row in rows[1:4]] == follow_up["customer_id"].head(3).tolist()

    page.get_by_role("tab", name="Complaints").click()
    _wait_until_idle(page)
    open_list = sat.open_complaints(sat.complaints(demo_db, filters))
    assert _metric_value(page, "Open complaints") == format_value(len(open_list), "count")
    assert _metric_value(page, "Complaints per 100 orders") == format_value(
        summary["all"]["figures"]["complaints_per_100_orders"], "ratio")

    page.get_by_role("tab", name="Comments").click()
    _wait_until_idle(page)
    search = page.get_by_label("Search comments")
    search.fill("invoice")
    search.press("Enter")
    every_comment = sat.comments(demo_db, filters)
    expected = sat.filter_comments(every_comment, "invoice")
    assert 0 < len(expected) < len(every_comment)
    page.get_by_text(f"{len(expected):,} of {len(every_comment):,} comments in the period match").first.wait_for(
        timeout=WAIT_MS)
    _no_exception(page)
    page.screenshot(path=str(tmp_path / "satisfaction.png"), full_page=True)
    page.close()


def test_team_page_tables_and_a_reps_customers(server, browser, demo_db, tmp_path):
    filters = make_filters(demo_db)
    regions = team.team_table(demo_db, filters, "region")
    reps = team.team_table(demo_db, filters, "sales_rep")
    page = _open_from_the_menu(browser, server, "Team performance")
    grids = page.locator('[data-testid="stDataFrame"]')
    region_rows = _grid_rows(grids.nth(0))
    header = region_rows[0]
    shown = {row[0]: row for row in region_rows[1:]}
    assert list(shown) == regions["region"].tolist()
    for record in regions.to_dict(orient="records"):
        row = shown[record["region"]]
        assert float(row[header.index("Revenue")]) == pytest.approx(record["revenue"], abs=0.01)
        assert int(row[header.index("Active")]) == record["active_customers"]
        assert int(row[header.index("New")]) == record["new_customers"]
        assert int(row[header.index("Lost")]) == record["lost"]

    rep_grid = grids.nth(1)
    rep_rows = _grid_rows(rep_grid)
    assert [row[0] for row in rep_rows[1:4]] == reps["sales_rep"].head(3).tolist()
    # Click the third rep's row (its selection box, in the grid's first column) as a user would.
    chosen = reps["sales_rep"].iloc[2]
    customers = team.rep_customers(demo_db, filters, chosen)
    caption = page.get_by_text(f"{len(customers):,} customers of {chosen} who bought").first
    header_height = row_height = 35          # Streamlit's default data grid row height, header included
    for attempt in range(3):
        # A busy machine may still be laying the grid out: click again if the first click found no row.
        rep_grid.scroll_into_view_if_needed()
        _wait_until_idle(page)
        box = rep_grid.locator("canvas").first.bounding_box()
        page.mouse.click(box["x"] + 15, box["y"] + header_height + 2 * row_height + row_height / 2)
        try:
            caption.wait_for(timeout=30_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
    _wait_until_idle(page)
    customer_grid = page.locator('[data-testid="stDataFrame"]').nth(2)
    customer_rows = _grid_rows(customer_grid)
    assert customer_rows[0][:2] == ["Customer", "Name"]
    assert [row[0] for row in customer_rows[1:6]] == customers["customer_id"].head(5).tolist()
    _no_exception(page)
    page.screenshot(path=str(tmp_path / "team.png"), full_page=True)
    page.close()
