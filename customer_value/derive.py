"""Derived tables built at load time, so pages read customer-level data, not raw lines.

Each model is one SQL file in ``queries/models/``; they are rebuilt in
dependency order inside the caller's transaction, so a load (or undo) and its
derived tables land together or not at all.

After a load or an undo, ``refresh_after_change`` recomputes only the rows of
the customers it touched: the same model SQL runs with the tables it reads
shadowed by temporary views narrowed to those customers (a temporary view
hides the table of the same name), their old rows are deleted and the new
ones inserted. ``customer_key`` stays what it was (new customers get the next
numbers), so keys differ from a full rebuild's only in numbering, never in
content. movement_events mixes customers in each row; being additive, it is
corrected by subtracting the customers' old movements and adding the new.
tests/test_derived.py checks that the result equals a full rebuild.

One derived table is computed in Python: ``retention_cells``, revenue retention
over 12 months for every month, customer type, region and value class, with
every customer counted (``customer_value.movements.retention_table``). Its value
class ranks all of a month's base customers, so it is not additive by customer:
a load or undo that changes any customer's monthly revenue, customer type or
region recomputes it whole (about a second at 10 million lines, 13 s at 100
million). One that changes none of these (a survey export, new names or sales
reps) leaves it as it is. Pages read it when nobody is filtered out and compute
a narrower scope per request.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from datetime import date

import duckdb

from customer_value import movements
from customer_value.db import bump_data_version, set_meta
from customer_value.errors import UserFacingError
from customer_value.filters import previous_period, resolve_period
from customer_value.movements import RETENTION_COLUMNS, retention_table
from customer_value.query import MOVEMENT_CUBE_WINDOWS, arrow_to_frame, load_sql, parameters_of, stored_periods_text

# Dependency order: each model reads only base tables and models listed before it.
MODELS = ["customer_dim", "customer_days", "customer_month", "customer_summary", "answer_days", "customer_periods",
          "movement_events", "revenue_movement_months"]
# Derived tables computed in Python after the SQL models, and the queries they read.
PYTHON_MODELS = {"retention_cells": ["retention_cells_revenue", "retention_cells_segments"]}
# The derived tables those queries read (both carry customer_id, so a refresh can narrow them).
RETENTION_INPUT_TABLES = ["customer_month", "customer_summary"]
DERIVED_TABLES = [*MODELS, *PYTHON_MODELS]
# The only parameters a model may take; none comes from user input.
MODEL_PARAMETERS = {"cube_windows": list(MOVEMENT_CUBE_WINDOWS)}
# The period presets customer_periods keeps every customer's figures for, resolved against the data's range.
STORED_PERIOD_PRESETS = ("last_12_months", "year_to_date", "last_full_year", "all_time")
# Parameters computed from the data (the stored periods) rather than fixed like MODEL_PARAMETERS.
PERIOD_PARAMETERS = {"period_starts", "period_ends"}


def stored_periods(data_start: date | None, data_end: date | None) -> list[tuple[date, date]]:
    """The distinct (start, end) of the stored period presets for data from ``data_start`` to ``data_end``, and
    of the period before each (Filters.previous: what the team page compares with)."""
    if data_start is None or data_end is None:
        return []
    presets = {resolve_period(preset, data_end, data_start) for preset in STORED_PERIOD_PRESETS}
    return sorted(presets | {previous_period(start, end) for start, end in presets})


def _data_range(con: duckdb.DuckDBPyConnection) -> tuple[date | None, date | None]:
    """First and last transaction day as the tables hold them now (the meta keys may not be written yet)."""
    return con.execute("select min(order_date), max(order_date) from transactions").fetchone()


def _periods_of_data(con: duckdb.DuckDBPyConnection) -> list[tuple[date, date]]:
    """The stored periods for the data as the tables hold it now."""
    return stored_periods(*_data_range(con))


def _periods_moved(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether customer_periods holds other periods than the data's range now gives (or none recorded)."""
    held = con.execute("select value from app_meta where key = 'stored_periods'").fetchone()
    return held is None or held[0] != stored_periods_text(_periods_of_data(con))


