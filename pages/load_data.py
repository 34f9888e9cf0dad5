"""Load data: upload an export, map its columns, preview, load; the load report; the load history and undo."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import streamlit as st

from customer_value.errors import UserFacingError
from customer_value.formatting import format_value
from customer_value.loader import KINDS, ReadOptions, SheetChoiceNeeded, inspect_file, load_file
from customer_value.loader.fields import fields_of, required_fields
from customer_value.loader.history import (
    DEMO_KIND,
    HISTORY_COLUMNS,
    batch_report,
    check_undoable,
    list_batches,
    undo_batch,
)
from customer_value.loader.presets import get_preset, list_presets, save_preset
from customer_value.loader.reading import DATE_ORDERS, DELIMITER_NAMES
from ui.context import current
from ui.widgets import download_csv, empty_state

UPLOAD_TYPES = ["csv", "tsv", "txt", "xlsx", "parquet"]
KIND_LABELS = {
    "transactions": "Transactions (order lines or orders)",
    "customers": "Customers (one row per customer)",
    "feedback": "Feedback (survey answers, complaints)",
    "leads": "Leads (prospects not yet buying)",
}
AUTO = "(detected)"
NOT_MAPPED = "— not in the file —"
ENCODINGS = ["utf-8", "utf-8-sig", "gb18030", "gbk", "big5", "latin-1", "cp1252"]
DELIMITERS = [",", ";", "\t", "|"]
DECIMALS = [".", ","]
DATE_ORDER_LABELS = {"DMY": "day first (31/12/2024)", "MDY": "month first (12/31/2024)",
                     "YMD": "year first (2024-12-31)"}
# Above this size a changed mapping is previewed from the first SAMPLE_LINES lines (see samples_preview).
SAMPLE_ABOVE_BYTES = 16 * 1024 * 1024
SAMPLE_LINES = 2_000
# More rejected rows than this are left to the CSV download (the browser table stays quick).
MAX_REJECTED_SHOWN = 5_000
ROW_NUMBER_MEANING = ("file row = the line of a CSV/TSV where the row starts, as a text editor numbers lines, the "
                      "header being line 1; the sheet's row number for Excel; the position from 1 for Parquet")
OPTION_KEYS = {"encoding": "load_encoding", "delimiter": "load_delimiter", "date_order": "load_date_order",
               "decimal": "load_decimal", "sheet": "load_sheet", "cancellations": "load_cancellations"}

context = current()
st.title("Load data")

if not context.user.can("load_data"):
    st.warning(
        f"Loading and undoing data needs the analyst or admin role; you are signed in as {context.user.name} "
        f"({context.user.role}). Ask an admin to load the file or to give you the analyst role.",
        icon=":material/lock:",
    )
    st.stop()

st.caption("Drop an export as it comes (CSV, TSV, Excel or Parquet, up to 200 MB), check how its columns map to "
           "the dashboard's fields, preview, then load. Every load reports what happened to each row, reloading "
           "the same rows changes nothing, and any load can be undone below.")


# ---------------------------------------------------------------------------
# helpers


@contextmanager
def uploaded_as_file(uploaded, first_lines: int | None = None) -> Iterator[Path]:
    """The upload (or only its first lines) written to a private temporary file, deleted when the block ends."""
    folder = Path(tempfile.mkdtemp(prefix="cv-upload-"))
    # Keep the extension: the loader tells Excel, Parquet and text apart by it and by content.
    target = folder / ("upload" + Path(uploaded.name).suffix.lower())
    try:
        uploaded.seek(0)
        with target.open("wb") as handle:
            if first_lines is None:
                shutil.copyfileobj(uploaded, handle, length=1024 * 1024)
            else:
                for _ in range(first_lines):
                    line = uploaded.readline()
                    if not line:
                        break
                    handle.write(line)
        yield target
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def chosen_options() -> ReadOptions:
    """The read options the widgets hold; '(detected)' leaves the choice to the loader."""
    values = {}
    for name, key in OPTION_KEYS.items():
        value = st.session_state.get(key, AUTO)
        if name == "cancellations":
            values[name] = value if value in ("net", "exclude") else "net"
        else:
            values[name] = None if value in (AUTO, None) else value
    return ReadOptions(**values)


def reset_mapping_widgets(kind: str, columns: list[str], by_field: dict[str, str]) -> None:
    for target in fields_of(kind):
        column = by_field.get(target.name)
        st.session_state[f"load_map_{target.name}"] = column if column in columns else NOT_MAPPED


def apply_preset_callback(kind: str) -> None:
    """Set the widgets from the chosen preset; runs before the page is drawn again."""
    name = st.session_state.get("load_preset_choice")
    if not name:
        return
    try:
        mapping, options = get_preset(context.db, name, kind)
    except UserFacingError as exc:
        st.session_state["_load_flash"] = ("error", str(exc))
        return
    for option, key in OPTION_KEYS.items():
        value = options.get(option)
        if option == "cancellations":
            st.session_state[key] = value or "net"
        else:
            st.session_state[key] = AUTO if value is None else value
    # The mapping is applied once the file has been read again with the preset's options.
    st.session_state["_load_pending_preset"] = (name, {target: source for source, target in mapping.items()})


def option_selectbox(container, label: str, option: str, choices: list, detected, format_names=None,
                     help_text: str | None = None) -> None:
    key = OPTION_KEYS[option]
    current_value = st.session_state.get(key, AUTO)
    # A preset may name a value outside the usual list (e.g. another encoding); offer it too.
    values = [AUTO, *choices] + ([current_value] if current_value not in (AUTO, *choices) else [])

    def label_of(value):
        if value == AUTO:
            if not detected:
                return "detect automatically"
            return f"detected: {(format_names or {}).get(detected, detected)}"
        return (format_names or {}).get(value, value)

    container.selectbox(label, values, key=key, format_func=label_of, help=help_text)


def inspect_upload(uploaded, kind: str, options: ReadOptions, mapping: dict[str, str] | None,
                   first_lines: int | None = None):
    """The loader's look at the file (columns, detection, preview), once per file, kind, options and mapping."""
    cache_key = (uploaded.file_id, kind, options, None if mapping is None else tuple(sorted(mapping.items())),
                 first_lines)
    cache = st.session_state.setdefault("_load_inspections", {})
    if cache_key not in cache:
        if len(cache) > 8:
            cache.clear()
        with uploaded_as_file(uploaded, first_lines) as path:
            cache[cache_key] = inspect_file(path, kind, options, source_name=uploaded.name, mapping=mapping)
    return cache[cache_key]


