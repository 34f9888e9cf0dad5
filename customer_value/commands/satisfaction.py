"""``satisfaction``: the satisfaction page's headline figures and its churn-by-band table."""

from __future__ import annotations

from customer_value.cli import emit, filters_from_args, open_database, positive_whole_number
from customer_value.formatting import format_value
from customer_value.satisfaction import DEFAULT_MIN_ANSWERS, satisfaction_report


def _noise(verdict: bool | None) -> str:
    return {True: "beyond the noise", False: "within the noise", None: "not defined"}[verdict]


def register(subparsers, common) -> None:
    parser = subparsers.add_parser("satisfaction", parents=[common],
                                   help="NPS, CSAT and response figures per survey, and churn by satisfaction band")
    answers = positive_whole_number(too_small="the minimum number of answers must be at least 1")
    parser.add_argument("--min-answers", type=answers, default=DEFAULT_MIN_ANSWERS,
                        help=f"groups with fewer answers are flagged, not ranked (default {DEFAULT_MIN_ANSWERS})")
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    database = open_database(args)
    filters = filters_from_args(database, args)
    report = satisfaction_report(database, filters, min_answers=args.min_answers)
    lines = [f"Satisfaction, {filters.describe()}"]
    for survey, entry in report["surveys"].items():
        lines.append(f"{survey}:")
        for kpi in entry["kpis"].values():
            lines.append(f"  {kpi['label']:<22} {format_value(kpi['value'], kpi['kind']):>10}"
                         f"   previous {format_value(kpi['previous'], kpi['kind'])}")
        low, high = entry["csat_interval"]
        lines.append(f"  95% intervals: NPS ± {format_value(entry['nps_margin'], 'ratio')} points (change "
                     f"{_noise(entry['nps_change_beyond_noise'])}), CSAT {format_value(low, 'share')} to "
                     f"{format_value(high, 'share')} (change {_noise(entry['csat_change_beyond_noise'])})")
    lines.append("Churn by band (latest answer in the period):")
    for row in report["band_churn"]:
        lines.append(f"  {row['scale']:<5} {row['band']:<10} customers {row['customers']:>6,}  lost {row['lost']:>5,}"
                     f"  churn {format_value(row['churn_rate'], 'share'):>7}"
                     f"  revenue lost {format_value(row['revenue_lost'], 'money'):>14}")
    gap = report["churn_gap"]
    lines.append(f"  gap detractors vs promoters {format_value(gap['nps_gap_points'], 'points')} points "
                 f"({_noise(gap['nps_gap_beyond_noise'])}); CSAT 1-2 vs 4-5 "
                 f"{format_value(gap['csat_gap_points'], 'points')} points ({_noise(gap['csat_gap_beyond_noise'])})")
    emit(report, args, "\n".join(lines))
    return 0
