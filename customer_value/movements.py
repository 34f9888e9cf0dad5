"""Churn, acquisition and net growth (domain brief section 3): who came, who left, what revenue moved.

Customer movements follow the activity rule of ``queries/spell_events.sql``: a
customer is active on day d when they bought in (d - W, d] and their churn date
(contract end), if any, is after d. They are lost on last purchase + W, or on
the churn date when that comes first (the explicit rule), so every figure
changes with the sidebar's W. Months are whole calendar months (the period is
widened to its first month's first day); the last month ends on the period's
end.

Revenue movements compare each customer's month revenue with the month before
(``queries/revenue_movements.sql``); net and gross revenue retention compare
the revenue of last year's customers over the 12 months ending with a month
with what they brought in the 12 months before (``queries/revenue_retention.sql``).

Ratios whose denominator is zero are ``None`` (NaN inside a DataFrame), never
infinity.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from customer_value.db import Database
from customer_value.filters import Filters, Scope, add_months
from customer_value.metrics import (
    churn_rate,
    customer_quick_ratio,
    loss_to_gain_ratio,
    net_growth_rate,
    safe_ratio,
)
from customer_value.query import run, scalar_row

MOVEMENT_COUNTS = ["active_start", "new_customers", "reactivated", "lost", "lost_at_contract_end", "active_end"]
CUSTOMER_RATIOS = {
    # column: (label, reference level the page draws, one-sentence definition)
    "churn_rate": ("Churn rate", None, "Lost customers / customers active at the start of the month."),
    "loss_to_gain_ratio": ("Loss-to-gain ratio", 1.0,
                           "Lost / new customers; at 1 every new customer only replaces a lost one."),
    "net_growth_rate": ("Net growth rate", 0.0, "(New + reactivated - lost) / active at the start of the month."),
    "customer_quick_ratio": ("Customer quick ratio", 1.0,
                             "(New + reactivated) / lost; above 1 the customer base grows."),
}
TRAILING_MONTHS = 3
REVENUE_MOVEMENTS = ["new_revenue", "expansion_revenue", "reactivation_revenue", "contraction_revenue",
                     "churned_revenue"]
REVENUE_MOVEMENT_LABELS = {
    "new_revenue": "New", "expansion_revenue": "Expansion", "reactivation_revenue": "Reactivation",
    "contraction_revenue": "Contraction", "churned_revenue": "Churned",
}
SEGMENT_LEVELS = {"customer_type": "Customer type", "region": "Region", "value_class": "Value class (A/B)"}
ACQUISITION_SPLITS = {"acquisition_channel": "Acquisition channel", "customer_type": "Customer type",
                      "region": "Region"}
COHORT_MEASURES = {"share_active": "Share still active", "revenue_retained": "Revenue retained"}


def month_start(day: date) -> date:
    return day.replace(day=1)


def _whole_months(filters: Filters, months_before: int = 0) -> Filters:
    """The filters widened to whole months, starting ``months_before`` months before the period's first."""
    return replace(filters, start=add_months(month_start(filters.start), -months_before), period="custom")


def _to_month(frame: pd.DataFrame, column: str = "month") -> pd.DataFrame:
    frame[column] = pd.to_datetime(frame[column])
    return frame


def _none_if_nan(value: Any) -> float | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return float(value)


# ---------------------------------------------------------------- customer movements


def movement_ratios(frame: pd.DataFrame) -> pd.DataFrame:
    """Add the four customer ratios to rows holding new_customers, reactivated, lost and active_start.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per month (or period) with integer columns ``active_start``,
        ``new_customers``, ``reactivated`` and ``lost``.

    Returns
    -------
    pandas.DataFrame
        A copy with ``churn_rate``, ``loss_to_gain_ratio``, ``net_growth_rate`` and
        ``customer_quick_ratio`` (NaN where the denominator is zero).
    """
    result = frame.copy()
    rows = list(zip(result["active_start"], result["new_customers"], result["reactivated"], result["lost"],
                    strict=True))
    ratios = {
        "churn_rate": [churn_rate(lost, start) for start, _, _, lost in rows],
        "loss_to_gain_ratio": [loss_to_gain_ratio(lost, new) for _, new, _, lost in rows],
        "net_growth_rate": [net_growth_rate(new, back, lost, start) for start, new, back, lost in rows],
        "customer_quick_ratio": [customer_quick_ratio(new, back, lost) for _, new, back, lost in rows],
    }
    for column, values in ratios.items():
        result[column] = pd.array([np.nan if value is None else value for value in values], dtype="float64")
    return result