def _model_parameters(con: duckdb.DuckDBPyConnection, model: str) -> dict:
    needed = parameters_of(load_sql("models/" + model))
    params = {name: MODEL_PARAMETERS[name] for name in needed if name in MODEL_PARAMETERS}
    if needed & PERIOD_PARAMETERS:
        periods = _periods_of_data(con)
        params.update(period_starts=[start for start, _ in periods], period_ends=[end for _, end in periods])
    return params


# Tables (and the models reading them) a customer's derived rows depend on; all carry customer_id.
CUSTOMER_TABLES = {
    "customer_dim": ["customers", "transactions", "feedback"],
    "customer_days": ["transactions", "customer_dim"],
    "customer_month": ["customer_days"],
    "customer_summary": ["customer_dim", "customer_days"],
    "answer_days": ["feedback", "customer_dim"],
    "customer_periods": ["customer_days"],
}
# Models whose rows each sum many customers' figures by group (keys), refreshed by subtracting the
# refreshed customers' old figures and adding their new ones; the tables they read, narrowed.
ADDITIVE_MODELS = {
    "movement_events": (("window_days", "event_date", "customer_type", "region", "sales_rep"),
                        ("new_customers", "reactivated", "lost", "lost_at_contract_end"),
                        ["customer_dim", "customer_days"]),
    "revenue_movement_months": (("month", "customer_type", "region", "sales_rep"),
                                ("revenue_start", "new_revenue", "expansion_revenue", "reactivation_revenue",
                                 "contraction_revenue", "churned_revenue", "revenue_end", "new_buyers",
                                 "churned_buyers"),
                                ["customer_month", "customer_summary"]),
}
# Above this share of all customers an incremental refresh is no cheaper than a rebuild.
INCREMENTAL_MAX_SHARE = 0.2


def rebuild_derived(con: duckdb.DuckDBPyConnection) -> None:
    """Rebuild every derived model and the data-range metadata on ``con`` (inside its transaction)."""
    for model in MODELS:
        _build_model(con, model)
    check_attribute_groups(con)
    build_retention_cells(con)
    set_meta(con, "movement_cube_windows", ",".join(str(window) for window in MOVEMENT_CUBE_WINDOWS))
    set_meta(con, "derived_signature", models_signature())
    _set_data_range(con)


def _build_model(con: duckdb.DuckDBPyConnection, model: str) -> None:
    # Model names come from the constant list above, never from user input.
    statement = "create or replace table " + model + " as " + load_sql("models/" + model)
    params = _model_parameters(con, model)
    con.execute(statement, params)
    if model == "customer_periods":
        # The periods the table was built with, as bound: not a second read of the data's range.
        periods = list(zip(params["period_starts"], params["period_ends"], strict=True))
        set_meta(con, "stored_periods", stored_periods_text(periods))