def samples_preview(uploaded, inspection) -> bool:
    """Whether a changed mapping is previewed from the file's first lines rather than the whole file.

    Reading all of a big file again for every change of a selectbox would take most of a minute at 200 MB;
    the whole file was read once already, and the load reads it all again.
    """
    return (uploaded.size > SAMPLE_ABOVE_BYTES and inspection.format in ("csv", "text")
            and not (inspection.encoding or "").lower().startswith("utf-16"))


def pinned_options(options: ReadOptions, inspection) -> ReadOptions:
    """The options with what the whole file showed filled in, so that a sample reads the way the file did."""
    values = asdict(options)
    delimiters = {name: character for character, name in DELIMITER_NAMES.items()}
    if values["encoding"] is None:
        values["encoding"] = inspection.encoding
    if values["delimiter"] is None and inspection.delimiter:
        values["delimiter"] = delimiters.get(inspection.delimiter, inspection.delimiter)
    orders = set(inspection.date_order.values())
    if values["date_order"] is None and len(orders) == 1:
        values["date_order"] = orders.pop()
    decimals = set(inspection.decimals.values())
    if values["decimal"] is None and len(decimals) == 1:
        values["decimal"] = decimals.pop()
    return ReadOptions(**values)


def prepare_mapping_widgets(uploaded, kind: str, inspection) -> None:
    """Before the mapping selectboxes are drawn: start from the suggestion for a new file, apply a preset."""
    marker = (uploaded.file_id, kind, tuple(inspection.columns))
    pending = st.session_state.pop("_load_pending_preset", None)
    if pending is not None:
        name, by_field = pending
        missing = sorted(column for column in by_field.values() if column not in inspection.columns)
        reset_mapping_widgets(kind, inspection.columns, by_field)
        st.session_state["_load_mapping_for"] = marker
        message = f"Applied the preset '{name}'."
        if missing:
            message += f" This file has no column {', '.join(missing)}; map those fields by hand."
        st.session_state["_load_preset_notice"] = message
        return
    widgets_missing = any(f"load_map_{target.name}" not in st.session_state for target in fields_of(kind))
    if st.session_state.get("_load_mapping_for") != marker:
        suggested = {target: source for source, target in inspection.suggested_mapping.items()}
        reset_mapping_widgets(kind, inspection.columns, suggested)
        st.session_state["_load_mapping_for"] = marker
    elif widgets_missing:
        # Streamlit forgets a widget's value on a run that does not draw it (e.g. while the file
        # could not be read with the options chosen); restore the mapping the user had.
        reset_mapping_widgets(kind, inspection.columns, st.session_state.get("_load_mapping_shadow", {}))


