"""``clv``: lifetime-value model parameters, its hold-out track record, and the per-customer table."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from customer_value import clv
from customer_value.cli import _iso_date, emit, filters_from_args, open_database
from customer_value.errors import UserFacingError
from customer_value.formatting import format_value, neutralise_formula


def _months(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of months") from None
    if not 1 <= value <= 120:
        raise argparse.ArgumentTypeError("the horizon must be 1 to 120 months")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number (0.01 = 1% a month)") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError("the monthly discount rate must be at least 0 and below 1 (0.01 = 1%)")
    return value


def register(subparsers, common) -> None:
    parser = subparsers.add_parser("clv", parents=[common],
                                   help="lifetime value: BG/NBD and Gamma-Gamma fit, hold-out check, per customer")
    parser.add_argument("--observation-end", type=_iso_date, default=None,
                        help="value customers as of this day (default: the period's last day)")
    parser.add_argument("--unit", choices=sorted(clv.clv_models.UNIT_DAYS), default="weeks",
                        help="time unit of the fitted parameters (default: weeks)")
    parser.add_argument("--horizon-months", type=_months, default=12, help="CLV horizon in months (default 12)")
    parser.add_argument("--discount", type=_rate, default=0.01,
                        help="monthly discount rate (default 0.01 = 1%% a month)")
    parser.add_argument("--cut-date", type=_iso_date, default=None,
                        help="hold-out check: fit up to this day, compare after it (default: last third of history)")
    parser.add_argument("--no-holdout", action="store_true", help="skip the hold-out check")
    parser.add_argument("--csv", type=Path, default=None, help="write the per-customer table to this CSV file")
    parser.set_defaults(handler=handle)


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """The table as CSV, text cells a spreadsheet would run as formulas neutralised."""
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(neutralise_formula)
    try:
        safe.to_csv(path, index=False)
    except OSError as error:
        raise UserFacingError(f"cannot write {path}: {error.strerror or error}") from None


def _text(result: clv.ClvResult, holdout: clv.HoldoutReport | None, csv_path: Path | None, rows: int) -> str:
    lines = [f"Lifetime value as of {result.observation_end:%Y-%m-%d} (time unit: {result.unit}), "
             f"{result.n_customers:,} customers, {result.n_repeat_buyers:,} repeat buyers"]
    if not result.trusted:
        lines.append(f"  {result.reason}")
    else:
        fit = result.bgnbd
        lines.append(f"  BG/NBD  r={fit.r:.4f} alpha={fit.alpha:.4f} a={fit.a:.4f} b={fit.b:.4f} "
                     f"log-likelihood {fit.log_likelihood:,.1f} ({fit.iterations} iterations)")
        for row in result.spend_models:
            lines.append(f"  Gamma-Gamma ({row['spend_model']})  p={row['p']:.4f} q={row['q']:.4f} v={row['v']:.4f} "
                         f"on {row['repeat_buyers']:,} repeat buyers ({row['excluded_nonpositive']:,} excluded: "
                         f"spend zero or less); mean spend per purchase "
                         f"{format_value(row['mean_spend_per_purchase'], 'money')}, values "
                         f"{row['customers_valued']:,} customers")
        lines.append(f"  Total CLV over {result.horizon_months} months at {result.monthly_discount_rate:.2%}/month: "
                     f"{format_value(result.totals['clv'], 'money')}; expected purchases next 365 days "
                     f"{format_value(result.totals['expected_purchases_365'], 'count')}")
        lines.extend(f"  Note: {warning}" for warning in result.warnings)
    if holdout is not None:
        if holdout.check is None:
            lines.append(f"  Hold-out check: {holdout.reason}")
        else:
            check = holdout.check
            lines.append(f"  Hold-out check, fitted to {holdout.cut_date:%Y-%m-%d}, checked to "
                         f"{holdout.observation_end:%Y-%m-%d}: predicted {check.total_predicted:,.0f} purchases, "
                         f"actual {check.total_actual:,.0f} ({format_value(check.total_error_share, 'share')} off), "
                         f"mean absolute error {check.mae:.2f} per customer")
    if csv_path is not None:
        lines.append(f"  Wrote {rows:,} customers to {csv_path}")
    return "\n".join(lines)


def handle(args) -> int:
    database = open_database(args)
    filters = filters_from_args(database, args)
    table, result = clv.clv_table(database, filters, unit=args.unit, observation_end=args.observation_end,
                                  horizon_months=args.horizon_months, monthly_discount_rate=args.discount)
    holdout = None
    if not args.no_holdout:
        holdout = clv.holdout_report(database, filters, args.cut_date, unit=args.unit,
                                     observation_end=result.observation_end)
    if args.csv is not None:
        write_csv(table, args.csv)
    report = {
        **result.as_dict(),
        "holdout": holdout.summary() if holdout is not None else None,
        "by_grid_cell": clv.clv_by_group(table, "grid_cell") if result.trusted and "grid_cell" in table else None,
        "top_customers": table.head(10) if result.trusted else None,
        "csv": str(args.csv) if args.csv is not None else None,
        "customers_written": len(table) if args.csv is not None else 0,
    }
    emit(report, args, _text(result, holdout, args.csv, len(table)))
    return 0
