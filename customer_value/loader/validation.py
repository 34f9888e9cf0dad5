"""Turning staged text cells into typed values, in SQL, with a reason for every cell that does not fit.

Detection reads whole columns, never a sample: a date column is day-first when
any of its dates has a first number above 12 and none has a second number
above 12, and the other way round; a number column uses decimal commas when
some value can only be read that way (``3,5``, ``1.234,56``) and none can only
be read with a decimal point.

All SQL here is assembled from fixed fragments and the staging column names
``c0``, ``c1``, ... ; values from the file are never written into SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from customer_value.loader.fields import BOOLEAN, DATE, DECIMAL, IDENTIFIER, INTEGER, fields_of
from customer_value.loader.reading import STAGING_TABLE, ReadOptions, StagedFile

PARSED_TABLE = "loader_parsed"

# A line of a trillion or more is a typing or export error, not a sale; the
# bound also keeps quantity x price exact in DECIMAL(38, 12).
MAX_ABS_NUMBER = 10**12
EARLIEST_DATE = "1900-01-01"

# Dates that cannot lie in the future: a planned contract end (churn_date) may.
NO_FUTURE_DATES = {"order_date", "response_date", "signup_date", "first_contact_date", "resolved_date"}

_CURRENCY = r"(RMB|CNY|USD|EUR|GBP|HKD|JPY|US\$|HK\$|元|[$€£¥￥₩₹])"
_SPACES = r"[\s\x{00a0}\x{202f}''’]"  # '' is one quote inside the SQL string
# A number with a decimal point (thousands with commas), or with a decimal comma.
_DOT_NUMBER = r"[-+]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?|[-+]?\.\d+|[-+]?\d+(\.\d+)?[eE][-+]?\d+"
_COMMA_NUMBER = r"[-+]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?|[-+]?,\d+"
# Values readable only one way.
_ONLY_COMMA = r"[-+]?\d{1,3}(\.\d{3})+,\d+|[-+]?\d+,\d{1,2}|[-+]?\d+,\d{4,}|[-+]?\d{1,3}(\.\d{3}){2,}"
_ONLY_DOT = r"[-+]?\d{1,3}(,\d{3})+\.\d+|[-+]?\d+\.\d{1,2}|[-+]?\d+\.\d{4,}|[-+]?\d{1,3}(,\d{3}){2,}"
_NUMERIC_DATE = r"^(\d{1,4})[-/.年](\d{1,2})[-/.月](\d{1,4})日?(?:[ T].*)?$"
_COMPACT_DATE = r"^(\d{4})(\d{2})(\d{2})$"
_NAMED_MONTH_FORMATS = ("['%d-%b-%Y', '%d %b %Y', '%b %d, %Y', '%b %d %Y', '%d %B %Y', '%B %d, %Y', "
                        "'%B %d %Y', '%d-%b-%y', '%d-%B-%Y']")
_TIME_SUFFIX = r"[ T]+\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*([AaPp][Mm])?$"

_TRUE_WORDS = "('1', 'true', 't', 'yes', 'y', 'x', '是', '是的', '有', 'cancelled', 'canceled', 'return', 'returned')"
_FALSE_WORDS = "('0', 'false', 'f', 'no', 'n', '否', '无', '没有', '-')"

REASONS = {
    "missing": "required value is empty",
    "not_a_date": "not a date",
    "future_date": "date is in the future",
    "too_old": "date before 1900",
    "not_a_number": "not a number",
    "too_large": "number too large (a trillion or more)",
    "not_whole_number": "not a whole number",
    "out_of_range": "outside the allowed range",
    "not_yes_no": "not yes or no",
    "key_conflict": "same key as an earlier row but different values",
    "ragged": "row does not match the header",
}


@dataclass
class ColumnDecisions:
    """What detection decided for the mapped columns (source column -> choice)."""

    date_orders: dict[str, str] = field(default_factory=dict)
    decimals: dict[str, str] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)


LEVELS = 6
# A number cell DuckDB casts as it stands (616.26, -3, 1e3): the full detection and its fast path must agree on it.
_PLAIN_NUMBER = "try_cast({cell} as decimal(38, 6)) is not null"
# The shape of an ISO date (2024-06-01), which the typing casts directly: a column the detection finds wholly
# ISO must have every cell of this shape.
_ISO_SHAPE = "length({cell}) = 10 and substr({cell}, 5, 1) = '-'"


def _trim(column: str) -> str:
    """``trim(column)``, skipped for the cells it would leave as they are.

    trim removes Unicode spaces, not tabs; in an all-ASCII cell the only such
    space is ' '. Most cells are plain ASCII without surrounding spaces, and the
    byte-level checks cost a third of a trim (trim copies every cell).
    """
    return (f"case when strlen({column}) = length({column}) and not starts_with({column}, ' ') "
            f"and not ends_with({column}, ' ') then {column} else trim({column}) end")


def _text(trimmed: str) -> str:
    return f"nullif({trimmed}, '')"


def _number_body(column: str) -> str:
    """The cell without currency, spaces, thousands apostrophes and accounting brackets (for detection)."""
    stripped = f"regexp_replace(trim({column}), '{_CURRENCY}|{_SPACES}', '', 'g')"
    return f"regexp_replace({stripped}, '^\\((.*)\\)$|^(.*)-$', '\\1\\2')"


def number_levels(name: str, trimmed: str, decimal: str) -> list[list[str]]:
    """Expressions, level by level, that end in ``v_<name>`` (DECIMAL(18, 6)) and ``e_<name>`` (error code).

    ``trimmed`` is the cell without surrounding spaces. Each level reads only
    columns made by the levels before it, so every regular expression runs at
    most once per cell (DuckDB does not share repeated subexpressions). Plain
    numbers (``616.26``) take the fast path of a direct cast and skip the regular
    expressions; that is only sound with decimal points.

    Every accepted value is below MAX_ABS_NUMBER (10^12), so DECIMAL(18, 6)
    holds it exactly: an integer of 64 bits, where DECIMAL(38, 6) would take
    128-bit arithmetic through every later step. A plain cell of 10^12 or more
    does not fit the fast cast; the wider cast ``g_`` then reads it as the old
    single DECIMAL(38, 6) cast did.
    """
    if decimal == ",":
        shape, cleaned = _COMMA_NUMBER, f"replace(replace(b_{name}, '.', ''), ',', '.')"
        fast = wide = "null::decimal(18, 6)"
    else:
        shape, cleaned = _DOT_NUMBER, f"replace(b_{name}, ',', '')"
        fast = f"try_cast({trimmed} as decimal(18, 6))"
        # A plain number the fast cast cannot hold: 10^12 or more ('too_large', whatever the shapes below
        # say), or a small value written with more digits than 18 (1234567890123e-3), which it reads.
        wide = f"try_cast(raw_{name} as decimal(38, 6))"
    slow = f"f_{name} is null and raw_{name} is not null"
    return [
        [f"{_text(trimmed)} as raw_{name}", f"{fast} as f_{name}"],
        [f"case when {slow} then regexp_replace(raw_{name}, '{_CURRENCY}|{_SPACES}', '', 'g') end as s_{name}",
         f"case when {slow} then {wide} end as g_{name}"],
        [f"regexp_replace(s_{name}, '^\\((.*)\\)$|^(.*)-$', '\\1\\2') as b_{name}",
         f"regexp_full_match(s_{name}, '\\(.*\\)|.*\\d-') as n_{name}"],
        [f"regexp_full_match(b_{name}, '{shape}') as ok_{name}", f"{cleaned} as k_{name}"],
        [f"try_cast(k_{name} as double) as m_{name}"],
        # Decimals are cast exactly; the double only serves the size check and exponents. A double
        # below 10^12 is a value that rounds (to 6 places) below 10^12, so the casts cannot overflow.
        [f"case when f_{name} is not null then f_{name} when g_{name} is not null then "
         f"(case when abs(g_{name}) < {MAX_ABS_NUMBER} then cast(g_{name} as decimal(18, 6)) end) "
         f"when ok_{name} and abs(m_{name}) < {MAX_ABS_NUMBER} then cast((case when n_{name} then -1 else 1 end) * "
         f"coalesce(try_cast(k_{name} as decimal(18, 6)), cast(m_{name} as decimal(18, 6))) as decimal(18, 6)) "
         f"end as v_{name}",
         f"case when raw_{name} is null or f_{name} is not null then null "
         f"when g_{name} is not null then (case when abs(g_{name}) >= {MAX_ABS_NUMBER} then 'too_large' end) "
         f"when not ok_{name} then 'not_a_number' "
         f"when m_{name} is null or abs(m_{name}) >= {MAX_ABS_NUMBER} then 'too_large' end as e_{name}"],
    ]


def date_levels(name: str, trimmed: str, order: str) -> list[list[str]]:
    """Expressions, level by level, ending in ``v_<name>`` (DATE) and ``e_<name>``, reading dates in ``order``.

    ``trimmed`` is the cell without surrounding spaces.
    """
    first, second, third = (f"try_cast(p_{name}.{part} as integer)" for part in ("a", "b", "c"))
    if order == "YMD":
        year, month, day = first, second, third
    elif order == "MDY":
        year, month, day = third, first, second
    else:
        year, month, day = third, second, first
    # Two-digit years: 00-69 are this century, 70-99 the last (as spreadsheets do).
    full_year = (f"case when {year} < 70 then 2000 + {year} when {year} < 100 then 1900 + {year} "
                 f"else {year} end")
    # A four-digit first number is a year whatever the column's order (ISO dates in a day-first file).
    numeric = (f"case when length(p_{name}.a) = 4 then try(make_date({first}, {second}, {third})) "
               f"else try(make_date({full_year}, {month}, {day})) end")
    named = f"try_strptime(regexp_replace(s_{name}, '{_TIME_SUFFIX}', ''), {_NAMED_MONTH_FORMATS})::date"
    # Fast path: ISO dates (YYYY-MM-DD, the most common export format) cast directly.
    iso = _ISO_SHAPE.format(cell=trimmed)
    return [
        [f"{_text(trimmed)} as raw_{name}", f"{trimmed} as s_{name}",
         f"case when {iso} then try_cast({trimmed} as date) end as f_{name}"],
        [f"case when f_{name} is null then regexp_extract(s_{name}, '{_NUMERIC_DATE}', ['a', 'b', 'c']) end "
         f"as p_{name}"],
        [],
        [],
        [f"case when f_{name} is not null then f_{name} "
         f"when regexp_full_match(s_{name}, '{_COMPACT_DATE}') then try_strptime(s_{name}, '%Y%m%d')::date "
         f"when p_{name}.a <> '' then {numeric} else {named} end as v_{name}"],
        [f"case when raw_{name} is not null and v_{name} is null then 'not_a_date' end as e_{name}"],
    ]


def boolean_levels(name: str, trimmed: str) -> list[list[str]]:
    word = f"lower(raw_{name})"
    return [
        [f"{_text(trimmed)} as raw_{name}"], [], [], [],
        [f"case when {word} in {_TRUE_WORDS} then true when {word} in {_FALSE_WORDS} then false end as v_{name}"],
        [f"case when raw_{name} is not null and v_{name} is null then 'not_yes_no' end as e_{name}"],
    ]


def text_levels(name: str, trimmed: str, identifier: bool) -> list[list[str]]:
    # Spreadsheets turn id 12583 into 12583.0; the id is the same customer.
    value = (f"case when raw_{name} like '%.0%' then regexp_replace(raw_{name}, '^(\\d+)\\.0+$', '\\1') "
             f"else raw_{name} end") if identifier else f"raw_{name}"
    return [[f"{_text(trimmed)} as raw_{name}"], [], [], [], [f"{value} as v_{name}"], [f"null::varchar as e_{name}"]]


def detect_columns(con: duckdb.DuckDBPyConnection, staged: StagedFile, kind: str, by_field: dict[str, str],
                   options: ReadOptions) -> ColumnDecisions:
    """Decide date order and decimal separator of every mapped date and number column from all its rows."""
    decisions = ColumnDecisions()
    types = {target.name: target.type for target in fields_of(kind)}
    date_columns = sorted({column for name, column in by_field.items() if types[name] == DATE})
    number_columns = sorted({column for name, column in by_field.items() if types[name] in (DECIMAL, INTEGER)})
    counts: list[int] = []
    plain_dates, plain_numbers = _plain_columns(con, staged, date_columns, number_columns)
    # Each column is examined through its distinct values weighted by how often
    # they occur: the same answer as row by row, with far fewer regular expressions
    # (a million order dates hold a few thousand distinct strings).
    for column in date_columns:
        if column in plain_dates:
            counts += [0, 0, 0]  # every date is ISO (2024-06-01): none starts with a day or a month
            continue
        parts = f"regexp_extract(trim(cell), '{_NUMERIC_DATE}', ['a', 'b', 'c'])"
        short_first = f"{parts}.a <> '' and length({parts}.a) <= 2"
        counts += _weighted_counts(con, staged.sql_column(column), [
            f"{short_first} and try_cast({parts}.a as integer) > 12",
            f"{short_first} and try_cast({parts}.b as integer) > 12",
            short_first,
        ])
    for column in number_columns:
        if column in plain_numbers:
            # Nothing but plain numbers: no decimal comma, no currency; only whether a point must be decimal.
            # A plain number has no comma, so it reads only with a decimal point when its one point is
            # followed by other than three characters: the LIKE tests spare the regular expression the rest.
            only_dot = f"cell like '%.%' and cell not like '%.___' and regexp_full_match(cell, '{_ONLY_DOT}')"
            counts += [0, _any_row(con, _trim(staged.sql_column(column)), only_dot), 0]
            continue
        body = _number_body("cell")
        # A value DuckDB casts as it stands (616.26, -3, 1e3) holds no comma, currency, space or
        # bracket: its body is itself and only the decimal-point shape needs a regular expression.
        # At ten million lines most values are such, and this skips three quarters of the work.
        counts += _weighted_counts(con, staged.sql_column(column), [
            f"not plain and regexp_full_match({body}, '{_ONLY_COMMA}')",
            f"case when plain then regexp_full_match(trim(cell), '{_ONLY_DOT}') "
            f"else regexp_full_match({body}, '{_ONLY_DOT}') end",
            f"not plain and regexp_matches(trim(cell), '{_CURRENCY}')",
        ], plain=_PLAIN_NUMBER.format(cell="trim(cell)"))
    if not counts:
        return decisions
    undecided_dates = []
    for column in date_columns:
        day_first, month_first, short = counts[:3]
        del counts[:3]
        if options.date_order:
            decisions.date_orders[column] = options.date_order
        elif short == 0:
            decisions.date_orders[column] = "YMD"
        elif day_first and not month_first:
            decisions.date_orders[column] = "DMY"
        elif month_first and not day_first:
            decisions.date_orders[column] = "MDY"
        elif day_first and month_first:
            chosen = "DMY" if day_first >= month_first else "MDY"
            decisions.date_orders[column] = chosen
            decisions.notices.append(
                f"column '{column}' mixes day-first and month-first dates; read as {chosen}, "
                f"the {min(day_first, month_first)} dates that only make sense the other way are rejected"
            )
        else:
            undecided_dates.append(column)
    decided = {order for order in decisions.date_orders.values() if order in ("DMY", "MDY")}
    for column in undecided_dates:
        if len(decided) == 1:
            order = decided.pop()
            decided.add(order)
            decisions.notices.append(
                f"the dates in column '{column}' read either way; read as {order} like the file's other dates"
            )
        else:
            order = "DMY"
            decisions.notices.append(
                f"the dates in column '{column}' read either way (no day above 12); read as day/month/year. "
                "Choose the date order if they are month/day/year"
            )
        decisions.date_orders[column] = order
    undecided_numbers = []
    for column in number_columns:
        only_comma, only_dot, with_currency = counts[:3]
        del counts[:3]
        if with_currency:
            decisions.notices.append(f"currency symbols removed from {with_currency} value(s) in column '{column}'")
        if options.decimal:
            decisions.decimals[column] = options.decimal
        elif only_comma and not only_dot:
            decisions.decimals[column] = ","
            decisions.notices.append(f"column '{column}' uses decimal commas")
        elif only_comma and only_dot:
            decisions.decimals[column] = "."
            decisions.notices.append(
                f"column '{column}' mixes decimal commas and decimal points; read with points, "
                "the values with decimal commas are rejected"
            )
        elif only_dot:
            decisions.decimals[column] = "."
        else:
            undecided_numbers.append(column)
    file_uses_commas = "," in decisions.decimals.values() and "." not in decisions.decimals.values()
    for column in undecided_numbers:
        decisions.decimals[column] = "," if file_uses_commas else "."
    return decisions



def _plain_columns(con: duckdb.DuckDBPyConnection, staged: StagedFile, date_columns: list[str],
                   number_columns: list[str]) -> tuple[set[str], set[str]]:
    """The date columns whose every filled cell is an ISO date, and the number columns whose every one casts.

    One scan of the file for all of them. Such columns (nearly all, in the exports
    of most systems) need none of the regular expressions of the full detection.
    An ISO date here starts with four digits, so the full detection would see a
    year first in every cell ("13-1-1 1:2" also casts as a date, but not so).
    """
    iso = _ISO_SHAPE + " and left({cell}, 4) glob '[0-9][0-9][0-9][0-9]' and try_cast({cell} as date) is not null"
    tests = [("date", column, iso) for column in date_columns]
    tests += [("number", column, _PLAIN_NUMBER) for column in number_columns]
    if not tests:
        return set(), set()
    trimmed = ", ".join(f"{_trim(staged.sql_column(column))} as t{index}"
                        for index, (_, column, _) in enumerate(tests))
    failing = ", ".join(f"count_if(t{index} <> '' and not ({test.format(cell=f't{index}')}))"
                        for index, (_, _, test) in enumerate(tests))
    counts = con.execute("select " + failing + " from (select " + trimmed + " from " + STAGING_TABLE + ")").fetchone()
    plain = [(kind, column) for (kind, column, _), count in zip(tests, counts, strict=True) if count == 0]
    return {column for kind, column in plain if kind == "date"}, {column for kind, column in plain if kind == "number"}


def _any_row(con: duckdb.DuckDBPyConnection, cell: str, condition: str) -> int:
    """1 if some staged row's ``cell`` (an expression) meets ``condition`` on ``cell``, else 0.

    The scan stops at the first such row.
    """
    return int(con.execute("select exists (select 1 from (select " + cell + " as cell from " + STAGING_TABLE
                           + ") where " + condition + ")").fetchone()[0])


def _weighted_counts(con: duckdb.DuckDBPyConnection, sql_column: str, conditions: list[str],
                     **derived: str) -> list[int]:
    """Rows of the staging table meeting each condition on ``cell`` (the column's text).

    ``derived`` names expressions on ``cell`` computed once per distinct value, which
    the conditions may use by name.
    """
    sums = ", ".join(f"coalesce(sum(case when {condition} then occurrences end), 0)" for condition in conditions)
    extra = "".join(f", {expression} as {name}" for name, expression in derived.items())
    return [int(value) for value in con.execute(
        "select " + sums + " from (select cell, occurrences" + extra + " from (select " + sql_column
        + " as cell, count(*) as occurrences from " + STAGING_TABLE + " group by " + sql_column + "))"
    ).fetchone()]


def build_parsed_table(con: duckdb.DuckDBPyConnection, staged: StagedFile, kind: str, by_field: dict[str, str],
                       decisions: ColumnDecisions, *, table: str = PARSED_TABLE, limit: int | None = None) -> None:
    """Create ``table``: one row per staged row with typed values, keys and the first problem found.

    Columns: ``file_row``; the target table's columns typed; for
    transactions ``unit_price`` and ``line_revenue`` (the amount whenever it
    can be read, also on rejected rows, for the reconciliation);
    ``reject_field``, ``reject_code``, ``reject_value``; ``row_key`` (stored
    key), ``dedupe_key`` (natural key within the file) and ``content_key`` (the
    whole mapped row). Built in one statement of stacked subqueries, so no
    intermediate copy of the file is kept.
    """
    levels: list[list[str]] = [[] for _ in range(LEVELS)]
    # Each mapped cell is trimmed once, here; every level reads t_<field> (DuckDB would repeat a trim per use).
    trims = []
    checks = []
    for target in fields_of(kind):
        column = by_field.get(target.name)
        if column is None:
            levels[-1].append(f"null::{_sql_type(target.type)} as v_{target.name}")
            continue
        trims.append(f"{_trim(staged.sql_column(column))} as t_{target.name}")
        trimmed = f"t_{target.name}"
        if target.type == DATE:
            steps = date_levels(target.name, trimmed, decisions.date_orders.get(column, "DMY"))
        elif target.type in (DECIMAL, INTEGER):
            steps = number_levels(target.name, trimmed, decisions.decimals.get(column, "."))
        elif target.type == BOOLEAN:
            steps = boolean_levels(target.name, trimmed)
        else:
            steps = text_levels(target.name, trimmed, identifier=target.type == IDENTIFIER)
        for level, expressions in enumerate(steps):
            levels[level].extend(expressions)
        checks.append(target)

    source = STAGING_TABLE if limit is None else f"(select * from {STAGING_TABLE} order by file_row limit {int(limit)})"
    query = "select file_row, " + ", ".join(trims or ["null as nothing_mapped"]) + " from " + source
    for expressions in levels:
        if expressions:
            query = "select *, " + ", ".join(expressions) + " from (" + query + ")"

    # Range checks, derived fields and the first problem of each row.
    problems: list[tuple[str, str]] = []  # (field, SQL returning an error code or null)
    required = {target.name for target in fields_of(kind) if target.required}
    if kind == "transactions":
        required.discard("customer_id")  # anonymous lines are kept and reported
    for target in checks:
        name = target.name
        conditions = []
        if name in required:
            conditions.append(f"when raw_{name} is null then 'missing'")
        conditions.append(f"when e_{name} is not null then e_{name}")
        if target.type == INTEGER:
            conditions.append(f"when v_{name} <> floor(v_{name}) then 'not_whole_number'")
        if target.minimum is not None:
            conditions.append(f"when v_{name} < {target.minimum} or v_{name} > {target.maximum} then 'out_of_range'")
        if target.type == DATE:
            if name in NO_FUTURE_DATES:
                conditions.append(f"when v_{name} > current_date then 'future_date'")
            conditions.append(f"when v_{name} < date '{EARLIEST_DATE}' then 'too_old'")
        problems.append((name, "case " + " ".join(conditions) + " end"))
    computed = []
    if kind == "transactions":
        if "amount" in by_field:
            product = "v_amount"
            # Amount is not "required" as a field (quantity x unit price may stand in for it), so an
            # empty amount cell must be caught here or it would reach the NOT NULL column.
            problems.append(("amount", "case when v_amount is null then 'missing' end"))
        else:
            product = "cast(v_quantity as decimal(38, 6)) * cast(v_unit_price as decimal(38, 6))"
            # Amount is quantity x unit price; an empty quantity or price leaves it unknown.
            problems.append(("amount", "case when v_quantity is null or v_unit_price is null then 'missing' "
                                       f"when abs({product}) >= {MAX_ABS_NUMBER} then 'too_large' end"))
        # Quantity and price are each below MAX_ABS_NUMBER; their product may not be.
        computed.append(f"case when abs({product}) < {MAX_ABS_NUMBER} then cast(round({product}, 2) "
                        "as decimal(18, 2)) end as computed_amount")
    # Each check's code is computed once, as x<i>; the row's problem is the first check that found one.
    codes = [f"{condition} as x{index}" for index, (_, condition) in enumerate(problems)]
    query = "select *, " + ", ".join([*computed, *codes] or ["null as no_checks"]) + " from (" + query + ")"
    mapped = {target.name for target in checks}
    if problems:
        reject_field = "case " + " ".join(
            f"when x{index} is not null then '{name}'" for index, (name, _) in enumerate(problems)) + " end"
        reject_code = "coalesce(" + ", ".join(f"x{index}" for index in range(len(problems))) + ")"
        reject_value = "case " + " ".join(
            f"when x{index} is not null then {f'raw_{name}' if name in mapped else 'null::varchar'}"
            for index, (name, _) in enumerate(problems)) + " end"
    else:
        reject_field = reject_code = reject_value = "null::varchar"
    outputs = ", ".join(f"{expression} as {name}" for name, expression in _output_expressions(kind, by_field))
    query = ("select file_row, " + reject_field + " as reject_field, " + reject_code + " as reject_code, "
             + reject_value + " as reject_value, " + outputs + " from (" + query + ")")
    stored_keys, dedupe_key = _key_expressions(kind, by_field)
    # Keys in two steps so that each md5 runs once per row (DuckDB does not share repeated expressions).
    con.execute(
        "create or replace temp table " + table + " as select keyed.*, " + dedupe_key + " as dedupe_key from ("
        "select outputs.*, " + stored_keys + " from (" + query + ") as outputs) as keyed"
    )


def _sql_type(field_type: str) -> str:
    return {DATE: "date", DECIMAL: "decimal(18, 6)", INTEGER: "decimal(18, 6)", BOOLEAN: "boolean"}.get(
        field_type, "varchar"
    )


# Columns of each target table, in insert order (row_key and batch_id added by the loader).
TABLE_COLUMNS = {
    "transactions": ["order_id", "line_no", "customer_id", "order_date", "amount", "quantity", "gross_profit",
                     "product", "channel", "is_cancellation"],
    "customers": ["customer_id", "name", "customer_type", "region", "sales_rep", "acquisition_channel",
                  "signup_date", "referred_by", "churn_date"],
    "feedback": ["feedback_id", "customer_id", "response_date", "survey", "csat", "nps", "complaint",
                 "resolved_date", "comment"],
    "leads": ["lead_id", "first_contact_date", "contacts", "converted_customer_id", "source"],
}


def _output_expressions(kind: str, by_field: dict[str, str]) -> list[tuple[str, str]]:
    """(column, expression) of the typed table row, from the v_ fields and ``computed_amount``."""
    if kind == "transactions":
        amount = "computed_amount"
        if "gross_profit" in by_field:
            profit = "cast(round(v_gross_profit, 2) as decimal(18, 2))"
        elif "cost" in by_field:
            profit = f"cast({amount} - round(v_cost, 2) as decimal(18, 2))"
        else:
            profit = "null::decimal(18, 2)"
        # A synthesised order id (customer and day) groups a file's lines into orders when it has none.
        order_id = ("coalesce(v_order_id, concat(coalesce(v_customer_id, 'anonymous'), '|', "
                    "strftime(v_order_date, '%Y-%m-%d')))")
        # The regular expression runs only on ids starting with C (a CASE branch is evaluated for its rows alone).
        cancellation = (f"(coalesce(v_is_cancellation, false) or coalesce(v_quantity < 0, false) "
                        f"or coalesce({amount} < 0, false) "
                        f"or (case when left(v_order_id, 1) in ('C', 'c') "
                        f"then coalesce(regexp_full_match(v_order_id, '[Cc]\\d.*'), false) else false end))")
        return [
            ("order_id", order_id),
            ("line_no", "try_cast(v_line_no as integer)"),
            ("customer_id", "v_customer_id"),
            ("order_date", "v_order_date"),
            ("amount", amount),
            ("quantity", "try_cast(v_quantity as decimal(18, 3))"),
            ("unit_price", "v_unit_price"),
            ("gross_profit", profit),
            ("product", "v_product"),
            ("channel", "v_channel"),
            ("is_cancellation", cancellation),
            ("line_revenue", amount),
        ]
    if kind == "feedback":
        return [
            ("feedback_id", "v_feedback_id"), ("customer_id", "v_customer_id"),
            ("response_date", "v_response_date"), ("survey", "v_survey"),
            ("csat", "try_cast(v_csat as smallint)"), ("nps", "try_cast(v_nps as smallint)"),
            ("complaint", "coalesce(v_complaint, false)"), ("resolved_date", "v_resolved_date"),
            ("comment", "v_comment"),
        ]
    if kind == "leads":
        return [
            ("lead_id", "v_lead_id"), ("first_contact_date", "v_first_contact_date"),
            ("contacts", "try_cast(v_contacts as integer)"),
            ("converted_customer_id", "v_converted_customer_id"), ("source", "v_source"),
        ]
    return [(name, f"v_{name}") for name in TABLE_COLUMNS["customers"]]


def _whole_row(prefix: str, columns: list[str]) -> str:
    # chr(31), the ASCII unit separator, does not occur in exported text, so
    # different rows cannot run together into the same string.
    cells = ", ".join(f"coalesce(cast(outputs.{column} as varchar), '')" for column in columns)
    return f"md5_number(concat_ws(chr(31), '{prefix}', {cells}))"


def _key_expressions(kind: str, by_field: dict[str, str]) -> tuple[str, str]:
    """SQL for ``row_key`` and ``content_key`` over ``outputs``, and for ``dedupe_key`` over those.

    ``row_key`` is stored, so it is DuckDB's md5_number (UHUGEINT), the same in every
    release. ``content_key`` only compares rows of one file that share a key, so the
    much cheaper 64-bit ``hash`` of the typed values serves.
    """
    content_columns = TABLE_COLUMNS[kind] + (["unit_price"] if kind == "transactions" else [])
    content = "hash(" + ", ".join(f"outputs.{column}" for column in content_columns) + ") as content_key"
    whole_row = _whole_row("line" if kind == "transactions" else kind, content_columns)
    if kind == "transactions":
        if "line_no" in by_field:
            # The same key as the demo generator writes, so reloading its export is recognised.
            natural = ("case when outputs.line_no is not null then "
                       "md5_number(concat_ws('|', outputs.order_id, outputs.line_no)) else " + whole_row + " end")
        else:
            natural = whole_row
    elif kind == "customers":
        # Every distinct version of a customer is kept (newest batch wins), so the
        # stored key is the whole row; within one file a customer appears once.
        return f"{whole_row} as row_key, {content}", "md5_number(concat_ws('|', 'customer', customer_id))"
    elif kind == "feedback":
        natural = ("case when outputs.feedback_id is not null then "
                   "md5_number(concat_ws('|', 'feedback', outputs.feedback_id)) else " + whole_row + " end")
    else:
        natural = "md5_number(concat_ws('|', 'lead', outputs.lead_id))"
    return f"{natural} as row_key, {content}", "row_key"
