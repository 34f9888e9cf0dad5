"""Segment grids (domain brief section 2): who the customers are and what each group is worth.

Everything here works on the customers in scope who bought in the chosen period
(``queries/segment_customers.sql``: at least one purchase day in it; a customer
with only cancellations or returns in the period is not a buyer):

- **Value x margin grid.** Customers ranked by period revenue, ties by customer
  id. Volume class A = the smallest set of top customers whose revenue together
  reaches 80% of the total: a customer is A when the revenue of everyone ranked
  above them is still below 80% (so the customer who crosses 80% is A, and one
  who would start exactly at 80% is B). Sums are taken in whole cents, so the
  boundary does not depend on floating point. Margin class A = average gross
  profit per order strictly above a threshold (default: the median across the
  customers with cost data), B otherwise; a customer none of whose lines carries
  a cost has no margin class ("A (margin unknown)"). When no line in the period
  carries a cost, the grid falls back to the volume classes "A" and "B".
- **Pareto curve and pyramid**, **contribution by an attribute**, **lifecycle
  ladder** and **migration** between two periods: see each function.

RFM scores live in :mod:`customer_value.rfm`, clusters in
:mod:`customer_value.clusters`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from customer_value.cache import RESULT_FRAMES_BYTES, LruCache, handed_out, selection_key
from customer_value.dataset import rows_of_keys, with_customer_attributes
from customer_value.db import Database
from customer_value.errors import DataChangedError, UserFacingError
from customer_value.filters import Filters, Scope
from customer_value.metrics import nps_score, safe_ratio
from customer_value.query import run
from customer_value.rfm import (
    DEFAULT_SEGMENT_RULES,
    SegmentRule,
    assign_segments,
    rf_scores,
    rfm_scores,
    rfm_values,
    segment_codes,
)

PARETO_SHARE = 0.8
GRID_CELLS = ("AA", "AB", "BA", "BB")
VOLUME_TIERS = ("A", "B")
UNKNOWN_MARGIN = " (margin unknown)"
GRID_ORDER = [*GRID_CELLS, *(tier + UNKNOWN_MARGIN for tier in VOLUME_TIERS), *VOLUME_TIERS]
ANSWER_COLUMNS = ("nps_answers", "nps_sum", "promoters", "detractors")
TREATMENTS = {
    "AA": "Key accounts: one-to-one key-account care and regular visits.",
    "AB": "High volume, thin margin: develop toward AA (raise margin: mix, pricing, cost to serve).",
    "BA": "Small but profitable: develop toward AA (grow volume: cross-sell, share of wallet).",
    "BB": "Low value: serve at lower cost, watch credit risk.",
    "A": "High volume (80% of revenue): key-account care; load costs to split by margin.",
    "B": "Remaining customers: serve at lower cost, watch credit risk; load costs to split by margin.",
}
CELL_NAMES = {"AA": "Key accounts", "AB": "High volume, thin margin", "BA": "Small but profitable",
              "BB": "Low value", "A": "High volume", "B": "Low volume"}
PYRAMID_TIERS = (("Top 1%", 0.01), ("Next 4%", 0.05), ("Next 15%", 0.20), ("Remaining 80%", 1.0))
ATTRIBUTES = {"customer_type": "Customer type", "region": "Region", "sales_rep": "Sales rep",
              "acquisition_channel": "Acquisition channel"}
LIFECYCLE_STAGES = ("Potential", "Prospect", "Buyer", "Loyal", "Advocate")
LEFT, NEW = "left", "new"
CELL_RANK = {"AA": 3, "AB": 2, "BA": 2, "BB": 1, "A": 2, "B": 1}
DRILL_COLUMNS = ["customer_id", "name", "customer_type", "region", "sales_rep", "revenue", "profit", "orders",
                 "last_purchase_date", "grid_cell", "rfm_segment", "r_score", "f_score", "m_score"]
LIFECYCLE_DRILL_COLUMNS = ["customer_id", "name", "customer_type", "region", "sales_rep", "stage", "purchase_days",
                           "revenue", "profit", "last_purchase_date", "grid_cell", "rfm_segment"]
MIGRATION_DRILL_COLUMNS = ["customer_id", "name", "customer_type", "region", "sales_rep", "grid_before",
                           "grid_after", "rfm_before", "rfm_after", "revenue_before", "revenue_after"]


@dataclass(frozen=True)
class GridInfo:
    """How the value x margin grid was built for this selection."""

    has_profit: bool
    margin_threshold: float | None  # average gross profit per order; None without cost data
    threshold_is_median: bool
    customers_without_cost: int
    fallback_reason: str | None  # set when the grid shows volume classes only


# ---------------------------------------------------------------- pure functions on frames


# Names by code, as object arrays so that picking them per customer copies references, not text.
VOLUME_NAMES = np.array(["B", "A"], dtype=object)  # indexed by "is volume A"
# Indexed by cell_code() and _grid_codes(): GRID_ORDER as an array.
GRID_NAMES_BY_CODE = np.array(GRID_ORDER, dtype=object)


def cell_code(volume_a: np.ndarray, margin_known: np.ndarray, margin_a: np.ndarray) -> np.ndarray:
    """Position of each customer's cell name in GRID_ORDER when cost data exists (volume and margin class as
    booleans): AA, AB, BA, BB, or A / B with the margin unknown."""
    volume_b = (~volume_a).astype("int64")
    return np.where(margin_known, 2 * volume_b + (~margin_a).astype("int64"), 4 + volume_b)


def _cents(values: pd.Series) -> np.ndarray:
    return np.round(values.astype(float).to_numpy() * 100).astype("int64")


def revenue_positions(frame: pd.DataFrame) -> np.ndarray:
    """Row positions from highest revenue to lowest; equal revenue (in cents) by customer id.

    Sorted with numpy and Arrow rather than ``DataFrame.sort_values``: at
    500,000 customers sorting on a string column through pandas took seconds.
    """
    if frame.empty:
        return np.array([], dtype="int64")
    if "revenue_rank" in frame.columns:
        # classify() stored each customer's rank; reordering by an integer is cheap.
        return np.argsort(frame["revenue_rank"].to_numpy(), kind="stable")
    # pandas' string columns are Arrow arrays already: ranking them in Arrow copies nothing.
    id_rank = pc.rank(pa.array(frame["customer_id"], from_pandas=True), sort_keys="ascending",
                      tiebreaker="first").to_numpy()
    return np.lexsort((id_rank, -_cents(frame["revenue"])))


def revenue_order(frame: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """Customers by revenue, highest first; equal revenue by customer id (deterministic).

    ``columns``, when given, are the only ones kept: picking them before reordering spares
    reordering the 35 columns of a classified frame (0.3 s at 434,000 customers) to keep 14.
    """
    positions = revenue_positions(frame)
    return (frame if columns is None else frame[columns]).iloc[positions]


def _in_frame_order(values_in_revenue_order: np.ndarray, positions: np.ndarray, frame: pd.DataFrame) -> pd.Series:
    result = np.empty(len(positions), dtype=object)
    result[positions] = values_in_revenue_order
    return pd.Series(result, index=frame.index, dtype=object)


def volume_classes(frame: pd.DataFrame, share: float = PARETO_SHARE, positions: np.ndarray | None = None
                   ) -> pd.Series:
    """'A' for the smallest set of top customers making ``share`` of revenue, 'B' for the rest.

    Parameters
    ----------
    frame : pandas.DataFrame
        ``customer_id`` and ``revenue`` per customer.
    share : float
        The Pareto share, 0.8 by default.
    positions : numpy.ndarray, optional
        :func:`revenue_positions` of ``frame`` when the caller has it already.

    Returns
    -------
    pandas.Series
        Same index; a customer is 'A' when the revenue of everyone ranked above
        them (by revenue, then id) is below ``share`` of the total. When total
        revenue is zero or negative nobody is 'A'.
    """
    if frame.empty:
        return pd.Series([], index=frame.index, dtype=object)
    positions = revenue_positions(frame) if positions is None else positions
    is_a = _volume_a_in_order(_cents(frame["revenue"])[positions], share)
    return _in_frame_order(VOLUME_NAMES[is_a.astype("int64")], positions, frame)


def _volume_a_in_order(cents: np.ndarray, share: float) -> np.ndarray:
    """Whether each customer is volume A, given revenues in cents from the highest rank down.

    True for a leading run only (which :func:`_grid_positions` relies on): the sums
    above a customer rise while revenue is positive, and through the negative
    revenues at the end they never fall below the total.
    """
    total = int(cents.sum())
    above = np.concatenate([[0], np.cumsum(cents)[:-1]])
    # above < share * total in integers: share as a small exact fraction, sums in cents.
    fraction = Fraction(share).limit_denominator(1000)
    return (above * fraction.denominator < fraction.numerator * total) & (total > 0)


def profit_per_order(frame: pd.DataFrame) -> pd.Series:
    """Average gross profit per order; NaN for customers with no line carrying a cost."""
    has_cost = frame["lines_with_profit"].fillna(0).astype(float) > 0
    orders = frame["orders"].astype(float).where(frame["orders"].astype(float) > 0)
    return (frame["profit"].astype(float) / orders).where(has_cost)


def value_grid_cells(frame: pd.DataFrame, margin_threshold: float | None = None,
                     volume: pd.Series | None = None) -> tuple[pd.Series, GridInfo]:
    """Each customer's cell of the value x margin grid, and how the grid was built.

    Parameters
    ----------
    frame : pandas.DataFrame
        ``customer_id``, ``revenue``, ``profit``, ``lines_with_profit`` and ``orders`` per customer.
    margin_threshold : float, optional
        Average gross profit per order above which the margin class is A.
        Default: the median over the customers with cost data.
    volume : pandas.Series, optional
        :func:`volume_classes` of ``frame`` when the caller has it already.

    Returns
    -------
    cells : pandas.Series
        'AA', 'AB', 'BA', 'BB'; 'A (margin unknown)' / 'B (margin unknown)' for
        customers without cost data; 'A' / 'B' for everyone when no customer
        has cost data.
    info : GridInfo
    """
    volume = volume_classes(frame) if volume is None else volume
    code, info = _grid_codes(frame, (volume == "A").to_numpy(), margin_threshold)
    # Picked by position from the cells' names, not built per customer: string addition, or numpy's
    # fixed-width strings turned into Python ones, cost a pass over 375,000 rows each.
    return pd.Series(GRID_NAMES_BY_CODE[code], index=frame.index, dtype=object), info


def _grid_codes(frame: pd.DataFrame, volume_a: np.ndarray, margin_threshold: float | None
                ) -> tuple[np.ndarray, GridInfo]:
    """Each customer's cell as its position in GRID_ORDER, and how the grid was built (see value_grid_cells)."""
    per_order = profit_per_order(frame) if not frame.empty else pd.Series([], dtype=float)
    known = per_order.notna()
    if not known.any():
        reason = ("No transaction line in this period carries a cost or gross profit, so margin classes cannot "
                  "be computed; the grid shows the volume classes (Pareto 80%) only. Load transactions with a "
                  "cost or gross_profit column to split them by margin.")
        info = GridInfo(False, None, margin_threshold is None, 0, reason if not frame.empty else None)
        return GRID_ORDER.index("A") + (~volume_a).astype("int64"), info
    threshold_is_median = margin_threshold is None
    threshold = float(per_order[known].median()) if threshold_is_median else float(margin_threshold)
    code = cell_code(volume_a, known.to_numpy(), (per_order > threshold).to_numpy())
    return code, GridInfo(True, threshold, threshold_is_median, int((~known).sum()), None)


