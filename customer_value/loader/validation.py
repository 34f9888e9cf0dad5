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


def _text(column: str) -> str:
    return f"nullif(trim({column}), '')"


def _number_body(column: str) -> str:
    """The cell without currency, spaces, thousands apostrophes and accounting brackets."""
    stripped = f"regexp_replace(trim({column}), '{_CURRENCY}|{_SPACES}', '', 'g')"
    return f"regexp_replace({stripped}, '^\\((.*)\\)$|^(.*)-$', '\\1\\2')"


def _number_is_negative_form(column: str) -> str:
    stripped = f"regexp_replace(trim({column}), '{_CURRENCY}|{_SPACES}', '', 'g')"
    return f"regexp_full_match({stripped}, '\\(.*\\)|.*\\d-')"


def number_sql(column: str, decimal: str) -> tuple[str, str]:
    """(value expression DECIMAL(38, 6), error-code expression) for a number cell."""
    body = _number_body(column)
    if decimal == ",":
        shape = f"regexp_full_match({body}, '{_COMMA_NUMBER}')"
        cleaned = f"replace(replace({body}, '.', ''), ',', '.')"
    else:
        shape = f"regexp_full_match({body}, '{_DOT_NUMBER}')"
        cleaned = f"replace({body}, ',', '')"
    magnitude = f"try_cast({cleaned} as double)"
    negate = f"case when {_number_is_negative_form(column)} then -1 else 1 end"
    # Plain decimals are cast exactly; the double is only used for the size check and exponents.
    value = (f"case when {shape} and abs({magnitude}) < {MAX_ABS_NUMBER} then {negate} * "
             f"coalesce(try_cast({cleaned} as decimal(38, 6)), cast({magnitude} as decimal(38, 6))) end")
    error = (f"case when {_text(column)} is null then null when not {shape} then 'not_a_number' "
             f"when {magnitude} is null or abs({magnitude}) >= {MAX_ABS_NUMBER} then 'too_large' end")
    return value, error


def date_sql(column: str, order: str) -> tuple[str, str]:
    """(value expression DATE, error-code expression) for a date cell read in ``order``."""
    text = f"trim({column})"
    parts = f"regexp_extract({text}, '{_NUMERIC_DATE}', ['a', 'b', 'c'])"
    first, second, third = (f"try_cast({parts}.{part} as integer)" for part in ("a", "b", "c"))
    year_first = f"length({parts}.a) = 4"
    if order == "YMD":
        year, month, day = first, second, third
    elif order == "MDY":
        year, month, day = third, first, second
    else:
        year, month, day = third, second, first
    ymd_year, ymd_month, ymd_day = first, second, third

    def full_year(expression: str) -> str:
        # Two-digit years: 00-69 are this century, 70-99 the last (as spreadsheets do).
        return (f"case when {expression} < 70 then 2000 + {expression} "
                f"when {expression} < 100 then 1900 + {expression} else {expression} end")

    numeric = (f"case when {year_first} then try(make_date({ymd_year}, {ymd_month}, {ymd_day})) "
               f"else try(make_date({full_year(year)}, {month}, {day})) end")
    compact = f"try_strptime({text}, '%Y%m%d')::date"
    named = f"try_strptime(regexp_replace({text}, '{_TIME_SUFFIX}', ''), {_NAMED_MONTH_FORMATS})::date"
    value = (f"case when regexp_full_match({text}, '{_COMPACT_DATE}') then {compact} "
             f"when {parts}.a <> '' then {numeric} else {named} end")
    return value, f"case when {_text(column)} is not null and ({value}) is null then 'not_a_date' end"


def boolean_sql(column: str) -> tuple[str, str]:
    word = f"lower(trim({column}))"
    value = f"case when {word} in {_TRUE_WORDS} then true when {word} in {_FALSE_WORDS} then false end"
    error = f"case when {_text(column)} is not null and ({value}) is null then 'not_yes_no' end"
    return value, error


def identifier_sql(column: str) -> str:
    # Spreadsheets turn id 12583 into 12583.0; the id is the same customer.
    return f"regexp_replace({_text(column)}, '^(\\d+)\\.0+$', '\\1')"


