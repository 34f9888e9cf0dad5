"""The one road every query takes: named SQL files, bound parameters, row scope, cache.

``run(db, "name", filters=..., scope=..., params=...)`` reads ``queries/name.sql``,
makes sure the temporary view ``scoped_customers`` on this thread's cursor
lists exactly the customers the filters and the user's scope allow, binds the
parameters by name, and caches the result keyed by the query, its parameters,
the scope and the database's data version (which every load and undo bumps).

Row scope lives here and only here: a query never filters regions itself, it
joins ``scoped_customers``. When sign-in arrives, narrowing a viewer to their
region is one argument to this function.

A query may start with ``-- requires: other_query`` lines; each named query is
materialised first as a temporary table of that name on the same cursor (keyed
like the cache), so a building block such as ``month_end_activity`` is written
once and shared by several queries, dbt-style.
"""

from __future__ import annotations

import re
from dataclasses import astuple
from datetime import date
from functools import cache
from typing import Any

import pandas as pd
import pyarrow as pa

from customer_value.cache import LruCache, handed_out
from customer_value.db import PROJECT_DIR, Database
from customer_value.filters import Filters, Scope

QUERY_DIR = PROJECT_DIR / "queries"
_REQUIRES = re.compile(r"^--\s*requires:\s*([\w, ]+)$", re.MULTILINE)
_PARAMETER = re.compile(r"\$([a-z_][a-z0-9_]*)")
_CACHE_SIZE = 512
# At 500,000 customers one result can hold 30-100 MB; a hosted server keeps the most recent ones within this.
_CACHE_BYTES = 2 * 1024**3
# Churn windows W whose daily customer movements the derived table movement_events
# holds (the slider's common values); other W values are computed from customer_days.
MOVEMENT_CUBE_WINDOWS = (30, 60, 90, 180, 365)


class QueryNotFound(LookupError):
    pass


@cache
def load_sql(name: str) -> str:
    if not re.fullmatch(r"[a-z0-9_/]+", name):
        raise QueryNotFound(f"invalid query name {name!r}")
    path = QUERY_DIR / f"{name}.sql"
    if not path.exists():
        raise QueryNotFound(f"no query file {path}")
    return path.read_text(encoding="utf-8")


def required_queries(sql: str) -> list[str]:
    names: list[str] = []
    for match in _REQUIRES.finditer(sql):
        names.extend(part.strip() for part in match.group(1).split(",") if part.strip())
    return names


def parameters_of(sql: str) -> set[str]:
    without_comments = re.sub(r"--[^\n]*", "", sql)
    return set(_PARAMETER.findall(without_comments))


def filter_parameters(filters: Filters | None) -> dict[str, Any]:
    if filters is None:
        return {}
    return {
        "start": filters.start,
        "end": filters.end,
        "window_days": filters.window_days,
        "as_of": filters.as_of,
    }


def _scope_regions(filters: Filters | None, scope: Scope | None) -> tuple[str, ...] | None:
    """The regions a query may read: the user's choice, narrowed by what they may see."""
    chosen = tuple(filters.regions) if filters and filters.regions else None
    allowed = scope.regions if scope is not None else None
    if allowed is None:
        return chosen
    if chosen is None:
        return tuple(allowed)
    return tuple(region for region in chosen if region in allowed)


def all_customers_in_scope(filters: Filters | None, scope: Scope | None) -> bool:
    """True when neither the filters nor the user's scope leave any customer out.

    Queries bind it as ``$all_customers`` to skip joining ``scoped_customers``
    (every customer is in it then): at 10 million lines that join is most of a
    query's time. DuckDB folds the bound constant, so ``$all_customers or
    customer_key in (select ...)`` costs nothing when true.
    """
    return (_scope_regions(filters, scope) is None and not (filters and filters.customer_types)
            and not (filters and filters.sales_reps))


