"""``risk``: the churn early-warning model's track record and today's at-risk list."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from customer_value import risk
from customer_value.cli import emit, filters_from_args, open_database
from customer_value.errors import UserFacingError
from customer_value.formatting import format_value, neutralise_formula


def register(subparsers, common) -> None:
    parser = subparsers.add_parser(
        "risk", parents=[common],
        help="churn early warning: validation against a past cut, at-risk list with reasons, unusual customers")
    parser.add_argument("--csv", type=Path, default=None,
                        help="write the at-risk list (every active customer, ranked by risk x value) to this CSV")
    parser.add_argument("--top", type=int, default=10, help="at-risk customers to print (default 10)")
    parser.set_defaults(handler=handle)


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """The list as CSV, text cells a spreadsheet would run as formulas neutralised."""
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(neutralise_formula)
    try:
        safe.to_csv(path, index=False)
    except OSError as error:
        raise UserFacingError(f"cannot write {path}: {error.strerror or error}") from None


def _figures_line(label: str, figures: dict) -> str:
    return (f"  {label:<22} ROC AUC {format_value(figures.get('roc_auc'), 'ratio'):>6}   precision in the top "
            f"decile {format_value(figures.get('precision_top_decile'), 'share'):>6}   lift "
            f"{format_value(figures.get('lift_top_decile'), 'ratio'):>5}   "
            f"Brier {format_value(figures.get('brier'), 'ratio')}")


def _text(result: risk.EarlyWarning, unusual: risk.UnusualCustomers, top: int, csv_path: Path | None) -> str:
    lines = [f"Churn early warning: lost within the next {result.window_days} days, as of {result.as_of}"]
    if not result.trusted:
        lines.append("  The model cannot be trusted yet: " + "; ".join(result.problems) + ".")
    else:
        lines.append(f"  Trained on cuts {', '.join(str(cut) for cut in reversed(result.training_cuts))} "
                     f"({result.training_rows:,} customer snapshots); model chosen on {result.selection_cut}: "
                     f"{result.chosen_model}")
        lines.append(f"  Checked on the {result.model_figures['customers']:,} customers active on "
                     f"{result.validation_cut}, {result.model_figures['lost']:,} of whom were lost "
                     f"({format_value(result.model_figures['base_rate'], 'share')}):")
        lines.append(_figures_line(result.chosen_model, result.model_figures))
        lines.append(_figures_line("Recency alone", result.baseline_figures))
        verdict = risk.baseline_verdict(result.model_figures, result.baseline_figures)
        if verdict is not None:
            lines.append(f"  Warning: {verdict}")
        lines.append(f"  At risk today, ranked by risk x value ({result.value_source}):")
        for row in result.at_risk.head(top).to_dict(orient="records"):
            lines.append(f"  {row['rank']:>4}. {row['customer_id']:<10} risk {format_value(row['risk'], 'share'):>6}"
                         f"  value {format_value(row['expected_value'], 'money'):>12}  {row['reasons']}")
    if unusual.trusted:
        lines.append(f"Unusual customers: {len(unusual.table):,} of {unusual.compared:,} compared")
        for row in unusual.table.head(top).to_dict(orient="records"):
            lines.append(f"  {row['customer_id']:<10} {row['what_changed']}")
    else:
        lines.append("Unusual customers cannot be listed yet: " + "; ".join(unusual.problems) + ".")
    if csv_path is not None:
        lines.append(f"Wrote {len(result.at_risk):,} customers to {csv_path}")
    return "\n".join(lines)


def handle(args) -> int:
    if args.top < 0:
        raise UserFacingError("--top must be zero or more")
    database = open_database(args)
    filters = filters_from_args(database, args)
    result = risk.early_warning(database, filters)
    unusual = risk.unusual_customers(database, filters)
    if args.csv is not None:
        if not result.trusted:
            raise UserFacingError("the early-warning model cannot be trusted yet on this selection, so no at-risk "
                                  "list was written: " + "; ".join(result.problems))
        write_csv(result.at_risk, args.csv)
    report = {
        **result.report(),
        "beats_recency_alone": (risk.baseline_verdict(result.model_figures, result.baseline_figures) is None
                                if result.trusted else None),
        "verdict": (risk.baseline_verdict(result.model_figures, result.baseline_figures)
                    if result.trusted else None),
        "at_risk_top": result.at_risk.head(args.top),
        "unusual_customers": {"trusted": unusual.trusted, "problems": unusual.problems,
                              "compared": unusual.compared, "flagged": len(unusual.table),
                              "top": unusual.table.head(args.top)},
        "csv": str(args.csv) if args.csv is not None else None,
        "customers_written": len(result.at_risk) if args.csv is not None else 0,
    }
    emit(report, args, _text(result, unusual, args.top, args.csv))
    return 0