def trailing_ratios(frame: pd.DataFrame, months: int = TRAILING_MONTHS) -> pd.DataFrame:
    """The customer ratios over the trailing ``months`` months, as ``<ratio>_3m`` columns.

    Each trailing figure pools the months' counts (a ratio of sums: lost over the
    three months / customers active at the start of each of them), so a month
    with nothing to divide by does not void the average. Rows with fewer than
    ``months`` months before them get NaN.
    """
    counts = frame[["active_start", "new_customers", "reactivated", "lost"]].rolling(months, min_periods=months).sum()
    pooled = movement_ratios(counts.fillna(0).astype("int64"))
    result = frame.copy()
    complete = counts["lost"].notna()
    for column in CUSTOMER_RATIOS:
        result[f"{column}_{months}m"] = pooled[column].where(complete)
    return result


def monthly_movements(db: Database, filters: Filters, scope: Scope | None = None) -> pd.DataFrame:
    """Customer movements and ratios for each whole month of the period.

    Returns
    -------
    pandas.DataFrame
        One row per month: ``active_start``, ``new_customers``, ``reactivated``,
        ``lost`` (of which ``lost_at_contract_end`` by a churn date and
        ``lost_by_lapse`` by last purchase + W), ``active_end``, ``net_change``,
        ``identity_holds`` (start + new + reactivated - lost = end), the four
        ratios and their trailing 3-month figures (``*_3m``).
    """
    widened = _whole_months(filters, months_before=TRAILING_MONTHS - 1)
    frame = run(db, "monthly_movements", filters=widened, scope=scope)
    frame = _to_month(frame)
    for column in MOVEMENT_COUNTS:
        frame[column] = frame[column].astype("int64")
    frame["lost_by_lapse"] = frame["lost"] - frame["lost_at_contract_end"]
    frame["net_change"] = frame["new_customers"] + frame["reactivated"] - frame["lost"]
    frame["identity_holds"] = frame["active_start"] + frame["net_change"] == frame["active_end"]
    frame = trailing_ratios(movement_ratios(frame))
    shown = frame[frame["month"] >= pd.Timestamp(month_start(filters.start))]
    return shown.reset_index(drop=True)


def identity_failures(movements: pd.DataFrame) -> list[str]:
    """Months (YYYY-MM) where active at start + new + reactivated - lost differs from active at end."""
    broken = movements[movements["active_start"] + movements["new_customers"] + movements["reactivated"]
                       - movements["lost"] != movements["active_end"]]
    return [f"{month:%Y-%m}" for month in broken["month"]]


def churn_rule(db: Database, filters: Filters, scope: Scope | None = None,
               movements: pd.DataFrame | None = None) -> dict[str, Any]:
    """Which churn rule applied in the period, and how many losses each rule dated.

    Returns
    -------
    dict
        ``customers`` (who ever bought), ``with_churn_date``, ``churn_dates_in_period``,
        ``bought_after_churn_date``, ``lost``, ``lost_at_contract_end``, ``lost_by_lapse``
        (over the period's months), ``window_days`` and ``description``, one sentence
        for the page.
    """
    facts = {key: int(value or 0) for key, value in
             scalar_row(run(db, "churn_rule", filters=_whole_months(filters), scope=scope)).items()}
    if movements is None:
        movements = monthly_movements(db, filters, scope)
    lost = int(movements["lost"].sum())
    at_contract_end = int(movements["lost_at_contract_end"].sum())
    window = filters.window_days
    lapse_text = f"a customer is lost {window} days after their last purchase (lapse rule, W = {window})"
    if facts.get("with_churn_date", 0) == 0:
        description = (f"No customer in this selection carries a churn date, so only the lapse rule applied: "
                       f"{lapse_text}.")
    else:
        description = (
            f"Both rules applied: {lapse_text}, and {facts['with_churn_date']:,} customers carry a churn date "
            f"(contract end) that counts them lost on that day whatever they bought. Of the {lost:,} customers "
            f"lost in the period, {at_contract_end:,} were lost at a contract end and {lost - at_contract_end:,} "
            f"by lapse."
        )
        if facts.get("bought_after_churn_date"):
            description += (f" {facts['bought_after_churn_date']:,} customers bought on or after their contract "
                            "end; those purchases do not make them active.")
    return {**facts, "lost": lost, "lost_at_contract_end": at_contract_end,
            "lost_by_lapse": lost - at_contract_end, "window_days": window, "description": description}


