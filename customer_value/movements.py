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
with what they brought in the 12 months before (``retention_table`` over
``queries/retention_revenue.sql``: sliding two 12-month windows in numpy is
five times cheaper than expanding every customer month in SQL at 10M lines).
With nobody filtered out, that table is read as stored at load time
(``retention_cells``, built by ``customer_value.derive``): 0.13 s instead of
0.45 s per net-growth page at 10M lines.

Ratios whose denominator is zero are ``None`` (NaN inside a DataFrame), never
infinity.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from customer_value.cache import handed_out
from customer_value.dataset import data_range
from customer_value.db import Database
from customer_value.filters import Filters, Scope, add_months
from customer_value.metrics import (
    churn_rate,
    customer_quick_ratio,
    loss_to_gain_ratio,
    net_growth_rate,
    safe_ratio,
)
from customer_value.query import RESULT_CACHE, all_customers_in_scope, run, scalar_row
from customer_value.segments import GRID_NAMES_BY_CODE, UNKNOWN_MARGIN, VOLUME_NAMES, cell_code

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
# The bottom of the value x margin grid, with and without cost data.
LOWEST_CELLS = ("BB", "B", "B" + UNKNOWN_MARGIN)
COHORT_MEASURES = {"share_active": "Share still active", "revenue_retained": "Revenue retained"}


# Revenue is summed in floating point; a sum whose returns cancel its sales to within half a cent is no
# revenue, as it would be in exact decimals.
_NO_REVENUE = 0.005


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_number(day: date) -> int:
    """Months since year 0 (year * 12 + month): month arithmetic as integer arithmetic."""
    return day.year * 12 + day.month


def month_of_number(number: int) -> date:
    year, month = divmod(number - 1, 12)
    return date(year, month + 1, 1)


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


def movement_totals(movements: pd.DataFrame) -> dict[str, float | None]:
    """The period's customer movements (sums over ``monthly_movements``' months) and their four ratios.

    The churn rate is the monthly average, pooled (lost over the months / customers active at the start
    of each month): lost over a year divided by the customers active on its first day also counts the
    year's own new customers lost, and can pass 100%. The other ratios compare the period's flows
    (loss-to-gain, quick ratio) or its start and end (net growth rate = (end - start) / start).
    """
    if movements.empty:
        counts = dict.fromkeys(("active_start", "new_customers", "reactivated", "lost", "active_end"), 0)
        month_starts = 0
    else:
        month_starts = int(movements["active_start"].sum())
        counts = {
            "active_start": int(movements["active_start"].iloc[0]),
            "new_customers": int(movements["new_customers"].sum()),
            "reactivated": int(movements["reactivated"].sum()),
            "lost": int(movements["lost"].sum()),
            "active_end": int(movements["active_end"].iloc[-1]),
        }
    start, new, back, lost = counts["active_start"], counts["new_customers"], counts["reactivated"], counts["lost"]
    return {
        **counts,
        "churn_rate": churn_rate(lost, month_starts),
        "loss_to_gain_ratio": loss_to_gain_ratio(lost, new),
        "net_growth_rate": net_growth_rate(new, back, lost, start),
        "customer_quick_ratio": customer_quick_ratio(new, back, lost),
    }


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
            f"(contract end) that counts them lost on that day whatever they bought. "
        )
        description += (f"Of the {lost:,} customers lost in the period, {at_contract_end:,} were lost at a contract "
                        f"end and {lost - at_contract_end:,} by lapse." if lost else
                        "No customer was lost in the period.")
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


def _pareto_high_value(revenue: np.ndarray) -> np.ndarray:
    """Per customer (index = key): True for the smallest set of top customers making 80% of ``revenue``.

    Only customers with revenue count; ties are broken by customer key (dense in customer id order), as
    in the value grid.
    """
    # Whole cents: the sums are of amounts to the cent, so rounding recovers them exactly and the 80% line
    # is decided in integers (see _top_revenue_share).
    cents = np.rint(revenue * 100)
    buyers = np.flatnonzero(cents > 0)
    high = np.zeros(revenue.size, dtype=bool)
    high[buyers[_top_revenue_share(cents[buyers])]] = True
    return high


