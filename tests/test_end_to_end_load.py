"""End to end: an analyst loads a small export on the Load data page of the real server, in headless Chromium.

The module's ``server`` runs on its own copy of the demo database, so the loads here
touch nothing else; the tests run in file order and build on each other (load, load
again, undo), as an analyst would click through them.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import CHROMIUM, metric_value

pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")

# Hand-written export, worked by hand (line numbers as a text editor shows them):
#   line 2  E1  EC1  100.50   loaded
#   line 3  E2  EC2  200.25   loaded
#   line 4  E2  EC2  200.25   exact repeat of line 3: duplicate line skipped
#   line 5  C3  EC1  -40.00   cancellation (invoice starting with C, negative): netted
#   line 6  E4  --    15.00   no customer id: loaded as anonymous
#   line 7  E5  EC3   99.99   date does not parse: rejected
# Rows read 6, loaded 4, rejected 1, duplicates 1.
# File total 575.99 = loaded 315.75 + cancelled -40.00 + rejected 99.99 + duplicates 200.25 + already 0.00.
EXPORT = ("order_id,customer_id,order_date,amount\n"
          "E1,EC1,2024-03-01,100.50\n"
          "E2,EC2,2024-03-02,200.25\n"
          "E2,EC2,2024-03-02,200.25\n"
          "C3,EC1,2024-03-03,-40.00\n"
          "E4,,2024-03-04,15.00\n"
          "E5,EC3,not a date,99.99\n")
FILE_NAME = "shop_export_march.csv"
RECONCILED = ("File total 575.99 = loaded 315.75 + cancelled -40.00 + rejected 99.99 + duplicate lines 200.25 "
              "+ already loaded 0.00: reconciled to the cent.")
MAPPING_USED = "order_id → order_id, customer_id → customer_id, order_date → order_date, amount → amount"
TIMEOUT = 60_000


@pytest.fixture(scope="module")
def export_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("e2e_load") / FILE_NAME
    path.write_text(EXPORT, encoding="utf-8")
    return path


def _metric_value(page, label: str) -> str:
    return metric_value(page, label, TIMEOUT)


def _upload_and_load(page, server: str, export_file) -> None:
    page.goto(f"{server}/load_data", wait_until="domcontentloaded")
    page.get_by_text("1. Choose the file").first.wait_for(timeout=TIMEOUT)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(export_file))
    # The suggested mapping fills the required fields, so the preview appears and Load is enabled.
    page.get_by_text("3. Preview and load").first.wait_for(timeout=TIMEOUT)
    page.get_by_text(f"{FILE_NAME}: 6 data rows, 4 columns").first.wait_for(timeout=TIMEOUT)
    load_button = page.get_by_role("button", name="Load", exact=True)
    load_button.wait_for(timeout=TIMEOUT)
    assert load_button.is_enabled()
    load_button.click()
    page.get_by_text(f"Load report: {FILE_NAME}").first.wait_for(timeout=TIMEOUT)


def _settled(page) -> None:
    """Wait until the app script has finished its run (the "Running..." indicator is gone)."""
    page.wait_for_timeout(500)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=TIMEOUT)


def _open_options(page, label: str, option: re.Pattern):
    """Open the selectbox ``label`` and return its option matching ``option``.

    The page redraws the selectbox on every script run, which can close a list opened a
    moment before; opening it again then is what a person would do too.
    """
    box = page.get_by_role("combobox", name=label, exact=True)
    for _ in range(10):
        _settled(page)
        box.click()
        choice = page.get_by_role("option", name=option)
        try:
            choice.wait_for(timeout=5_000)
            return choice
        except Exception:  # noqa: BLE001 - Playwright's TimeoutError: the list closed; open it again
            box.press("Escape")
    raise AssertionError(f"the selectbox '{label}' offers no option matching {option.pattern}")


def _no_exception(page) -> None:
    page.wait_for_load_state("networkidle")
    assert page.locator('[data-testid="stException"]').count() == 0


def test_an_uploaded_export_loads_and_its_report_reconciles_on_screen(server, browser, export_file, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    _upload_and_load(page, server, export_file)
    assert _metric_value(page, "Rows read") == "6"
    assert _metric_value(page, "Rows loaded") == "4"
    assert _metric_value(page, "Rows rejected") == "1"
    assert _metric_value(page, "Duplicate lines skipped") == "1"
    assert _metric_value(page, "Already loaded, skipped") == "0"
    assert _metric_value(page, "Cancellation / return lines") == "1"
    assert _metric_value(page, "Cancelled revenue") == "-40.00"
    assert _metric_value(page, "Lines without customer id") == "1"
    assert _metric_value(page, "Revenue without customer id") == "15.00"
    page.get_by_text(RECONCILED).first.wait_for(timeout=TIMEOUT)
    page.get_by_text(MAPPING_USED).first.wait_for(timeout=TIMEOUT)
    # The history offers the new batch, in force, for undo (the table itself is drawn on a canvas).
    page.get_by_text("Load history").first.wait_for(timeout=TIMEOUT)
    undo_option = _open_options(page, "Undo a batch",
                                re.compile(rf"^Batch \d+: {re.escape(FILE_NAME)} \(transactions, 4 rows, "))
    undo_option.press("Escape")
    # Its stored report, opened from the history, shows the same figures and the mapping used.
    page.get_by_text("Show the load report of a batch").first.click()
    _open_options(page, "Batch", re.compile(rf"^Batch \d+: {re.escape(FILE_NAME)} \(transactions, in force\)$")
                  ).click()
    _settled(page)
    reconciled = page.get_by_text(RECONCILED)
    page.wait_for_function(
        "text => [...document.querySelectorAll('[data-testid=\"stAlert\"]')]"
        ".filter(alert => alert.innerText.includes(text)).length === 2", arg=RECONCILED, timeout=TIMEOUT)
    assert reconciled.count() == 2
    assert page.get_by_text(MAPPING_USED).count() == 2
    page.screenshot(path=str(tmp_path / "load_report.png"), full_page=True)
    _no_exception(page)
    page.close()


def test_loading_the_same_export_again_changes_nothing(server, browser, export_file):
    # Runs after the test above on the same server: the four loaded rows are found already loaded.
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    _upload_and_load(page, server, export_file)
    assert _metric_value(page, "Rows read") == "6"
    assert _metric_value(page, "Rows loaded") == "0"
    assert _metric_value(page, "Already loaded, skipped") == "4"
    assert _metric_value(page, "Duplicate lines skipped") == "1"
    # 100.50 + 200.25 - 40.00 + 15.00 = 275.75 already loaded; 575.99 = 0 + 0 + 99.99 + 200.25 + 275.75.
    page.get_by_text("File total 575.99 = loaded 0.00 + cancelled 0.00 + rejected 99.99 + duplicate lines 200.25 "
                     "+ already loaded 275.75: reconciled to the cent.").first.wait_for(timeout=TIMEOUT)
    page.get_by_text("this exact file was loaded before", exact=False).first.wait_for(timeout=TIMEOUT)
    _no_exception(page)
    page.close()
