"""Team performance (domain brief section 6): region and sales rep tables against the previous period.

Figures per group, summed from one row per (region, sales rep) pair
(queries/team_groups.sql, the same sums as queries/team_customers.sql's one
row per customer, which the drill-down into one rep lists):
customers = those who bought in the period; active = active on the period's
last day; new / reactivated / lost = movements in the period (the activity
rule, W days); net growth rate = (new + reactivated - lost) / active at the
start; gross margin over lines that carry a cost; NPS and CSAT over every
answer in the period; complaints raised in the period. Summed over regions the
counts equal the overview's, because a customer belongs to one region and one
rep (the newest customers file wins).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pandas as pd

from customer_value.db import Database
from customer_value.filters import Filters, Scope
from customer_value.metrics import csat_share, net_growth_rate, nps_score, safe_ratio
from customer_value.query import run

TEAM_LEVELS = {"region": "Region", "sales_rep": "Sales rep"}
_SUMMED = ["bought_in_period", "active_start", "active_end", "new_customer", "reactivations", "losses", "revenue",
           "profit", "lines_with_profit", "nps_answers", "promoters", "detractors", "csat_answers", "satisfied",
           "complaints"]
FIGURES = ["customers", "active_customers", "revenue", "gross_profit", "gross_margin", "new_customers",
           "reactivated", "lost", "net_growth_rate", "nps", "nps_answers", "csat", "csat_answers", "complaints"]
# Summed figures that are counts in both team queries; _FLAGS are true/false per customer in
# team_customers.sql and counts per pair in team_groups.sql.
_COUNTS = ["new_customer", "reactivations", "losses", "lines_with_profit", "nps_answers", "promoters", "detractors",
           "csat_answers", "satisfied", "complaints"]
_FLAGS = ["bought_in_period", "active_start", "active_end"]
# A group absent from one period had none of these in it; ratios stay undefined instead.
COUNTED = ["customers", "active_customers", "revenue", "new_customers", "reactivated", "lost", "nps_answers",
           "csat_answers", "complaints"]


def team_customers(db: Database, filters: Filters, scope: Scope | None = None) -> pd.DataFrame:
    """One row per customer with anything to report in the period (see team_customers.sql)."""
    return _typed(run(db, "team_customers", filters=filters, scope=scope), _COUNTS)


def team_groups(db: Database, filters: Filters, scope: Scope | None = None) -> pd.DataFrame:
    """One row per (region, sales rep) pair with the period's summed figures (see team_groups.sql)."""
    return _typed(run(db, "team_groups", filters=filters, scope=scope), [*_COUNTS, *_FLAGS])


def _typed(frame: pd.DataFrame, counts: list[str]) -> pd.DataFrame:
    """Money as float and ``counts`` as int64 (the database returns decimals and hugeints)."""
    for column in ("revenue", "profit"):
        frame[column] = frame[column].astype(float)
    for column in counts:
        frame[column] = frame[column].astype("int64")
    return frame


def group_figures(totals: dict[str, Any]) -> dict[str, Any]:
    """A group's figures from its summed customer rows."""
    active_start, new = int(totals["active_start"]), int(totals["new_customer"])
    reactivated, lost = int(totals["reactivations"]), int(totals["losses"])
    has_cost = int(totals["lines_with_profit"]) > 0
    profit = float(totals["profit"]) if has_cost else None
    return {
        "customers": int(totals["bought_in_period"]),
        "active_customers": int(totals["active_end"]),
        "active_at_start": active_start,
        "revenue": float(totals["revenue"]),
        "gross_profit": profit,
        "gross_margin": safe_ratio(profit, float(totals["revenue"])) if has_cost else None,
        "new_customers": new,
        "reactivated": reactivated,
        "lost": lost,
        "net_growth_rate": net_growth_rate(new, reactivated, lost, active_start),
        "nps": nps_score(int(totals["promoters"]), int(totals["detractors"]), int(totals["nps_answers"])),
        "nps_answers": int(totals["nps_answers"]),
        "csat": csat_share(int(totals["satisfied"]), int(totals["csat_answers"])),
        "csat_answers": int(totals["csat_answers"]),
        "complaints": int(totals["complaints"]),
    }