def mapping_from_widgets(kind: str) -> dict[str, str]:
    """{source column: field} as the selectboxes hold it."""
    mapping: dict[str, str] = {}
    for target in fields_of(kind):
        column = st.session_state.get(f"load_map_{target.name}", NOT_MAPPED)
        if column and column != NOT_MAPPED:
            mapping[column] = target.name
    return mapping


def doubly_mapped_columns(kind: str) -> list[str]:
    seen: dict[str, int] = {}
    for target in fields_of(kind):
        column = st.session_state.get(f"load_map_{target.name}", NOT_MAPPED)
        if column != NOT_MAPPED:
            seen[column] = seen.get(column, 0) + 1
    return [column for column, times in seen.items() if times > 1]


def without_blanks(frame: pd.DataFrame) -> pd.DataFrame:
    """Empty cells shown empty rather than as None/NaN/NaT (a column with gaps becomes text)."""
    shown = frame.copy()
    for column in shown.columns:
        values = shown[column]
        if values.isna().any():
            shown[column] = ["" if pd.isna(value) else (value.date().isoformat() if isinstance(value, pd.Timestamp)
                                                        else str(value)) for value in values]
    return shown


def money(value) -> str:
    """Money to the cent, as the reconciliation promises."""
    return "—" if value is None else f"{float(value):,.2f}"