def grid_of_window(revenue: np.ndarray, profit: np.ndarray, lines_with_profit: np.ndarray,
                   orders: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each customer's value x margin classes over one window, by the segment grid's rules (segments.py).

    Parameters
    ----------
    revenue, profit, lines_with_profit, orders : numpy.ndarray
        Per customer (index = customer key), summed over the window.

    Returns
    -------
    (volume_a, margin_known, margin_a) : numpy.ndarray of bool
        Volume class A = the smallest set of top customers making 80% of the window's
        revenue (customers without revenue are B); the margin is known for customers
        with revenue, orders and cost data in the window, and A when their gross
        profit per order is strictly above the median over those customers.
    """
    volume_a = _pareto_high_value(revenue)
    known = (revenue > _NO_REVENUE) & (lines_with_profit > 0) & (orders > 0)
    margin_a = np.zeros(revenue.size, dtype=bool)
    if known.any():
        per_order = np.divide(profit, orders, out=np.zeros_like(profit), where=known)
        margin_a = known & (per_order > float(np.median(per_order[known])))
    return volume_a, known, margin_a


def cell_rank(volume_a: np.ndarray, margin_a: np.ndarray) -> np.ndarray:
    """The segments page's order of cells (segments.CELL_RANK): AA 3, AB and BA 2, BB 1; A 2, B 1."""
    return 1 + volume_a.astype("int64") + margin_a.astype("int64")


def cell_labels(volume_a: np.ndarray, margin_known: np.ndarray, margin_a: np.ndarray,
                any_margin: bool) -> np.ndarray:
    """'AA', 'AB', 'BA', 'BB'; 'A (margin unknown)' without cost data; plain 'A' / 'B' when nobody has any."""
    if not any_margin:
        return VOLUME_NAMES[volume_a.astype("int64")]
    # Picked from the names by code: building strings per customer cost 0.1 s a month at 500,000 customers.
    return GRID_NAMES_BY_CODE[cell_code(volume_a, margin_known, margin_a)]


def _month_rows(rows: pd.DataFrame, first: int, last: int) -> Callable[[int, int], slice]:
    """For ``rows`` sorted by ``month_number``: ``months_of(a, b)`` is the slice of rows of months a..b.

    Month boundaries are searched once: searching the int32 month numbers with a Python int converted all
    of them on every call (0.77 s of 1.0 s for 4.6 million customer months).
    """
    starts = np.searchsorted(rows["month_number"].to_numpy(dtype="int64"),
                             np.arange(first, last + 2, dtype="int64"))

    def months_of(low: int, high: int) -> slice:
        return slice(starts[low - first], starts[high + 1 - first])

    return months_of


def value_slides(rows: pd.DataFrame, months: list[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Customers whose value x margin cell fell below last month's, month by month.

    A customer's cell in month M is computed, as on the segments page, from their revenue,
    gross profit and orders over the trailing 3 months (M-2..M): see
    ``grid_of_window``. Cells rank AA > AB = BA > BB (the segments page's
    migration order); a slide is a fall in rank from the month before (AA to AB, BA
    or BB; AB or BA to BB). Without cost data the cells are the volume classes A > B.

    Parameters
    ----------
    rows : pandas.DataFrame
        ``customer_key``, ``month_number`` (year * 12 + month), ``revenue``, ``profit``,
        ``lines_with_profit`` and ``orders``: one row per customer month from three
        months before the first of ``months``, sorted by month_number.
    months : list of int
        Consecutive month numbers to report.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        Per month: ``month``, ``high_value_before`` (customers in a cell above the
        lowest last month: those who could slide). Per slide: ``month``,
        ``customer_key``, ``cell_before``, ``cell_now``, ``revenue_before`` and
        ``revenue_now`` (trailing 3-month revenue in the month before and in the month).
        Whether the customer is still active is for the caller to check.
    """
    keys = rows["customer_key"].to_numpy(dtype="int64")
    measures = {column: rows[column].fillna(0).to_numpy(dtype="float64")
                for column in ("revenue", "profit", "lines_with_profit", "orders")}
    customers = int(keys.max()) + 1 if keys.size else 1
    months_of = _month_rows(rows, months[0] - 3, months[-1])

    def trailing(number: int) -> tuple[np.ndarray, tuple[np.ndarray, ...], np.ndarray]:
        window = months_of(number - 2, number)
        sums = {column: np.bincount(keys[window], weights=values[window], minlength=customers)
                for column, values in measures.items()}
        grid = grid_of_window(sums["revenue"], sums["profit"], sums["lines_with_profit"], sums["orders"])
        return sums["revenue"], grid, cell_rank(grid[0], grid[2])

    def labels(grid: tuple[np.ndarray, ...], chosen: np.ndarray) -> list[str]:
        return cell_labels(*(part[chosen] for part in grid), any_margin=bool(grid[1].any())).tolist()

    counts, slides = [], []
    previous, previous_grid, previous_rank = trailing(months[0] - 1)
    for number in months:
        current, grid, rank = trailing(number)
        slid = np.flatnonzero(rank < previous_rank)
        month = pd.Timestamp(month_of_number(number))
        counts.append({"month": month, "high_value_before": int((previous_rank > 1).sum())})
        # Rounded to the cent: floating-point sums must not break ties that exact decimals would keep.
        slides.append(pd.DataFrame({
            "month": month, "customer_key": slid, "cell_before": labels(previous_grid, slid),
            "cell_now": labels(grid, slid), "revenue_before": previous[slid].round(2),
            "revenue_now": np.maximum(current[slid], 0.0).round(2)}))
        previous, previous_grid, previous_rank = current, grid, rank
    return pd.DataFrame(counts), pd.concat(slides, ignore_index=True)


def _value_churn_data(db: Database, filters: Filters, scope: Scope | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-month high-value counts, slides of customers still active), kept in the query cache."""
    whole = _whole_months(filters)
    key = ("value_churn", db.path, db.data_version(), whole.start, whole.end, whole.window_days, whole.as_of,
           whole.customer_types, whole.regions, whole.sales_reps, scope)
    cached = RESULT_CACHE.get(key)
    if cached is not None:
        counts = cached.drop_duplicates("month")[["month", "high_value_before"]].reset_index(drop=True)
        return counts, cached.dropna(subset=["customer_key"]).drop(columns="high_value_before")
    # Millions of customer months at scale: fetched once, reduced here, never kept in the query cache.
    rows = run(db, "value_class_revenue", filters=whole, scope=scope, use_cache=False)
    months = list(range(month_number(whole.start), month_number(whole.end) + 1))
    counts, slides = value_slides(rows, months)
    if not slides.empty:
        # Not cached on its own (the slides are, below), which also spares hashing a long list of keys.
        active = run(db, "month_end_activity_of", filters=whole, scope=scope, use_cache=False,
                     params={"customer_keys": sorted(int(value) for value in slides["customer_key"].unique())})
        active["month"] = pd.to_datetime(active["month"])
        slides = slides[_pairs_present(slides, active)].reset_index(drop=True)
        # Months in the unit of the query's dates, as the join on them used to give every caller.
        slides["month"] = slides["month"].astype(active["month"].dtype)
    slides = slides.astype({"customer_key": "int64"})
    # One frame for the cache: the counts, and the slides joined to their month's count.
    RESULT_CACHE.put(key, counts.merge(slides, on="month", how="left"))
    return counts, slides


def _pairs_present(slides: pd.DataFrame, active: pd.DataFrame) -> np.ndarray:
    """For each (customer_key, month) row of ``slides``: is it among ``active``'s rows?

    Marked in one flag per customer and month rather than merged: over all time a
    five-million-customer firm has 62 million active customer months, and the merge
    with 8 million slides took the process past 14 GB.
    """
    def month_index(months: pd.Series) -> np.ndarray:
        return pd.to_datetime(months).to_numpy(dtype="datetime64[M]").astype("int64")

    slide_keys = slides["customer_key"].to_numpy(dtype="int64")
    active_keys = active["customer_key"].to_numpy(dtype="int64")
    if not len(slide_keys) or not len(active_keys):
        return np.zeros(len(slide_keys), dtype=bool)
    slide_months, active_months = month_index(slides["month"]), month_index(active["month"])
    first = int(min(slide_months.min(), active_months.min()))
    months = int(max(slide_months.max(), active_months.max())) - first + 1
    customers = int(max(slide_keys.max(), active_keys.max())) + 1
    flags = np.zeros(months * customers, dtype=bool)
    flags[(active_months - first) * customers + active_keys] = True
    return flags[(slide_months - first) * customers + slide_keys]


def value_churn(db: Database, filters: Filters, scope: Scope | None = None) -> pd.DataFrame:
    """Per month: customers who slid to a lower value x margin cell while still active, and the revenue at stake.

    See ``value_slides`` for the cells and what a slide is; "still active" is the
    activity rule with W at the month's end.

    Returns
    -------
    pandas.DataFrame
        One row per month: ``high_value_before`` (customers in a cell above BB in the
        month before), ``slid``, ``to_lowest`` (of which slid into BB, or B without
        cost data),
        ``slid_share`` = slid / high_value_before, ``revenue_before`` / ``revenue_now``
        (their trailing 3-month revenue last month and this month), ``revenue_drop`` =
        the difference and ``revenue_at_stake`` = ``revenue_before``, what these customers
        were worth while high value.
    """
    counts, slides = _value_churn_data(db, filters, scope)
    totals = slides.assign(to_lowest=slides["cell_now"].isin(LOWEST_CELLS)).groupby(
        "month").agg(slid=("customer_key", "size"), to_lowest=("to_lowest", "sum"),
                     revenue_before=("revenue_before", "sum"), revenue_now=("revenue_now", "sum"))
    frame = counts.merge(totals, left_on="month", right_index=True, how="left")
    for column in ("slid", "to_lowest"):
        frame[column] = frame[column].fillna(0).astype("int64")
    frame["high_value_before"] = frame["high_value_before"].astype("int64")
    for column in ("revenue_before", "revenue_now"):
        frame[column] = frame[column].fillna(0.0).astype(float)
    frame["revenue_drop"] = frame["revenue_before"] - frame["revenue_now"]
    frame["revenue_at_stake"] = frame["revenue_before"]
    frame["slid_share"] = (frame["slid"] / frame["high_value_before"]).where(frame["high_value_before"] > 0)
    return frame


def value_churn_customers(db: Database, filters: Filters, month: date, scope: Scope | None = None) -> pd.DataFrame:
    """The customers who slid to a lower grid cell in ``month`` while still active, most at stake first.

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``name``, ``customer_type``, ``region``, ``sales_rep``,
        ``cell_before`` / ``cell_now`` (last month's and this month's grid cell), ``revenue_now``,
        ``revenue_at_stake`` (trailing 3-month revenue in the cell they left)
        and ``revenue_drop``.
    """
    columns = ["customer_id", "name", "customer_type", "region", "sales_rep", "cell_before", "cell_now",
               "revenue_now", "revenue_at_stake", "revenue_drop"]
    _, slides = _value_churn_data(db, filters, scope)
    chosen = slides[slides["month"] == pd.Timestamp(month_start(month))]
    if chosen.empty:
        return pd.DataFrame(columns=columns)
    attributes = run(db, "customer_attributes", filters=_whole_months(filters), scope=scope,
                     params={"customer_keys": sorted(int(value) for value in chosen["customer_key"])})
    listed = chosen.merge(attributes.astype({"customer_key": "int64"}), on="customer_key")
    listed = listed.assign(revenue_at_stake=listed["revenue_before"],
                           revenue_drop=listed["revenue_before"] - listed["revenue_now"])
    return listed.sort_values(["revenue_at_stake", "customer_id"], ascending=[False, True])[columns].reset_index(
        drop=True)


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


def acquisition_totals(acquired: pd.DataFrame, by: str = "group") -> pd.DataFrame:
    """``acquisition`` output summed by ``group`` (over the period) or by ``month`` (each cohort)."""
    if by not in ("group", "month"):
        raise ValueError(f"acquisition totals are by group or by month, not {by!r}")
    totals = acquired.groupby(by, as_index=False)[["new_customers", "first_order_value"]].sum()
    totals["average_first_order"] = totals["first_order_value"] / totals["new_customers"]
    if by == "group":
        totals = totals.sort_values(["new_customers", "group"], ascending=[False, True]).reset_index(drop=True)
    return totals


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


def revenue_totals(revenue: pd.DataFrame) -> dict[str, float | None]:
    """The period's revenue movements (sums over ``revenue_movements``' months) and its revenue quick ratio."""
    totals = {column: float(revenue[column].sum()) for column in REVENUE_MOVEMENTS}
    totals["revenue_quick_ratio"] = revenue_quick_ratio(
        totals["new_revenue"], totals["expansion_revenue"], totals["reactivation_revenue"],
        totals["churned_revenue"], totals["contraction_revenue"])
    return totals


def revenue_movements_by_segment(db: Database, filters: Filters, level: str = "customer_type",
                                 scope: Scope | None = None) -> pd.DataFrame:
    """The period's revenue movements summed by customer type or region, with the revenue quick ratio."""
    if level not in ("customer_type", "region"):
        raise ValueError(f"revenue movements split by customer_type or region, not {level!r}")
    rows = _revenue_rows(db, filters, scope)
    totals = rows.groupby(level, as_index=False)[REVENUE_MOVEMENTS].sum().rename(columns={level: "segment"})
    return _add_revenue_ratios(totals).sort_values("segment").reset_index(drop=True)


RETENTION_FIGURES = ["base_customers", "retained_customers", "base_revenue", "current_revenue", "retained_revenue"]
RETENTION_COLUMNS = ["month", "customer_type", "region", "value_class", *RETENTION_FIGURES]


def retention_table(rows: pd.DataFrame, segments: pd.DataFrame, months: list[int]) -> pd.DataFrame:
    """Revenue retention over 12 months for each month in ``months``, by customer type, region and value class.

    For month M the base is every customer whose revenue in months M-23..M-12 is
    positive; ``base_revenue`` is that revenue, ``current_revenue`` the same
    customers' revenue in M-11..M (floored at zero), ``retained_revenue`` the sum
    of min(current, base) per customer and ``retained_customers`` those with
    current revenue. ``value_class`` is 'A' for the smallest set of top base
    customers making 80% of the month's base revenue (ties by customer key), 'B'
    for the rest.

    Parameters
    ----------
    rows : pandas.DataFrame
        ``customer_key``, ``month_number`` (year * 12 + month), ``revenue_cents`` (whole
        cents, as float64): one row per customer month, sorted by month_number.
    segments : pandas.DataFrame
        ``customer_key``, ``customer_type``, ``region`` for every customer in ``rows``.
    months : list of int
        The month numbers to report.

    Returns
    -------
    pandas.DataFrame
        One row per month, customer_type, region and value_class with any base
        customer: ``month`` (first day) and the five figures.
    """
    if rows.empty or not months:
        return pd.DataFrame(columns=RETENTION_COLUMNS)
    # customer_key is a dense integer surrogate, so it indexes the per-customer arrays directly (as the
    # int32 it arrives as: a widened copy of millions of keys cost more than the slides that use it).
    customer_index = rows["customer_key"].to_numpy()
    customers = int(max(customer_index.max(), segments["customer_key"].max() if len(segments) else 0)) + 1
    type_code, types = pd.factorize(segments["customer_type"].fillna("(unknown)"))
    region_code, regions = pd.factorize(segments["region"].fillna("(unknown)"))
    group_index = np.zeros(customers, dtype="int64")
    group_index[segments["customer_key"].to_numpy(dtype="int64")] = type_code * len(regions) + region_code
    groups = [(kind, region) for kind in types for region in regions]
    # Whole cents are exact in float64, so the windows below can slide (add the month entering, subtract the
    # month leaving) without the rounding residue that sliding sums of fractional amounts accumulate.
    cents = rows["revenue_cents"].to_numpy(dtype="float64")
    months_of = _month_rows(rows, min(months) - 23, max(months))

    def add_month(totals: np.ndarray, number: int, sign: int) -> None:
        month = months_of(number, number)
        # One row per customer and month, so no index repeats within a month and += is exact.
        totals[customer_index[month]] += sign * cents[month]

    base_all = np.zeros(customers)  # cents of months M-23..M-12
    current_all = np.zeros(customers)  # cents of months M-11..M
    frames = []
    cells = len(groups) * 2
    for position, number in enumerate(months):
        if position == 0 or number != months[position - 1] + 1:
            base_all[:] = 0.0
            current_all[:] = 0.0
            for month in range(number - 23, number - 11):
                add_month(base_all, month, 1)
            for month in range(number - 11, number + 1):
                add_month(current_all, month, 1)
        else:
            add_month(base_all, number - 12, 1)
            add_month(base_all, number - 24, -1)
            add_month(current_all, number, 1)
            add_month(current_all, number - 12, -1)
        in_base = np.flatnonzero(base_all > 0)
        if in_base.size == 0:
            continue
        base = base_all[in_base]
        current = np.maximum(current_all[in_base], 0.0)
        is_a = _top_revenue_share(base)
        cell = group_index[in_base] * 2 + (~is_a).astype(int)
        figures = {
            "base_customers": np.bincount(cell, minlength=cells),
            "retained_customers": np.bincount(cell, weights=(current > 0), minlength=cells),
            "base_revenue": np.bincount(cell, weights=base, minlength=cells) / 100,
            "current_revenue": np.bincount(cell, weights=current, minlength=cells) / 100,
            "retained_revenue": np.bincount(cell, weights=np.minimum(current, base), minlength=cells) / 100,
        }
        present = np.flatnonzero(figures["base_customers"])
        frames.append(pd.DataFrame({
            "month": pd.Timestamp(month_of_number(number)),
            "customer_type": [groups[code // 2][0] for code in present],
            "region": [groups[code // 2][1] for code in present],
            "value_class": ["A" if code % 2 == 0 else "B" for code in present],
            **{name: values[present] for name, values in figures.items()},
        }))
    if not frames:
        return pd.DataFrame(columns=RETENTION_COLUMNS)
    table = pd.concat(frames, ignore_index=True)
    table["base_customers"] = table["base_customers"].astype("int64")
    table["retained_customers"] = table["retained_customers"].round().astype("int64")
    # One unit whichever way the table was made: months read back from DuckDB arrive in microseconds.
    table["month"] = table["month"].astype("datetime64[ns]")
    return table[RETENTION_COLUMNS]


def _top_revenue_share(cents: np.ndarray, share_fifths: int = 4) -> np.ndarray:
    """Which customers are value class A: the top revenues, ties by position, until the rest hold under 20%.

    A customer is A while the revenue of the customers ranked above them is under
    80% (``share_fifths`` / 5) of the total, so the one who crosses 80% is A.
    ``cents`` are positive whole cents in customer-key order, so sums and the
    comparison 5 x above < 4 x total are exact. Equal to ranking every customer
    by a stable sort, without sorting the indices: only the values are sorted,
    then the class is the customers above the last A's revenue plus the first of
    those equal to it.
    """
    ranked = np.sort(cents)[::-1]
    above = np.cumsum(ranked) - ranked
    # "above" only grows down the ranking (revenues are positive), so the A customers are a prefix of it.
    count_a = int(np.count_nonzero(5 * above < share_fifths * ranked.sum()))
    if count_a == 0:
        return np.zeros(cents.size, dtype=bool)
    last_a = ranked[count_a - 1]
    is_a = cents > last_a
    tied = np.flatnonzero(cents == last_a)
    is_a[tied[:count_a - int(np.count_nonzero(is_a))]] = True
    return is_a


def _retention_rows(db: Database, filters: Filters, scope: Scope | None) -> pd.DataFrame:
    """retention_table for the period's months, kept in the query cache (cleared with it): W does not change it."""
    whole = _whole_months(filters)
    key = ("retention_table", db.path, db.data_version(), whole.start, whole.end, whole.customer_types,
           whole.regions, whole.sales_reps, scope)
    return handed_out(RESULT_CACHE.get_or_compute(key, lambda: _retention_table_of(db, whole, scope)))


def _retention_table_of(db: Database, whole: Filters, scope: Scope | None) -> pd.DataFrame:
    if all_customers_in_scope(whole, scope):
        return _stored_retention(db, whole)
    return _computed_retention(db, whole, scope)


def _stored_retention(db: Database, whole: Filters) -> pd.DataFrame:
    """retention_table of every customer for the months of ``whole``, as built at load time
    (customer_value.derive.build_retention_cells)."""
    cells = run(db, "retention_cells", filters=whole, use_cache=False)
    cells["month"] = cells["month"].astype("datetime64[ns]")
    return cells


def _computed_retention(db: Database, whole: Filters, scope: Scope | None) -> pd.DataFrame:
    """retention_table of the customers in ``whole`` and ``scope`` for its months, computed now."""
    # Millions of customer months at scale: fetched once, reduced here, never kept in the query cache.
    rows = run(db, "retention_revenue", filters=whole, scope=scope, use_cache=False)
    segments = run(db, "customer_segments_of_scope", filters=whole, scope=scope, use_cache=False)
    months = list(range(month_number(whole.start), month_number(whole.end) + 1))
    return retention_table(rows, segments, months)


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
    customer's revenue capped at their base-year revenue (see ``retention_table``).

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
    rows = _retention_rows(db, filters, scope)
    keys = ["month"] if level is None else ["month", level]
    grouped = rows.groupby(keys, as_index=False)[RETENTION_FIGURES].sum()
    if level is None:
        months = pd.DataFrame({"month": pd.date_range(month_start(filters.start), month_start(filters.end),
                                                      freq="MS")})
        grouped["month"] = pd.to_datetime(grouped["month"])
        grouped = months.merge(grouped, on="month", how="left").fillna({column: 0 for column in RETENTION_FIGURES})
    else:
        grouped = grouped.rename(columns={level: "segment"})
    for column in RETENTION_FIGURES[:2]:
        grouped[column] = grouped[column].astype("int64")
    for column in RETENTION_FIGURES[2:]:
        grouped[column] = grouped[column].astype(float)
    return _add_retention_ratios(grouped)


# ---------------------------------------------------------------- the executive reading


def _percent(value: float) -> str:
    return f"{round(100 * value)}%"


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
        # The change is read off the rounded NRR the sentence prints, so "grew 4% (NRR 104%)" always adds up.
        shown = round(100 * nrr)
        if shown == 100:
            change = "held level"
        elif shown > 100:
            change = f"grew {shown - 100}%"
        else:
            change = f"shrank {100 - shown}%"
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
    span = data_range(db)
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
        "early_history_caveat": early_history_caveat(span.start if span else None, filters),
        "identity_failures": identity_failures(movements),
        "customer_movements": movements,
        "revenue_movements": revenue,
        "revenue_retention": retention,
    }


def early_history_caveat(data_start: date | None, filters: Filters) -> str | None:
    """A warning when the period reaches into the first W days of the data, else None.

    The data cannot show purchases before its first day, so a customer who
    bought in its first W days is counted as new even if they had bought
    before, and nobody can be counted lost or reactivated against the unseen
    past: early months overstate new customers.

    Examples
    --------
    Data from 2021-01-08, W = 90: a period starting 2021-03-01 (52 days in)
    gets the warning; one starting 2021-04-08 (exactly 90 days in) does not.
    """
    if data_start is None or (filters.start - data_start).days >= filters.window_days:
        return None
    return (f"The data starts on {data_start:%Y-%m-%d}: a customer who bought in its first {filters.window_days} "
            "days may have bought before it, yet counts as new here, so the earliest months overstate new "
            "customers.")
