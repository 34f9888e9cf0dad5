"""``team``: the team performance page's region and sales rep tables."""

from __future__ import annotations

from customer_value.cli import emit, filters_from_args, open_database
from customer_value.formatting import format_change, format_value
from customer_value.team import team_report


def register(subparsers, common) -> None:
    parser = subparsers.add_parser("team", parents=[common],
                                   help="region and sales rep performance, against the previous period")
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    database = open_database(args)
    filters = filters_from_args(database, args)
    report = team_report(database, filters)
    lines = [f"Team performance, {filters.describe()}"]
    for key, level, title in (("regions", "region", "Regions"), ("sales_reps", "sales_rep", "Sales reps")):
        lines.append(f"{title}:")
        if report[key].empty:
            lines.append("  (no customer in this selection bought, answered or moved in the period)")
        for row in report[key].to_dict(orient="records"):
            lines.append(
                f"  {row[level]:<16} revenue {format_value(row['revenue'], 'money'):>14}"
                f" ({format_change(row['change_revenue'], 'money') or '—'})"
                f"  active {format_value(row['active_customers'], 'count'):>6}"
                f"  new {format_value(row['new_customers'], 'count'):>5}  lost {format_value(row['lost'], 'count'):>5}"
                f"  NPS {format_value(row['nps'], 'points'):>6}  CSAT {format_value(row['csat'], 'share'):>6}"
                f"  complaints {format_value(row['complaints'], 'count'):>4}")
    emit(report, args, "\n".join(lines))
    return 0