def show_report(report) -> None:
    st.subheader(f"Load report: {report.file}")
    st.caption(f"Batch {report.batch_id}, {KIND_LABELS.get(report.kind, report.kind).split(' (')[0].lower()}; "
               + read_as_text(report.format, report.encoding, report.delimiter, report.sheet, report.date_order))
    columns = st.columns(5)
    figures = [("Rows read", report.rows_read), ("Rows loaded", report.rows_loaded),
               ("Rows rejected", report.rows_rejected), ("Duplicate lines skipped", report.duplicate_lines_skipped),
               ("Already loaded, skipped", report.already_loaded_skipped)]
    for column, (label, value) in zip(columns, figures, strict=True):
        column.metric(label, format_value(value, "count"))
    if report.reconciliation is not None:
        cancellations, anonymous = report.cancellations, report.rows_without_customer
        treatment = ("netted against revenue" if cancellations["treatment"] == "net"
                     else "left out (cancellations set to exclude)")
        columns = st.columns(4)
        columns[0].metric("Cancellation / return lines", format_value(cancellations["count"], "count"),
                          help=f"Negative quantities or cancelled invoice numbers; {treatment}.")
        columns[1].metric("Cancelled revenue", money(cancellations["revenue"]))
        columns[2].metric("Lines without customer id", format_value(anonymous["count"], "count"),
                          help="Loaded and counted in revenue totals, kept out of customer metrics.")
        columns[3].metric("Revenue without customer id", money(anonymous["revenue"]))
        parts = report.reconciliation
        line = reconciliation_text(parts)
        if parts["balanced"]:
            st.success(line + ": reconciled to the cent.", icon=":material/check_circle:")
        else:
            st.error(line + f": off by {money(parts['difference'])}. Please report this file.")
    if report.rejected_by_reason:
        st.markdown("**Rejected rows by reason:** " + "; ".join(
            f"{reason}: {format_value(rows, 'count')}" for reason, rows in report.rejected_by_reason.items()))
    st.markdown("**Mapping used:** " + mapping_text(report.mapping))
    for notice in report.notices:
        st.info(notice[:1].upper() + notice[1:], icon=":material/info:")
    if len(report.rejected_rows):
        shown_rows = min(len(report.rejected_rows), MAX_REJECTED_SHOWN)
        st.markdown("**Rejected rows** (" + ROW_NUMBER_MEANING
                    + (f"; the first {shown_rows:,} of {len(report.rejected_rows):,}, all in the download"
                       if shown_rows < len(report.rejected_rows) else "") + ")")
        st.dataframe(without_blanks(report.rejected_rows.head(shown_rows)), hide_index=True, key="load_rejected",
                     column_config={"file_row": st.column_config.NumberColumn("File row", format="%d"),
                                    "column": "Column", "value": "Value", "reason": "Reason"})
        download_csv(report.rejected_rows, f"rejected_rows_batch_{report.batch_id}.csv",
                     label="Download rejected rows (CSV)", key="load_rejected_csv")


def mapping_text(mapping: dict) -> str:
    """``{source column: field}`` as 'column → field' pairs in the file's column order."""
    if not mapping:
        return "none recorded"
    return ", ".join(f"{column} → {target}" for column, target in mapping.items())


def reconciliation_text(parts: dict) -> str:
    return (f"File total {money(parts['file_total'])} = loaded {money(parts['loaded'])} + cancelled "
            f"{money(parts['cancelled'])} + rejected {money(parts['rejected'])} + duplicate lines "
            f"{money(parts['duplicates'])} + already loaded {money(parts['already_loaded'])}")


