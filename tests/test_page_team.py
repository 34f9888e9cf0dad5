"""The team performance page through app.py: tables read back and compared with the package."""

from __future__ import annotations

import pytest

from customer_value import team
from customer_value.dataset import make_filters
from customer_value.metrics import period_figures
from tests.conftest import open_page, table_with


def _open(app_test):
    return open_page(app_test, "pages/team.py")




def test_region_and_rep_tables_match_the_package(app_test, demo_db):
    at = _open(app_test)
    filters = make_filters(demo_db)
    overview = period_figures(demo_db, filters)
    for level in ("region", "sales_rep"):
        shown = table_with(at, level, "change_revenue")
        expected = team.team_table(demo_db, filters, level)
        assert shown[level].tolist() == expected[level].tolist()
        assert shown["revenue"].tolist() == pytest.approx(expected["revenue"].tolist())
        assert shown["active_customers"].tolist() == expected["active_customers"].tolist()
        # Reactivated is shown, so new + reactivated - lost explains the net growth beside it.
        assert shown["reactivated"].tolist() == expected["reactivated"].tolist()
        assert shown["change_revenue"].tolist() == pytest.approx(
            (expected["revenue"] - expected["previous_revenue"]).tolist())
        # Shares' changes read in percentage points.
        assert shown["change_csat"].tolist() == pytest.approx((100 * expected["change_csat"]).round(1).tolist(),
                                                              nan_ok=True)
        # Hand check against the overview: the groups partition the customers.
        assert shown["revenue"].sum() == pytest.approx(overview["revenue"])
        assert shown["active_customers"].sum() == overview["active_customers"]
        assert shown["lost"].sum() == overview["lost_customers"]
        assert shown["new_customers"].sum() == overview["new_customers"]
        assert shown["reactivated"].sum() == overview["reactivated_customers"]
    assert table_with(at, "region", "change_revenue")["revenue"].sum() > 100_000_000


def test_choosing_a_rep_lists_their_customers(app_test, demo_db):
    at = _open(app_test)
    at.selectbox(key="team_rep").set_value("Li Jun")
    at.run()
    assert not at.exception
    shown = table_with(at, "customer_id", "status")
    expected = team.rep_customers(demo_db, make_filters(demo_db), "Li Jun")
    assert shown["customer_id"].tolist() == expected["customer_id"].tolist()
    assert len(shown) > 10
    reps = table_with(at, "sales_rep", "change_revenue").set_index("sales_rep")
    assert shown["revenue"].sum() == pytest.approx(reps.loc["Li Jun", "revenue"])


def test_selecting_a_rep_row_opens_that_reps_customers(app_test, demo_db):
    at = _open(app_test)
    reps = table_with(at, "sales_rep", "change_revenue")
    # What a click on the third row sends back to the script.
    at.session_state["team_reps"] = {"selection": {"rows": [2], "columns": [], "cells": []}}
    at.run()
    assert not at.exception
    chosen = reps["sales_rep"].iloc[2]
    assert at.selectbox(key="team_rep").value == chosen
    shown = table_with(at, "customer_id", "status")
    assert shown["customer_id"].tolist() == team.rep_customers(demo_db, make_filters(demo_db), chosen)[
        "customer_id"].tolist()