def _movement_cube(db: Database, filters: Filters | None) -> bool:
    """Whether movement_events answers for these filters (see queries/models/movement_events.sql)."""
    if filters is None or filters.as_of is None:
        return False
    # A database derived before movement_events existed has no such meta key: it is read the slow way.
    built_for = (db.meta("movement_cube_windows") or "").split(",")
    if str(filters.window_days) not in built_for:
        return False
    # The table's spells end where the data ends; an earlier "as of" day would cut them elsewhere.
    return db.meta("data_end") == filters.as_of.isoformat()


def stored_periods_text(periods: list[tuple[date, date]]) -> str:
    """How the meta key ``stored_periods`` lists the periods customer_periods holds."""
    return ",".join(f"{start.isoformat()}..{end.isoformat()}" for start, end in periods)


def _stored_period(db: Database, filters: Filters | None) -> bool:
    """Whether customer_periods holds the figures of the filters' period (see queries/models/customer_periods.sql)."""
    if filters is None:
        return False
    # A database derived before customer_periods existed has no such meta key: it is read the slow way.
    held = (db.meta("stored_periods") or "").split(",")
    return stored_periods_text([(filters.start, filters.end)]) in held


def _ensure_scoped_customers(db: Database, filters: Filters | None, scope: Scope | None) -> tuple:
    state = db.thread_state()
    regions = _scope_regions(filters, scope)
    types = tuple(filters.customer_types) if filters and filters.customer_types else None
    reps = tuple(filters.sales_reps) if filters and filters.sales_reps else None
    key = (db.data_version(), types, regions, reps)
    if state.scope_key != key:
        # Forgotten first: should a statement below fail, the next query builds the scope again rather than
        # trust a half-built one.
        state.scope_key = None
        # Always a view over customer_summary: with nobody left out, of every row; else of the rows of the
        # allowed customer groups (scope_allowed_groups.sql), where a copy of the customers cost seconds at 100M.
        if all_customers_in_scope(filters, scope):
            db.cursor().execute(load_sql("scoped_customers_all"))
        else:
            # Lists are bound as parameters; an empty list means "no restriction".
            db.cursor().execute(
                load_sql("scope_allowed_groups"),
                {
                    "customer_types": list(types or []),
                    "regions": list(regions or []),
                    "sales_reps": list(reps or []),
                    "restrict_regions": regions is not None,
                },
            )
            db.cursor().execute(load_sql("scoped_customers_of_groups"))
        state.scope_key = key
        state.materialised = {}
    return key


def _bind(sql: str, params: dict[str, Any], name: str) -> dict[str, Any]:
    needed = parameters_of(sql)
    missing = needed - params.keys()
    if missing:
        raise KeyError(f"query {name} needs parameters {sorted(missing)}")
    return {key: params[key] for key in needed}


def _materialise(db: Database, name: str, params: dict[str, Any]) -> None:
    state = db.thread_state()
    sql = load_sql(name)
    for dependency in required_queries(sql):
        _materialise(db, dependency, params)
    bound = _bind(sql, params, name)
    key = tuple(sorted((k, _freeze(v)) for k, v in bound.items()))
    if state.materialised.get(name) == key:
        return
    # The table name is a query file's name, checked by load_sql; no user text reaches it.
    statement = "create or replace temp table " + name + " as " + sql
    db.cursor().execute(statement, bound)
    state.materialised[name] = key
    # Anything built on this table is now stale.
    for other in list(state.materialised):
        if other != name and name in _all_requirements(other):
            del state.materialised[other]


@cache
def _all_requirements(name: str) -> frozenset[str]:
    direct = required_queries(load_sql(name))
    result = set(direct)
    for dependency in direct:
        result |= _all_requirements(dependency)
    return frozenset(result)


@cache
def _reads_scope(name: str) -> bool:
    """Whether the query (or a building block) joins scoped_customers.

    Load history and mapping presets are read before anything is loaded, when
    customer_summary, which scoped_customers is built from, does not exist yet.
    """
    return any("scoped_customers" in load_sql(query) for query in (name, *_all_requirements(name)))