def show_stored_report(report: dict) -> None:
    """A batch's report as stored when it was loaded: figures, reconciliation, mapping, notices, first rejects."""
    figures = [("Rows read", report.get("rows_read")), ("Rows loaded", report.get("rows_loaded")),
               ("Rows rejected", report.get("rows_rejected")),
               ("Duplicate lines skipped", report.get("duplicate_lines_skipped")),
               ("Already loaded, skipped", report.get("already_loaded_skipped"))]
    cancellations, anonymous = report.get("cancellations") or {}, report.get("rows_without_customer") or {}
    if report.get("reconciliation"):
        figures += [("Cancellation / return lines", cancellations.get("count")),
                    ("Cancelled revenue", money(cancellations.get("revenue"))),
                    ("Lines without customer id", anonymous.get("count")),
                    ("Revenue without customer id", money(anonymous.get("revenue")))]
    table = pd.DataFrame({"Figure": [label for label, _ in figures],
                          "Value": [value if isinstance(value, str) else format_value(value, "count")
                                    for _, value in figures]})
    st.dataframe(table, hide_index=True, key="load_batch_report_figures")
    if report.get("format"):
        st.caption(read_as_text(report["format"], report.get("encoding"), report.get("delimiter"),
                                report.get("sheet"), report.get("date_order") or {}))
    parts = report.get("reconciliation")
    if parts:
        balanced = parts.get("balanced")
        line = reconciliation_text(parts) + (": reconciled to the cent." if balanced
                                             else f": off by {money(parts.get('difference'))}.")
        (st.success if balanced else st.error)(line)
    if report.get("rejected_by_reason"):
        st.markdown("**Rejected rows by reason:** " + "; ".join(
            f"{reason}: {format_value(rows, 'count')}" for reason, rows in report["rejected_by_reason"].items()))
    if report.get("kind") != DEMO_KIND:
        st.markdown("**Mapping used:** " + mapping_text(report.get("mapping") or {}))
    for notice in report.get("notices") or []:
        st.caption(notice[:1].upper() + notice[1:])
    undo = report.get("undo")
    if undo:
        st.caption(f"Undone {str(undo.get('undone_at', ''))[:16].replace('T', ' ')} by {undo.get('undone_by')}.")
    examples = pd.DataFrame(report.get("rejected_examples") or [], columns=["file_row", "column", "value", "reason"])
    if len(examples):
        st.markdown(f"**First {len(examples)} rejected rows** ({ROW_NUMBER_MEANING}; the full list was "
                    "offered as a download right after the load, or load the file again to get it)")
        st.dataframe(without_blanks(examples), hide_index=True, key="load_batch_report_rejected",
                     column_config={"file_row": st.column_config.NumberColumn("File row", format="%d"),
                                    "column": "Column", "value": "Value", "reason": "Reason"})


def read_as_text(file_format: str, encoding, delimiter, sheet, date_orders: dict) -> str:
    parts = [f"read as {file_format}"]
    if encoding:
        parts.append(f"encoding {encoding}")
    if delimiter:
        parts.append(f"delimiter: {delimiter}")
    if sheet:
        parts.append(f"sheet '{sheet}'")
    if date_orders:
        parts.append("dates " + ", ".join(f"{column}: {DATE_ORDER_LABELS.get(order, order).split(' (')[0]}"
                                          for column, order in date_orders.items()))
    return ", ".join(parts) + "."


def run_load(uploaded, kind: str, mapping: dict[str, str], options: ReadOptions) -> None:
    bar = st.progress(0.0, text="Starting the load...")

    def progress(fraction: float, message: str) -> None:
        bar.progress(min(max(float(fraction), 0.0), 1.0), text=message[:1].upper() + message[1:])

    try:
        with uploaded_as_file(uploaded) as path:
            report = load_file(context.db, path, kind, mapping, options, user=context.user.name,
                               source_name=uploaded.name, progress=progress)
    except UserFacingError as exc:
        bar.empty()
        st.error(f"Nothing was loaded. {exc}", icon=":material/error:")
        return
    st.session_state["_load_report"] = report
    st.session_state["_load_flash"] = (
        "success", f"Loaded {format_value(report.rows_loaded, 'count')} of {format_value(report.rows_read, 'count')} "
                   f"rows from {report.file} as batch {report.batch_id}; every page now shows the new data.")
    # Run the whole app again so the sidebar (data range, filter choices) and every page see the new data.
    st.rerun()


def mapping_section(uploaded, kind: str, inspection) -> dict[str, str]:
    prepare_mapping_widgets(uploaded, kind, inspection)
    st.subheader("2. Map the columns")
    st.caption("Each field the dashboard knows, and the file column that fills it (suggested from the column "
               "names; * = required). For transactions, the amount may instead come from quantity x unit price.")
    notice = st.session_state.pop("_load_preset_notice", None)
    if notice:
        st.info(notice, icon=":material/bookmark:")
    choices = [NOT_MAPPED, *inspection.columns]
    required = set(required_fields(kind))
    grid = st.columns(3)
    for position, target in enumerate(fields_of(kind)):
        grid[position % 3].selectbox(f"{target.name}{' *' if target.name in required else ''}", choices,
                                     key=f"load_map_{target.name}", help=target.label or None)
    st.session_state["_load_mapping_shadow"] = {
        target.name: st.session_state[f"load_map_{target.name}"] for target in fields_of(kind)}
    return mapping_from_widgets(kind)


