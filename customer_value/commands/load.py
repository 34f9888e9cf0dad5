"""``load``: load one export file into the database and print the load report as JSON.

The mapping is the automatic one from the column names, or a saved preset
(``--preset``); ``--map COLUMN=FIELD`` adds to or corrects either
(``--map COLUMN=`` leaves a column out). Explicit read flags override the
preset's saved options.
"""

from __future__ import annotations

import argparse
import csv
import getpass
import json
from dataclasses import asdict
from pathlib import Path

from customer_value.cli import open_database, positive_whole_number, to_jsonable
from customer_value.errors import UserFacingError
from customer_value.formatting import neutralise_formula
from customer_value.loader import KINDS, ReadOptions, load_file, suggest_mapping
from customer_value.loader.reading import DATE_ORDERS, MAX_UPLOAD_BYTES, read_columns

_DELIMITER_WORDS = {"comma": ",", "semicolon": ";", "tab": "\t", "\\t": "\t", "pipe": "|", "space": " "}


def _delimiter(text: str) -> str:
    value = _DELIMITER_WORDS.get(text.lower(), text)
    if len(value) != 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not one character (or comma, semicolon, tab, pipe)")
    return value


def _map_entry(text: str) -> tuple[str, str]:
    column, separator, target = text.rpartition("=")
    if not separator or not column:
        raise argparse.ArgumentTypeError(f"'{text}' is not COLUMN=FIELD")
    return column, target.strip()


def _header_row(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a row number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("the header row is counted from 1")
    return value


def register(subparsers, common) -> None:
    del common  # the report filters do not apply to loading
    parser = subparsers.add_parser(
        "load", help="load a CSV/TSV/Excel/Parquet export and print the load report as JSON",
        description="Load one file as one batch: every good row or nothing. Prints the load report as JSON.",
    )
    parser.add_argument("file", type=Path, help="the file to load")
    parser.add_argument("--kind", required=True, choices=KINDS, help="what the file holds")
    parser.add_argument("--db", type=Path, required=True, help="DuckDB file to load into (created when missing)")
    parser.add_argument("--preset", help="use the mapping and read options saved under this name")
    parser.add_argument("--map", type=_map_entry, action="append", default=[], dest="mappings",
                        metavar="COLUMN=FIELD", help="map a column to a field (repeatable); COLUMN= leaves it out")
    parser.add_argument("--encoding", help="text encoding (default: detected), e.g. utf-8, gb18030, latin-1")
    parser.add_argument("--delimiter", type=_delimiter, help="field separator (default: detected)")
    parser.add_argument("--date-order", choices=DATE_ORDERS, help="order of day, month, year (default: detected)")
    parser.add_argument("--decimal", choices=[".", ","], help="decimal separator (default: detected)")
    parser.add_argument("--sheet", help="sheet of an Excel workbook")
    parser.add_argument("--header-row", type=_header_row, help="row holding the column names (default 1)")
    parser.add_argument("--exclude-cancellations", action="store_true",
                        help="leave cancellation lines out instead of netting them against revenue")
    parser.add_argument("--rejected-csv", type=Path, help="write every rejected row (row, column, value, reason)")
    parser.add_argument("--max-file-mb", type=positive_whole_number("megabytes", "the limit must be at least 1 MB"),
                        default=MAX_UPLOAD_BYTES // 1024 // 1024,
                        help="largest file accepted, in MB (default: the browser upload limit, "
                             f"{MAX_UPLOAD_BYTES // 1024 // 1024}); scheduled loads of large exports may raise it")
    parser.add_argument("--user", default=None, help="recorded as who loaded the batch (default: your login)")
    parser.set_defaults(handler=handle)


def _options(args, saved: dict) -> ReadOptions:
    values = dict(saved)
    explicit = {"encoding": args.encoding, "delimiter": args.delimiter, "date_order": args.date_order,
                "decimal": args.decimal, "sheet": args.sheet, "header_row": args.header_row}
    values.update({key: value for key, value in explicit.items() if value is not None})
    if args.exclude_cancellations:
        values["cancellations"] = "exclude"
    known = set(asdict(ReadOptions()))
    return ReadOptions(**{key: value for key, value in values.items() if key in known})


def resolve_mapping(base: dict[str, str], overrides: list[tuple[str, str]], columns: list[str]) -> dict[str, str]:
    """``base`` with each COLUMN=FIELD applied: the field moves to that column; an empty field unmaps it."""
    mapping = dict(base)
    for column, target in overrides:
        if column not in columns:
            raise UserFacingError(f"--map {column}={target}: the file has no column '{column}'; "
                                  f"its columns are: {', '.join(columns)}")
        if target:
            mapping = {source: name for source, name in mapping.items() if name != target}
            mapping[column] = target
        else:
            mapping.pop(column, None)
    return mapping


def handle(args) -> int:
    database = open_database(args, create=True)
    mapping: dict[str, str] | None = None
    saved_options: dict = {}
    if args.preset:
        from customer_value.loader.presets import get_preset

        mapping, saved_options = get_preset(database, args.preset, args.kind)
    options = _options(args, saved_options)
    columns = read_columns(args.file, options)
    if mapping is None:
        mapping = suggest_mapping(columns, args.kind)
    mapping = resolve_mapping(mapping, args.mappings, columns)
    report = load_file(database, args.file, args.kind, mapping, options,
                       user=args.user or _login_name(), source_name=args.file.name,
                       max_file_bytes=args.max_file_mb * 1024 * 1024)
    if args.rejected_csv:
        _write_rejected(report.rejected_rows, args.rejected_csv)
    print(json.dumps(to_jsonable(report.to_dict()), indent=2, ensure_ascii=False))
    return 0


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "local"


def _write_rejected(frame, target: Path) -> None:
    try:
        with target.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(list(frame.columns))
            for row in frame.itertuples(index=False):
                writer.writerow([neutralise_formula("" if value is None else value) for value in row])
    except OSError as exc:
        raise UserFacingError(f"the rejected rows cannot be written to {target} ({exc.strerror})") from None
