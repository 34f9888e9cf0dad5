"""Every page on a database with nothing loaded yet: a plain message saying how to get data, no exception."""

from __future__ import annotations

import pytest

from customer_value import db as dbmod
from customer_value import query
from tests.conftest import APP_PATH

REPORT_PAGES = ["overview", "segments", "churn", "net_growth", "satisfaction", "team", "lifetime_value"]


@pytest.mark.parametrize("page", REPORT_PAGES)
def test_a_report_page_before_any_load_says_how_to_get_data(page, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    path = tmp_path / "empty.duckdb"
    dbmod.connect(path)  # the schema, nothing loaded
    monkeypatch.setenv("CV_DB_PATH", str(path))
    query.clear_cache()
    at = AppTest.from_file(APP_PATH, default_timeout=120)
    at.run()
    at.switch_page(f"pages/{page}.py")
    at.run()
    try:
        assert not at.exception
        assert [message.value for message in at.main.info] == [
            "No transactions are loaded yet.\n\nOpen **Load data** to upload an export, or run "
            "`python -m customer_value demo` for the demo company."]
        # The page stops there: no figure, no table from an empty database.
        assert len(at.metric) == 0 and len(at.dataframe) == 0
    finally:
        dbmod.forget(path)
