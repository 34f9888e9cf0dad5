"""Load history and undo: every batch with its file, hash, counts and loader; undoing one exactly.

A batch is one file loaded by ``load_file`` (or the demo company). Every row a
load writes carries its ``batch_id``, so undoing a batch deletes exactly those
rows, marks the batch undone, refreshes the derived tables and bumps the data
version, all in one transaction: the database then holds what it held before
the batch was loaded, and every page and cached query sees it at once.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd

from customer_value.db import Database, bump_data_version
from customer_value.derive import refresh_after_change
from customer_value.errors import UserFacingError
from customer_value.query import run

# Tables whose rows belong to a batch, with the column naming the customer a row
# touches (so the derived tables can be refreshed for those customers only).
BATCH_TABLES: dict[str, str] = {
    "transactions": "customer_id",
    "customers": "customer_id",
    "feedback": "customer_id",
    "leads": "converted_customer_id",
}

# The demo company is one batch spanning every table; files hold one kind each.
DEMO_KIND = "demo"

HISTORY_COLUMNS = {
    "batch_id": "Batch",
    "kind": "Kind",
    "source_name": "File",
    "content_hash": "Content hash",
    "rows_read": "Rows read",
    "rows_loaded": "Loaded",
    "rows_rejected": "Rejected",
    "rows_duplicate": "Duplicates skipped",
    "rows_already_loaded": "Already loaded",
    "loaded_at": "Loaded at",
    "loaded_by": "Loaded by",
    "status": "Status",
}


def list_batches(db: Database) -> pd.DataFrame:
    """Every load batch, newest first.

    Parameters
    ----------
    db : Database
        The open database.

    Returns
    -------
    pandas.DataFrame
        One row per batch: ``batch_id``, ``kind``, ``source_name``, ``content_hash``,
        ``rows_read``, ``rows_loaded``, ``rows_rejected``, ``rows_duplicate``,
        ``rows_already_loaded``, ``loaded_at``, ``loaded_by``, ``undone_at`` (NaT while
        the batch is in force) and ``status`` ('in force' or 'undone <when>').
    """
    frame = run(db, "load_batches")
    frame["status"] = [
        "in force" if pd.isna(when) else f"undone {pd.Timestamp(when):%Y-%m-%d %H:%M}"
        for when in frame["undone_at"]
    ]
    return frame


def batch_report(db: Database, batch_id: Any) -> dict[str, Any]:
    """The load report stored with batch ``batch_id`` when it was loaded (and its undo, if any).

    Returns
    -------
    dict
        The report as :meth:`LoadReport.to_dict` wrote it (figures, reconciliation,
        mapping, notices and the first rejected rows as ``rejected_examples``), plus
        ``undo`` once the batch is undone. The demo company's batch has no stored report,
        so its dict holds only the counts of the history.

    Raises
    ------
    UserFacingError
        When the id is not a whole number or names no batch.
    """
    number = _batch_number(batch_id)
    row = db.cursor().execute(
        "select kind, source_name, report_json, rows_read, rows_loaded, rows_rejected, rows_duplicate, "
        "rows_already_loaded from load_batches where batch_id = ?", [number]
    ).fetchone()
    if row is None:
        raise UserFacingError(f"There is no load batch {number}; the load history lists them.")
    kind, source_name, report_json, *counts = row
    try:
        report = json.loads(report_json) if report_json else {}
    except ValueError:
        report = {}
    if not isinstance(report, dict):
        report = {}
    fallback = {"batch_id": number, "kind": kind, "file": source_name,
                **dict(zip(("rows_read", "rows_loaded", "rows_rejected", "duplicate_lines_skipped",
                            "already_loaded_skipped"), counts, strict=True))}
    return {**fallback, **report}


def _batch_row(con: duckdb.DuckDBPyConnection, batch_id: int) -> tuple | None:
    return con.execute(
        "select kind, source_name, undone_at, report_json from load_batches where batch_id = ?", [batch_id]
    ).fetchone()


def check_undoable(db: Database, batch_id: Any) -> dict[str, Any]:
    """The batch ``batch_id`` as a dict (``batch_id``, ``kind``, ``source_name``), if it can be undone.

    Raises
    ------
    UserFacingError
        When the id is not a whole number, names no batch, or the batch was undone already.
    """
    number = _batch_number(batch_id)
    row = _batch_row(db.cursor(), number)
    _refuse_unless_undoable(number, row)
    return {"batch_id": number, "kind": row[0], "source_name": row[1]}


def _batch_number(batch_id: Any) -> int:
    try:
        number = int(str(batch_id).strip())
    except ValueError:
        raise UserFacingError(f"'{batch_id}' is not a batch number; the load history lists them.") from None
    return number


def _refuse_unless_undoable(batch_id: int, row: tuple | None) -> None:
    if row is None:
        raise UserFacingError(
            f"There is no load batch {batch_id}; the load history (python -m customer_value batches) lists them. "
            "Nothing was changed."
        )
    _, source_name, undone_at, _ = row
    if undone_at is not None:
        raise UserFacingError(
            f"Batch {batch_id} ({source_name}) was already undone on {pd.Timestamp(undone_at):%Y-%m-%d %H:%M}. "
            "Nothing was changed."
        )


def undo_batch(db: Database, batch_id: Any, user: str) -> dict[str, Any]:
    """Remove every row batch ``batch_id`` loaded, in one transaction; nothing else changes.

    Parameters
    ----------
    db : Database
        The open database.
    batch_id : int
        The batch to undo (a number from :func:`list_batches`).
    user : str
        Who undoes it; kept in the batch's report next to the time.

    Returns
    -------
    dict
        ``batch_id``, ``kind``, ``source_name``, ``undone_at``, ``undone_by``,
        ``rows_removed`` (rows deleted per table), ``customers_affected`` and
        ``notices`` (plain-language consequences worth telling the user).

    Raises
    ------
    UserFacingError
        When the batch does not exist or was undone already; the database is unchanged.

    Notes
    -----
    A later load of the same data skipped its rows as "already loaded" by this batch;
    those rows leave with this batch, and a notice says which later batches are affected
    (load their file again to bring the rows back).
    """
    number = _batch_number(batch_id)
    user_name = str(user or "").strip() or "unknown"
    # Undoing a big batch rebuilds the derived tables: as heavy as the load, so under the same memory limit.
    with db.write_lock, db.loading_memory():
        con = db.cursor()
        con.execute("begin transaction")
        try:
            row = _batch_row(con, number)
            _refuse_unless_undoable(number, row)
            kind, source_name, _, report_json = row
            customer_ids: set[str] = set()
            removed: dict[str, int] = {}
            for table, customer_column in BATCH_TABLES.items():
                # Table and column names come from the constant BATCH_TABLES, never from user input.
                ids = con.execute(
                    "select distinct " + customer_column + " from " + table
                    + " where batch_id = ? and " + customer_column + " is not null",
                    [number],
                ).fetchall()
                customer_ids.update(str(value) for (value,) in ids)
                removed[table] = int(con.execute("delete from " + table + " where batch_id = ?",
                                                 [number]).fetchone()[0])
            # The same clock as loaded_at (the loader stamps it in SQL), to the second.
            undone_at = con.execute(
                "select date_trunc('second', cast(current_timestamp as timestamp))").fetchone()[0]
            report = _with_undo(report_json, undone_at, user_name, removed)
            con.execute("update load_batches set undone_at = ?, report_json = ? where batch_id = ?",
                        [undone_at, report, number])
            notices = _later_skips(con, number, kind)
            refresh_after_change(con, sorted(customer_ids))
            bump_data_version(con)
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
    return {
        "batch_id": number,
        "kind": kind,
        "source_name": source_name,
        "undone_at": undone_at,
        "undone_by": user_name,
        "rows_removed": removed,
        "customers_affected": len(customer_ids),
        "notices": notices,
    }


def _with_undo(report_json: str | None, undone_at: datetime, user: str, removed: dict[str, int]) -> str:
    """The batch's stored report with who undid it added (load_batches has no column for that)."""
    try:
        report = json.loads(report_json) if report_json else {}
    except ValueError:
        report = {"original_report": report_json}
    if not isinstance(report, dict):
        report = {"original_report": report}
    report["undo"] = {"undone_at": undone_at.isoformat(), "undone_by": user, "rows_removed": removed}
    return json.dumps(report, ensure_ascii=False)


def _later_skips(con: duckdb.DuckDBPyConnection, batch_id: int, kind: str) -> list[str]:
    """Later batches in force that skipped lines as already loaded, possibly by this batch."""
    later = con.execute(
        """select batch_id, source_name, rows_already_loaded from load_batches
           where batch_id > ? and undone_at is null and rows_already_loaded > 0
             and (kind = ? or ? = ?)
           order by batch_id""",
        [batch_id, kind, kind, DEMO_KIND],
    ).fetchall()
    return [
        f"Batch {later_id} ({source}) skipped {skipped:,} {'row' if skipped == 1 else 'rows'} as already loaded; "
        f"any of them that this batch held are gone now. Load {source} again to bring them back."
        for later_id, source, skipped in later
    ]