def build_retention_cells(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)build ``retention_cells`` from customer_month and customer_summary, on ``con`` (inside its transaction).

    Every month from the first in which anyone can be in the base (12 months after
    the first month with revenue) to the last (23 months after the last one); no
    month outside that range has a base customer, so any period's rows are those
    of its months here.
    """
    rows = arrow_to_frame(con.sql(load_sql("retention_cells_revenue")).to_arrow_table())
    segments = arrow_to_frame(con.sql(load_sql("retention_cells_segments")).to_arrow_table())
    months = [] if rows.empty else list(range(int(rows["month_number"].iloc[0]) + 12,
                                              int(rows["month_number"].iloc[-1]) + 24))
    cells = retention_table(rows, segments, months)
    # The column types are spelled out: an empty frame has none to infer them from.
    con.execute("""create or replace table retention_cells (
                       month date, customer_type varchar, region varchar, value_class varchar,
                       base_customers bigint, retained_customers bigint,
                       base_revenue double, current_revenue double, retained_revenue double)""")
    if not cells.empty:
        con.register("retention_cells_frame", cells[RETENTION_COLUMNS])
        try:
            con.execute("insert into retention_cells by name select * from retention_cells_frame")
        finally:
            con.unregister("retention_cells_frame")


def check_attribute_groups(con: duckdb.DuckDBPyConnection) -> None:
    """Refuse data in which two different (type, region, sales rep) triples share one ``attribute_group``.

    Queries keep the customers in scope by that number alone, so two triples on one
    number would silently mix their customers. With 64-bit hashes it takes billions
    of triples to make that likely; the check is one scan of ``customer_dim``.
    """
    clashes = con.execute(
        "select count(*) from (select attribute_group from (select distinct attribute_group, customer_type, region,"
        " sales_rep from customer_dim) as triples group by attribute_group having count(*) > 1) as shared"
    ).fetchall()[0][0]
    if clashes:
        raise UserFacingError(
            f"{clashes} group numbers of the derived tables each stand for more than one combination of customer "
            "type, region and sales rep, which would mix those customers in every filtered figure; nothing was "
            "changed. Please report this with the customers file that caused it.")


# The code the Python models' figures depend on (models_signature fingerprints it).
_PYTHON_MODEL_CODE = [build_retention_cells, movements.retention_table, movements._top_revenue_share,
                      movements._month_rows]


def _set_data_range(con: duckdb.DuckDBPyConnection) -> None:
    data_start, data_end = _data_range(con)
    set_meta(con, "data_start", data_start.isoformat() if data_start else "")
    set_meta(con, "data_end", data_end.isoformat() if data_end else "")


def _derived_tables_exist(con: duckdb.DuckDBPyConnection) -> bool:
    present = {row[0] for row in con.execute(
        "select table_name from information_schema.tables where table_schema = 'main'").fetchall()}
    has_windows = con.execute(
        "select count(*) from app_meta where key = 'movement_cube_windows' and value = ?",
        [",".join(str(window) for window in MOVEMENT_CUBE_WINDOWS)]).fetchone()[0]
    return set(DERIVED_TABLES) <= present and bool(has_windows)


def _shadowed(con: duckdb.DuckDBPyConnection, catalog: str, tables: list[str], sql: str, target: str,
              params: dict) -> None:
    """Run ``sql`` into the temp table ``target`` with each of ``tables`` narrowed to the refreshed customers."""
    quoted_catalog = '"' + catalog.replace('"', '""') + '"'
    try:
        for table in tables:
            # Table names come from CUSTOMER_TABLES / MODELS, the catalog from current_database().
            con.execute("create or replace temp view " + table + " as select * from " + quoted_catalog + ".main."
                        + table + " where customer_id in (select customer_id from refresh_ids)")
        con.execute("create or replace temp table " + target + " as " + sql, params)
    finally:
        for table in tables:
            con.execute("drop view if exists temp.main." + table)


def refresh_customers(con: duckdb.DuckDBPyConnection, customer_ids: list[str]) -> None:
    """Recompute the derived rows of ``customer_ids`` only (see the module docstring)."""
    catalog = con.execute("select current_database()").fetchone()[0]
    con.execute("create or replace temp table refresh_ids as select distinct unnest($ids) as customer_id",
                {"ids": list(customer_ids)})
    _retention_inputs(con, catalog, "refresh_old_retention_inputs")
    for model, (_, _, tables) in ADDITIVE_MODELS.items():
        _shadowed(con, catalog, tables, load_sql("models/" + model), "refresh_old_" + model,
                  _model_parameters(con, model))
    # customer_dim: recomputed rows keep their key; ids seen for the first time get the next free numbers.
    _shadowed(con, catalog, CUSTOMER_TABLES["customer_dim"], load_sql("models/customer_dim"), "refresh_dim", {})
    con.execute(
        """create or replace temp table refresh_dim_keyed as
           select
               coalesce(existing.customer_key, cast(
                   (select coalesce(max(customer_key), 0) from customer_dim)
                   + sum(case when existing.customer_key is null then 1 else 0 end)
                       over (order by fresh.customer_id rows between unbounded preceding and current row)
                   as integer)) as customer_key,
               fresh.* exclude (customer_key)  -- DuckDB's exclude: every other column as the model made it
           from refresh_dim as fresh
           left join customer_dim as existing on existing.customer_id = fresh.customer_id""")
    con.execute("delete from customer_dim where customer_id in (select customer_id from refresh_ids)")
    # "by name" (DuckDB) matches columns by name, whatever order the model selects them in.
    con.execute("insert into customer_dim by name select * from refresh_dim_keyed")
    check_attribute_groups(con)
    # A load that moves the data's first or last day moves the stored periods: customer_periods is then
    # rebuilt whole (after customer_days is up to date) instead of customer by customer.
    periods_moved = _periods_moved(con)
    per_customer = ["customer_days", "customer_month", "customer_summary", "answer_days"]
    for model in per_customer if periods_moved else [*per_customer, "customer_periods"]:
        _shadowed(con, catalog, CUSTOMER_TABLES[model], load_sql("models/" + model), "refresh_rows",
                  _model_parameters(con, model))
        con.execute("delete from " + model + " where customer_id in (select customer_id from refresh_ids)")
        con.execute("insert into " + model + " by name select * from refresh_rows")
    if periods_moved:
        _build_model(con, "customer_periods")
    temporaries = ["refresh_ids", "refresh_dim", "refresh_dim_keyed", "refresh_rows"]
    for model, (keys, measures, tables) in ADDITIVE_MODELS.items():
        _shadowed(con, catalog, tables, load_sql("models/" + model), "refresh_new_" + model,
                  _model_parameters(con, model))
        _apply_difference(con, model, keys, measures)
        temporaries += ["refresh_old_" + model, "refresh_new_" + model]
    _retention_inputs(con, catalog, "refresh_new_retention_inputs")
    if _differ(con, "refresh_old_retention_inputs", "refresh_new_retention_inputs"):
        build_retention_cells(con)
    temporaries += ["refresh_old_retention_inputs", "refresh_new_retention_inputs"]
    for temporary in temporaries:
        con.execute("drop table if exists temp.main." + temporary)
    _set_data_range(con)


def _retention_inputs(con: duckdb.DuckDBPyConnection, catalog: str, target: str) -> None:
    """The refreshed customers' rows of what retention_cells is computed from, into the temp table ``target``.

    One row per customer_month row (customer, month, revenue in cents) with the
    customer's type and region. A customer with no customer_month row is in no
    month's base and has no current revenue, so their attributes cannot move a
    retention figure and are left out: a new customer known only from a survey
    answer or the customer list does not cost a rebuild.
    """
    # The two query texts are constants of this package, never user input.
    joined = ("select revenue.*, segments.customer_type, segments.region from (\n"
              + load_sql("retention_cells_revenue") + "\n) as revenue left join (\n"
              + load_sql("retention_cells_segments") + "\n) as segments"
              " on segments.customer_key = revenue.customer_key")
    _shadowed(con, catalog, RETENTION_INPUT_TABLES, joined, target, {})


def _differ(con: duckdb.DuckDBPyConnection, first: str, second: str) -> bool:
    """Whether two temp tables of the same columns hold different rows (as multisets)."""
    return bool(con.execute(
        "select exists (select * from " + first + " except all select * from " + second + ") "
        "or exists (select * from " + second + " except all select * from " + first + ")").fetchall()[0][0])


def _apply_difference(con: duckdb.DuckDBPyConnection, model: str, keys: tuple[str, ...],
                      measures: tuple[str, ...]) -> None:
    """Rewrite the additive ``model`` as its rows + refresh_new_<model> - refresh_old_<model>, zero rows dropped.

    Sums keep each measure's type (a sum of INTEGER is HUGEINT in DuckDB; the cast
    takes it back), so the table is typed as a full rebuild makes it.
    """
    key_list = ", ".join(keys)
    types = dict(con.execute("select column_name, data_type from information_schema.columns "
                             "where table_schema = 'main' and table_name = $model", {"model": model}).fetchall())
    # Names and types come from ADDITIVE_MODELS and the catalog, never from user input.
    summed = ", ".join(f"cast(sum({measure}) as {types[measure]}) as {measure}" for measure in measures)
    measure_list = ", ".join(measures)
    negated = ", ".join(f"-{measure}" for measure in measures)
    nonzero = " or ".join(f"sum({measure}) <> 0" for measure in measures)
    con.execute(
        "create or replace table " + model + " as select " + key_list + ", " + summed + " from ("
        " select " + key_list + ", " + measure_list + " from " + model
        + " union all select " + key_list + ", " + measure_list + " from refresh_new_" + model
        + " union all select " + key_list + ", " + negated + " from refresh_old_" + model
        + ") group by " + key_list + " having " + nonzero + " order by " + key_list)


def refresh_after_change(con: duckdb.DuckDBPyConnection, customer_ids: list[str] | None = None) -> None:
    """Bring the derived tables up to date after a load or an undo, inside the caller's transaction.

    Every writer (loader, undo, demo) calls this one function, so the way derived
    tables are maintained can change (incremental refresh of ``customer_ids`` only)
    without touching the writers. ``customer_ids=None`` means "anything may have changed".
    """
    if customer_ids is None or not _derived_tables_exist(con):
        rebuild_derived(con)
        return
    ids = sorted({str(customer_id) for customer_id in customer_ids if customer_id is not None})
    known = con.execute("select count(*) from customer_dim").fetchone()[0]
    if len(ids) > INCREMENTAL_MAX_SHARE * max(known, 1):
        rebuild_derived(con)
    elif ids:
        refresh_customers(con, ids)
    else:
        # Only anonymous lines changed: no customer's rows, but maybe the data's date range and so the presets.
        _set_data_range(con)
        if _periods_moved(con):
            _build_model(con, "customer_periods")


def models_signature() -> str:
    """A fingerprint of the model SQL and parameters this release builds derived tables with."""
    digest = hashlib.sha256(json.dumps(MODEL_PARAMETERS, sort_keys=True).encode())
    for model in MODELS:
        digest.update(model.encode() + b"\0" + load_sql("models/" + model).encode() + b"\0")
    # A Python model's rules live in code, so its code is fingerprinted with its queries: a database built by
    # a release that computed it otherwise is rebuilt, and never shows figures the filtered views disagree with.
    for model, queries in PYTHON_MODELS.items():
        digest.update(model.encode() + b"\0")
        for name in queries:
            digest.update(load_sql(name).encode() + b"\0")
    for function in _PYTHON_MODEL_CODE:
        digest.update(inspect.getsource(function).encode() + b"\0")
    return digest.hexdigest()


def rebuild_if_models_changed(con: duckdb.DuckDBPyConnection) -> bool:
    """Rebuild the derived tables of a database built by a release with other models; True if it did.

    A database made before a model was added or changed would otherwise fail
    ("table ... does not exist") or, worse, show figures by the old rules. The
    base tables hold everything, so a rebuild (one transaction) is always exact.
    """
    stored = con.execute("select value from app_meta where key = 'derived_signature'").fetchall()
    if stored and stored[0][0] == models_signature():
        return False
    had_derived_tables = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'main' and table_name = 'customer_dim'"
    ).fetchall()[0][0] > 0
    con.execute("begin transaction")
    try:
        rebuild_derived(con)
        if had_derived_tables:
            # Figures may change with the models: cached results of the old ones must not be served.
            bump_data_version(con)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return True