def presets_section(kind: str, mapping: dict[str, str], options: ReadOptions) -> None:
    saved = list_presets(context.db, kind)
    apply_column, save_column = st.columns(2)
    with apply_column:
        if saved.empty:
            st.caption(f"No {kind} preset saved yet; save this mapping to reuse it for next month's export.")
        else:
            st.selectbox("Preset", saved["name"].tolist(), key="load_preset_choice",
                         help="Saved mappings for this kind of file, with their reading options.")
            st.button("Apply preset", key="load_preset_apply", on_click=apply_preset_callback, args=(kind,))
    with save_column:
        name = st.text_input("Save this mapping as", key="load_preset_name", placeholder="e.g. Shop export monthly",
                             max_chars=60)
        if st.button("Save preset", key="load_preset_save"):
            try:
                saved_preset = save_preset(context.db, name, kind, mapping, options, context.user.name)
            except UserFacingError as exc:
                st.error(str(exc))
            else:
                verb = "Replaced" if saved_preset["replaced"] else "Saved"
                st.session_state["_load_flash"] = (
                    "success", f"{verb} the {kind} preset '{saved_preset['name']}' "
                               f"({len(saved_preset['mapping'])} columns).")
                # Again from the top, so the preset list offers the new one.
                st.rerun()


def options_section(inspection, kind: str, file_name: str) -> None:
    """The reading options, each showing what was detected; drawn even when the file could not be read,
    so a wrong choice can be corrected (``inspection`` is None then)."""
    text_file = (inspection.format in ("csv", "text") if inspection is not None
                 else Path(file_name).suffix.lower() not in (".xlsx", ".parquet"))
    with st.expander("Reading options (detected; change any that is wrong)", expanded=inspection is None):
        first, second, third = st.columns(3)
        if text_file:
            option_selectbox(first, "Encoding", "encoding", ENCODINGS, inspection and inspection.encoding,
                             help_text="UTF-8 (with or without BOM), GBK/GB18030 for Chinese exports, Latin-1 ...")
            option_selectbox(second, "Delimiter", "delimiter", DELIMITERS, inspection and inspection.delimiter,
                             format_names={",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"})
        detected_orders = sorted(set(inspection.date_order.values())) if inspection is not None else []
        option_selectbox(third, "Date order", "date_order", list(DATE_ORDERS),
                         " / ".join(detected_orders) if detected_orders else None, format_names=DATE_ORDER_LABELS,
                         help_text="Decided from the whole column, not the first row.")
        detected_decimals = sorted(set(inspection.decimals.values())) if inspection is not None else []
        option_selectbox(first, "Decimal separator", "decimal", DECIMALS,
                         " / ".join(detected_decimals) if detected_decimals else None)
        if inspection is not None and inspection.sheet_names:
            option_selectbox(second, "Sheet", "sheet", list(inspection.sheet_names), inspection.sheet)
        if kind == "transactions":
            third.radio("Cancellations and returns", ["net", "exclude"], key=OPTION_KEYS["cancellations"],
                        format_func={"net": "net against revenue", "exclude": "leave out"}.get,
                        help="Negative quantities and invoice numbers marked as cancellations.")


def sheet_choice(exc: SheetChoiceNeeded) -> None:
    st.warning(str(exc), icon=":material/table:")
    st.selectbox("Sheet to load", [AUTO, *exc.sheets], key=OPTION_KEYS["sheet"],
                 format_func=lambda value: "choose a sheet" if value == AUTO else value)


