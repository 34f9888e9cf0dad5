"""Looking at a file before loading it: how it will be read, the suggested mapping, the first mapped rows."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from customer_value import db as dbmod
from customer_value.errors import UserFacingError
from customer_value.loader.fields import fields_of
from customer_value.loader.mapping import check_mapping, suggest_mapping
from customer_value.loader.reading import ReadOptions, describe_delimiter, stage_file
from customer_value.loader.validation import REASONS, TABLE_COLUMNS, build_parsed_table, detect_columns

PREVIEW_ROWS = 20
_PREVIEW_TABLE = "loader_preview"


@dataclass
class FileInspection:
    """How a file reads, before anything is written.

    Attributes
    ----------
    columns : list of str
        The file's column names (blank or repeated names made unique).
    encoding, delimiter : str or None
        As detected or chosen (None for Excel and Parquet).
    date_order : dict
        ``{date column: 'DMY'|'MDY'|'YMD'}``, each decided from the whole column.
    decimals : dict
        ``{number column: '.' or ','}``.
    sheet_names : list of str
        Sheets of an Excel workbook (empty otherwise); ``sheet`` the one read.
    suggested_mapping : dict
        ``{source column: field}`` from the column names.
    mapping_problem : str or None
        Why the mapping used for the preview cannot be loaded yet (e.g. a
        required field unmapped), in plain words.
    preview : DataFrame
        The first mapped rows as they would be loaded (typed), with ``file_row``
        and ``problem`` (why the row would be rejected, empty when fine).
    row_count : int
        Data rows in the file.
    """

    file: str
    kind: str
    format: str
    columns: list[str]
    encoding: str | None
    delimiter: str | None
    date_order: dict[str, str]
    decimals: dict[str, str]
    sheet: str | None
    sheet_names: list[str]
    suggested_mapping: dict[str, str]
    mapping_problem: str | None
    preview: pd.DataFrame
    row_count: int
    content_hash: str
    notices: list[str] = field(default_factory=list)


def inspect_file(path: str | Path, kind: str, options: ReadOptions | None = None, source_name: str | None = None,
                 mapping: dict[str, str] | None = None, db: dbmod.Database | None = None) -> FileInspection:
    """Read ``path`` as the loader would and describe it, writing nothing.

    Parameters
    ----------
    path, kind, options, source_name
        As for :func:`load_file`.
    mapping : dict, optional
        ``{source column: field}`` to preview with; default the suggested one.
    db : Database, optional
        Reads on this database's cursor; default a private in-memory DuckDB.

    Raises
    ------
    UserFacingError
        When the file cannot be read at all (``SheetChoiceNeeded`` for a
        workbook with several sheets and no sheet chosen).
    """
    import duckdb

    options = options or ReadOptions()
    fields_of(kind)
    # A private database spills to its own temporary folder, not the working directory.
    spill_dir = None if db is not None else Path(tempfile.mkdtemp(prefix="cv-inspect-"))
    con = db.cursor() if db is not None else duckdb.connect(config={"temp_directory": str(spill_dir)})
    staged = stage_file(con, path, options, source_name=source_name)
    try:
        suggested = suggest_mapping(staged.columns, kind)
        used = dict(mapping) if mapping is not None else suggested
        problem = None
        try:
            by_field = check_mapping(used, staged.columns, kind, staged.source_name)
        except UserFacingError as exc:
            problem = str(exc)
            known = {target.name for target in fields_of(kind)}
            by_field = {}
            for column, target in used.items():
                if target in known and column in staged.columns and target not in by_field:
                    by_field[target] = column
        decisions = detect_columns(con, staged, kind, by_field, options)
        preview = _preview(con, staged, kind, by_field, decisions)
        notices = list(staged.notices) + list(decisions.notices)
        if staged.ragged:
            notices.append(f"{len(staged.ragged)} row(s) do not match the header (first: row "
                           f"{staged.ragged[0].file_row}, {staged.ragged[0].reason}); they will be rejected")
        unused = [column for column in staged.columns if column not in by_field.values()]
        if unused:
            notices.append(f"columns not used: {', '.join(unused)}")
        return FileInspection(
            file=staged.source_name, kind=kind, format=staged.format, columns=list(staged.columns),
            encoding=staged.encoding, delimiter=describe_delimiter(staged.delimiter),
            date_order=dict(decisions.date_orders), decimals=dict(decisions.decimals), sheet=staged.sheet,
            sheet_names=list(staged.sheet_names), suggested_mapping=suggested, mapping_problem=problem,
            preview=preview, row_count=staged.rows + len(staged.ragged), content_hash=staged.content_hash,
            notices=notices,
        )
    except duckdb.Error as exc:
        raise UserFacingError(
            f"{staged.source_name}: the file cannot be read ({str(exc).strip().splitlines()[0][:200]})"
        ) from None
    finally:
        staged.cleanup(con)
        con.execute("drop table if exists " + _PREVIEW_TABLE)
        if db is None:
            con.close()
            shutil.rmtree(spill_dir, ignore_errors=True)


def _preview(con, staged, kind: str, by_field: dict[str, str], decisions) -> pd.DataFrame:
    build_parsed_table(con, staged, kind, by_field, decisions, table=_PREVIEW_TABLE, limit=PREVIEW_ROWS)
    shown = [name for name in TABLE_COLUMNS[kind] if name in by_field]
    if kind == "transactions":
        computed = ["order_id", "amount", "is_cancellation"] + (["gross_profit"] if "cost" in by_field else [])
        shown = [name for name in TABLE_COLUMNS[kind] if name in by_field or name in computed]
    # row_key (UHUGEINT) is never selected: pandas cannot hold it.
    frame = con.execute(
        "select file_row, " + ", ".join(shown or ["null as nothing_mapped"]) + ", reject_field, reject_code from "
        + _PREVIEW_TABLE + " order by file_row"
    ).df()
    problems = []
    for target, code in zip(frame["reject_field"], frame["reject_code"], strict=True):
        if code is None or (isinstance(code, float) and pd.isna(code)):
            problems.append("")
        else:
            problems.append(f"{by_field.get(target, target)}: {REASONS.get(code, code)}")
    frame = frame.drop(columns=["reject_field", "reject_code"])
    frame["problem"] = problems
    return frame
