"""``metrics``: the overview page's headline figures."""

from __future__ import annotations

from customer_value.cli import emit, filters_from_args, open_database
from customer_value.formatting import format_value
from customer_value.metrics import overview_report


def register(subparsers, common) -> None:
    parser = subparsers.add_parser("metrics", parents=[common],
                                   help="headline figures of the overview, with the previous period")
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    database = open_database(args)
    filters = filters_from_args(database, args)
    report = overview_report(database, filters)
    lines = [f"Overview, {filters.describe()}"]
    for kpi in report["kpis"].values():
        lines.append(f"  {kpi['label']:<28} {format_value(kpi['value'], kpi['kind']):>16}"
                     f"   previous {format_value(kpi['previous'], kpi['kind'])}")
    emit(report, args, "\n".join(lines))
    return 0