def pareto_curve(frame: pd.DataFrame, points: int | None = None, positions: np.ndarray | None = None
                 ) -> pd.DataFrame:
    """Cumulative share of customers against cumulative share of revenue, highest revenue first.

    Parameters
    ----------
    frame : pandas.DataFrame
        ``customer_id`` and ``revenue`` per customer.
    points : int, optional
        For drawing: read the curve at this many evenly spaced customer shares
        instead of at every customer (the curve is piecewise linear between
        customers, so the picture is the same and a chart of 500,000 customers
        stays light).
    positions : numpy.ndarray, optional
        :func:`revenue_positions` of ``frame`` when the caller has it already
        (any order of equal revenues draws the same curve).

    Returns
    -------
    pandas.DataFrame
        One row per customer in revenue order (plus the origin): ``customer_share``,
        ``revenue_share``. Empty when total revenue is not positive.
    """
    positions = revenue_positions(frame) if positions is None else positions
    revenue = frame["revenue"].astype(float).to_numpy()[positions]
    total = float(revenue.sum())
    if len(revenue) == 0 or total <= 0:
        return pd.DataFrame({"customer_share": [], "revenue_share": []})
    count = len(revenue)
    customer_share = np.arange(0, count + 1) / count
    revenue_share = np.concatenate([[0.0], np.cumsum(revenue) / total])
    if points is not None and count + 1 > points:
        sampled = np.linspace(0.0, 1.0, points)
        return pd.DataFrame({"customer_share": sampled,
                             "revenue_share": np.interp(sampled, customer_share, revenue_share)})
    return pd.DataFrame({"customer_share": customer_share, "revenue_share": revenue_share})


def revenue_share_of_top(frame: pd.DataFrame, customer_share: float = 0.2, positions: np.ndarray | None = None
                         ) -> float | None:
    """Share of revenue brought by the top ``customer_share`` of customers ("top 20% bring X%").

    Read off the Pareto curve with linear interpolation between customers, so
    with 7 customers the top 20% is the first customer plus 40% of the second.
    None when total revenue is not positive.
    """
    curve = pareto_curve(frame, positions=positions)
    if curve.empty:
        return None
    return float(np.interp(customer_share, curve["customer_share"], curve["revenue_share"]))


def pyramid_tiers(frame: pd.DataFrame, positions: np.ndarray | None = None) -> pd.Series:
    """Tier of each customer: top 1%, next 4%, next 15%, remaining 80% by revenue rank.

    The customer at rank ``i`` (1-based, revenue then id) is in the first tier
    whose cumulative share ``p`` satisfies ``i <= ceil(p * n)``: the top tier
    always holds at least one customer.
    """
    positions = revenue_positions(frame) if positions is None else positions
    return _in_frame_order(pyramid_tiers_of_ranks(np.arange(len(positions)), len(positions)), positions, frame)


def pyramid_lines(count: int) -> tuple[int, ...]:
    """How many of ``count`` customers (in revenue order) the pyramid's tiers above the last hold together."""
    return tuple(math.ceil(cumulative * count - 1e-9) for _, cumulative in PYRAMID_TIERS[:-1])


PYRAMID_NAMES = np.array([name for name, _ in PYRAMID_TIERS], dtype=object)


def pyramid_tiers_of_ranks(ranks: np.ndarray, count: int) -> np.ndarray:
    """The tier of each 0-based revenue rank among ``count`` customers (see :func:`pyramid_tiers`): the
    number of the pyramid's lines at or below the rank."""
    return PYRAMID_NAMES[np.searchsorted(pyramid_lines(count), ranks, side="right")]


def _shares(summary: pd.DataFrame, customers: int, revenue: float, profit: float | None) -> pd.DataFrame:
    summary["customer_share"] = summary["customers"] / customers if customers else np.nan
    summary["revenue_share"] = summary["revenue"] / revenue if revenue else np.nan
    summary["profit_share"] = summary["profit"] / profit if profit else np.nan
    return summary


