"""The churn and acquisition page (pages/churn.py) through app.py: figures read back against the package."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from customer_value import movements as mv
from customer_value.dataset import make_filters
from customer_value.formatting import format_value
from customer_value.segments import CELL_RANK, UNKNOWN_MARGIN
from tests.conftest import open_page, open_tab, table_with

TABLE_COLUMNS = {"churn_movements_table": ("lost_at_contract_end", "net_change"),
                 "churn_ratio_table": ("Churn rate",),
                 "churn_cohort_table": ("Customers", "Month 0"),
                 "churn_value_table": ("high_value_before",),
                 "churn_value_customers": ("revenue_drop",),
                 "churn_acquisition_table": ("group", "average_first_order"),
                 "churn_acquisition_cohorts": ("month", "average_first_order")}


def _open(app_test):
    return open_page(app_test, "pages/churn.py")


def _switch(at, title: str):
    open_tab(at, "churn_tab", title)


def _table(at, name):
    return table_with(at, *TABLE_COLUMNS[name])


def _shown(values) -> list:
    return [None if pd.isna(value) else float(value) for value in values]


def _check_movements(at, filters, demo_db):
    expected = mv.monthly_movements(demo_db, filters)
    shown = _table(at, "churn_movements_table")
    assert shown["month"].tolist() == [f"{month:%Y-%m}" for month in expected["month"]]
    for column in ("active_start", "new_customers", "reactivated", "lost", "lost_at_contract_end", "active_end"):
        assert shown[column].tolist() == expected[column].tolist(), column
    assert ((shown["active_start"] + shown["new_customers"] + shown["reactivated"] - shown["lost"])
            == shown["active_end"]).all()
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["Lost"] == format_value(int(expected["lost"].sum()), "count")
    assert metrics["Active at end"] == format_value(int(expected["active_end"].iloc[-1]), "count")
    rule = mv.churn_rule(demo_db, filters)
    assert any(info.value == rule["description"] for info in at.info)
    return expected


def test_churn_page_shows_the_package_figures(app_test, demo_db):
    at = _open(app_test)
    filters = make_filters(demo_db)
    expected = _check_movements(at, filters, demo_db)
    assert expected["lost"].sum() > 1_000
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["New"] == format_value(int(expected["new_customers"].sum()), "count")
    assert "—" not in metrics.values()
    ratios = _table(at, "churn_ratio_table")
    assert ratios["Churn rate"].tolist() == [format_value(_shown([v])[0], "share") for v in expected["churn_rate"]]
    assert ratios["Loss-to-gain ratio (3 months)"].tolist() == [
        format_value(_shown([v])[0], "ratio") for v in expected["loss_to_gain_ratio_3m"]]
    assert not any("nan" in str(value).lower() for value in ratios.to_numpy().ravel())
    assert any("in all 12 months" in caption.value for caption in at.caption)
    # Closed tabs computed nothing: no cohort, value churn or acquisition table yet.
    for name in ("churn_cohort_table", "churn_value_table", "churn_acquisition_table"):
        with pytest.raises(AssertionError):
            _table(at, name)

    _switch(at, "Cohort retention")
    cohorts = _table(at, "churn_cohort_table")
    expected_cohorts = mv.cohort_retention(demo_db, filters)
    sizes = expected_cohorts.groupby("cohort_month")["cohort_size"].first()
    assert cohorts["Customers"].tolist() == sizes.tolist()
    first = expected_cohorts.iloc[1]  # the first cohort, one month after acquisition
    assert cohorts.loc[f"{first['cohort_month']:%Y-%m}", "Month 1"] == format_value(first["share_active"], "share")

    _switch(at, "Value churn")
    slides = _table(at, "churn_value_table")
    expected_slides = mv.value_churn(demo_db, filters)
    assert slides["slid"].tolist() == expected_slides["slid"].tolist()
    assert slides["to_lowest"].tolist() == expected_slides["to_lowest"].tolist()
    assert slides["revenue_before"].tolist() == pytest.approx(expected_slides["revenue_at_stake"].tolist())
    sliders = _table(at, "churn_value_customers")
    latest = expected_slides.loc[expected_slides["slid"] > 0, "month"].iloc[-1].date()
    expected_sliders = mv.value_churn_customers(demo_db, filters, latest)
    assert sliders["customer_id"].tolist() == expected_sliders["customer_id"].tolist()
    assert sliders["cell_now"].tolist() == expected_sliders["cell_now"].tolist()
    # Every listed customer fell in the grid's order (AA > AB = BA > BB; without cost data A > B).
    def rank(cell: str) -> int:
        return CELL_RANK[cell.replace(UNKNOWN_MARGIN, "")]

    assert all(rank(before) > rank(now) for before, now in zip(sliders["cell_before"], sliders["cell_now"],
                                                                 strict=True))

    _switch(at, "Acquisition")
    acquired = _table(at, "churn_acquisition_table")
    expected_acquired = mv.acquisition(demo_db, filters, "acquisition_channel")
    assert acquired["new_customers"].sum() == expected_acquired["new_customers"].sum() == \
        expected["new_customers"].sum()
    by_month = _table(at, "churn_acquisition_cohorts")
    expected_by_month = expected_acquired.groupby("month")["first_order_value"].sum()
    assert by_month["first_order_value"].tolist() == pytest.approx(expected_by_month.tolist())
    assert by_month["month"].tolist() == [f"{month:%Y-%m}" for month in expected_by_month.index]


def test_the_window_and_the_widgets_drive_every_figure(app_test, demo_db):
    at = _open(app_test)
    at.number_input(key="f_window").set_value(30)
    at.run()
    assert not at.exception
    filters = make_filters(demo_db, window_days=30)
    _check_movements(at, filters, demo_db)
    assert any("W = 30" in info.value for info in at.info)
    at.selectbox(key="churn_ratio").set_value("customer_quick_ratio")
    at.run()
    _switch(at, "Cohort retention")
    at.radio(key="churn_cohort_measure").set_value("revenue_retained")
    at.run()
    _switch(at, "Acquisition")
    at.selectbox(key="churn_acquisition_split").set_value("region")
    at.run()
    assert not at.exception
    acquired = _table(at, "churn_acquisition_table")
    expected = mv.acquisition(demo_db, filters, "region").groupby("group")["new_customers"].sum()
    assert dict(zip(acquired["group"], acquired["new_customers"], strict=True)) == expected.to_dict()
    # Each tab's setting outlives the visits to the others, whose runs do not draw it.
    _switch(at, "Cohort retention")
    cohorts = _table(at, "churn_cohort_table")
    expected_cohorts = mv.cohort_retention(demo_db, filters)
    first = expected_cohorts.iloc[1]
    assert cohorts.loc[f"{first['cohort_month']:%Y-%m}", "Month 1"] == format_value(first["revenue_retained"],
                                                                                     "share")
    _switch(at, "Movements and ratios")
    assert at.selectbox(key="churn_ratio").value == "customer_quick_ratio"
    _switch(at, "Acquisition")
    assert at.selectbox(key="churn_acquisition_split").value == "region"


def test_a_custom_period_is_shown_in_whole_months(app_test, demo_db):
    at = _open(app_test)
    at.selectbox(key="f_period").set_value("custom")
    at.run()
    at.date_input(key="f_range").set_value((date(2024, 3, 15), date(2024, 9, 10)))
    at.multiselect(key="f_type").select("University")
    at.run()
    assert not at.exception
    filters = make_filters(demo_db, start=date(2024, 3, 15), end=date(2024, 9, 10), customer_types=("University",))
    expected = _check_movements(at, filters, demo_db)
    assert f"{expected['month'].iloc[0]:%Y-%m-%d}" == "2024-03-01" and len(expected) == 7


def test_a_selection_with_nobody_says_so(app_test):
    at = _open(app_test)
    at.selectbox(key="f_period").set_value("custom")
    at.run()
    at.date_input(key="f_range").set_value((date(2019, 1, 1), date(2019, 12, 31)))
    at.run()
    assert not at.exception
    assert any("No customer in this selection" in info.value for info in at.info)


def test_all_time_warns_that_the_earliest_months_overstate_new_customers(app_test, demo_db):
    at = _open(app_test)
    assert not any("The data starts on" in warning.value for warning in at.warning)  # last 12 months: no caveat
    at.selectbox(key="f_period").set_value("all_time")
    at.run()
    assert not at.exception
    span_start = make_filters(demo_db, period="all_time").start
    assert [warning.value for warning in at.warning if "The data starts on" in warning.value] == [
        f"The data starts on {span_start:%Y-%m-%d}: a customer who bought in its first 90 days may have bought "
        "before it, yet counts as new here, so the earliest months overstate new customers."]
