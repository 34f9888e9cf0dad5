"""``segments``: the segments page's value x margin grid, RFM segment counts and Pareto point."""

from __future__ import annotations

from customer_value.cli import emit, filters_from_args, open_database
from customer_value.formatting import format_value
from customer_value.segments import segments_report


def register(subparsers, common) -> None:
    parser = subparsers.add_parser("segments", parents=[common],
                                   help="value x margin grid, RFM segments and the Pareto point of the period")
    parser.add_argument("--margin-threshold", type=float, default=None,
                        help="average gross profit per order above which the margin class is A "
                             "(default: the median across customers)")
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    database = open_database(args)
    filters = filters_from_args(database, args)
    report = segments_report(database, filters, margin_threshold=args.margin_threshold)
    info = report["grid_info"]
    lines = [f"Segments, {filters.describe()}",
             f"Customers who bought: {format_value(report['customers'], 'count')}, "
             f"revenue {format_value(report['revenue'], 'money')}"]
    if info["fallback_reason"]:
        lines.append(info["fallback_reason"])
    elif info["has_profit"]:
        source = "median" if info["threshold_is_median"] else "set"
        lines.append(f"Margin threshold ({source}): {format_value(info['margin_threshold'], 'money')} "
                     "gross profit per order")
    lines.append("Value x margin grid:")
    for row in report["grid"]:
        lines.append(f"  {row['grid_cell']:<20} customers {format_value(row['customers'], 'count'):>7}"
                     f" ({format_value(row['customer_share'], 'share'):>6})"
                     f"  revenue {format_value(row['revenue_share'], 'share'):>6}"
                     f"  profit {format_value(row['profit_share'], 'share'):>6}"
                     f"  churn {format_value(row['churn_rate'], 'share'):>6}  NPS {format_value(row['nps'], 'points')}")
    lines.append("RFM segments:")
    for segment, count in report["rfm_segments"].items():
        lines.append(f"  {segment:<20} {format_value(count, 'count'):>7}")
    share = report["pareto"]["top_20_percent_revenue_share"]
    lines.append(f"Top 20% of customers bring {format_value(share, 'share')} of revenue.")
    emit(report, args, "\n".join(lines))
    return 0
