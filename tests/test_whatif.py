"""What-if calculator (customer_value/whatif.py): hand-worked projections and the firm's own rates."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from customer_value import whatif
from customer_value.dataset import make_filters
from customer_value.errors import UserFacingError
from customer_value.filters import Filters
from customer_value.metrics import monthly_trend
from tests.builders import d, tiny_database


def rates(active=100, churn=0.1, gains=10.0, revenue=50.0, profit=20.0) -> whatif.CurrentRates:
    return whatif.CurrentRates(start=date(2025, 1, 1), end=date(2025, 12, 31), months=12, active_customers=active,
                               monthly_churn_rate=churn, monthly_gains=gains, revenue_per_customer_month=revenue,
                               profit_per_customer_month=profit, window_days=90)


def test_more_customers_a_month_by_hand():
    # Baseline: 100 x 0.9 + 10 = 100, a steady state; revenue 50 x 100 a month.
    # Ten more a month: N_t = 200 - 100 x 0.9^t; average of month t = 200 - 95 x 0.9^(t-1);
    # over 12 months sum = 2400 - 950 x (1 - 0.9^12) = 1718.30806, revenue x 50 = 85,915.40.
    result = whatif.what_if(rates(), churn_points_lower=0, extra_customers_per_month=10)
    table = result.comparison.set_index(["months", "figure"])
    assert table.loc[(12, "Customers at the end"), "baseline"] == pytest.approx(100.0)
    assert table.loc[(12, "Customers at the end"), "scenario"] == pytest.approx(171.7570463519)
    assert table.loc[(12, "Revenue"), "baseline"] == pytest.approx(60_000.0)
    assert table.loc[(12, "Revenue"), "scenario"] == pytest.approx(85_915.402983)
    assert table.loc[(12, "Revenue"), "difference"] == pytest.approx(25_915.402983)
    assert table.loc[(12, "Gross profit"), "difference"] == pytest.approx(25_915.402983 * 20 / 50)
    assert table.loc[(36, "Revenue"), "baseline"] == pytest.approx(180_000.0)
    assert result.scenario["customers"].iloc[0] == pytest.approx(110.0)
    assert result.scenario["customers"].iloc[1] == pytest.approx(119.0)


def test_churn_falling_by_points_by_hand():
    # 50% lost a year = 1 - 0.5^(1/12) a month; 25 points less = 25% a year = 1 - 0.75^(1/12) a month.
    # With nobody won, 1000 customers become 500 or 750 after a year, 125 or 421.875 after three.
    start = rates(active=1000, churn=1 - 0.5 ** (1 / 12), gains=0.0)
    assert start.annual_churn_rate == pytest.approx(0.5)
    result = whatif.what_if(start, churn_points_lower=25, extra_customers_per_month=0)
    assert result.scenario_monthly_churn_rate == pytest.approx(1 - 0.75 ** (1 / 12))
    table = result.comparison.set_index(["months", "figure"])
    assert table.loc[(12, "Customers at the end"), "baseline"] == pytest.approx(500.0)
    assert table.loc[(12, "Customers at the end"), "scenario"] == pytest.approx(750.0)
    assert table.loc[(36, "Customers at the end"), "baseline"] == pytest.approx(125.0)
    assert table.loc[(36, "Customers at the end"), "scenario"] == pytest.approx(421.875)
    assert table.loc[(12, "Customers at the end"), "change"] == pytest.approx(0.5)
    assert any("50.0% - 25 points = 25.0% a year" in line for line in result.assumptions)


def test_conversions_between_monthly_and_annual_churn():
    assert whatif.annual_from_monthly(0.1) == pytest.approx(0.717570463519)
    assert whatif.monthly_from_annual(0.717570463519) == pytest.approx(0.1)
    assert whatif.monthly_from_annual(0.0) == 0.0
    with pytest.raises(UserFacingError):
        whatif.monthly_from_annual(1.5)


def test_bad_scenarios_get_a_clear_message():
    with pytest.raises(UserFacingError, match="cannot fall by 80 points"):
        whatif.what_if(rates(churn=0.05), churn_points_lower=80)
    with pytest.raises(UserFacingError, match="positive number"):
        whatif.what_if(rates(), churn_points_lower=-1)
    with pytest.raises(UserFacingError, match="zero or more"):
        whatif.what_if(rates(), extra_customers_per_month=-3)


def test_no_cost_data_means_no_profit_rows():
    result = whatif.what_if(rates(profit=None), 0, 5)
    assert "Gross profit" not in set(result.comparison["figure"])
    assert any("no gross profit" in line for line in result.assumptions)


def test_rates_from_a_hand_written_trend():
    trend = pd.DataFrame({
        "month": pd.to_datetime(["2025-01-01", "2025-02-01"]),
        "active_start": [10, 12], "new_customers": [3, 1], "reactivated": [1, 0], "lost": [2, 3],
        "active_end": [12, 10], "revenue": [1100.0, 1100.0], "profit": [220.0, float("nan")]})
    measured = whatif.rates_from_trend(trend, 90)
    assert measured.monthly_churn_rate == pytest.approx(5 / 22)  # (2 + 3) / (10 + 12)
    assert measured.monthly_gains == pytest.approx(2.5)  # (4 + 1) / 2
    assert measured.active_customers == 10
    # Average active per month: 11 and 11 -> 22 customer-months.
    assert measured.revenue_per_customer_month == pytest.approx(100.0)
    assert measured.profit_per_customer_month == pytest.approx(10.0)


def test_measured_months_are_whole_months():
    assert whatif.measured_months(date(2025, 12, 31)) == (date(2025, 1, 1), date(2025, 12, 31))
    assert whatif.measured_months(date(2025, 6, 15)) == (date(2024, 6, 1), date(2025, 5, 31))


def test_current_rates_on_a_tiny_company(tmp_path):
    # W = 30. In December 2024: A active all month (bought 11-20 and 12-10), B lost on 12-05 (bought 11-05),
    # C new on 12-15. Data end 2024-12-31, so the twelve months are 2024-01 to 2024-12.
    database = tiny_database(tmp_path / "rates.duckdb", transactions=[
        ("A", d("2024-11-20"), 100.0, 40.0), ("A", d("2024-12-10"), 100.0, 40.0),
        ("B", d("2024-11-05"), 300.0, 30.0),
        ("C", d("2024-12-15"), 50.0, 10.0), ("C", d("2024-12-31"), 50.0, 10.0)])
    filters = Filters(start=date(2024, 1, 1), end=date(2024, 12, 31), window_days=30, as_of=date(2024, 12, 31))
    measured = whatif.current_rates(database, filters)
    # November: 0 at start, A and B new, 2 at the end; December: 2 at start, B lost, C new, 2 at the end.
    assert measured.active_customers == 2
    assert measured.monthly_churn_rate == pytest.approx(1 / 2)  # one lost over 0 + 2 at the starts
    assert measured.monthly_gains == pytest.approx(3 / 12)
    # Customer-months: Nov (0 + 2) / 2 = 1, Dec (2 + 2) / 2 = 2 -> 3; revenue 600, profit 130.
    assert measured.revenue_per_customer_month == pytest.approx(200.0)
    assert measured.profit_per_customer_month == pytest.approx(130 / 3)


def test_current_rates_on_the_demo_company_use_its_monthly_movements(demo_db):
    filters = make_filters(demo_db)
    measured = whatif.current_rates(demo_db, filters)
    trend = monthly_trend(demo_db, Filters(start=date(2025, 1, 1), end=date(2025, 12, 31), window_days=90,
                                           as_of=filters.as_of))
    assert (measured.start, measured.end) == (date(2025, 1, 1), date(2025, 12, 31))
    assert measured.active_customers == int(trend["active_end"].iloc[-1]) > 1_000
    assert measured.monthly_churn_rate == pytest.approx(trend["lost"].sum() / trend["active_start"].sum())
    assert 0 < measured.monthly_churn_rate < 0.5
    assert measured.revenue_per_customer_month > 0 and measured.profit_per_customer_month > 0


@pytest.mark.parametrize("country", ["france", "germany"])
def test_current_rates_on_real_exports(tmp_path, real_data_dir, country):
    from tests.builders import online_retail_database

    database, lines = online_retail_database(tmp_path / f"{country}.duckdb", real_data_dir / f"{country}.csv")
    filters = make_filters(database)
    measured = whatif.current_rates(database, filters)
    # The export ends on 2011-12-09: the twelve whole months before are December 2010 to November 2011.
    assert (measured.start, measured.end) == (date(2010, 12, 1), date(2011, 11, 30))
    trend = monthly_trend(database, Filters(start=measured.start, end=measured.end, window_days=90,
                                            as_of=filters.as_of))
    assert measured.monthly_churn_rate == pytest.approx(trend["lost"].sum() / trend["active_start"].sum())
    # Revenue of the twelve months from the raw lines, independent of the derived tables.
    known = lines[lines["customer_id"].notna()]
    in_months = known[(pd.to_datetime(known["order_date"]) >= "2010-12-01")
                      & (pd.to_datetime(known["order_date"]) <= "2011-11-30")]
    customer_months = ((trend["active_start"] + trend["active_end"]) / 2).sum()
    assert measured.revenue_per_customer_month == pytest.approx(in_months["amount"].sum() / customer_months)
    result = whatif.what_if(measured, churn_points_lower=5, extra_customers_per_month=2)
    table = result.comparison.set_index(["months", "figure"])
    assert (table.xs("Customers at the end", level="figure")["difference"] > 0).all()
    assert "Gross profit" not in set(result.comparison["figure"])  # the exports carry no cost


def test_a_window_shorter_than_a_month_cannot_be_projected():
    trend = pd.DataFrame({
        "month": pd.to_datetime(["2025-01-01"]), "active_start": [10], "new_customers": [2], "reactivated": [12],
        "lost": [14], "active_end": [10], "revenue": [500.0], "profit": [100.0]})
    with pytest.raises(UserFacingError, match="with W = 7 days more customers are lost"):
        whatif.rates_from_trend(trend, 7)
