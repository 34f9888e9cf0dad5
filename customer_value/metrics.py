"""Headline figures (the overview page and ``metrics`` command) and their definitions.

Ratios whose denominator is zero are ``None`` ("not defined"), never NaN or
infinity: a page shows them as a dash with the reason in the tooltip.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from customer_value.db import Database
from customer_value.filters import Filters, Scope
from customer_value.query import run, scalar_row


def safe_ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return float(numerator) / float(denominator)


def churn_rate(lost: int, active_start: int) -> float | None:
    """Lost customers per customer active at the start."""
    return safe_ratio(lost, active_start)


def loss_to_gain_ratio(lost: int, new: int) -> float | None:
    """Lost per new customer (the telecom study's 97 lost for 99 new = 0.98)."""
    return safe_ratio(lost, new)


def net_growth_rate(new: int, reactivated: int, lost: int, active_start: int) -> float | None:
    """(new + reactivated - lost) / active at start."""
    return safe_ratio(new + reactivated - lost, active_start)


def customer_quick_ratio(new: int, reactivated: int, lost: int) -> float | None:
    """(new + reactivated) / lost; above 1 the customer base grows."""
    return safe_ratio(new + reactivated, lost)


def nps_score(promoters: int, detractors: int, answers: int) -> float | None:
    """Net promoter score in points: % promoters (9-10) minus % detractors (0-6)."""
    if not answers:
        return None
    return 100.0 * (promoters - detractors) / answers


def csat_share(satisfied: int, answers: int) -> float | None:
    """Share of CSAT answers that are 4 or 5."""
    return safe_ratio(satisfied, answers)


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    value: float | None
    previous: float | None
    kind: str  # count | money | share | ratio | points
    help: str
    higher_is_better: bool = True

    @property
    def change(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["change"] = self.change
        return data


KPI_DEFINITIONS: dict[str, tuple[str, str, str, bool]] = {
    # key: (label, kind, one-sentence definition, higher is better)
    "active_customers": ("Active customers", "count",
                         "Customers who bought within the last W days at the end of the period and whose "
                         "contract (churn date) has not ended.", True),
    "new_customers": ("New customers", "count", "Customers whose first purchase ever fell in the period.", True),
    "lost_customers": ("Lost customers", "count",
                       "Customers who became inactive in the period: last purchase + W days, or their "
                       "churn date, fell in it.", False),
    "reactivated_customers": ("Reactivated", "count",
                              "Customers who bought in the period after having been inactive.", True),
    "net_growth_rate": ("Net growth rate", "share",
                        "(New + reactivated - lost) divided by customers active at the start of the period.",
                        True),
    "loss_to_gain_ratio": ("Loss-to-gain ratio", "ratio",
                           "Lost customers per new customer; near 1 the firm is running to stand still.", False),
    "customer_quick_ratio": ("Customer quick ratio", "ratio",
                             "(New + reactivated) / lost; above 1 the customer base grows.", True),
    "revenue": ("Revenue", "money", "Sum of order-line revenue in the period, net of returns and cancellations.",
                True),
    "gross_margin": ("Gross margin", "share", "Gross profit divided by revenue, over lines that carry a cost.",
                     True),
    "revenue_per_active_customer": ("Revenue per active customer", "money",
                                    "Period revenue divided by the customers who bought in the period "
                                    "(every buyer is active).", True),
    "repeat_purchase_rate": ("Repeat purchase rate", "share",
                             "Share of the period's buying customers who placed two or more orders in it.", True),
    "nps": ("NPS", "points",
            "Net promoter score of the period's answers: % scoring 9-10 minus % scoring 0-6, in points.", True),
    "csat": ("CSAT", "share", "Share of the period's satisfaction answers that are 4 or 5 on the 1-5 scale.", True),
}


def period_figures(db: Database, filters: Filters, scope: Scope | None = None) -> dict[str, float | None]:
    """Every headline figure for ``filters``' period, as plain numbers (None = not defined)."""
    movements = scalar_row(run(db, "period_movements", filters=filters, scope=scope))
    sales = scalar_row(run(db, "period_sales", filters=filters, scope=scope))
    survey = scalar_row(run(db, "period_satisfaction", filters=filters, scope=scope))
    new, reactivated = int(movements["new_customers"]), int(movements["reactivated"])
    lost, active_start = int(movements["lost"]), int(movements["active_start"])
    revenue = float(sales["revenue"])
    profit = sales.get("profit")
    buyers = int(sales["buyers"])
    # Margin over lines that carry a cost only; without any, it is not defined.
    gross_margin = safe_ratio(float(profit), revenue) if profit is not None and sales["lines_with_profit"] else None
    return {
        "active_customers": int(movements["active_end"]),
        "active_at_start": active_start,
        "new_customers": new,
        "lost_customers": lost,
        "reactivated_customers": reactivated,
        "net_growth_rate": net_growth_rate(new, reactivated, lost, active_start),
        "loss_to_gain_ratio": loss_to_gain_ratio(lost, new),
        "customer_quick_ratio": customer_quick_ratio(new, reactivated, lost),
        "churn_rate": churn_rate(lost, active_start),
        "revenue": revenue,
        "gross_profit": float(profit) if profit is not None else None,
        "gross_margin": gross_margin,
        "buyers": buyers,
        "revenue_per_active_customer": safe_ratio(revenue, buyers),
        "repeat_purchase_rate": safe_ratio(int(sales["repeat_buyers"]), buyers),
        "nps": nps_score(int(survey["promoters"]), int(survey["detractors"]), int(survey["nps_answers"])),
        "nps_answers": int(survey["nps_answers"]),
        "csat": csat_share(int(survey["satisfied"]), int(survey["csat_answers"])),
        "csat_answers": int(survey["csat_answers"]),
    }


def overview_kpis(db: Database, filters: Filters, scope: Scope | None = None) -> list[Kpi]:
    """The overview's headline figures, each with the previous period of equal length."""
    current = period_figures(db, filters, scope)
    previous = period_figures(db, filters.previous(), scope)
    return [
        Kpi(key=key, label=label, value=current[key], previous=previous[key], kind=kind, help=text,
            higher_is_better=better)
        for key, (label, kind, text, better) in KPI_DEFINITIONS.items()
    ]


def monthly_trend(db: Database, filters: Filters, scope: Scope | None = None) -> pd.DataFrame:
    """Per month of the period: customer movements, revenue and gross profit."""
    movements = run(db, "monthly_movements", filters=filters, scope=scope)
    sales = run(db, "monthly_sales", filters=filters, scope=scope)
    trend = movements.merge(sales, on="month", how="left")
    trend["month"] = pd.to_datetime(trend["month"])
    for column in ("active_start", "new_customers", "reactivated", "lost", "active_end", "buyers"):
        trend[column] = trend[column].astype("int64")
    trend["revenue"] = trend["revenue"].astype(float)
    trend["profit"] = pd.to_numeric(trend["profit"], errors="coerce").astype(float)
    return trend


def overview_report(db: Database, filters: Filters, scope: Scope | None = None) -> dict[str, Any]:
    """What ``python -m customer_value metrics --json`` prints: the overview's figures."""
    return {
        "filters": {
            "start": filters.start.isoformat(),
            "end": filters.end.isoformat(),
            "previous_start": filters.previous().start.isoformat(),
            "previous_end": filters.previous().end.isoformat(),
            "customer_types": list(filters.customer_types),
            "regions": list(filters.regions),
            "sales_reps": list(filters.sales_reps),
            "window_days": filters.window_days,
        },
        "kpis": {kpi.key: kpi.as_dict() for kpi in overview_kpis(db, filters, scope)},
    }
