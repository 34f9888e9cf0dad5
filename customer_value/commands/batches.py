"""``batches`` and ``undo``: the load history, and undoing one batch."""

from __future__ import annotations

import argparse
import getpass
import json
from pathlib import Path

import pandas as pd

from customer_value.cli import emit, open_database
from customer_value.errors import UserFacingError
from customer_value.formatting import format_value
from customer_value.loader.history import DEMO_KIND, batch_report, check_undoable, list_batches, undo_batch


def _batch_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a batch number (see 'batches')") from None
    if value < 1:
        raise argparse.ArgumentTypeError("batch numbers start at 1")
    return value


def register(subparsers, common) -> None:
    del common  # the filter flags mean nothing for the load history
    history = subparsers.add_parser("batches", help="list the load history: every file loaded, its counts, undo state")
    history.add_argument("--db", type=Path, default=None,
                         help="DuckDB file (default: the demo database, built on first use)")
    history.add_argument("--json", action="store_true", help="print the history as JSON")
    history.add_argument("--report", type=_batch_number, metavar="BATCH",
                         help="print the load report stored with this batch (JSON) instead of the history")
    history.set_defaults(handler=handle_batches)

    undo = subparsers.add_parser("undo", help="undo one load batch: all its rows leave, nothing else changes")
    undo.add_argument("batch_id", type=_batch_number, help="the batch number from 'batches'")
    undo.add_argument("--db", type=Path, default=None,
                      help="DuckDB file (default: the demo database, built on first use)")
    undo.add_argument("--yes", action="store_true",
                      help="confirm undoing the demo company's batch (it removes every demo row)")
    undo.add_argument("--user", default=None, help="who undoes it (default: the login name)")
    undo.add_argument("--json", action="store_true", help="print the result as JSON")
    undo.set_defaults(handler=handle_undo)


def handle_batches(args) -> int:
    database = open_database(args)
    if args.report is not None:
        print(json.dumps(batch_report(database, args.report), indent=2, ensure_ascii=False, default=str))
        return 0
    frame = list_batches(database)
    if frame.empty:
        emit([], args, "No batches loaded yet. Load a file with 'python -m customer_value load FILE --kind KIND'.")
        return 0
    lines = [f"{'batch':>5}  {'kind':<12} {'read':>10} {'loaded':>10} {'rejected':>9} {'dupl.':>8} "
             f"{'already':>8}  {'loaded at':<16}  {'by':<16} status / file"]
    for row in frame.itertuples(index=False):
        lines.append(
            f"{row.batch_id:>5}  {row.kind:<12} {format_value(row.rows_read, 'count'):>10} "
            f"{format_value(row.rows_loaded, 'count'):>10} {format_value(row.rows_rejected, 'count'):>9} "
            f"{format_value(row.rows_duplicate, 'count'):>8} {format_value(row.rows_already_loaded, 'count'):>8}  "
            f"{row.loaded_at:%Y-%m-%d %H:%M}  {row.loaded_by[:16]:<16} {row.status}: {row.source_name}"
        )
    emit(_with_full_times(frame), args, "\n".join(lines))
    return 0


def _with_full_times(frame):
    """Times as ISO text to the second (the generic JSON conversion keeps only the day)."""
    shown = frame.copy()
    for column in ("loaded_at", "undone_at"):
        shown[column] = [None if pd.isna(value) else pd.Timestamp(value).isoformat(sep=" ")
                         for value in shown[column]]
    return shown


def handle_undo(args) -> int:
    database = open_database(args)
    batch = check_undoable(database, args.batch_id)
    if batch["kind"] == DEMO_KIND and not args.yes:
        raise UserFacingError(
            f"batch {args.batch_id} is the demo company ({batch['source_name']}); undoing it removes every demo "
            "row. Add --yes to confirm. Nothing was changed."
        )
    result = undo_batch(database, args.batch_id, args.user or _login_name())
    removed = ", ".join(f"{count:,} {table}" for table, count in result["rows_removed"].items() if count)
    text = [f"Undid batch {result['batch_id']} ({result['source_name']}): removed {removed or 'no rows'}; "
            f"{result['customers_affected']:,} customers affected."]
    text.extend(result["notices"])
    emit(result, args, "\n".join(text))
    return 0


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "command line"
