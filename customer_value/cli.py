"""The command line: ``python -m customer_value COMMAND ...``.

Every report command takes the same filter flags and ``--json``, opens the
database with ``--db`` (default: the demo database, built if missing) and
computes its figures through the same package functions as the pages. Each
command lives in ``customer_value/commands/<name>.py`` and exposes
``register(subparsers, common)``; this module discovers them.

Errors the user can fix print one line on standard error and exit 2; nothing
prints a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from customer_value import commands as commands_package
from customer_value import db as dbmod
from customer_value.errors import UserFacingError
from customer_value.filters import DEFAULT_WINDOW_DAYS, MAX_WINDOW_DAYS, MIN_WINDOW_DAYS, PERIOD_PRESETS, Filters


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date in the form YYYY-MM-DD") from None


def positive_whole_number(unit: str = "", too_small: str = "must be at least 1") -> Callable[[str], int]:
    """An argparse type for counts of 1 or more; ``unit`` and ``too_small`` word its error messages."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a whole number" + (f" of {unit}" if unit else "")) \
                from None
        if value < 1:
            raise argparse.ArgumentTypeError(too_small)
        return value

    return parse


def _window(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of days") from None
    if not MIN_WINDOW_DAYS <= value <= MAX_WINDOW_DAYS:
        raise argparse.ArgumentTypeError(f"the window must be {MIN_WINDOW_DAYS} to {MAX_WINDOW_DAYS} days")
    return value


def common_parser() -> argparse.ArgumentParser:
    """Flags every report command shares: database, filters, JSON output."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", type=Path, default=None,
                        help="DuckDB file (default: the demo database, built on first use)")
    common.add_argument("--period", choices=sorted(PERIOD_PRESETS), default="last_12_months",
                        help="named period, ending on the data's last day (default: last_12_months)")
    common.add_argument("--start", type=_iso_date, help="custom period start, YYYY-MM-DD")
    common.add_argument("--end", type=_iso_date, help="custom period end, YYYY-MM-DD")
    common.add_argument("--customer-type", action="append", default=[], dest="customer_types",
                        help="keep this customer type (repeatable)")
    common.add_argument("--region", action="append", default=[], dest="regions",
                        help="keep this region (repeatable)")
    common.add_argument("--rep", action="append", default=[], dest="sales_reps",
                        help="keep this sales rep (repeatable)")
    common.add_argument("--window-days", type=_window, default=DEFAULT_WINDOW_DAYS,
                        help=f"churn window W in days (default {DEFAULT_WINDOW_DAYS})")
    common.add_argument("--json", action="store_true", help="print the result as JSON")
    return common


def open_database(args: argparse.Namespace, *, create: bool = False) -> dbmod.Database:
    """The database named by --db; without --db the demo database, built when missing.

    Report commands refuse a --db that does not exist (a typo should not
    silently report on an empty new file); ``create=True`` is for commands that
    write, such as ``load``.
    """
    from customer_value.demo import ensure_demo_database

    if args.db is None:
        ensure_demo_database(dbmod.DEFAULT_DB_PATH)
        return dbmod.connect(dbmod.DEFAULT_DB_PATH)
    if not Path(args.db).exists() and not create:
        raise UserFacingError(
            f"there is no database at {args.db}; build one with 'python -m customer_value demo --db {args.db}' "
            "or load a file into it with 'python -m customer_value load FILE --db PATH'"
        )
    return dbmod.connect(args.db)


def filters_from_args(database: dbmod.Database, args: argparse.Namespace) -> Filters:
    from customer_value.dataset import filter_choices, make_filters

    choices = filter_choices(database)
    for values, key, label in ((args.customer_types, "type", "customer type"),
                               (args.regions, "region", "region"), (args.sales_reps, "rep", "sales rep")):
        unknown = [value for value in values if value not in choices[key]]
        if unknown:
            known = ", ".join(choices[key][:12]) or "none loaded"
            raise UserFacingError(f"unknown {label} {', '.join(unknown)}; known: {known}")
    try:
        return make_filters(database, period=args.period, start=args.start, end=args.end,
                            customer_types=tuple(args.customer_types), regions=tuple(args.regions),
                            sales_reps=tuple(args.sales_reps), window_days=args.window_days)
    except ValueError as exc:
        raise UserFacingError(str(exc)) from None


def to_jsonable(value: Any) -> Any:
    """Plain JSON types for anything a report holds (dates, decimals, numpy, frames)."""
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(item) for item in value]
    if isinstance(value, pd.DataFrame):
        return to_jsonable(value.to_dict(orient="records"))
    if isinstance(value, pd.Timestamp | date):
        return value.isoformat()[:10] if isinstance(value, pd.Timestamp) else value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        return None if np.isnan(value) or np.isinf(value) else float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if value is pd.NaT or (value is not None and not isinstance(value, str | bool | int) and pd.isna(value)):
        return None
    return value


def emit(result: Any, args: argparse.Namespace, text: str | None = None) -> None:
    """Print ``result`` as JSON when --json was given, else the human-readable ``text``."""
    if getattr(args, "json", False) or text is None:
        print(json.dumps(to_jsonable(result), indent=2, ensure_ascii=False))
    else:
        print(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m customer_value",
                                     description="Customer-value dashboard: data, reports and models.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = common_parser()
    for module_info in sorted(pkgutil.iter_modules(commands_package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands_package.__name__}.{module_info.name}")
        module.register(subparsers, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except UserFacingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