def _freeze(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


# Every query's result, shared by the sessions of this process.
RESULT_CACHE = LruCache("query results", _CACHE_SIZE, max_bytes=_CACHE_BYTES)


def clear_cache() -> None:
    RESULT_CACHE.clear()


def run(
    db: Database,
    name: str,
    *,
    filters: Filters | None = None,
    scope: Scope | None = None,
    params: dict[str, Any] | None = None,
    use_cache: bool = True,
) -> pd.DataFrame:
    """Run ``queries/<name>.sql`` for these filters and scope; a fresh DataFrame the caller may change."""
    all_params = {**filter_parameters(filters), "all_customers": all_customers_in_scope(filters, scope),
                  **(params or {})}
    sql = load_sql(name)
    if "movement_cube" in parameters_of(sql) and "movement_cube" not in all_params:
        all_params["movement_cube"] = _movement_cube(db, filters)
    if "stored_period" in parameters_of(sql) and "stored_period" not in all_params:
        all_params["stored_period"] = _stored_period(db, filters)
    bound = _bind(sql, all_params, name)
    if use_cache:
        # The cache key covers the parameters of the building blocks too: a change of
        # W alters month_end_activity, and so every query built on it.
        dependency_params = {
            key: all_params[key]
            for dependency in _all_requirements(name)
            for key in parameters_of(load_sql(dependency))
            if key in all_params
        }
        scope_key = (_scope_regions(filters, scope), filters.customer_types if filters else None,
                     filters.sales_reps if filters else None)
        cache_key = (db.path, db.data_version(), name, _freeze({**dependency_params, **bound}), _freeze(scope_key))
        cached = RESULT_CACHE.get(cache_key)
        if cached is not None:
            return handed_out(cached)
    if _reads_scope(name):
        _ensure_scoped_customers(db, filters, scope)
    for dependency in required_queries(sql):
        _materialise(db, dependency, all_params)
    cursor = db.cursor()
    # DuckDB 2 refuses a relation while an earlier statement's result is still open on the cursor.
    cursor.complete()
    frame = arrow_to_frame(cursor.sql(sql, params=bound).to_arrow_table())
    if use_cache:
        RESULT_CACHE.put(cache_key, frame)
        return handed_out(frame)
    return frame


def arrow_to_frame(table: pa.Table) -> pd.DataFrame:
    """A query's Arrow result as the DataFrame DuckDB's ``.df()`` would give, in a fraction of the time.

    ``.df()`` turns every text cell into a Python string that pandas then packs
    back into Arrow memory: at 500,000 customers that took longer than the query.
    Through Arrow, text stays in Arrow memory. Two types are converted to keep
    ``.df()``'s frames exactly: DECIMAL and HUGEINT to float64, DATE to
    datetime64[us].
    """
    columns = []
    for field, column in zip(table.schema, table.columns, strict=True):
        if pa.types.is_decimal(field.type):
            column = column.cast(pa.float64())
        elif pa.types.is_date(field.type):
            column = column.cast(pa.timestamp("us"))
        columns.append(column)
    return pa.table(columns, names=table.column_names).to_pandas()


def detached_text(text: pd.Series) -> pd.Series:
    """A text column of a query result copied into memory of its own, to keep after the result is dropped.

    As read (``arrow_to_frame``), a text column shares the memory of DuckDB's Arrow result, which is freed
    only as a whole: keeping one short column of a 5-million-row result kept every column of it. A copy of
    the text alone costs milliseconds.
    """
    arrow = pa.array(text)
    chunks = arrow.chunks if isinstance(arrow, pa.ChunkedArray) else [arrow]
    if not chunks:
        return text
    # The array, not the Series to_pandas() makes: a Series would be matched to text.index by label.
    return pd.Series(pa.concat_arrays(chunks).to_pandas().array, index=text.index, name=text.name)


def scalar_row(frame: pd.DataFrame) -> dict[str, Any]:
    """The single row of an aggregate query as a dict of plain Python values."""
    if frame.empty:
        return {}
    row = frame.iloc[0].to_dict()
    return {key: (None if pd.isna(value) else value) for key, value in row.items()}


def filters_key(filters: Filters) -> tuple:
    return astuple(filters)


def as_date(value: Any) -> date | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return pd.Timestamp(value).date()