# ---------------------------------------------------------------- cohorts


def cohort_retention(db: Database, filters: Filters, scope: Scope | None = None) -> pd.DataFrame:
    """Acquisition cohorts of the period followed month by month.

    Returns
    -------
    pandas.DataFrame
        One row per cohort month and months since acquisition: ``cohort_size``,
        ``active`` (active at the month's end), ``share_active`` = active / cohort
        size, ``revenue`` and ``revenue_retained`` = revenue / the cohort's
        revenue in its acquisition month (NaN when that is not positive).
    """
    frame = run(db, "cohort_retention", filters=_whole_months(filters), scope=scope)
    frame = _to_month(_to_month(frame, "cohort_month"))
    for column in ("months_since", "cohort_size", "active"):
        frame[column] = frame[column].astype("int64")
    frame["revenue"] = frame["revenue"].astype(float)
    frame["share_active"] = frame["active"] / frame["cohort_size"]
    first_month = frame.loc[frame["months_since"] == 0].set_index("cohort_month")["revenue"]
    base = frame["cohort_month"].map(first_month).astype(float)
    frame["revenue_retained"] = (frame["revenue"] / base).where(base > 0)
    return frame


def cohort_matrix(cohorts: pd.DataFrame, measure: str = "share_active") -> pd.DataFrame:
    """Cohort month (rows, YYYY-MM) x months since acquisition (columns) of ``measure``."""
    if measure not in COHORT_MEASURES:
        raise ValueError(f"unknown cohort measure {measure!r}; choose one of {', '.join(COHORT_MEASURES)}")
    matrix = cohorts.pivot(index="cohort_month", columns="months_since", values=measure)
    matrix.index = [f"{month:%Y-%m}" for month in matrix.index]
    matrix.columns = [int(column) for column in matrix.columns]
    return matrix


def cohort_average_curve(cohorts: pd.DataFrame) -> pd.DataFrame:
    """The average cohort: per months since acquisition, pooled over the cohorts that reached it.

    ``share_active`` = their active customers / their customers (so large cohorts
    weigh more); ``revenue_retained`` = their revenue / their acquisition-month revenue.
    """
    if cohorts.empty:
        return pd.DataFrame(columns=["months_since", "cohorts", "customers", "share_active", "revenue_retained"])
    first_month = cohorts.loc[cohorts["months_since"] == 0].set_index("cohort_month")["revenue"]
    with_base = cohorts.assign(base_revenue=cohorts["cohort_month"].map(first_month).astype(float))
    pooled = with_base.groupby("months_since").agg(
        cohorts=("cohort_month", "nunique"), customers=("cohort_size", "sum"), active=("active", "sum"),
        revenue=("revenue", "sum"), base_revenue=("base_revenue", "sum")).reset_index()
    pooled["share_active"] = pooled["active"] / pooled["customers"]
    pooled["revenue_retained"] = (pooled["revenue"] / pooled["base_revenue"]).where(pooled["base_revenue"] > 0)
    return pooled[["months_since", "cohorts", "customers", "share_active", "revenue_retained"]]


# ---------------------------------------------------------------- value churn and acquisition


