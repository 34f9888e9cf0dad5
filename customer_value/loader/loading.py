"""Loading a file: one transaction that lands every good row or nothing, and a report of every row.

Steps: read the file into the staging table (reading.py), check the mapping
(mapping.py), decide date orders and decimal separators from whole columns and
type every cell in SQL (validation.py), then, inside one transaction on the
caller's cursor: classify each row (rejected, duplicate within the file,
already loaded by an earlier batch, excluded cancellation, loaded), insert the
loaded rows under a new batch id, record the batch with its report, refresh
the derived tables and bump the data version. Any failure rolls the whole
transaction back, so the database is exactly as before.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd

from customer_value import db as dbmod
from customer_value.derive import refresh_after_change
from customer_value.errors import UserFacingError
from customer_value.loader.fields import field as field_definition
from customer_value.loader.fields import fields_of
from customer_value.loader.mapping import check_mapping
from customer_value.loader.reading import (
    MAX_UPLOAD_BYTES,
    ReadOptions,
    StagedFile,
    describe_delimiter,
    stage_file,
)
from customer_value.loader.validation import (
    PARSED_TABLE,
    REASONS,
    TABLE_COLUMNS,
    ColumnDecisions,
    build_parsed_table,
    detect_columns,
)

OUTCOME_TABLE = "loader_outcome"
MARKS_TABLE = "loader_marks"
CENT = Decimal("0.01")
REJECTED_COLUMNS = ["file_row", "column", "value", "reason"]
# A file where more rows fail than pass is almost always mapped or read wrongly
# (wrong date order, delimiter or column); refusing it is kinder than loading a sliver.
MAX_REJECTED_SHARE = 0.5
REPORT_EXAMPLES = 20
# The fields that identify a row within a file (named in "same key" rejections).
KEY_FIELDS = {"transactions": ("order_id", "line_no"), "customers": ("customer_id",),
              "feedback": ("feedback_id",), "leads": ("lead_id",)}


@dataclass
class LoadReport:
    """What a load did with every row of a file.

    Attributes
    ----------
    batch_id : int
        The batch the loaded rows carry (undo removes exactly these).
    rows_read : int
        Data rows in the file (blank rows not counted).
    rows_loaded, rows_rejected, duplicate_lines_skipped, already_loaded_skipped : int
        Where every row went; they add up to ``rows_read`` (plus excluded
        cancellations when ``cancellations['treatment'] == 'exclude'``).
    rejected_by_reason : dict
        ``{reason: rows}``.
    cancellations : dict
        ``count``, ``revenue`` (Decimal, negative for returns) and ``treatment``
        ('net': loaded so they reduce revenue; 'exclude': left out).
    rows_without_customer : dict
        ``count`` and ``revenue`` of loaded lines with no customer id.
    reconciliation : dict or None
        Transactions only: ``file_total`` = ``loaded`` + ``cancelled`` +
        ``rejected`` + ``duplicates`` + ``already_loaded``, Decimals to the cent;
        ``in_database`` is the sum of the amounts actually inserted.
    rejected_rows : DataFrame
        ``file_row, column, value, reason`` for every rejected row.
    """

    batch_id: int | None
    file: str
    kind: str
    format: str
    encoding: str | None
    delimiter: str | None
    sheet: str | None
    date_order: dict[str, str]
    content_hash: str
    mapping: dict[str, str]
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    rejected_by_reason: dict[str, int]
    duplicate_lines_skipped: int
    already_loaded_skipped: int
    cancellations: dict
    rows_without_customer: dict
    reconciliation: dict | None
    notices: list[str]
    rejected_rows: pd.DataFrame = field(repr=False, default_factory=lambda: pd.DataFrame(columns=REJECTED_COLUMNS))

    def to_dict(self) -> dict:
        """Plain JSON types; money as numbers rounded to the cent; the first rejected rows as examples."""
        def plain(value):
            if isinstance(value, Decimal):
                return float(value)
            if isinstance(value, dict):
                return {key: plain(item) for key, item in value.items()}
            if isinstance(value, list):
                return [plain(item) for item in value]
            return value

        result = {name: plain(getattr(self, name)) for name in self.__dataclass_fields__ if name != "rejected_rows"}
        examples = self.rejected_rows.head(REPORT_EXAMPLES)
        result["rejected_examples"] = [
            {"file_row": int(row.file_row), "column": str(row.column), "value": None if pd.isna(row.value)
             else str(row.value), "reason": str(row.reason)}
            for row in examples.itertuples(index=False)
        ]
        return result


def load_file(db: dbmod.Database, path: str | Path, kind: str, mapping: dict[str, str],
              options: ReadOptions | None = None, user: str = "local", source_name: str | None = None,
              progress=None, max_file_bytes: int = MAX_UPLOAD_BYTES) -> LoadReport:
    """Load one file into the database as one batch.

    Parameters
    ----------
    db : Database
        The open database; the load runs on this thread's cursor.
    path : str or Path
        The file (CSV/TSV in any common encoding, .xlsx, .parquet).
    kind : str
        'transactions', 'customers', 'feedback' or 'leads'.
    mapping : dict
        ``{source column: field}`` (see ``suggest_mapping``).
    options : ReadOptions, optional
        Encoding, delimiter, date order, decimal separator, sheet, cancellations.
    user : str
        Recorded as the batch's ``loaded_by``.
    source_name : str, optional
        The name to report (an uploaded file's original name); default the file name.
    progress : callable, optional
        ``progress(fraction, message)`` called as the load advances.

    Returns
    -------
    LoadReport

    Raises
    ------
    UserFacingError
        When the file as a whole cannot be loaded; nothing is written then.
    """
    options = options or ReadOptions()
    fields_of(kind)
    step = progress or (lambda fraction, message: None)
    con = db.cursor()
    name = source_name or Path(path).name
    with db.loading_memory():
        step(0.0, "reading the file")
        staged = stage_file(con, path, options, source_name=name, progress=step, max_bytes=max_file_bytes)
        try:
            by_field = check_mapping(mapping, staged.columns, kind, name)
            step(0.4, "checking every value")
            decisions = detect_columns(con, staged, kind, by_field, options)
            build_parsed_table(con, staged, kind, by_field, decisions)
            staged.cleanup(con)  # the file's text is no longer needed: free it before the write
            with db.write_lock:
                con.execute("begin transaction")
                try:
                    report = _classify_and_write(con, staged, kind, by_field, decisions, options, user, step)
                    con.execute("commit")
                except BaseException:
                    con.execute("rollback")
                    raise
        except duckdb.Error as exc:
            raise UserFacingError(
                f"{name}: the load failed and nothing was changed ({str(exc).strip().splitlines()[0][:200]})"
            ) from None
        finally:
            staged.cleanup(con)
            _drop_classification(con)
    step(1.0, "done")
    return report


def _classify_rows(con, kind: str, exclude_cancellations: bool) -> None:
    """Give every parsed row its status, as the view ``loader_outcome`` (the parsed rows plus ``status``).

    Only the few rows that repeat a key of the file or were loaded before are written
    out (``loader_marks``); every other row is 'rejected' or 'loaded' by its own values,
    so ten million rows are not copied to say so.
    """
    # The target table name comes from the fixed list of kinds, never from input.
    con.execute(
        "create or replace temp table " + MARKS_TABLE + " as "
        "with repeated_keys as ("
        "  select dedupe_key from " + PARSED_TABLE + " where reject_code is null"
        "  group by dedupe_key having count(*) > 1"
        "), ranked as ("
        "  select file_row, content_key, row_number() over same_key as key_rank,"
        "         first_value(content_key) over same_key as first_content,"
        "         first_value(file_row) over same_key as first_row"
        "  from " + PARSED_TABLE + " where reject_code is null"
        "    and dedupe_key in (select dedupe_key from repeated_keys)"
        "  window same_key as (partition by dedupe_key order by file_row)"
        "), known as ("
        "  select file_row from " + PARSED_TABLE + " where reject_code is null"
        "    and row_key in (select row_key from " + kind + ")"
        ") "
        "select coalesce(ranked.file_row, known.file_row) as file_row,"
        "  case when ranked.key_rank > 1 and ranked.content_key = ranked.first_content then 'duplicate'"
        "       when ranked.key_rank > 1 then 'conflict' else 'already_loaded' end as status,"
        "  ranked.first_row "
        "from ranked full outer join known on known.file_row = ranked.file_row "
        "where ranked.key_rank > 1 or known.file_row is not null"
    )
    con.execute(
        "create or replace temp view " + OUTCOME_TABLE + " as "
        "select parsed.*, case when parsed.reject_code is not null then 'rejected' "
        "  else coalesce(marks.status, " + _unmarked_status(kind, exclude_cancellations) + ") end as status, "
        "  marks.first_row "
        "from " + PARSED_TABLE + " as parsed left join " + MARKS_TABLE + " as marks on marks.file_row = parsed.file_row"
    )


def _unmarked_status(kind: str, exclude_cancellations: bool) -> str:
    """SQL for the status of a row without a problem that repeats nothing: loaded, or an excluded cancellation."""
    if kind == "transactions" and exclude_cancellations:
        return "case when is_cancellation then 'excluded' else 'loaded' end"
    return "'loaded'"


def _loaded_rows(con, kind: str, exclude_cancellations: bool) -> str:
    """The FROM clause of the rows to insert, in file order.

    When no row repeats a key or was loaded before (a first load, a new export),
    they are the parsed rows without a problem: read straight from the parsed
    table they keep its order, with neither the join of ``loader_outcome`` nor a
    sort of ten million rows. The reconciliation after the insert checks the
    count and the sum either way.
    """
    if con.execute("select count(*) from " + MARKS_TABLE).fetchone()[0]:
        return OUTCOME_TABLE + " where status = 'loaded' order by file_row"
    loaded = _unmarked_status(kind, exclude_cancellations) + " = 'loaded'"
    return PARSED_TABLE + " where reject_code is null and " + loaded


def _drop_classification(con) -> None:
    con.execute("drop view if exists " + OUTCOME_TABLE)
    for table in (PARSED_TABLE, MARKS_TABLE):
        con.execute("drop table if exists " + table)


def _money(value) -> Decimal:
    return Decimal(value if value is not None else 0).quantize(CENT)


def _classify_and_write(con, staged: StagedFile, kind: str, by_field: dict[str, str], decisions: ColumnDecisions,
                        options: ReadOptions, user: str, step) -> LoadReport:
    name = staged.source_name
    exclude = options.cancellations == "exclude"
    step(0.6, "finding duplicates and rows loaded before")
    _classify_rows(con, kind, exclude)
    is_transactions = kind == "transactions"
    revenue = "line_revenue" if is_transactions else "null::decimal(18, 2)"
    cancelled = "is_cancellation" if is_transactions else "false"
    anonymous = "customer_id is null" if is_transactions else "false"
    rows = con.execute(
        "select status, count(*), sum(" + revenue + "), count_if(" + cancelled + "), "
        "sum(case when " + cancelled + " then " + revenue + " end), count_if(" + anonymous + "), "
        "sum(case when " + anonymous + " then " + revenue + " end) from " + OUTCOME_TABLE + " group by status"
    ).fetchall()
    by_status = {status: values for status, *values in rows}

    def count(status: str) -> int:
        return int(by_status.get(status, [0])[0])

    def money(status: str, position: int = 1) -> Decimal:
        return _money(by_status.get(status, [0, None, 0, None, 0, None])[position])

    rejected_rows = _rejected_rows(con, staged, kind, by_field, decisions)
    rows_read = staged.rows + len(staged.ragged)
    rows_rejected = len(rejected_rows)
    if rows_rejected and rows_rejected > MAX_REJECTED_SHARE * rows_read:
        reasons = Counter(rejected_rows["reason_group"])
        common, common_count = reasons.most_common(1)[0]
        example = rejected_rows[rejected_rows["reason_group"] == common].iloc[0]
        where = f"row {int(example.file_row)}" + (f", column '{example.column}'" if example.column else "")
        value = "" if pd.isna(example.value) or example.value == "" else f": '{str(example.value)[:60]}'"
        raise UserFacingError(
            f"{name}: {rows_rejected} of {rows_read} rows cannot be loaded, so nothing was loaded. "
            f"Most ({common_count}) because: {example.reason} ({where}{value}). "
            "Check the mapping, the date order and the delimiter"
        )
    loaded = count("loaded")
    notices = list(staged.notices) + list(decisions.notices)
    unused = [column for column in staged.columns if column not in by_field.values()]
    if unused:
        notices.append(f"columns not used: {', '.join(unused)}")
    earlier = con.execute(
        "select batch_id, loaded_at from load_batches where content_hash = $hash and kind = $kind "
        "and undone_at is null order by batch_id limit 1",
        {"hash": staged.content_hash, "kind": kind},
    ).fetchone()
    if earlier:
        notices.append(f"this exact file was loaded before (batch {earlier[0]}, {earlier[1]:%Y-%m-%d %H:%M}); "
                       "its rows are skipped as already loaded")

    step(0.7, "writing the rows")
    batch_id = con.execute("select nextval('batch_id_seq')").fetchone()[0]
    columns = TABLE_COLUMNS[kind]
    # Table and column names come from the fixed TABLE_COLUMNS, never from the file.
    con.execute(
        "insert into " + kind + " (row_key, " + ", ".join(columns) + ", batch_id) "
        "select row_key, " + ", ".join(columns) + ", $batch_id from " + _loaded_rows(con, kind, exclude),
        {"batch_id": batch_id},
    )

    reconciliation = None
    cancellations: dict = {"count": 0, "revenue": Decimal("0.00"), "treatment": options.cancellations}
    without_customer: dict = {"count": 0, "revenue": Decimal("0.00")}
    if is_transactions:
        loaded_cancelled_count = int(by_status.get("loaded", [0, None, 0])[2])
        loaded_cancelled = money("loaded", 3)
        excluded_count = count("excluded")
        excluded_revenue = money("excluded")
        cancellations.update(count=loaded_cancelled_count + excluded_count,
                             revenue=loaded_cancelled + excluded_revenue)
        without_customer.update(count=int(by_status.get("loaded", [0, None, 0, None, 0])[4]),
                                revenue=money("loaded", 5))
        file_total = _money(con.execute("select sum(line_revenue) from " + OUTCOME_TABLE).fetchone()[0])
        parts = {
            "loaded": money("loaded") - loaded_cancelled,
            "cancelled": cancellations["revenue"],
            "rejected": money("rejected") + money("conflict"),
            "duplicates": money("duplicate"),
            "already_loaded": money("already_loaded"),
        }
        stored_count, stored_sum = con.execute(
            "select count(*), sum(amount) from transactions where batch_id = $batch_id", {"batch_id": batch_id}
        ).fetchone()
        in_database = _money(stored_sum)
        expected_in_database = parts["loaded"] + (loaded_cancelled if not exclude else Decimal("0.00"))
        if stored_count != loaded or in_database != expected_in_database:
            # Cannot happen unless the classification above is wrong; refuse rather than load a wrong total.
            raise UserFacingError(
                f"{name}: the rows written ({stored_count}, {in_database}) differ from the rows classified as "
                f"loaded ({loaded}, {expected_in_database}); nothing was loaded. Please report this file"
            )
        unreadable = int(rejected_rows["revenue_unknown"].sum())
        reconciliation = {
            "file_total": file_total,
            **parts,
            "difference": file_total - sum(parts.values(), Decimal("0.00")),
            "in_database": in_database,
            "rejected_rows_without_amount": unreadable,
        }
        reconciliation["balanced"] = reconciliation["difference"] == 0
        if cancellations["count"]:
            treatment = ("loaded, so they reduce revenue" if not exclude
                         else "left out (cancellations set to exclude)")
            notices.append(f"{cancellations['count']} cancellation/return line(s) worth "
                           f"{cancellations['revenue']:,.2f}: {treatment}")
        if without_customer["count"]:
            notices.append(f"{without_customer['count']} line(s) without a customer id worth "
                           f"{without_customer['revenue']:,.2f} loaded as anonymous: in revenue totals, "
                           "not in customer metrics")
        if unreadable:
            notices.append(f"{unreadable} rejected row(s) have no readable amount; the file total leaves them out")

    by_reason = Counter(rejected_rows["reason_group"]) if rows_rejected else Counter()
    report = LoadReport(
        batch_id=int(batch_id), file=name, kind=kind, format=staged.format, encoding=staged.encoding,
        delimiter=describe_delimiter(staged.delimiter), sheet=staged.sheet,
        date_order={column: order for column, order in decisions.date_orders.items()},
        content_hash=staged.content_hash, mapping={column: target for target, column in by_field.items()},
        rows_read=rows_read, rows_loaded=loaded, rows_rejected=rows_rejected,
        rejected_by_reason=dict(by_reason.most_common()),
        duplicate_lines_skipped=count("duplicate"), already_loaded_skipped=count("already_loaded"),
        cancellations=cancellations, rows_without_customer=without_customer, reconciliation=reconciliation,
        notices=notices, rejected_rows=rejected_rows[REJECTED_COLUMNS].reset_index(drop=True),
    )
    con.execute(
        """insert into load_batches (batch_id, kind, source_name, content_hash, rows_read, rows_loaded,
               rows_rejected, rows_duplicate, rows_already_loaded, loaded_at, loaded_by, report_json)
           values ($batch_id, $kind, $source, $hash, $read, $loaded, $rejected, $duplicate, $already,
                   cast(current_timestamp as timestamp), $user, $report)""",
        {"batch_id": batch_id, "kind": kind, "source": name, "hash": staged.content_hash, "read": rows_read,
         "loaded": loaded, "rejected": rows_rejected, "duplicate": report.duplicate_lines_skipped,
         "already": report.already_loaded_skipped, "user": user,
         "report": json.dumps(report.to_dict(), ensure_ascii=False, default=str)},
    )
    if loaded:
        step(0.8, "updating customer figures")
        id_column = "converted_customer_id" if kind == "leads" else "customer_id"
        affected = [row[0] for row in con.execute(
            "select distinct " + id_column + " from " + OUTCOME_TABLE
            + " where status = 'loaded' and " + id_column + " is not null"
        ).fetchall()]
        refresh_after_change(con, affected)
    dbmod.bump_data_version(con)
    return report


def _key_description(kind: str, by_field: dict[str, str]) -> str:
    if kind == "transactions":
        return "order and line" if "line_no" in by_field else "line"
    return {"customers": "customer id", "feedback": "answer id", "leads": "lead id"}[kind]


def _rejected_rows(con, staged: StagedFile, kind: str, by_field: dict[str, str],
                   decisions: ColumnDecisions) -> pd.DataFrame:
    """Every rejected row with its file row, source column, cell value and the reason in plain words."""
    revenue = "line_revenue" if kind == "transactions" else "null"
    frame = con.execute(
        "select file_row, reject_field, reject_code, reject_value, status, first_row, "
        + revenue + " is null as revenue_unknown from " + OUTCOME_TABLE
        + " where status in ('rejected', 'conflict') order by file_row"
    ).df()
    if kind == "transactions" and "amount" not in by_field:
        amount_source = f"{by_field.get('quantity', '?')} x {by_field.get('unit_price', '?')}"
    else:
        amount_source = by_field.get("amount", "")
    records = []
    for row in frame.itertuples(index=False):
        if row.status == "conflict":
            key_columns = [by_field[name] for name in KEY_FIELDS[kind] if name in by_field]
            records.append((int(row.file_row), ", ".join(key_columns), "",
                            f"same {_key_description(kind, by_field)} as row {int(row.first_row)} "
                            "but different values", REASONS["key_conflict"], bool(row.revenue_unknown)))
            continue
        target = row.reject_field
        column = by_field.get(target, amount_source if target == "amount" else target)
        reason = REASONS.get(row.reject_code, row.reject_code)
        detail = reason
        if row.reject_code == "not_a_date":
            detail = f"not a date (read as {_order_words(decisions.date_orders.get(column, 'DMY'))})"
        elif row.reject_code == "out_of_range":
            definition = field_definition(kind, target)
            detail = f"outside the allowed range {definition.minimum:g} to {definition.maximum:g}"
        elif row.reject_code == "missing" and target == "amount" and "amount" not in by_field:
            detail = "quantity or unit price is empty"
        records.append((int(row.file_row), column, row.reject_value, detail, reason, bool(row.revenue_unknown)))
    for ragged in staged.ragged:
        records.append((ragged.file_row, "", ragged.text, ragged.reason, REASONS["ragged"], True))
    result = pd.DataFrame(records, columns=[*REJECTED_COLUMNS, "reason_group", "revenue_unknown"])
    return result.sort_values("file_row", kind="stable").reset_index(drop=True)


def _order_words(order: str) -> str:
    return {"DMY": "day/month/year", "MDY": "month/day/year", "YMD": "year/month/day"}.get(order, order)
