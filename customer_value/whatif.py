"""What-if calculator (domain brief section 4): a retention or acquisition change in customers and money.

The firm's own current rates, measured over the last twelve whole months up to
the data's last day (the activity rule of section 3, W days):

    monthly churn c   = lost customers / customers active at the start of each month, pooled over the months
    monthly gains g   = (new + reactivated customers) per month, on average
    revenue r, profit p per active customer and month
                      = the months' revenue (profit) / the sum of each month's average active customers

and the simplest stock-and-flow model that reproduces them, month by month:

    N_t = N_(t-1) x (1 - c) + g,   revenue_t = r x (N_(t-1) + N_t) / 2   (profit likewise)

starting from the customers active today. A scenario changes c (annual churn
down by X points, converted to a monthly rate) or g (Y more customers won each
month) and is compared with the unchanged baseline over 12 and 36 months.
Nothing is discounted; the assumptions are returned as sentences the page
shows next to the figures.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import numpy as np
import pandas as pd

from customer_value.db import Database
from customer_value.errors import UserFacingError
from customer_value.filters import Filters, Scope, add_months
from customer_value.metrics import monthly_trend, safe_ratio

HORIZONS = (12, 36)
MEASURED_MONTHS = 12


@dataclass(frozen=True)
class CurrentRates:
    """The firm's monthly rates over ``start`` to ``end`` and the customers active on ``end``."""

    start: date
    end: date
    months: int
    active_customers: int
    monthly_churn_rate: float
    monthly_gains: float
    revenue_per_customer_month: float
    profit_per_customer_month: float | None
    window_days: int

    @property
    def annual_churn_rate(self) -> float:
        return annual_from_monthly(self.monthly_churn_rate)


def annual_from_monthly(monthly: float) -> float:
    """Share lost over twelve months at a constant monthly churn rate: 1 - (1 - monthly) ** 12."""
    return 1.0 - (1.0 - monthly) ** 12


def monthly_from_annual(annual: float) -> float:
    """The constant monthly churn rate that loses ``annual`` of the customers over twelve months."""
    if not 0.0 <= annual <= 1.0:
        raise UserFacingError(f"an annual churn rate must be between 0% and 100%, not {annual:.1%}")
    return 1.0 - (1.0 - annual) ** (1.0 / 12.0)


def measured_months(as_of: date, months: int = MEASURED_MONTHS) -> tuple[date, date]:
    """The last ``months`` whole calendar months ending on or before ``as_of``."""
    month_end = date(as_of.year, as_of.month, calendar.monthrange(as_of.year, as_of.month)[1])
    end = as_of if as_of == month_end else date(as_of.year, as_of.month, 1) - timedelta(days=1)
    start = add_months(date(end.year, end.month, 1), -(months - 1))
    return start, end


def rates_from_trend(trend: pd.DataFrame, window_days: int) -> CurrentRates:
    """Current rates from ``metrics.monthly_trend`` rows (one per month, oldest first).

    Parameters
    ----------
    trend : pandas.DataFrame
        Columns month, active_start, new_customers, reactivated, lost,
        active_end, revenue, profit.
    window_days : int
        W, recorded with the rates (it defines "lost").

    Returns
    -------
    CurrentRates

    Raises
    ------
    UserFacingError
        When nobody was active in the months (nothing to measure a rate on).
    """
    if trend.empty:
        raise UserFacingError("there are no months to measure the current rates on; load more history")
    active_start = float(trend["active_start"].sum())
    average_active = float(((trend["active_start"] + trend["active_end"]) / 2).sum())
    churn = safe_ratio(float(trend["lost"].sum()), active_start)
    if churn is None or average_active == 0:
        raise UserFacingError("no customer was active in the last twelve months of this selection, so there is "
                              "no churn rate to change; widen the filters or load more history")
    if churn >= 1:
        # With a short W a customer can lapse and return several times a month: more losses than customers.
        raise UserFacingError(f"with W = {window_days} days more customers are lost each month than are active at "
                              "its start (they lapse and come back within the month), so a monthly churn rate "
                              "cannot be projected; choose a churn window of at least a month")
    profit = pd.to_numeric(trend["profit"], errors="coerce")
    profit_rate = float(profit.sum()) / average_active if profit.notna().any() else None
    return CurrentRates(
        start=pd.Timestamp(trend["month"].iloc[0]).date(),
        end=pd.Timestamp(trend["month"].iloc[-1]).date(),
        months=len(trend),
        active_customers=int(trend["active_end"].iloc[-1]),
        monthly_churn_rate=churn,
        monthly_gains=float((trend["new_customers"] + trend["reactivated"]).mean()),
        revenue_per_customer_month=float(trend["revenue"].sum()) / average_active,
        profit_per_customer_month=profit_rate,
        window_days=window_days,
    )