def value_churn(db: Database, filters: Filters, scope: Scope | None = None) -> pd.DataFrame:
    """Per month: high-value customers who slid to low value while still active, and the revenue at stake.

    A customer's value class in a month is 'A' when they are among the top customers
    making 80% of the trailing 3-month revenue (the value grid's Pareto rule), 'B'
    otherwise (see ``queries/monthly_value_class.sql``).

    Returns
    -------
    pandas.DataFrame
        One row per month: ``high_value_before`` (A in the month before), ``slid``,
        ``slid_share`` = slid / high_value_before, ``revenue_before`` / ``revenue_now``
        (their trailing 3-month revenue last month and this month), ``revenue_drop`` =
        the difference and ``revenue_at_stake`` = ``revenue_before``, what these customers
        were worth while high value.
    """
    frame = _to_month(run(db, "value_churn", filters=_whole_months(filters), scope=scope))
    frame["high_value_before"] = frame["high_value_before"].astype("int64")
    frame["slid"] = frame["slid"].astype("int64")
    for column in ("revenue_before", "revenue_now"):
        frame[column] = frame[column].astype(float)
    frame["revenue_drop"] = frame["revenue_before"] - frame["revenue_now"]
    frame["revenue_at_stake"] = frame["revenue_before"]
    frame["slid_share"] = (frame["slid"] / frame["high_value_before"]).where(frame["high_value_before"] > 0)
    return frame


def value_churn_customers(db: Database, filters: Filters, month: date, scope: Scope | None = None) -> pd.DataFrame:
    """The customers who slid from high to low value in ``month`` while still active, largest drop first."""
    frame = run(db, "value_churn_customers", filters=_whole_months(filters), scope=scope,
                params={"month": month_start(month)})
    for column in ("revenue_now", "revenue_at_stake", "revenue_drop"):
        frame[column] = frame[column].astype(float)
    return frame


def acquisition(db: Database, filters: Filters, split: str = "acquisition_channel",
                scope: Scope | None = None) -> pd.DataFrame:
    """New customers by month split by ``split``, with the value of their first order.

    Returns
    -------
    pandas.DataFrame
        One row per month and group: ``new_customers``, ``first_order_value`` (the
        revenue of their first purchase day, summed) and ``average_first_order``.
    """
    if split not in ACQUISITION_SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(ACQUISITION_SPLITS)}")
    frame = _to_month(run(db, "acquisition_by_month", filters=_whole_months(filters), scope=scope))
    frame["first_order_value"] = frame["first_order_value"].astype(float)
    grouped = frame.groupby(["month", split], as_index=False)[["new_customers", "first_order_value"]].sum()
    grouped["new_customers"] = grouped["new_customers"].astype("int64")
    grouped["average_first_order"] = grouped["first_order_value"] / grouped["new_customers"]
    return grouped.rename(columns={split: "group"})


# ---------------------------------------------------------------- revenue movements and retention


def revenue_quick_ratio(new: float, expansion: float, reactivation: float, churned: float,
                        contraction: float) -> float | None:
    """(new + expansion + reactivation) / (churned + contraction); above 1 revenue grows."""
    return safe_ratio(new + expansion + reactivation, churned + contraction)


def net_revenue_retention(current_revenue: float, base_revenue: float) -> float | None:
    """Revenue of last year's customers this year / their revenue last year (expansion counts)."""
    return safe_ratio(current_revenue, base_revenue)


def gross_revenue_retention(retained_revenue: float, base_revenue: float) -> float | None:
    """Sum over last year's customers of min(this year, last year) / their revenue last year."""
    return safe_ratio(retained_revenue, base_revenue)


def _add_revenue_ratios(frame: pd.DataFrame) -> pd.DataFrame:
    frame["net_change"] = (frame["new_revenue"] + frame["expansion_revenue"] + frame["reactivation_revenue"]
                           - frame["contraction_revenue"] - frame["churned_revenue"])
    frame["revenue_quick_ratio"] = pd.array([
        np.nan if (value := revenue_quick_ratio(new, expansion, back, churned, contraction)) is None else value
        for new, expansion, back, churned, contraction in zip(
            frame["new_revenue"], frame["expansion_revenue"], frame["reactivation_revenue"],
            frame["churned_revenue"], frame["contraction_revenue"], strict=True)
    ], dtype="float64")
    return frame