def upload_section(uploaded, kind: str) -> None:
    if st.session_state.get("_load_options_for") != uploaded.file_id:
        # A new file is read with fresh detection, not with the options chosen for the previous one.
        reset_options()
        st.session_state["_load_options_for"] = uploaded.file_id
    try:
        options = chosen_options()
        inspection = inspect_upload(uploaded, kind, options, None)
    except SheetChoiceNeeded as exc:
        sheet_choice(exc)
        return
    except UserFacingError as exc:
        st.error(str(exc), icon=":material/error:")
        st.caption("Change the reading options below, or fix the file and drop it again. Nothing was loaded.")
        options_section(None, kind, uploaded.name)
        if any(st.session_state.get(key, AUTO) not in (AUTO, "net") for key in OPTION_KEYS.values()):
            st.button("Reset reading options to detected", key="load_reset_options", on_click=reset_options)
        return
    st.caption(f"{inspection.file}: {format_value(inspection.row_count, 'count')} data rows, "
               f"{len(inspection.columns)} columns; "
               + read_as_text(inspection.format, inspection.encoding, inspection.delimiter, inspection.sheet,
                              inspection.date_order))
    options_section(inspection, kind, uploaded.name)
    mapping = mapping_section(uploaded, kind, inspection)
    presets_section(kind, mapping, options)
    doubled = doubly_mapped_columns(kind)
    sampled = False
    if mapping == inspection.suggested_mapping or doubled:
        previewed = inspection
    else:
        sampled = samples_preview(uploaded, inspection)
        try:
            if sampled:
                previewed = inspect_upload(uploaded, kind, pinned_options(options, inspection), mapping,
                                           first_lines=SAMPLE_LINES + 1)
            else:
                previewed = inspect_upload(uploaded, kind, options, mapping)
        except UserFacingError as exc:
            st.error(str(exc))
            return
    st.subheader("3. Preview and load")
    # A sample's notices would speak of its cut-off end; the whole file's are the true ones.
    for notice in (inspection if sampled else previewed).notices:
        st.caption(notice[:1].upper() + notice[1:])
    problem = (f"The column{'s' if len(doubled) > 1 else ''} {', '.join(doubled)} feed"
               f"{'' if len(doubled) > 1 else 's'} two fields; each column can fill one field." if doubled
               else previewed.mapping_problem)
    if problem:
        st.warning(problem, icon=":material/warning:")
    st.caption(f"The first {len(previewed.preview)} rows as they would be loaded; 'problem' says why a row "
               "would be rejected."
               + (f" With this mapping the preview reads the file's first {SAMPLE_LINES:,} lines (the file is "
                  f"{uploaded.size / 1024 / 1024:,.0f} MB); the load reads all of it." if sampled else ""))
    st.dataframe(without_blanks(previewed.preview), hide_index=True, key="load_preview")
    if st.button("Load", key="load_button", type="primary", disabled=bool(problem),
                 help="One transaction: every good row lands, or nothing does."):
        run_load(uploaded, kind, mapping, options)


def reset_options() -> None:
    for option, key in OPTION_KEYS.items():
        st.session_state[key] = "net" if option == "cancellations" else AUTO