def current_rates(db: Database, filters: Filters, scope: Scope | None = None) -> CurrentRates:
    """The selection's rates over the last twelve whole months up to the data's last day."""
    as_of = filters.as_of or filters.end
    start, end = measured_months(as_of)
    trend = monthly_trend(db, replace(filters, start=start, end=end, period="custom"), scope)
    rates = rates_from_trend(trend, filters.window_days)
    return replace(rates, start=start, end=end)


def project(rates: CurrentRates, monthly_churn_rate: float, extra_customers_per_month: float,
            months: int = max(HORIZONS)) -> pd.DataFrame:
    """Month-by-month customers, revenue and profit under one set of rates.

    Parameters
    ----------
    rates : CurrentRates
        Starting customers and money per customer and month.
    monthly_churn_rate : float
        c in N_t = N_(t-1) x (1 - c) + g.
    extra_customers_per_month : float
        Added to the current monthly gains g.
    months : int

    Returns
    -------
    pandas.DataFrame
        month (1..months), customers (active at the month's end), revenue and
        profit in the month, cumulative_revenue and cumulative_profit (profit
        columns NaN when the data carry no cost).
    """
    gains = rates.monthly_gains + extra_customers_per_month
    customers = np.empty(months + 1)
    customers[0] = rates.active_customers
    for month in range(1, months + 1):
        customers[month] = customers[month - 1] * (1.0 - monthly_churn_rate) + gains
    average = (customers[:-1] + customers[1:]) / 2.0
    revenue = rates.revenue_per_customer_month * average
    profit_rate = rates.profit_per_customer_month
    profit = profit_rate * average if profit_rate is not None else np.full(months, np.nan)
    return pd.DataFrame({
        "month": np.arange(1, months + 1),
        "customers": customers[1:],
        "revenue": revenue,
        "profit": profit,
        "cumulative_revenue": np.cumsum(revenue),
        "cumulative_profit": np.cumsum(profit),
    })


@dataclass
class WhatIf:
    """A scenario against the baseline: the monthly paths, the 12/36-month comparison and its assumptions."""

    rates: CurrentRates
    churn_points_lower: float
    extra_customers_per_month: float
    scenario_monthly_churn_rate: float
    baseline: pd.DataFrame
    scenario: pd.DataFrame
    comparison: pd.DataFrame
    assumptions: list[str] = field(default_factory=list)


