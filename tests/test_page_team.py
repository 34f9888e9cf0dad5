"""The team performance page through app.py: tables read back and compared with the package."""

from __future__ import annotations

import pytest

from customer_value import team
from customer_value.dataset import make_filters


def _open(app_test):
    at = app_test.run()
    at.switch_page("pages/team.py")
    at.run()
    assert not at.exception
    return at


def _table(at, *columns):
    """The first table on the page holding all these columns (plain tables carry no key in AppTest)."""
    for element in at.dataframe:
        if set(columns) <= set(element.value.columns):
            return element.value
    raise AssertionError(f"no table with columns {columns}")


def test_region_and_rep_tables_match_the_package(app_test, demo_db):
    at = _open(app_test)
    filters = make_filters(demo_db)
    for level in ("region", "sales_rep"):
        shown = _table(at, level, "change_revenue")
        expected = team.team_table(demo_db, filters, level)
        assert shown[level].tolist() == expected[level].tolist()
        assert shown["revenue"].tolist() == pytest.approx(expected["revenue"].tolist())
        assert shown["active_customers"].tolist() == expected["active_customers"].tolist()
    assert _table(at, "region", "change_revenue")["revenue"].sum() > 100_000_000


def test_choosing_a_rep_lists_their_customers(app_test, demo_db):
    at = _open(app_test)
    at.selectbox(key="team_rep").set_value("Li Jun")
    at.run()
    assert not at.exception
    shown = _table(at, "customer_id", "status")
    expected = team.rep_customers(demo_db, make_filters(demo_db), "Li Jun")
    assert shown["customer_id"].tolist() == expected["customer_id"].tolist()
    assert len(shown) > 10