def detect_columns(con: duckdb.DuckDBPyConnection, staged: StagedFile, kind: str, by_field: dict[str, str],
                   options: ReadOptions) -> ColumnDecisions:
    """Decide date order and decimal separator of every mapped date and number column from all its rows."""
    decisions = ColumnDecisions()
    types = {target.name: target.type for target in fields_of(kind)}
    date_columns = sorted({column for name, column in by_field.items() if types[name] == DATE})
    number_columns = sorted({column for name, column in by_field.items() if types[name] in (DECIMAL, INTEGER)})
    aggregates: list[str] = []
    for column in date_columns:
        sql_column = staged.sql_column(column)
        parts = f"regexp_extract(trim({sql_column}), '{_NUMERIC_DATE}', ['a', 'b', 'c'])"
        short_first = f"{parts}.a <> '' and length({parts}.a) <= 2"
        aggregates += [
            f"count_if({short_first} and try_cast({parts}.a as integer) > 12)",
            f"count_if({short_first} and try_cast({parts}.b as integer) > 12)",
            f"count_if({short_first})",
        ]
    for column in number_columns:
        body = _number_body(staged.sql_column(column))
        aggregates += [
            f"count_if(regexp_full_match({body}, '{_ONLY_COMMA}'))",
            f"count_if(regexp_full_match({body}, '{_ONLY_DOT}'))",
            f"count_if(regexp_matches(trim({staged.sql_column(column)}), '{_CURRENCY}'))",
        ]
    if not aggregates:
        return decisions
    counts = list(con.execute("select " + ", ".join(aggregates) + " from " + STAGING_TABLE).fetchone())
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


def build_parsed_table(con: duckdb.DuckDBPyConnection, staged: StagedFile, kind: str, by_field: dict[str, str],
                       decisions: ColumnDecisions, *, table: str = PARSED_TABLE, limit: int | None = None) -> None:
    """Create ``table``: one row per staged row with typed values, keys and the first problem found.

    Columns: ``file_row``; every field of ``kind`` typed (null when unmapped);
    for transactions the computed ``amount``, ``gross_profit``,
    ``is_cancellation``; ``line_revenue`` (the amount whenever it can be read,
    also on rejected rows, for the reconciliation); ``reject_field``,
    ``reject_code``, ``reject_value``; ``row_key`` (stored key),
    ``dedupe_key`` (natural key within the file) and ``content_key`` (the whole
    mapped row).
    """
    selects = ["file_row"]
    checks: list[tuple[str, str, str]] = []  # (field, error expression, raw expression)
    for target in fields_of(kind):
        column = by_field.get(target.name)
        if column is None:
            selects.append(f"null::{_sql_type(target.type)} as v_{target.name}")
            continue
        sql_column = staged.sql_column(column)
        raw = _text(sql_column)
        if target.type == DATE:
            value, error = date_sql(sql_column, decisions.date_orders.get(column, "DMY"))
        elif target.type in (DECIMAL, INTEGER):
            value, error = number_sql(sql_column, decisions.decimals.get(column, "."))
        elif target.type == BOOLEAN:
            value, error = boolean_sql(sql_column)
        elif target.type == IDENTIFIER:
            value, error = identifier_sql(sql_column), "null"
        else:
            value, error = raw, "null"
        selects.append(f"{value} as v_{target.name}")
        selects.append(f"{raw} as raw_{target.name}")
        selects.append(f"{error} as e_{target.name}")
        checks.append((target.name, target.type, target))
    source = STAGING_TABLE if limit is None else f"(select * from {STAGING_TABLE} order by file_row limit {int(limit)})"
    con.execute("create or replace temp table loader_typed as select " + ", ".join(selects) + " from " + source)

    # Second step: range checks, derived fields, keys and the first problem of each row.
    problems: list[tuple[str, str]] = []  # (field, SQL condition returning an error code or null)
    required = {target.name for target in fields_of(kind) if target.required}
    if kind == "transactions":
        required.discard("customer_id")  # anonymous lines are kept and reported
        required.add("order_date")
    for name, field_type, target in checks:
        conditions = []
        if name in required:
            conditions.append(f"when raw_{name} is null then 'missing'")
        conditions.append(f"when e_{name} is not null then e_{name}")
        if field_type == INTEGER:
            conditions.append(f"when v_{name} <> floor(v_{name}) then 'not_whole_number'")
        if target.minimum is not None:
            conditions.append(f"when v_{name} < {target.minimum} or v_{name} > {target.maximum} then 'out_of_range'")
        if field_type == DATE:
            if name in NO_FUTURE_DATES:
                conditions.append(f"when v_{name} > current_date then 'future_date'")
            conditions.append(f"when v_{name} < date '{EARLIEST_DATE}' then 'too_old'")
        problems.append((name, "case " + " ".join(conditions) + " end"))

    outputs = _output_expressions(kind, by_field)
    if kind == "transactions" and "amount" not in by_field:
        # Amount is quantity x unit price; an empty quantity or price leaves it unknown.
        problems.append(("amount", "case when v_quantity is null or v_unit_price is null then 'missing' "
                                   f"when abs(v_quantity * v_unit_price) >= {MAX_ABS_NUMBER} then 'too_large' end"))
    problem_case = "case " + " ".join(
        f"when ({condition}) is not null then {{'field': '{name}', 'code': {condition}}}"
        for name, condition in problems
    ) + " end" if problems else "null"
    column_list = ", ".join(f"{expression} as {name}" for name, expression in outputs)
    con.execute(
        "create or replace temp table loader_derived as select *, " + problem_case + " as problem from loader_typed"
    )
    raw_whens = [f"when '{name}' then raw_{name}" for name, _ in problems if name in _mapped_fields(kind, by_field)]
    raw_case = "case problem.field " + " ".join(raw_whens) + " end" if raw_whens else "null::varchar"
    con.execute(
        "create or replace temp table loader_outputs as select file_row, problem.field as reject_field, "
        "problem.code as reject_code, " + raw_case + " as reject_value, " + column_list + " from loader_derived"
    )
    con.execute(
        "create or replace temp table " + table + " as select outputs.*, " + _key_expressions(kind, by_field)
        + " from loader_outputs as outputs"
    )
    for helper in ("loader_typed", "loader_derived", "loader_outputs"):
        con.execute("drop table if exists " + helper)