def what_if(rates: CurrentRates, churn_points_lower: float = 0.0, extra_customers_per_month: float = 0.0) -> WhatIf:
    """Customers, revenue and profit over 12 and 36 months if annual churn falls and/or acquisition rises.

    Parameters
    ----------
    rates : CurrentRates
    churn_points_lower : float
        Percentage points off the annual churn rate (5 = from 30% to 25% a
        year); at most the current annual churn rate.
    extra_customers_per_month : float
        More customers won each month than today, from the first month.

    Returns
    -------
    WhatIf
        ``comparison`` has one row per horizon and figure (customers at the
        end, revenue, and gross profit when the data carry cost) with
        baseline, scenario, difference and relative change.
    """
    current_annual = rates.annual_churn_rate
    if churn_points_lower < 0:
        raise UserFacingError("enter how many points churn falls as a positive number")
    if churn_points_lower / 100.0 > current_annual + 1e-12:
        raise UserFacingError(f"annual churn is {current_annual:.1%} today; it cannot fall by "
                              f"{churn_points_lower:g} points")
    if extra_customers_per_month < 0:
        raise UserFacingError("enter the extra customers won a month as zero or more")
    scenario_churn = monthly_from_annual(max(0.0, current_annual - churn_points_lower / 100.0))
    months = max(HORIZONS)
    baseline = project(rates, rates.monthly_churn_rate, 0.0, months)
    scenario = project(rates, scenario_churn, extra_customers_per_month, months)
    rows = []
    for horizon in HORIZONS:
        at = horizon - 1
        figures = [("Customers at the end", "customers"), ("Revenue", "cumulative_revenue")]
        if rates.profit_per_customer_month is not None:
            figures.append(("Gross profit", "cumulative_profit"))
        for figure, column in figures:
            before, after = float(baseline.at[at, column]), float(scenario.at[at, column])
            rows.append({"months": horizon, "figure": figure, "baseline": before, "scenario": after,
                         "difference": after - before,
                         "change": safe_ratio(after - before, before)})
    comparison = pd.DataFrame(rows)
    return WhatIf(rates=rates, churn_points_lower=churn_points_lower,
                  extra_customers_per_month=extra_customers_per_month, scenario_monthly_churn_rate=scenario_churn,
                  baseline=baseline, scenario=scenario, comparison=comparison,
                  assumptions=assumptions(rates, scenario_churn, churn_points_lower, extra_customers_per_month))


def assumptions(rates: CurrentRates, scenario_churn: float, churn_points_lower: float,
                extra_customers_per_month: float) -> list[str]:
    """The model's assumptions in sentences, with the firm's measured rates."""
    steady = safe_ratio(rates.monthly_gains, rates.monthly_churn_rate)
    profit_text = (f"gross profit {rates.profit_per_customer_month:,.0f}"
                   if rates.profit_per_customer_month is not None else "no gross profit (the data carry no cost)")
    lines = [
        f"Measured over {rates.start:%Y-%m-%d} to {rates.end:%Y-%m-%d} ({rates.months} months, W = "
        f"{rates.window_days} days): {rates.active_customers:,} customers active at the end; monthly churn "
        f"{rates.monthly_churn_rate:.2%} (lost / active at the start of each month), i.e. "
        f"{rates.annual_churn_rate:.1%} a year; {rates.monthly_gains:,.1f} customers won or won back a month.",
        f"Each active customer brings revenue {rates.revenue_per_customer_month:,.0f} and {profit_text} a month, "
        "as over the measured months; prices, mix and seasonality stay as they were.",
        "Each month: customers = last month's x (1 - monthly churn) + customers won; money = the month's average "
        "customers x money per customer. Nothing is discounted.",
    ]
    if steady is not None:
        lines.append(f"Unchanged, the customer base tends towards {steady:,.0f} (customers won a month / monthly "
                     "churn).")
    if churn_points_lower:
        lines.append(f"Scenario churn: {rates.annual_churn_rate:.1%} - {churn_points_lower:g} points = "
                     f"{annual_from_monthly(scenario_churn):.1%} a year, {scenario_churn:.2%} a month, from the first "
                     "month, for every customer alike.")
    if extra_customers_per_month:
        lines.append(f"Scenario acquisition: {extra_customers_per_month:g} more customers a month from the first "
                     "month; they churn, spend and earn like today's customers.")
    lines.append("The studies quote that winning a new customer costs 3 to 6 times keeping one: weigh the cost of "
                 "each lever against these differences.")
    return lines