def history_section() -> None:
    st.divider()
    st.subheader("Load history")
    history = list_batches(context.db)
    if history.empty:
        empty_state("Nothing has been loaded into this database yet.", "Drop an export above to load it.")
        return
    shown = history.assign(content_hash=[text[:12] if isinstance(text, str) else ""
                                         for text in history["content_hash"]])
    st.dataframe(shown[list(HISTORY_COLUMNS)], hide_index=True, key="load_history",
                 column_config={column: label for column, label in HISTORY_COLUMNS.items()}
                 | {"loaded_at": st.column_config.DatetimeColumn("Loaded at", format="YYYY-MM-DD HH:mm")})
    all_labels = {int(row.batch_id): f"Batch {row.batch_id}: {row.source_name} ({row.kind}, {row.status})"
                  for row in history.itertuples(index=False)}
    # A toggle rather than an expander: its state lives on the server, so it stays open across reruns.
    if st.toggle("Show the load report of a batch", key="report_toggle"):
        shown_batch = st.selectbox("Batch", list(all_labels), format_func=all_labels.get, key="report_choice",
                                   help="The report as it was when the batch was loaded (and its undo, if any).")
        try:
            show_stored_report(batch_report(context.db, shown_batch))
        except UserFacingError as exc:
            st.error(str(exc))
    in_force = history.loc[history["undone_at"].isna()]
    if in_force.empty:
        st.caption("Every batch has been undone.")
        return
    labels = {int(row.batch_id): f"Batch {row.batch_id}: {row.source_name} ({row.kind}, "
                                  f"{format_value(row.rows_loaded, 'count')} rows, {row.loaded_at:%Y-%m-%d %H:%M})"
              for row in in_force.itertuples(index=False)}
    choice_column, button_column = st.columns([3, 1])
    chosen = choice_column.selectbox("Undo a batch", list(labels), format_func=labels.get, key="undo_choice",
                                     help="Every row the batch loaded leaves; nothing else changes.")
    if button_column.button("Undo…", key="undo_ask"):
        st.session_state["_undo_pending"] = chosen
    pending = st.session_state.get("_undo_pending")
    if pending is not None and pending != chosen:
        # Another batch was picked since: the question asked was about a different one.
        st.session_state.pop("_undo_pending", None)
        pending = None
    if pending is None:
        return
    try:
        batch = check_undoable(context.db, pending)
    except UserFacingError as exc:
        st.session_state.pop("_undo_pending", None)
        st.error(str(exc))
        return
    warning = (f"Undo batch {batch['batch_id']} ({batch['source_name']})? Every row it loaded leaves the "
               "database and every page shows the data without it.")
    if batch["kind"] == DEMO_KIND:
        warning += (" This is the demo company: undoing it removes every demo customer, order, answer and lead, "
                    "and the dashboard stays empty until you load your own files.")
    st.warning(warning, icon=":material/undo:")
    confirm_column, cancel_column = st.columns(2)
    if confirm_column.button(f"Yes, undo batch {batch['batch_id']}", key="undo_confirm", type="primary"):
        st.session_state.pop("_undo_pending", None)
        try:
            result = undo_batch(context.db, batch["batch_id"], context.user.name)
        except UserFacingError as exc:
            st.error(str(exc))
            return
        removed = ", ".join(f"{format_value(count, 'count')} {table}"
                            for table, count in result["rows_removed"].items() if count) or "no rows"
        message = f"Undid batch {result['batch_id']} ({result['source_name']}): removed {removed}."
        if result["notices"]:
            message += " " + " ".join(result["notices"])
        st.session_state["_load_flash"] = ("success", message)
        st.session_state.pop("_load_report", None)
        st.rerun()
    if cancel_column.button("Cancel", key="undo_cancel"):
        st.session_state.pop("_undo_pending", None)
        st.rerun()


# ---------------------------------------------------------------------------
# the page

flash = st.session_state.pop("_load_flash", None)
if flash is not None:
    level, message = flash
    {"error": st.error, "success": st.success, "warning": st.warning}[level](message)

st.subheader("1. Choose the file")
upload_column, kind_column = st.columns([3, 2])
uploaded_file = upload_column.file_uploader("Export file", type=UPLOAD_TYPES, key="load_upload",
                                            help="CSV, TSV or TXT in any common encoding; Excel .xlsx; Parquet.")
file_kind = kind_column.selectbox("The file holds", KINDS, format_func=KIND_LABELS.get, key="load_kind")

if uploaded_file is None:
    empty_state("Drop an export file above to start.",
                "Choose what it holds: transactions, customers, feedback answers or leads. Columns are mapped from "
                "their names (English or Chinese headers) and you can correct the mapping before loading.")
else:
    upload_section(uploaded_file, file_kind)

last_report = st.session_state.get("_load_report")
if last_report is not None:
    show_report(last_report)

history_section()