def _by_level(customers: pd.DataFrame, level: str) -> pd.DataFrame:
    summed = customers.assign(profit=customers["profit"].fillna(0.0)).groupby(level)[_SUMMED].sum()
    rows = [{level: group, **group_figures(totals)} for group, totals in summed.to_dict(orient="index").items()]
    return pd.DataFrame(rows, columns=[level, *FIGURES, "active_at_start"])


def team_table(db: Database, filters: Filters, level: str, scope: Scope | None = None) -> pd.DataFrame:
    """One row per region or sales rep: the period's figures, the previous period's (``previous_*``) and
    the change (``change_*``), by revenue descending."""
    if level not in TEAM_LEVELS:
        raise ValueError(f"unknown team level {level!r}; choose one of {', '.join(TEAM_LEVELS)}")
    current = _by_level(team_groups(db, filters, scope), level)
    previous = _by_level(team_groups(db, filters.previous(), scope), level)
    table = current.merge(previous[[level, *FIGURES]].add_prefix("previous_")
                          .rename(columns={f"previous_{level}": level}), on=level, how="outer")
    for figure in COUNTED:
        table[figure] = table[figure].fillna(0)
        table[f"previous_{figure}"] = table[f"previous_{figure}"].fillna(0)
    table = table.astype({figure: "float64" for figure in FIGURES}).astype(
        {f"previous_{figure}": "float64" for figure in FIGURES})
    for figure in FIGURES:
        # NaN (not defined) when either period's figure is undefined.
        table[f"change_{figure}"] = table[figure] - table[f"previous_{figure}"]
    return table.sort_values(["revenue", level], ascending=[False, True], na_position="last").reset_index(drop=True)


def rep_customers(db: Database, filters: Filters, sales_rep: str, scope: Scope | None = None) -> pd.DataFrame:
    """The customers of one sales rep with their period figures, most valuable first."""
    # Narrowing the filters to the rep lets the database skip everyone else's rows; the user's
    # own rep filter and scope still apply (a rep outside them gives an empty list).
    customers = team_customers(db, replace(filters, sales_reps=(sales_rep,)), scope)
    if filters.sales_reps and sales_rep not in filters.sales_reps:
        customers = customers.iloc[0:0]
    mine = customers[customers["sales_rep"] == sales_rep].copy()
    mine["nps"] = [nps_score(p, d, n) for p, d, n in zip(mine["promoters"], mine["detractors"],
                                                           mine["nps_answers"], strict=True)]
    mine["csat"] = [csat_share(s, n) for s, n in zip(mine["satisfied"], mine["csat_answers"], strict=True)]
    # Status at the period's end, with how an active customer got there; a lost one is lost whatever came before.
    mine["status"] = [
        ("new" if new else "reactivated" if reactivated else "active") if active
        else "lost" if lost else "inactive"
        for new, reactivated, lost, active in zip(mine["new_customer"], mine["reactivations"], mine["losses"],
                                                  mine["active_end"], strict=True)]
    columns = ["customer_id", "name", "customer_type", "region", "status", "revenue", "profit",
               "last_purchase_date", "nps", "csat", "complaints"]
    return mine[columns].sort_values(["revenue", "customer_id"], ascending=[False, True]).reset_index(drop=True)


def team_report(db: Database, filters: Filters, scope: Scope | None = None) -> dict[str, Any]:
    """What ``python -m customer_value team --json`` prints."""
    previous = filters.previous()
    return {
        "filters": {"start": filters.start.isoformat(), "end": filters.end.isoformat(),
                    "previous_start": previous.start.isoformat(), "previous_end": previous.end.isoformat(),
                    "customer_types": list(filters.customer_types), "regions": list(filters.regions),
                    "sales_reps": list(filters.sales_reps), "window_days": filters.window_days},
        "regions": team_table(db, filters, "region", scope),
        "sales_reps": team_table(db, filters, "sales_rep", scope),
    }