def group_summary(frame: pd.DataFrame, by: str, order: list[str] | None = None) -> pd.DataFrame:
    """Customers, revenue and profit per value of ``by``, with their shares of the whole.

    Profit is summed over customers with cost data; NaN for a group with none.
    """
    with_cost = frame["lines_with_profit"].fillna(0) > 0
    # Only the three columns grouped: copying the whole segments frame (35 columns) cost most of a second at
    # 500,000 customers.
    slim = pd.DataFrame({by: frame[by], "revenue": frame["revenue"].astype(float),
                         "profit": frame["profit"].astype(float).where(with_cost)})
    groups = slim.groupby(by, sort=False)
    grouped = pd.DataFrame({"customers": groups.size(), "revenue": groups["revenue"].sum(),
                            "profit": groups["profit"].sum(min_count=1)})
    if order is not None:
        grouped = grouped.reindex([key for key in order if key in grouped.index]
                                  + [key for key in grouped.index if key not in order])
    else:
        grouped = grouped.sort_values("revenue", ascending=False)
    total_profit = frame["profit"].astype(float).where(with_cost).sum(min_count=1)
    summary = _shares(grouped.reset_index(), len(frame), float(frame["revenue"].sum()),
                      None if pd.isna(total_profit) else float(total_profit))
    summary["customers"] = summary["customers"].astype("int64")
    return summary


def lapsed_by(frame: pd.DataFrame, end: date, window_days: int) -> pd.Series:
    """True for customers not active on ``end``: last purchase at least W days before, or contract ended.

    The activity rule of section 3: active on day d when a purchase fell in
    (d - W, d] and the churn date, if any, is after d.
    """
    last = pd.to_datetime(frame["last_purchase_date"])
    lapsed = (pd.Timestamp(end) - last).dt.days >= window_days
    churn = pd.to_datetime(frame["churn_date"])
    return (lapsed | (churn.notna() & (churn <= pd.Timestamp(end)))).astype(bool)