def _revenue_rows(db: Database, filters: Filters, scope: Scope | None) -> pd.DataFrame:
    frame = _to_month(run(db, "revenue_movements", filters=_whole_months(filters), scope=scope))
    for column in ("revenue_start", *REVENUE_MOVEMENTS, "revenue_end"):
        frame[column] = frame[column].astype(float)
    return frame


def revenue_movements(db: Database, filters: Filters, scope: Scope | None = None) -> pd.DataFrame:
    """Revenue movements for each whole month of the period, customer by customer against the month before.

    Returns
    -------
    pandas.DataFrame
        One row per month: ``revenue_start`` (last month's revenue), ``new_revenue``,
        ``expansion_revenue``, ``reactivation_revenue``, ``contraction_revenue``,
        ``churned_revenue``, ``revenue_end``, ``net_change`` and ``revenue_quick_ratio``.
        A customer's month revenue is floored at zero, so start + net change = end.
    """
    rows = _revenue_rows(db, filters, scope)
    columns = ["revenue_start", *REVENUE_MOVEMENTS, "revenue_end", "new_buyers", "churned_buyers"]
    months = pd.DataFrame({"month": pd.date_range(month_start(filters.start), month_start(filters.end),
                                                  freq="MS")})
    by_month = months.merge(rows.groupby("month", as_index=False)[columns].sum(), on="month", how="left")
    by_month[columns] = by_month[columns].fillna(0)
    for column in ("new_buyers", "churned_buyers"):
        by_month[column] = by_month[column].astype("int64")
    return _add_revenue_ratios(by_month)


def revenue_movements_by_segment(db: Database, filters: Filters, level: str = "customer_type",
                                 scope: Scope | None = None) -> pd.DataFrame:
    """The period's revenue movements summed by customer type or region, with the revenue quick ratio."""
    if level not in ("customer_type", "region"):
        raise ValueError(f"revenue movements split by customer_type or region, not {level!r}")
    rows = _revenue_rows(db, filters, scope)
    totals = rows.groupby(level, as_index=False)[REVENUE_MOVEMENTS].sum().rename(columns={level: "segment"})
    return _add_revenue_ratios(totals).sort_values("segment").reset_index(drop=True)


def _add_retention_ratios(frame: pd.DataFrame) -> pd.DataFrame:
    frame["nrr"] = [_nan(net_revenue_retention(cur, base))
                    for cur, base in zip(frame["current_revenue"], frame["base_revenue"], strict=True)]
    frame["grr"] = [_nan(gross_revenue_retention(kept, base))
                    for kept, base in zip(frame["retained_revenue"], frame["base_revenue"], strict=True)]
    frame["nrr"] = frame["nrr"].astype("float64")
    frame["grr"] = frame["grr"].astype("float64")
    return frame


def _nan(value: float | None) -> float:
    return np.nan if value is None else value


def revenue_retention(db: Database, filters: Filters, scope: Scope | None = None,
                      level: str | None = None) -> pd.DataFrame:
    """Net and gross revenue retention over 12 months, for each month of the period.

    For month M the base is every customer with revenue in months M-23..M-12; NRR =
    their revenue in M-11..M / their revenue in the base year, GRR the same with each
    customer's revenue capped at their base-year revenue.

    Parameters
    ----------
    level : str, optional
        ``customer_type``, ``region`` or ``value_class`` (A = the top base customers
        making 80% of base revenue) to split each month by that segment.

    Returns
    -------
    pandas.DataFrame
        One row per month (and segment): ``base_customers``, ``retained_customers``
        (who bought again), ``base_revenue``, ``current_revenue``, ``retained_revenue``,
        ``nrr`` and ``grr`` (NaN when there was no base revenue).
    """
    if level is not None and level not in SEGMENT_LEVELS:
        raise ValueError(f"unknown segment {level!r}; choose one of {', '.join(SEGMENT_LEVELS)}")
    rows = _to_month(run(db, "revenue_retention", filters=_whole_months(filters), scope=scope))
    figures = ["base_customers", "retained_customers", "base_revenue", "current_revenue", "retained_revenue"]
    for column in figures[2:]:
        rows[column] = rows[column].astype(float)
    keys = ["month"] if level is None else ["month", level]
    grouped = rows.groupby(keys, as_index=False)[figures].sum()
    if level is None:
        months = pd.DataFrame({"month": pd.date_range(month_start(filters.start), month_start(filters.end),
                                                      freq="MS")})
        grouped = months.merge(grouped, on="month", how="left").fillna({column: 0 for column in figures})
    else:
        grouped = grouped.rename(columns={level: "segment"})
    for column in figures[:2]:
        grouped[column] = grouped[column].astype("int64")
    return _add_retention_ratios(grouped)


