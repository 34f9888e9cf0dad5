"""``movements``: monthly customer movements, ratios and revenue movements (churn and net-growth pages)."""

from __future__ import annotations

from customer_value.cli import emit, filters_from_args, open_database
from customer_value.formatting import format_value
from customer_value.movements import movements_report


def register(subparsers, common) -> None:
    parser = subparsers.add_parser("movements", parents=[common],
                                   help="monthly customer movements, churn ratios and revenue movements")
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    database = open_database(args)
    filters = filters_from_args(database, args)
    report = movements_report(database, filters)
    lines = [f"Customer movements, {filters.describe()}", report["reading"], report["churn_rule"]["description"],
             *([report["early_history_caveat"]] if report["early_history_caveat"] else []),
             f"  {'month':<8} {'start':>7} {'new':>6} {'back':>6} {'lost':>6} {'end':>7}"
             f" {'churn':>7} {'lost/new':>8} {'quick':>6} {'rev quick':>9} {'NRR':>7}"]
    revenue = report["revenue_movements"].set_index("month")
    retention = report["revenue_retention"].set_index("month")
    for row in report["customer_movements"].itertuples():
        lines.append(
            f"  {row.month:%Y-%m}  {row.active_start:>7,} {row.new_customers:>6,} {row.reactivated:>6,}"
            f" {row.lost:>6,} {row.active_end:>7,} {format_value(row.churn_rate, 'share'):>7}"
            f" {format_value(row.loss_to_gain_ratio, 'ratio'):>8} {format_value(row.customer_quick_ratio, 'ratio'):>6}"
            f" {format_value(revenue.loc[row.month, 'revenue_quick_ratio'], 'ratio'):>9}"
            f" {format_value(retention.loc[row.month, 'nrr'], 'share'):>7}")
    if report["identity_failures"]:
        lines.append("  identity start + new + reactivated - lost = end FAILS in " +
                     ", ".join(report["identity_failures"]))
    emit(report, args, "\n".join(lines))
    return 0
