"""The net-growth page (pages/net_growth.py) through app.py: figures read back against the package."""

from __future__ import annotations

import pandas as pd
import pytest

from customer_value import movements as mv
from customer_value.dataset import make_filters
from customer_value.formatting import format_value
from tests.conftest import open_page, table_with

TABLE_COLUMNS = {"net_growth_revenue_table": ("expansion_revenue", "revenue_quick_ratio"),
                 "net_growth_retention_table": ("month", "grr", "base_customers"),
                 "net_growth_segment_table": ("segment", "grr")}


def _open(app_test):
    return open_page(app_test, "pages/net_growth.py")


def _table(at, name):
    return table_with(at, *TABLE_COLUMNS[name])


def _share(value) -> str:
    return format_value(None if pd.isna(value) else float(value), "share")


def test_net_growth_page_shows_the_package_figures(app_test, demo_db):
    at = _open(app_test)
    filters = make_filters(demo_db)
    movements = mv.monthly_movements(demo_db, filters)
    retention = mv.revenue_retention(demo_db, filters)
    reading = mv.executive_reading(movements, retention)
    assert at.markdown[0].value == f"**{reading}**"
    assert "For every customer lost in the last 3 months" in reading and "NRR" in reading

    revenue = mv.revenue_movements(demo_db, filters)
    shown = _table(at, "net_growth_revenue_table")
    assert shown["month"].tolist() == [f"{month:%Y-%m}" for month in revenue["month"]]
    for column in ("revenue_start", *mv.REVENUE_MOVEMENTS, "revenue_end"):
        assert shown[column].tolist() == pytest.approx(revenue[column].round(2).tolist()), column
    assert shown["revenue_quick_ratio"].tolist() == [format_value(None if pd.isna(v) else v, "ratio")
                                                     for v in revenue["revenue_quick_ratio"]]
    assert (shown["revenue_start"] + shown["new_revenue"] + shown["expansion_revenue"] + shown["reactivation_revenue"]
            - shown["contraction_revenue"] - shown["churned_revenue"] - shown["revenue_end"]).abs().max() < 0.1

    metrics = {metric.label: metric.value for metric in at.metric}
    latest = retention.iloc[-1]
    assert metrics[f"Net revenue retention (12 months to {latest['month']:%b %Y})"] == _share(latest["nrr"])
    assert metrics[f"Gross revenue retention (12 months to {latest['month']:%b %Y})"] == _share(latest["grr"])
    totals = revenue[mv.REVENUE_MOVEMENTS].sum()
    assert metrics["Revenue quick ratio (period)"] == format_value(mv.revenue_quick_ratio(
        totals["new_revenue"], totals["expansion_revenue"], totals["reactivation_revenue"],
        totals["churned_revenue"], totals["contraction_revenue"]), "ratio")

    table = _table(at, "net_growth_retention_table")
    assert table["nrr"].tolist() == [_share(value) for value in retention["nrr"]]
    assert table["base_customers"].tolist() == retention["base_customers"].tolist()
    segments = _table(at, "net_growth_segment_table")
    expected = mv.revenue_retention(demo_db, filters, level="customer_type")
    expected = expected[expected["month"] == retention["month"].iloc[-1]]
    assert dict(zip(segments["segment"], segments["nrr"], strict=True)) == {
        segment: _share(value) for segment, value in zip(expected["segment"], expected["nrr"], strict=True)}


def test_waterfall_month_segment_and_window(app_test, demo_db):
    at = _open(app_test)
    at.selectbox(key="net_growth_month").set_value(at.selectbox(key="net_growth_month").options[3])
    at.selectbox(key="net_growth_segment").set_value("value_class")
    at.number_input(key="f_window").set_value(60)
    at.run()
    assert not at.exception
    filters = make_filters(demo_db, window_days=60)
    segments = _table(at, "net_growth_segment_table")
    assert sorted(segments["segment"]) == ["A", "B"]
    reading = mv.executive_reading(mv.monthly_movements(demo_db, filters), mv.revenue_retention(demo_db, filters))
    assert at.markdown[0].value == f"**{reading}**"