def grid_summary(segments: pd.DataFrame, feedback: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per grid cell present: customers, revenue, profit and shares, NPS, churn rate, treatment.

    Parameters
    ----------
    segments : pandas.DataFrame
        :func:`customer_segments` output (``grid_cell``, ``churned`` and the sales columns).
        Its ``nps_answers``, ``nps_sum``, ``promoters`` and ``detractors`` (the customer's NPS answers in the
        period) are summed per cell.
    feedback : pandas.DataFrame, optional
        Per customer ``nps_answers``, ``nps_sum``, ``promoters``, ``detractors`` in the period
        (:func:`period_feedback`), for a ``segments`` frame without those columns; when given it is used instead.

    Returns
    -------
    pandas.DataFrame
        ``grid_cell``, ``cell_name``, ``customers``, ``customer_share``, ``revenue``, ``revenue_share``,
        ``profit``, ``profit_share``, ``average_nps`` (mean 0-10 answer), ``nps`` (points), ``nps_answers``,
        ``churned``, ``churn_rate`` (share of the cell's customers not active on the period's last day),
        ``treatment``.
    """
    summary = group_summary(segments, "grid_cell", GRID_ORDER)
    answer_columns = list(ANSWER_COLUMNS)
    if feedback is None and all(column in segments.columns for column in answer_columns):
        # customer_segments carries each customer's answers already (summed in SQL): no join on 500k ids here.
        answers = segments[["grid_cell", "churned", *answer_columns]]
    else:
        answers = segments[["customer_id", "grid_cell", "churned"]]
        if feedback is not None and not feedback.empty:
            answers = answers.merge(feedback[["customer_id", *answer_columns]], on="customer_id", how="left")
        answers = answers.assign(**{column: answers[column].fillna(0) if column in answers else 0
                                    for column in answer_columns})
    per_cell = answers[["grid_cell", "churned", *answer_columns]].astype(
        {column: float for column in ["churned", *answer_columns]}).groupby("grid_cell").sum()
    return _grid_table(summary.merge(per_cell, left_on="grid_cell", right_index=True, how="left"))


def _grid_table(summary: pd.DataFrame) -> pd.DataFrame:
    """grid_summary's rows from each present cell's customers, revenue, profit, shares, churned and answers."""
    summary["average_nps"] = [safe_ratio(total, count) for total, count
                              in zip(summary["nps_sum"], summary["nps_answers"], strict=True)]
    summary["nps"] = [nps_score(int(p), int(d), int(n)) for p, d, n
                      in zip(summary["promoters"], summary["detractors"], summary["nps_answers"], strict=True)]
    summary["nps_answers"] = summary["nps_answers"].astype("int64")
    summary["churned"] = summary["churned"].astype("int64")
    summary["churn_rate"] = summary["churned"] / summary["customers"]
    base = summary["grid_cell"].str.replace(UNKNOWN_MARGIN, "", regex=False)
    summary["cell_name"] = [CELL_NAMES[cell] + (" (margin unknown)" if UNKNOWN_MARGIN in full else "")
                            for cell, full in zip(base, summary["grid_cell"], strict=True)]
    summary["treatment"] = base.map(TREATMENTS)
    return summary[["grid_cell", "cell_name", "customers", "customer_share", "revenue", "revenue_share", "profit",
                    "profit_share", "average_nps", "nps", "nps_answers", "churned", "churn_rate", "treatment"]]


def pyramid_summary(segments: pd.DataFrame) -> pd.DataFrame:
    """Customers, revenue and profit per pyramid tier (top 1% / next 4% / next 15% / remaining 80%)."""
    tier = segments["pyramid_tier"] if "pyramid_tier" in segments.columns else pyramid_tiers(segments)
    tiers = segments.assign(tier=tier)
    return group_summary(tiers, "tier", [name for name, _ in PYRAMID_TIERS])


def contribution(segments: pd.DataFrame, attribute: str) -> pd.DataFrame:
    """Customers, revenue, profit and their shares per value of a customer attribute."""
    if attribute not in ATTRIBUTES:
        raise UserFacingError(f"unknown attribute {attribute!r}; choose one of {', '.join(ATTRIBUTES)}")
    return group_summary(segments, attribute)


def rfm_segment_summary(segments: pd.DataFrame,
                        rules: list[SegmentRule] | tuple[SegmentRule, ...] = DEFAULT_SEGMENT_RULES) -> pd.DataFrame:
    """Customers, revenue and shares per named RFM segment, in rule order, with average scores."""
    order = [rule.segment for rule in rules]
    summary = group_summary(segments, "rfm_segment", order)
    means = segments.groupby("rfm_segment")[["r_score", "f_score", "m_score", "recency_days", "frequency"]].mean()
    summary = summary.merge(means, left_on="rfm_segment", right_index=True, how="left")
    described = {rule.segment: rule.describe() for rule in rules}
    summary["rule"] = summary["rfm_segment"].map(described).fillna("no rule matches")
    return summary


def classify(frame: pd.DataFrame, end: date, window_days: int, *, margin_threshold: float | None = None,
             rules: list[SegmentRule] | tuple[SegmentRule, ...] = DEFAULT_SEGMENT_RULES
             ) -> tuple[pd.DataFrame, GridInfo]:
    """Add grid cell, pyramid tier, RFM values, scores and segment, and churn flag to buying customers.

    Parameters
    ----------
    frame : pandas.DataFrame
        ``segment_customers.sql`` rows (one per buying customer).
    end : date
        The period's last day (recency is counted to it).
    window_days : int
        W of the activity rule, for the churn flag.
    margin_threshold : float, optional
        See :func:`value_grid_cells`.
    rules : sequence of SegmentRule
        RFM segment rules, first match wins.
    """
    frame = frame.reset_index(drop=True)
    positions = revenue_positions(frame)
    frame["volume_class"] = volume_classes(frame, positions=positions)
    rank = np.empty(len(frame), dtype="int64")
    rank[positions] = np.arange(1, len(frame) + 1)
    cells, info = value_grid_cells(frame, margin_threshold, volume=frame["volume_class"])
    frame["grid_cell"] = cells
    frame["profit_per_order"] = profit_per_order(frame) if not frame.empty else pd.Series([], dtype=float)
    frame["pyramid_tier"] = pyramid_tiers(frame, positions)
    frame["revenue_rank"] = rank
    values = rfm_values(frame, end)
    scores = rfm_scores(values)
    frame = pd.concat([frame, values, scores], axis=1)
    frame["rfm_segment"] = assign_segments(frame["r_score"], frame["f_score"], rules)
    frame["churned"] = lapsed_by(frame, end, window_days) if not frame.empty else pd.Series([], dtype=bool)
    return frame, info


# ---------------------------------------------------------------- database-level functions


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    for column in ("revenue", "profit"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    for column in ("lines_with_profit", "orders", "purchase_days", "nps_answers", "nps_sum", "promoters",
                   "detractors"):
        frame[column] = frame[column].fillna(0).astype("int64")
    for column in ("first_purchase_in_period", "last_purchase_date", "first_purchase_date", "churn_date"):
        if column in frame.columns:
            frame[column] = pd.to_datetime(frame[column])
    return frame


# Bounded by size too: a classification of five million customers holds about 1.5 GB, and sixteen of them
# would take a server's memory; at 500,000 customers all sixteen fit.
CLASSIFICATION_CACHE_BYTES = 3 * 1024**3
_CLASSIFIED = LruCache("segment classifications", 16, max_bytes=CLASSIFICATION_CACHE_BYTES)


def segment_frame(db: Database, filters: Filters, scope: Scope | None = None, margin_threshold: float | None = None,
                  rules: list[SegmentRule] | tuple[SegmentRule, ...] = DEFAULT_SEGMENT_RULES
                  ) -> tuple[pd.DataFrame, GridInfo]:
    """Every buying customer of the period with all segment columns, and how the grid was built.

    Several pages (satisfaction, lifetime value) ask for the same classification;
    it is kept per data version, filters, scope and settings, like query results,
    and each caller gets its own frame (changes to it stay the caller's).
    """
    _check_threshold(margin_threshold)
    key = _classification_key(db, filters, scope, margin_threshold, rules)
    frame, info = _CLASSIFIED.get_or_compute(key, lambda: classify(
        _typed(buying_customers(db, filters, scope)), filters.end, filters.window_days,
        margin_threshold=margin_threshold, rules=rules))
    return handed_out(frame), info


def _grid_key(db: Database, filters: Filters, scope: Scope | None, margin_threshold: float | None) -> tuple:
    """What a selection's grid depends on: the selection (see selection_key) and the margin threshold."""
    return (*selection_key(db, filters, scope), None if margin_threshold is None else float(margin_threshold))


def _classification_key(db: Database, filters: Filters, scope: Scope | None, margin_threshold: float | None,
                        rules: list[SegmentRule] | tuple[SegmentRule, ...]) -> tuple:
    return (*_grid_key(db, filters, scope, margin_threshold), tuple(rules))


@dataclass(frozen=True)
class GridOverview:
    """The value x margin grid of a selection with the figures above it, without the customer list."""

    grid: pd.DataFrame  # grid_summary() rows
    info: GridInfo
    customers: int  # who bought in the period
    revenue: float
    top_share: float | None  # revenue_share_of_top(0.2)


def grid_overview(db: Database, filters: Filters, scope: Scope | None = None,
                  margin_threshold: float | None = None) -> GridOverview:
    """The grid and headline figures of :func:`segment_frame`, from the period's figures alone.

    Equal to ``grid_summary`` and ``revenue_share_of_top`` of the classified
    customers (tests/test_segments.py checks it), without their names and
    attributes, RFM scores or pyramid tiers: at 500,000 customers those take
    most of a second and the grid, the page's first view, needs none of them.
    The customers' order by revenue is exact wherever a cell depends on it (see
    :func:`_grid_positions`).
    """
    _check_threshold(margin_threshold)
    frame, code, info, positions = _grid_rows(db, filters, scope, margin_threshold)
    if frame.empty:
        empty = grid_summary(_typed(frame.copy(deep=False)).assign(grid_cell=pd.Series(dtype=object),
                                                  churned=pd.Series(dtype=bool)))
        return GridOverview(empty, GridInfo(False, None, margin_threshold is None, 0, None), 0, 0.0, None)
    churned = lapsed_by(frame, filters.end, filters.window_days)
    # Summed in whole cents: the same total whatever order the customers come in.
    revenue = int(_cents(frame["revenue"]).sum()) / 100
    return GridOverview(_grid_by_cell(frame, code, churned), info, len(frame), revenue,
                        revenue_share_of_top(frame, 0.2, positions=positions))


# The grid and a cell's list after it read the same rows' cells and revenue order. The rows are kept with
# them: the query gives its rows in no fixed order, so cells computed on one run fit no other.
_GRID_ROWS = LruCache("grid cells by customer", 8, max_bytes=RESULT_FRAMES_BYTES)


def _grid_rows(db: Database, filters: Filters, scope: Scope | None, margin_threshold: float | None
               ) -> tuple[pd.DataFrame, np.ndarray | None, GridInfo | None, np.ndarray | None]:
    """``segment_customers`` rows as the query gives them (money and counts as float64, days as datetime64:
    the grid needs none of _typed's conversions, a pass over every column), each row's cell, how the grid was
    built, and the rows by revenue (_grid_positions). Only the rows when nobody bought."""
    def compute():
        version = db.data_version()
        frame = run(db, "segment_customers", filters=filters, scope=scope)
        if frame.empty:
            return frame, None, None, None
        return (frame, *_grid_codes_by_row(db, frame, version, margin_threshold))

    return _GRID_ROWS.get_or_compute(_grid_key(db, filters, scope, margin_threshold), compute)


def _grid_codes_by_row(db: Database, frame: pd.DataFrame, version: str, margin_threshold: float | None
                       ) -> tuple[np.ndarray, GridInfo, np.ndarray]:
    """Each ``segment_customers`` row's cell (_grid_codes), how the grid was built, and the rows by revenue.

    ``version`` is the data version the rows were read under: the ids of a tie at the 80% line are read
    afterwards, and a load in between may have renumbered the customers.
    """
    positions, is_a_in_order = _grid_positions(db, frame)
    if db.data_version() != version:
        raise DataChangedError()
    volume_a = np.empty(len(frame), dtype=bool)
    volume_a[positions] = is_a_in_order
    code, info = _grid_codes(frame, volume_a, margin_threshold)
    return code, info, positions


def segment_labels_by_key(db: Database, filters: Filters, scope: Scope | None = None,
                          margin_threshold: float | None = None,
                          rules: list[SegmentRule] | tuple[SegmentRule, ...] = DEFAULT_SEGMENT_RULES
                          ) -> pd.DataFrame:
    """Each buying customer's grid cell and RFM segment, by ``customer_key``, without the classification.

    The same labels as :func:`customer_segments` gives (tests/test_segments.py
    compares them) for pages that only label customers of their own, like the
    lifetime-value table: the RFM segment needs only the R and F scores, which do
    not depend on the customers' order, and the grid only the order by revenue
    at the 80% line (:func:`_grid_positions`). At 500,000 customers the whole
    classification, names included, took half a second and this a tenth.

    Returns
    -------
    DataFrame
        ``customer_key`` (int64), ``grid_cell`` and ``rfm_segment`` (categorical:
        500,000 names as text cost more than the rest) and ``revenue`` (the
        period's net revenue), one row per customer who bought in the period, in
        no particular order.
    """
    _check_threshold(margin_threshold)
    version = db.data_version()
    frame = run(db, "segment_customers", filters=filters, scope=scope)
    if frame.empty:
        grid_code = segment_code = np.array([], dtype="int64")
        segment_names = np.array([], dtype=object)
    else:
        grid_code, _, _ = _grid_codes_by_row(db, frame, version, margin_threshold)
        scores = rf_scores(rfm_values(frame, filters.end))
        segment_code, segment_names = segment_codes(scores["r_score"], scores["f_score"], rules)
    return pd.DataFrame({"customer_key": frame["customer_key"].to_numpy(dtype="int64"),
                         "grid_cell": pd.Categorical.from_codes(grid_code, categories=GRID_ORDER),
                         "rfm_segment": pd.Categorical.from_codes(segment_code, categories=segment_names),
                         "revenue": pd.to_numeric(frame["revenue"]).to_numpy(dtype=float)})


def _grid_by_cell(frame: pd.DataFrame, code: np.ndarray, churned: pd.Series) -> pd.DataFrame:
    """grid_summary of ``frame`` with these cells (_grid_codes) and churn flags, summed by cell number.

    The same figures as grid_summary's pandas groupby (tests/test_segments.py compares them), which
    costs a pass over 500,000 cell names for each of its two groupings.
    """
    names = pd.Index(GRID_ORDER)
    count = len(names)
    with_cost = frame["lines_with_profit"].fillna(0).to_numpy() > 0
    profit = np.where(with_cost, frame["profit"].astype(float).fillna(0.0).to_numpy(), 0.0)

    def per_cell(values: Any) -> np.ndarray:
        return np.bincount(code, weights=np.asarray(values, dtype=float), minlength=count)

    customers = np.bincount(code, minlength=count)
    cost_customers = np.bincount(code, weights=with_cost, minlength=count)
    present = customers > 0
    summary = pd.DataFrame({"grid_cell": names[present], "customers": customers[present].astype("int64"),
                            "revenue": per_cell(frame["revenue"])[present],
                            "profit": np.where(cost_customers > 0, per_cell(profit), np.nan)[present]})
    total_profit = float(profit.sum()) if with_cost.any() else None
    summary = _shares(summary, len(frame), float(frame["revenue"].astype(float).sum()), total_profit)
    summary["churned"] = per_cell(churned)[present]
    for column in ANSWER_COLUMNS:
        summary[column] = per_cell(frame[column].fillna(0))[present]
    return _grid_table(summary)


def _grid_positions(db: Database, frame: pd.DataFrame, share: float = PARETO_SHARE
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Row positions by revenue, highest first, giving every customer the volume class of revenue_positions,
    and whether the customer at each position is volume A.

    Equal revenues come in any order instead of the customer ids', except in
    the one group of equal revenues that ``share`` falls inside: only there does
    the order decide who is A, so only its ids are read.
    """
    cents = _cents(frame["revenue"])
    positions = np.argsort(-cents)
    ordered_cents = cents[positions]
    is_a = _volume_a_in_order(ordered_cents, share)
    first_b = int(np.argmin(is_a)) if not is_a.all() else len(is_a)
    _ties_in_id_order(db, frame, positions, ordered_cents, (first_b,))
    return positions, is_a


def _ties_in_id_order(db: Database, frame: pd.DataFrame, positions: np.ndarray, ordered_cents: np.ndarray,
                      lines: tuple[int, ...]) -> None:
    """Put in id order, in place, each group of equal revenues (``ordered_cents``, the cents of ``frame``'s
    rows at ``positions``) that one of ``lines`` (a count of top customers) falls inside: which rows are on
    either side of such a line is decided by their ids."""
    keys = frame["customer_key"].to_numpy(dtype="int64")
    descending = -ordered_cents
    groups = sorted({(int(np.searchsorted(descending, descending[line], "left")),
                      int(np.searchsorted(descending, descending[line], "right")))
                     for line in lines if 0 < line < len(positions) and ordered_cents[line - 1] == ordered_cents[line]})
    if not groups:
        return
    tied = np.concatenate([positions[low:high] for low, high in groups])
    ids = run(db, "customer_ids_of_keys", params={"customer_keys": keys[tied].tolist()}, use_cache=False)
    id_of_key = dict(zip(ids["customer_key"].astype("int64"), ids["customer_id"], strict=True))
    if len(id_of_key) != len(tied):
        # The rows may come from the cache of a version a full rebuild has since renumbered.
        raise DataChangedError()
    for low, high in groups:
        # Python compares text by code point, as Arrow's sort in revenue_positions compares UTF-8 bytes.
        positions[low:high] = sorted(positions[low:high], key=lambda row: id_of_key[int(keys[row])])


def _check_threshold(margin_threshold: float | None) -> None:
    if margin_threshold is not None and not math.isfinite(float(margin_threshold)):
        raise UserFacingError("the margin threshold must be a number")


BUYING_CUSTOMER_COLUMNS = ["customer_id", "name", "customer_type", "region", "sales_rep", "acquisition_channel",
                           "revenue", "profit", "lines_with_profit", "orders", "purchase_days",
                           "first_purchase_in_period", "last_purchase_date", "first_purchase_date", "churn_date",
                           "nps_answers", "nps_sum", "promoters", "detractors"]


def buying_customers(db: Database, filters: Filters, scope: Scope | None = None) -> pd.DataFrame:
    """The period's figures of every buying customer with their name and attributes, in customer id order.

    The figures (``segment_customers.sql``) change with the period; names and
    attributes only with the data and the scope (see
    :func:`customer_value.dataset.with_customer_attributes`).
    """
    # Cached like any query result: the grid (grid_overview) read the same rows a moment before.
    figures = run(db, "segment_customers", filters=filters, scope=scope)
    frame = with_customer_attributes(db, filters, scope, figures, ["customer_id", "name", "customer_type", "region",
                                                                  "sales_rep", "acquisition_channel",
                                                                  "first_purchase_date"])
    return frame[BUYING_CUSTOMER_COLUMNS]


def by_customer(customer_ids: pd.Series, labelled: pd.DataFrame, missing: dict[str, Any]) -> dict[str, pd.Series]:
    """Each id's value in ``labelled`` (one row per ``customer_id``) of every column in ``missing``.

    A customer not in ``labelled``, or with an empty value there, gets ``missing[column]``.
    The Series are object-typed and indexed like ``customer_ids``. Looked up in Arrow,
    not merged: a merge copies every column of the frame the ids come from.
    """
    rows = pc.index_in(pa.array(customer_ids, from_pandas=True),
                       value_set=pa.array(labelled["customer_id"], from_pandas=True)).fill_null(-1).to_numpy()
    found = rows >= 0
    result = {}
    for column, fill in missing.items():
        values = labelled[column].to_numpy(dtype=object)
        picked = np.full(len(rows), fill, dtype=object)
        picked[found] = values[rows[found]]
        picked[pd.isna(picked)] = fill
        result[column] = pd.Series(picked, index=customer_ids.index, dtype=object)
    return result


def customer_segments(db: Database, filters: Filters, scope: Scope | None = None,
                      margin_threshold: float | None = None) -> pd.DataFrame:
    """One row per customer in scope who bought in the period, with their segments.

    Columns: customer_id, name, customer_type, region, sales_rep, acquisition_channel,
    revenue (net, period), profit (over lines with a cost; NaN when none), orders,
    purchase_days, last_purchase_date (last purchase day in the period), grid_cell
    ('AA', 'AB', 'BA', 'BB'; 'A'/'B' when the period has no cost data at all;
    'A (margin unknown)'/'B (margin unknown)' for a customer without cost data
    when others have it), volume_class, pyramid_tier, revenue_rank (1 = highest
    revenue, ties by id), recency_days, frequency, monetary, rfm_segment,
    r_score, f_score, m_score, churned (not active on the period's last day), the customer's NPS
    answers in the period: nps_answers, nps_sum, promoters (9-10), detractors (0-6). Rows come in
    customer id order.
    """
    frame, _ = segment_frame(db, filters, scope, margin_threshold)
    return frame


def period_feedback(db: Database, filters: Filters, scope: Scope | None = None) -> pd.DataFrame:
    """Per customer: NPS answers in the period (count, sum, promoters, detractors)."""
    frame = run(db, "segment_feedback", filters=filters, scope=scope)
    for column in ("nps_answers", "nps_sum", "promoters", "detractors"):
        frame[column] = frame[column].fillna(0).astype("int64")
    return frame


def clv_summary(segments: pd.DataFrame, end: date) -> pd.DataFrame:
    """The lifetime-value literature's per-customer summary over the period, in days.

    frequency = repeat purchase days (purchase days - 1); recency = days from
    the first to the last purchase day in the period; T = days from the first
    purchase day in the period to ``end``; days_since_last_purchase is the RFM
    recency.
    """
    first = pd.to_datetime(segments["first_purchase_in_period"])
    last = pd.to_datetime(segments["last_purchase_date"])
    return pd.DataFrame({
        "customer_id": segments["customer_id"],
        "frequency": segments["purchase_days"].astype("int64") - 1,
        "recency": (last - first).dt.days.astype("int64"),
        "T": (pd.Timestamp(end) - first).dt.days.astype("int64"),
        "days_since_last_purchase": (pd.Timestamp(end) - last).dt.days.astype("int64"),
        "monetary": segments["revenue"].astype(float),
    })


# ---------------------------------------------------------------- lifecycle ladder


def lifecycle_stage(purchase_days: pd.Series, referred: pd.Series, promoter_answers: pd.Series) -> pd.Series:
    """Highest rung reached: Prospect (no purchase), Buyer (1), Loyal (2+), Advocate (loyal and referred or 9-10)."""
    # Chosen as positions in LIFECYCLE_STAGES, then named: np.select over the names themselves built
    # fixed-width text and converted it back, 1.9 s for 5 million customers.
    days = purchase_days.to_numpy()
    position = np.select(
        [(days >= 2) & ((referred.to_numpy() > 0) | (promoter_answers.to_numpy() > 0)), days >= 2, days == 1],
        [4, 3, 2], default=1)
    return pd.Series(_STAGE_NAMES[position], index=purchase_days.index, dtype=object)


_STAGE_NAMES = np.array(LIFECYCLE_STAGES, dtype=object)


def lifecycle_funnel(stages: pd.Series, open_potential: int = 0, open_prospects: int = 0) -> pd.DataFrame:
    """Funnel of the ladder: how many reached each rung or beyond, and the conversion from the rung before.

    Parameters
    ----------
    stages : pandas.Series
        Each known customer's stage (:func:`lifecycle_stage`).
    open_potential, open_prospects : int
        Leads that never became a customer: never contacted (potential) and
        contacted without buying (prospects).

    Returns
    -------
    pandas.DataFrame
        ``stage``, ``at_stage`` (currently on this rung), ``reached`` (on this
        rung or a higher one), ``conversion`` (reached / reached of the rung
        before; NaN for the first rung or when the rung before is empty).
    """
    at_stage = stages.value_counts().reindex(LIFECYCLE_STAGES, fill_value=0).astype("int64")
    at_stage["Potential"] += int(open_potential)
    at_stage["Prospect"] += int(open_prospects)
    reached = at_stage[::-1].cumsum()[::-1]
    conversion = [np.nan] + [safe_ratio(reached.iloc[i], reached.iloc[i - 1]) for i in range(1, len(reached))]
    return pd.DataFrame({"stage": list(LIFECYCLE_STAGES), "at_stage": at_stage.to_numpy(),
                         "reached": reached.to_numpy(), "conversion": pd.array(conversion, dtype="Float64")
                         .astype(float)})


def lifecycle_drill_down(ladder: pd.DataFrame, segments: pd.DataFrame, stage: str) -> pd.DataFrame:
    """The known customers on one rung of the ladder, with their figures of the period where they bought in it.

    Parameters
    ----------
    ladder : pandas.DataFrame
        :func:`lifecycle`'s per-customer frame (``customer_id``, attributes, ``purchase_days``, ``stage``).
    segments : pandas.DataFrame
        :func:`customer_segments` of the same filters: revenue, profit, last purchase and segments of the
        customers who bought in the period (the others keep them empty).
    stage : str
        One of :data:`LIFECYCLE_STAGES`. Open leads are counts without a customer id, so "Potential" lists
        nobody and "Prospect" only the registered customers without a purchase.

    Returns
    -------
    pandas.DataFrame
        Highest period revenue first, then customer id.
    """
    if stage not in LIFECYCLE_STAGES:
        raise UserFacingError(f"unknown lifecycle stage {stage!r}")
    chosen = ladder.loc[ladder["stage"] == stage, LIFECYCLE_DRILL_COLUMNS[:7]]
    period = segments[["customer_id", "revenue", "profit", "last_purchase_date", "grid_cell", "rfm_segment"]]
    listed = chosen.merge(period, on="customer_id", how="left")
    listed = listed.sort_values(["revenue", "customer_id"], ascending=[False, True], na_position="last")
    return listed[LIFECYCLE_DRILL_COLUMNS].reset_index(drop=True)


def leads_apply(filters: Filters, scope: Scope | None) -> bool:
    """Leads carry no customer attributes: count them only when nothing narrows the customers."""
    narrowed = filters.customer_types or filters.regions or filters.sales_reps
    return not narrowed and (scope is None or scope.regions is None)


def lifecycle(db: Database, filters: Filters, scope: Scope | None = None) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """The lifecycle ladder at the period's end: per customer stage, the funnel, and a note on leads."""
    customers = run(db, "segment_lifecycle", filters=filters, scope=scope)
    for column in ("purchase_days", "referred_customers", "promoter_answers"):
        customers[column] = customers[column].astype("int64")
    customers["stage"] = lifecycle_stage(customers["purchase_days"], customers["referred_customers"],
                                         customers["promoter_answers"])
    potential = prospects = 0
    if leads_apply(filters, scope):
        leads = run(db, "segment_leads", filters=filters, scope=scope).iloc[0]
        potential, prospects = int(leads["potential"]), int(leads["prospects"])
        note = (f"Leads that never became a customer: {potential:,} never contacted (potential), "
                f"{prospects:,} contacted without a purchase (prospects)." if int(leads["leads"])
                else "No leads are loaded: potential customers are unknown; load a leads file to fill the first "
                     "rung.")
    else:
        note = ("Leads carry no customer type, region or sales rep, so open leads are left out while those "
                "filters (or a regional access scope) apply; the funnel starts at known customers.")
    return customers, lifecycle_funnel(customers["stage"], potential, prospects), note


# ---------------------------------------------------------------- migration between two periods


def pair_segments(before: pd.Series, after: pd.Series) -> pd.DataFrame:
    """Customers of either period with their segment in each (NaN where they did not buy).

    ``before`` and ``after`` are indexed by customer id. Joined with a merge on
    columns: aligning two string indexes in a DataFrame constructor took seconds
    at 500,000 customers.
    """
    first = pd.DataFrame({"customer_id": before.index.to_numpy(), "before": before.to_numpy()})
    second = pd.DataFrame({"customer_id": after.index.to_numpy(), "after": after.to_numpy()})
    return first.merge(second, on="customer_id", how="outer")


def _matrix(pairs: pd.DataFrame, order: list[str] | None) -> pd.DataFrame:
    # Counted on integer codes (factorize, then one bincount): grouping millions of text pairs took seconds.
    before_codes, before_names = pd.factorize(pairs["before"])  # code -1: did not buy in the first period
    after_codes, after_names = pd.factorize(pairs["after"])
    present_before, present_after = set(before_names), set(after_names)
    seen = list(dict.fromkeys(list(order or []) + sorted(present_before | present_after)))
    rows = [segment for segment in seen if segment in present_before] + [NEW]
    columns = [segment for segment in seen if segment in present_after] + [LEFT]
    row_of = {name: place for place, name in enumerate(rows)}
    column_of = {name: place for place, name in enumerate(columns)}
    # The extra last entry serves code -1: the "new" row and the "left" column.
    row_of_code = np.array([row_of[name] for name in before_names] + [len(rows) - 1], dtype="int64")
    column_of_code = np.array([column_of[name] for name in after_names] + [len(columns) - 1], dtype="int64")
    cell = row_of_code[before_codes] * len(columns) + column_of_code[after_codes]
    counts = np.bincount(cell, minlength=len(rows) * len(columns)).reshape(len(rows), len(columns))
    counts[-1, -1] = 0
    return pd.DataFrame(counts.astype("int64"), index=pd.Index(rows, name="from"),
                        columns=pd.Index(columns, name="to"))


def transition_matrix(before: pd.Series, after: pd.Series, order: list[str] | None = None) -> pd.DataFrame:
    """Customers moving from each segment in one period to each in another.

    Parameters
    ----------
    before, after : pandas.Series
        Segment per customer id (index) in the first and second period.
    order : list of str, optional
        Segment order for rows and columns.

    Returns
    -------
    pandas.DataFrame
        Counts; rows = first period's segment plus "new" (bought only in the
        second period), columns = second period's segment plus "left" (bought
        only in the first).
    """
    return _matrix(pair_segments(before, after), order)


def sankey_links(matrix: pd.DataFrame) -> dict[str, list[int]]:
    """Plotly Sankey links of a transition matrix: row i is node i, column j node len(rows) + j."""
    rows, columns = np.nonzero(matrix.to_numpy() > 0)
    return {"source": rows.tolist(), "target": (columns + len(matrix.index)).tolist(),
            "value": [int(matrix.iat[i, j]) for i, j in zip(rows, columns, strict=True)]}


_CELL_RANK_WITH_UNKNOWN = {**CELL_RANK, **{cell + UNKNOWN_MARGIN: rank for cell, rank in CELL_RANK.items()}}


def _cell_rank(cells: pd.Series) -> pd.Series:
    return cells.map(_CELL_RANK_WITH_UNKNOWN).astype(float).fillna(0)


def _movements(pairs: pd.DataFrame) -> dict[str, int]:
    both = pairs.dropna(subset=["before", "after"])
    rank_before, rank_after = _cell_rank(both["before"]), _cell_rank(both["after"])
    same = both["before"] == both["after"]
    return {
        "upgraded": int((rank_after > rank_before).sum()),
        "downgraded": int((rank_after < rank_before).sum()),
        "unchanged": int(same.sum()),
        "lateral": int(((rank_after == rank_before) & ~same).sum()),
        "new": int(pairs["before"].isna().sum()),
        "left": int(pairs["after"].isna().sum()),
    }


def movement_counts(before: pd.Series, after: pd.Series) -> dict[str, int]:
    """Upgrades, downgrades, unchanged, lateral (AB <-> BA), new and left between two grid classifications.

    Cells rank AA (3) > AB = BA (2) > BB (1); without cost data A (2) > B (1).
    """
    return _movements(pair_segments(before, after))


def migration(db: Database, first: Filters, second: Filters, scope: Scope | None = None,
              margin_threshold: float | None = None,
              rules: list[SegmentRule] | tuple[SegmentRule, ...] = DEFAULT_SEGMENT_RULES) -> dict[str, Any]:
    """Grid-cell and RFM-segment transitions between two periods (same filters otherwise).

    Returns
    -------
    dict
        ``grid`` and ``rfm``: transition matrices (see :func:`transition_matrix`);
        ``movements``: :func:`movement_counts` of the grid cells; ``customers``:
        one row per customer of either period with both periods' cell and
        segment ("new" / "left" where they did not buy).
    """
    if first.start > second.start:
        raise UserFacingError("the first period must start before the second")
    if (first.customer_types, first.regions, first.sales_reps) != (second.customer_types, second.regions,
                                                                   second.sales_reps):
        # The customers of both periods are named from one list, the second period's choice of customers.
        raise UserFacingError("the two periods of a migration must choose the same customer types, regions "
                              "and sales reps")
    key = ("migration", str(db.path), db.data_version(), first, second,
           scope.regions if scope is not None else None,
           None if margin_threshold is None else float(margin_threshold), tuple(rules))
    cached = _MIGRATIONS.get_or_compute(key, lambda: _migration(db, first, second, scope, margin_threshold, rules))
    return {name: handed_out(value) if isinstance(value, pd.DataFrame) else dict(value)
            for name, value in cached.items()}


# Kept per data version and settings: rebuilding it joins two periods' 500,000 customers (seconds) on every rerun.
_MIGRATIONS = LruCache("segment migrations", 4, max_bytes=CLASSIFICATION_CACHE_BYTES)


def _migration(db: Database, first: Filters, second: Filters, scope: Scope | None, margin_threshold: float | None,
               rules: list[SegmentRule] | tuple[SegmentRule, ...]) -> dict[str, Any]:
    # The labels by key (segment_labels_by_key), not each period's whole classification with names: the two
    # classifications and their match took 1.9 s at 500,000 customers.
    before = segment_labels_by_key(db, first, scope, margin_threshold, rules)
    after = segment_labels_by_key(db, second, scope, margin_threshold, rules)
    moves = _outer_by_key(db, second, scope, before, after)
    grid_pairs = moves[["grid_before", "grid_after"]].set_axis(["before", "after"], axis=1)
    rfm_pairs = moves[["rfm_before", "rfm_after"]].set_axis(["before", "after"], axis=1)
    grid_order = list(GRID_CELLS) + [c + UNKNOWN_MARGIN for c in VOLUME_TIERS] + list(VOLUME_TIERS)
    result = {
        "grid": _matrix(grid_pairs, grid_order),
        "rfm": _matrix(rfm_pairs, [rule.segment for rule in rules]),
        "movements": _movements(grid_pairs),
    }
    for column, missing in (("grid_before", NEW), ("rfm_before", NEW), ("grid_after", LEFT), ("rfm_after", LEFT)):
        moves[column] = _named(moves[column], missing)
    result["customers"] = moves[MIGRATION_DRILL_COLUMNS]
    return result


def _outer_by_key(db: Database, filters: Filters, scope: Scope | None, before: pd.DataFrame,
                  after: pd.DataFrame) -> pd.DataFrame:
    """Every customer of either period, in customer id order, with both periods' cell, segment and revenue.

    ``before`` and ``after`` are :func:`segment_labels_by_key` rows, matched on the integer customer key
    (a merge on the text ids took 15 s for two periods of 5 million customers). Cells and segments stay
    categorical, both periods with the same categories (missing where the customer did not buy), so the
    matrices count codes. Names and attributes do not change with the period: they are attached once, from
    the scope's list of customers in id order (``with_customer_attributes``, for ``filters``' customer
    type, region and rep).
    """
    before_keys = before["customer_key"].to_numpy(dtype="int64")
    after_keys = after["customer_key"].to_numpy(dtype="int64")
    # Keys are small dense integers: marks and lookup tables indexed by them beat sorting or hashing.
    bought = np.zeros(int(max(before_keys.max(initial=-1), after_keys.max(initial=-1))) + 1, dtype=bool)
    bought[before_keys] = True
    bought[after_keys] = True
    everyone = np.flatnonzero(bought)
    # Per period: its frame, and for each customer of either period their row in it (where they bought).
    periods = {}
    for when, frame, keys in (("before", before, before_keys), ("after", after, after_keys)):
        rows = rows_of_keys(keys, everyone)
        present = rows >= 0
        periods[when] = (frame, rows[present], present)
    labels = pd.DataFrame({"customer_key": everyone})
    for column, name in (("grid_cell", "grid"), ("rfm_segment", "rfm")):
        names = list(dict.fromkeys([*before[column].cat.categories, *after[column].cat.categories]))
        for when, (frame, rows, present) in periods.items():
            # Each period's codes in the shared categories; the extra last entry keeps code -1 (none) as -1.
            shared_code = np.array([names.index(category) for category in frame[column].cat.categories] + [-1])
            codes = np.full(len(everyone), -1, dtype="int64")
            codes[present] = shared_code[frame[column].cat.codes.to_numpy()[rows]]
            labels[f"{name}_{when}"] = pd.Categorical.from_codes(codes, categories=names)
    for when, (frame, rows, present) in periods.items():
        revenue = np.full(len(everyone), np.nan)
        revenue[present] = frame["revenue"].to_numpy(dtype=float)[rows]
        labels[f"revenue_{when}"] = revenue
    return with_customer_attributes(db, filters, scope, labels,
                                    ["customer_id", "name", "customer_type", "region", "sales_rep"])


def _named(labels: pd.Series, missing: str) -> pd.Series:
    """A categorical column as text (object), ``missing`` where it has no value."""
    codes = labels.cat.codes.to_numpy()
    names = np.append(np.asarray(labels.cat.categories, dtype=object), missing)
    return pd.Series(names[codes], index=labels.index, dtype=object)  # code -1 picks the last entry: missing


def migration_drill_down(moves: pd.DataFrame, kind: str, source: str, target: str) -> pd.DataFrame:
    """The customers who moved from ``source`` to ``target`` (a cell of :func:`migration`'s matrix).

    Parameters
    ----------
    moves : pandas.DataFrame
        :func:`migration`'s ``customers``.
    kind : str
        "grid" (value x margin cells) or "rfm" (RFM segments).
    source, target : str
        Row ("new" for customers who bought only in the second period) and column ("left" for those who
        bought only in the first) of the transition matrix.

    Returns
    -------
    pandas.DataFrame
        Highest second-period revenue first (then first-period revenue, then id).
    """
    if kind not in ("grid", "rfm"):
        raise UserFacingError(f"unknown migration view {kind!r}")
    chosen = moves[(moves[f"{kind}_before"] == source) & (moves[f"{kind}_after"] == target)]
    return chosen.sort_values(["revenue_after", "revenue_before", "customer_id"], ascending=[False, False, True],
                              na_position="last").reset_index(drop=True)


def period_filters(filters: Filters, start: date, end: date) -> Filters:
    """The same filters over another date range."""
    if start > end:
        raise UserFacingError(f"the period start {start} is after its end {end}")
    return replace(filters, start=start, end=end, period="custom")


# ---------------------------------------------------------------- drill-down and the report


def grid_cell_customers(db: Database, filters: Filters, scope: Scope | None, cell: str,
                        margin_threshold: float | None = None,
                        rules: list[SegmentRule] | tuple[SegmentRule, ...] = DEFAULT_SEGMENT_RULES) -> pd.DataFrame:
    """The customers of one cell of the value x margin grid: ``drill_down`` of :func:`segment_frame` on
    ``grid_cell``, the same rows, columns and order (tests/test_segments.py compares them).

    When that classification is not kept already, only the cell's customers get their names and
    attributes, and the grid's cells and order by revenue are reused: at 500,000 customers the
    classification took most of a second, and the grid's first view asks for a cell's list after every
    filter change once a cell is chosen.
    """
    _check_threshold(margin_threshold)
    classified = _CLASSIFIED.get(_classification_key(db, filters, scope, margin_threshold, rules))
    if classified is not None or cell not in GRID_ORDER:
        frame, _ = classified if classified is not None else segment_frame(db, filters, scope, margin_threshold,
                                                                            rules)
        return drill_down(frame, "grid_cell", cell)
    version = db.data_version()
    figures, code, _, grid_positions = _grid_rows(db, filters, scope, margin_threshold)
    if figures.empty:
        return drill_down(segment_frame(db, filters, scope, margin_threshold, rules)[0], "grid_cell", cell)
    # The grid's order is exact at the 80% line only; the tiers need it at the pyramid's lines too. A copy:
    # the grid's is shared.
    positions = grid_positions.copy()
    _ties_in_id_order(db, figures, positions, _cents(figures["revenue"])[positions], pyramid_lines(len(figures)))
    scores = rfm_scores(rfm_values(figures, filters.end))
    chosen = np.flatnonzero(code == GRID_ORDER.index(cell))
    listed = _typed(figures.iloc[chosen].reset_index(drop=True))
    # Text as object columns, as the classification holds them (pandas would infer its own string type).
    listed["grid_cell"] = pd.Series(cell, index=listed.index, dtype=object)
    rank = np.empty(len(positions), dtype="int64")
    rank[positions] = np.arange(len(positions))
    listed["pyramid_tier"] = pd.Series(pyramid_tiers_of_ranks(rank[chosen], len(positions)), index=listed.index,
                                       dtype=object)
    chosen_scores = scores.iloc[chosen].reset_index(drop=True)
    listed["rfm_segment"] = assign_segments(chosen_scores["r_score"], chosen_scores["f_score"], rules)
    listed = pd.concat([listed, chosen_scores], axis=1)
    named = with_customer_attributes(db, filters, scope, listed, ["customer_id", "name", "customer_type", "region",
                                                                 "sales_rep"])
    if db.data_version() != version:
        # The tied ids and the names were read after the rows: a load in between may have renumbered them.
        raise DataChangedError()
    return revenue_order(named, [*DRILL_COLUMNS, "pyramid_tier"]).reset_index(drop=True)


def drill_down(segments: pd.DataFrame, column: str, value: Any) -> pd.DataFrame:
    """The customers whose ``column`` equals ``value``, highest revenue first, with the list's columns."""
    if column not in segments.columns:
        raise UserFacingError(f"cannot list customers by {column!r}")
    chosen = segments[segments[column] == value]
    extra = [c for c in ("pyramid_tier", "cluster") if c in chosen.columns]
    return revenue_order(chosen, DRILL_COLUMNS + extra).reset_index(drop=True)


def segments_report(db: Database, filters: Filters, scope: Scope | None = None,
                    margin_threshold: float | None = None) -> dict[str, Any]:
    """What ``python -m customer_value segments --json`` prints: grid, RFM segment counts, Pareto point."""
    frame, info = segment_frame(db, filters, scope, margin_threshold)
    grid = grid_summary(frame)
    rfm = rfm_segment_summary(frame)
    return {
        "filters": {"start": filters.start.isoformat(), "end": filters.end.isoformat(),
                    "customer_types": list(filters.customer_types), "regions": list(filters.regions),
                    "sales_reps": list(filters.sales_reps), "window_days": filters.window_days},
        "customers": len(frame),
        "revenue": float(frame["revenue"].sum()),
        "grid_info": {"has_profit": info.has_profit, "margin_threshold": info.margin_threshold,
                      "threshold_is_median": info.threshold_is_median,
                      "customers_without_cost": info.customers_without_cost, "fallback_reason": info.fallback_reason},
        "grid": grid.to_dict(orient="records"),
        "rfm_segments": {row["rfm_segment"]: int(row["customers"]) for row in rfm.to_dict(orient="records")},
        "pareto": {"top_20_percent_revenue_share": revenue_share_of_top(frame, 0.2),
                   "volume_a_customers": int((frame["volume_class"] == "A").sum()),
                   "pyramid": pyramid_summary(frame).to_dict(orient="records")},
    }
