"""Derived tables built at load time, so pages read customer-level data, not raw lines.

Each model is one SQL file in ``queries/models/``; they are rebuilt in
dependency order inside the caller's transaction, so a load (or undo) and its
derived tables land together or not at all.
"""

from __future__ import annotations

import duckdb

from customer_value.db import set_meta
from customer_value.query import load_sql

# Dependency order: each model reads only base tables and models listed before it.
MODELS = ["customer_dim", "customer_days", "customer_month", "customer_summary"]


def rebuild_derived(con: duckdb.DuckDBPyConnection) -> None:
    """Rebuild every derived model and the data-range metadata on ``con`` (inside its transaction)."""
    for model in MODELS:
        # Model names come from the constant list above, never from user input.
        statement = "create or replace table " + model + " as " + load_sql("models/" + model)
        con.execute(statement)
    data_start, data_end = con.execute(
        "select min(order_date), max(order_date) from transactions"
    ).fetchone()
    set_meta(con, "data_start", data_start.isoformat() if data_start else "")
    set_meta(con, "data_end", data_end.isoformat() if data_end else "")


def refresh_after_change(con: duckdb.DuckDBPyConnection, customer_ids: list[str] | None = None) -> None:
    """Bring the derived tables up to date after a load or an undo, inside the caller's transaction.

    Every writer (loader, undo, demo) calls this one function, so the way derived
    tables are maintained can change (incremental refresh of ``customer_ids`` only)
    without touching the writers. ``customer_ids=None`` means "anything may have changed".
    """
    # customer_ids is accepted now so writers pass it from the start; until the
    # incremental path exists every change rebuilds everything, which is exact.
    del customer_ids
    rebuild_derived(con)