def _mapped_fields(kind: str, by_field: dict[str, str]) -> set[str]:
    return {target.name for target in fields_of(kind) if target.name in by_field}


def _sql_type(field_type: str) -> str:
    return {DATE: "date", DECIMAL: "decimal(38, 6)", INTEGER: "decimal(38, 6)", BOOLEAN: "boolean"}.get(
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
    """(column, expression) of the typed table row, computed from the v_ fields of loader_derived."""
    if kind == "transactions":
        if "amount" in by_field:
            amount = "v_amount"
        else:
            amount = "cast(v_quantity as decimal(38, 6)) * cast(v_unit_price as decimal(38, 6))"
        # Quantity and price are each below MAX_ABS_NUMBER; their product may not be.
        amount = (f"case when abs({amount}) < {MAX_ABS_NUMBER} then cast(round({amount}, 2) as decimal(18, 2)) "
                  "end")
        if "gross_profit" in by_field:
            profit = "cast(round(v_gross_profit, 2) as decimal(18, 2))"
        elif "cost" in by_field:
            profit = f"cast({amount} - round(v_cost, 2) as decimal(18, 2))"
        else:
            profit = "null::decimal(18, 2)"
        # A synthesised order id (customer and day) groups a file's lines into orders when it has none.
        order_id = ("coalesce(v_order_id, concat(coalesce(v_customer_id, 'anonymous'), '|', "
                    "strftime(v_order_date, '%Y-%m-%d')))")
        cancellation = (f"(coalesce(v_is_cancellation, false) or coalesce(v_quantity < 0, false) "
                        f"or coalesce({amount} < 0, false) "
                        f"or coalesce(regexp_full_match(v_order_id, '[Cc]\\d.*'), false))")
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


def _key_expressions(kind: str, by_field: dict[str, str]) -> str:
    """SQL for row_key, dedupe_key and content_key (UHUGEINT, DuckDB's md5_number)."""
    if kind == "transactions":
        content = _whole_row("line", TABLE_COLUMNS["transactions"] + ["unit_price"])
        if "line_no" in by_field:
            # The same key as the demo generator writes, so reloading its export is recognised.
            natural = ("case when outputs.line_no is not null then "
                       "md5_number(concat_ws('|', outputs.order_id, outputs.line_no)) else " + content + " end")
        else:
            natural = content
        return f"{natural} as row_key, {natural} as dedupe_key, {content} as content_key"
    content = _whole_row(kind, TABLE_COLUMNS[kind])
    if kind == "customers":
        # Every distinct version of a customer is kept (newest batch wins), so the
        # stored key is the whole row; within one file a customer appears once.
        natural = "md5_number(concat_ws('|', 'customer', outputs.customer_id))"
        return f"{content} as row_key, {natural} as dedupe_key, {content} as content_key"
    if kind == "feedback":
        natural = ("case when outputs.feedback_id is not null then "
                   "md5_number(concat_ws('|', 'feedback', outputs.feedback_id)) else " + content + " end")
    else:
        natural = "md5_number(concat_ws('|', 'lead', outputs.lead_id))"
    return f"{natural} as row_key, {natural} as dedupe_key, {content} as content_key"
