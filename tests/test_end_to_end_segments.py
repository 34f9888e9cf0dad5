"""End to end: the Segments page in the real server and headless Chromium, as an analyst would use it."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from customer_value import segments
from customer_value.dataset import make_filters
from customer_value.formatting import format_value
from tests.conftest import CHROMIUM, metric_value, wait_until_idle

pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")


def _open_segments(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
    page.set_default_timeout(90_000)
    # From the front page through the sidebar, as a user clicks: a first visit straight to /segments on a server
    # that has not yet run app.py is served by Streamlit's pages/ folder mode, without the app around it.
    page.goto(server, wait_until="domcontentloaded")
    page.locator('[data-testid="stMetric"]').first.wait_for()
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Segments", exact=True).click()
    page.locator(".st-key-seg_grid_card_AA").wait_for()
    return page


def _metric_value(page, label: str) -> str:
    return metric_value(page, label)


def test_the_grid_shows_the_package_figures_and_a_drill_down_lists_the_cells_customers(server, browser, demo_db):
    frame = segments.customer_segments(demo_db, make_filters(demo_db))
    page = _open_segments(server, browser)
    assert _metric_value(page, "Customers who bought") == format_value(len(frame), "count")
    assert _metric_value(page, "Top 20% bring") == format_value(segments.revenue_share_of_top(frame, 0.2), "share")
    counts = frame["grid_cell"].value_counts()
    for cell in segments.GRID_CELLS:
        card = page.locator(f".st-key-seg_grid_card_{cell}").inner_text()
        assert f"{format_value(counts[cell], 'count')} customers" in card
        assert segments.TREATMENTS[cell] in card
    assert sum(counts[cell] for cell in segments.GRID_CELLS) == len(frame)

    # The smallest cell's list: every id on screen is one of its customers, and the CSV holds exactly them.
    smallest = counts.idxmin()
    expected = set(frame.loc[frame["grid_cell"] == smallest, "customer_id"])
    # The selectbox is a combo box: typing filters its options, as a user would narrow a long list.
    page.locator(".st-key-seg_grid_drill input").click()
    page.keyboard.type(smallest)
    page.locator('[role="option"]', has_text=smallest).first.click()
    page.get_by_text(f"{len(expected):,} customers in {smallest}.").wait_for()
    table = page.locator('[data-testid="stDataFrame"]').last
    table.scroll_into_view_if_needed()
    # The grid redraws its cells a moment after the caption appears: read them until the new list is drawn.
    shown_ids: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (shown_ids and set(shown_ids) <= expected):
        page.wait_for_timeout(500)
        shown_ids = table.locator('[id^="glide-cell-0-"]').all_inner_texts()
    assert shown_ids and set(shown_ids) <= expected
    # Choosing the cell classifies every customer; a click on the download while that run is still going can
    # be dropped by the front end (a CI run waited 90 s for a download that never started).
    wait_until_idle(page)
    with page.expect_download() as download:
        page.locator(".st-key-seg_grid_drill_csv button").click()
    listed = pd.read_csv(download.value.path(), dtype={"customer_id": str})
    assert set(listed["customer_id"]) == expected
    assert set(listed["grid_cell"]) == {smallest}
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()


def test_the_rfm_tab_opens_with_its_segments(server, browser, demo_db):
    frame = segments.customer_segments(demo_db, make_filters(demo_db))
    page = _open_segments(server, browser)
    page.locator('[data-testid="stTab"]', has_text="RFM").click()
    champions = int((frame["rfm_segment"] == "Champions").sum())
    # The segment list below the heat map names the default choice and its count.
    page.get_by_text(f"{champions:,} customers in Champions.").wait_for()
    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 1
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()