# ---------------------------------------------------------------- the executive reading


def _percent(value: float) -> str:
    return f"{100 * value:.0f}%"


def executive_reading(movements: pd.DataFrame, retention: pd.DataFrame, months: int = TRAILING_MONTHS) -> str:
    """One sentence an executive reads first, built from the period's last months and latest NRR.

    Parameters
    ----------
    movements : pandas.DataFrame
        ``monthly_movements`` output.
    retention : pandas.DataFrame
        ``revenue_retention`` output (no segment level).
    """
    if movements.empty:
        return "There are no months in this period to read."
    recent = movements.tail(months)
    span = len(recent)
    span_text = "the last month" if span == 1 else f"the last {span} months"
    won = int(recent["new_customers"].sum() + recent["reactivated"].sum())
    lost = int(recent["lost"].sum())
    quick = customer_quick_ratio(int(recent["new_customers"].sum()), int(recent["reactivated"].sum()), lost)
    if quick is not None:
        customers = (f"For every customer lost in {span_text} you won or won back {quick:.2f} "
                     f"({won:,} won, {lost:,} lost)")
    elif won:
        customers = f"No customer was lost in {span_text} and you won or won back {won:,}"
    else:
        customers = f"No customer was won or lost in {span_text}"
    latest = retention.dropna(subset=["nrr"]).tail(1) if not retention.empty else retention
    if latest.empty:
        revenue = ("there is no revenue from a year earlier to compare, so net revenue retention is not defined "
                   "for this period")
    else:
        nrr = float(latest["nrr"].iloc[0])
        grr = _none_if_nan(latest["grr"].iloc[0])
        month = pd.Timestamp(latest["month"].iloc[0])
        if abs(nrr - 1) < 0.005:
            change = "held level"
        elif nrr > 1:
            change = f"grew {_percent(nrr - 1)}"
        else:
            change = f"shrank {_percent(1 - nrr)}"
        kept = f", GRR {_percent(grr)}" if grr is not None else ""
        revenue = (f"revenue from existing customers {change} over the 12 months to {month:%b %Y} "
                   f"(NRR {_percent(nrr)}{kept})")
    return f"{customers}; {revenue}."


# ---------------------------------------------------------------- the command line report


def movements_report(db: Database, filters: Filters, scope: Scope | None = None) -> dict[str, Any]:
    """What ``python -m customer_value movements --json`` prints: the two pages' monthly figures."""
    movements = monthly_movements(db, filters, scope)
    retention = revenue_retention(db, filters, scope)
    revenue = revenue_movements(db, filters, scope)
    return {
        "filters": {
            "start": month_start(filters.start).isoformat(),
            "end": filters.end.isoformat(),
            "customer_types": list(filters.customer_types),
            "regions": list(filters.regions),
            "sales_reps": list(filters.sales_reps),
            "window_days": filters.window_days,
        },
        "reading": executive_reading(movements, retention),
        "churn_rule": churn_rule(db, filters, scope, movements),
        "identity_failures": identity_failures(movements),
        "customer_movements": movements,
        "revenue_movements": revenue,
        "revenue_retention": retention,
    }
